/**
 * The reflector's cache. A `Store` is filled by `reflector(store, events)`: a
 * relist fills a buffer between `init` and `initDone` and then replaces the
 * whole state (objects not seen since `init` are gone); `apply` and `delete`
 * change one object. Reads never wait and never see a half-done relist.
 *
 * When a relist is swapped in, the store tells what it changed (objects new
 * or at another resourceVersion, and objects gone): a controller triggers on
 * that diff at `initDone`, never on `initApply`, because until `initDone` the
 * readers still see the state from before the relist.
 */
import { ObjectRef } from '../core/object-ref.js';
import type { KubeObject, Resource } from '../core/resource.js';
import { takeBatches } from './batched.js';
import type { WatcherEvent } from './watcher.js';
import { StoreWriter, UnknownIndexError, type RelistChanges } from './store-writer.js';

export { StoreWriterStoppedError, UnknownIndexError, type IndexFn, type RelistChanges } from './store-writer.js';

/** The reflector's `initDone` carries what the relist changed in the store. */
export type ReflectedEvent<K> = Exclude<WatcherEvent<K>, { type: 'initDone' }> | ({ type: 'initDone' } & RelistChanges<K>);

// Set by Store's static block: the one way from a Store to its writer.
let writerOfStore: <K extends KubeObject>(store: Store<K>) => StoreWriter<K>;

/**
 * A cache's read side: lookups never wait and never see a half-done relist.
 * Its writer is private (see store-writer.ts): only `reflector` writes.
 */
export class Store<K extends KubeObject> {
  readonly #w: StoreWriter<K>;

  constructor(readonly resource: Resource<K>) {
    this.#w = new StoreWriter(resource);
  }

  static {
    writerOfStore = (store) => store.#w;
  }

  /**
   * Resolves once the first full list is in (and stays resolved for good);
   * rejects if the writer stops first, or when `signal` aborts.
   */
  waitUntilReady(signal?: AbortSignal): Promise<void> {
    const w = this.#w;
    if (!signal || w.ready) return w.readyPromise;
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      w.readyPromise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  /** True once the first full list is in. */
  isReady(): boolean {
    return this.#w.ready;
  }

  /** True when the writer stopped. */
  isStopped(): boolean {
    return this.#w.stopped;
  }

  /** The object with this reference (or name and namespace), if cached. */
  get(ref: ObjectRef | { name: string; namespace?: string }): K | undefined {
    const key = ref instanceof ObjectRef ? ref.key : ObjectRef.of(this.resource, ref.name, ref.namespace).key;
    return this.#w.objects.get(key);
  }

  /** @internal Lookup by `ObjectRef` key. */
  getByKey(key: string): K | undefined {
    return this.#w.objects.get(key);
  }

  /** Every cached object (a snapshot array). */
  list(): K[] {
    return [...this.#w.objects.values()];
  }

  /** The first cached object that matches (a scan; see `byIndex` for lookups by a field). */
  find(predicate: (obj: K) => boolean): K | undefined {
    for (const obj of this.#w.objects.values()) if (predicate(obj)) return obj;
    return undefined;
  }

  /** The cached objects an index files under `value`; throws `UnknownIndexError` for an index never declared. */
  byIndex(name: string, value: string): K[] {
    const w = this.#w;
    const index = w.indexes.get(name);
    if (!index) throw new UnknownIndexError(name, this.resource.kind, [...w.indexes.keys()]);
    const keys = index.byValue.get(value);
    if (!keys) return [];
    const out: K[] = [];
    for (const key of keys) {
      const obj = w.objects.get(key);
      if (obj) out.push(obj);
    }
    return out;
  }

  /** Number of cached objects. */
  get size(): number {
    return this.#w.objects.size;
  }
}

/** @internal The write side of `store`: for the reflector and shared caches only (not exported from the package). */
export function writerOf<K extends KubeObject>(store: Store<K>): StoreWriter<K> {
  return writerOfStore(store);
}

/**
 * Applies watcher events to `store` as they pass through, and tells the store
 * when the stream ends. Each event is yielded after the store has it; `initDone`
 * carries what the relist changed (`changed`, `removed`).
 *
 * @example
 * const store = new Store(ConfigMaps);
 * for await (const e of reflector(store, watcher(api))) { ... }
 */
export async function* reflector<K extends KubeObject>(store: Store<K>, events: AsyncIterable<WatcherEvent<K>>): AsyncGenerator<ReflectedEvent<K>> {
  const writer = writerOf(store);
  const apply = (event: WatcherEvent<K>): ReflectedEvent<K> => {
    const changes = writer.apply(event);
    return changes && event.type === 'initDone' ? { type: 'initDone', ...changes } : (event as ReflectedEvent<K>);
  };
  // A watcher nobody iterates yet is read a batch at a time: one await per batch, not per event.
  const taken = takeBatches(events);
  try {
    if (taken) {
      const { batches, signal } = taken;
      for await (const batch of batches) {
        for (const event of batch) {
          // As the watcher itself: nothing is handed out once its signal aborted.
          if (signal?.aborted) return;
          yield apply(event);
        }
      }
    } else {
      for await (const event of events) yield apply(event);
    }
  } finally {
    writer.stop();
  }
}
