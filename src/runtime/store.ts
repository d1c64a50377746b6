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
import { KubeloopError } from '../core/errors.js';
import type { WatcherEvent } from './watcher.js';

/** `waitUntilReady()` rejects with this when the writer stopped before the first full list. */
export class StoreWriterStoppedError extends KubeloopError {
  constructor(what: string) {
    super('ERR_STORE_WRITER_STOPPED', `the writer of the ${what} store stopped before its first full list.`);
  }
}

/** What swapping a relist in changed: objects new or at another resourceVersion, and objects gone. */
export interface RelistChanges<K> {
  changed: K[];
  removed: K[];
}

/** The reflector's `initDone` carries what the relist changed in the store. */
export type ReflectedEvent<K> = Exclude<WatcherEvent<K>, { type: 'initDone' }> | ({ type: 'initDone' } & RelistChanges<K>);

export class Store<K extends KubeObject> {
  private objects = new Map<string, K>();
  private buffer?: Map<string, K>;
  private ready = false;
  private stopped = false;
  private readonly readyPromise: Promise<void>;
  private resolveReady!: () => void;
  private rejectReady!: (e: Error) => void;

  constructor(readonly resource: Resource<K>) {
    this.readyPromise = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    // Nobody may be waiting; an unobserved rejection must not crash the process.
    this.readyPromise.catch(() => {});
  }

  private keyOf(obj: KubeObject): string {
    return ObjectRef.from(this.resource, obj).key;
  }

  /**
   * Applies one watcher event (the writer side; `reflector` calls this). At
   * `initDone` it returns what the relist changed.
   */
  apply(event: WatcherEvent<K>): RelistChanges<K> | undefined {
    switch (event.type) {
      case 'init':
        this.buffer = new Map();
        break;
      case 'initApply':
        (this.buffer ?? this.objects).set(this.keyOf(event.object), event.object);
        break;
      case 'initDone': {
        const changes = this.buffer ? this.swapIn(this.buffer) : { changed: [], removed: [] };
        this.buffer = undefined;
        if (!this.ready) {
          this.ready = true;
          this.resolveReady();
        }
        return changes;
      }
      case 'apply':
        this.objects.set(this.keyOf(event.object), event.object);
        break;
      case 'delete':
        this.objects.delete(this.keyOf(event.object));
        break;
      case 'error':
        break;
    }
  }

  private swapIn(next: Map<string, K>): RelistChanges<K> {
    const before = this.objects;
    const changed: K[] = [];
    const removed: K[] = [];
    for (const [key, obj] of next) {
      const old = before.get(key);
      if (old === undefined || old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) changed.push(obj);
      // Deleted and created again under the same name meanwhile: the old one is gone too.
      if (old !== undefined && old.metadata?.uid !== obj.metadata?.uid) removed.push(old);
    }
    for (const [key, obj] of before) if (!next.has(key)) removed.push(obj);
    this.objects = next;
    return { changed, removed };
  }

  /** Called when the writer's event stream ends. Before the first full list, readiness fails. */
  writerStopped(): void {
    this.stopped = true;
    if (!this.ready) this.rejectReady(new StoreWriterStoppedError(this.resource.kind));
  }

  /**
   * Resolves once the first full list is in (and stays resolved for good);
   * rejects if the writer stops first, or when `signal` aborts.
   */
  waitUntilReady(signal?: AbortSignal): Promise<void> {
    if (!signal || this.ready) return this.readyPromise;
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.readyPromise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  /** True once the first full list is in. */
  isReady(): boolean {
    return this.ready;
  }

  /** True when the writer stopped. */
  isStopped(): boolean {
    return this.stopped;
  }

  /** The object with this reference (or name and namespace), if cached. */
  get(ref: ObjectRef | { name: string; namespace?: string }): K | undefined {
    const key = ref instanceof ObjectRef ? ref.key : ObjectRef.of(this.resource, ref.name, ref.namespace).key;
    return this.objects.get(key);
  }

  /** @internal Lookup by `ObjectRef` key. */
  getByKey(key: string): K | undefined {
    return this.objects.get(key);
  }

  /** Every cached object (a snapshot array). */
  list(): K[] {
    return [...this.objects.values()];
  }

  /** The first cached object that matches. */
  find(predicate: (obj: K) => boolean): K | undefined {
    for (const obj of this.objects.values()) if (predicate(obj)) return obj;
    return undefined;
  }

  /** Number of cached objects. */
  get size(): number {
    return this.objects.size;
  }
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
  try {
    for await (const event of events) {
      const changes = store.apply(event);
      yield changes && event.type === 'initDone' ? { type: 'initDone', ...changes } : (event as ReflectedEvent<K>);
    }
  } finally {
    store.writerStopped();
  }
}
