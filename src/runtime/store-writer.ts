/**
 * The write side of a Store: the objects, the relist buffer, readiness and
 * the indexes. Only the reflector (and a shared cache's loop, which is one)
 * reaches it — `writerOf(store)` is not exported from the package — so a
 * reader can never corrupt a cache, as kube-rs separates `Writer` from `Store`.
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

/** Querying an index that was never declared. */
export class UnknownIndexError extends KubeloopError {
  constructor(name: string, kind: string, declared: string[]) {
    super('ERR_UNKNOWN_INDEX', `no index named "${name}" on the ${kind} cache (declared: ${declared.length ? declared.join(', ') : 'none'}); declare it with index("${name}", fn) before the cache starts.`);
  }
}

/** An index function: the values an object is found under (none, one or several). */
export type IndexFn<K> = (obj: K) => string | readonly string[] | undefined;

/** What swapping a relist in changed: objects new or at another resourceVersion, and objects gone. */
export interface RelistChanges<K> {
  changed: K[];
  removed: K[];
}

interface Index<K> {
  fn: IndexFn<K>;
  byValue: Map<string, Set<string>>;
}

const valuesOf = <K>(fn: IndexFn<K>, obj: K): readonly string[] => {
  const v = fn(obj);
  return v === undefined ? [] : typeof v === 'string' ? [v] : v;
};

export class StoreWriter<K extends KubeObject> {
  objects = new Map<string, K>();
  private buffer?: Map<string, K>;
  ready = false;
  stopped = false;
  private started = false;
  readonly indexes = new Map<string, Index<K>>();
  readonly readyPromise: Promise<void>;
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

  keyOf(obj: KubeObject): string {
    return ObjectRef.from(this.resource, obj).key;
  }

  /** Declares an index; only before the first event, so every object is indexed. */
  addIndex(name: string, fn: IndexFn<K>): void {
    if (this.started) throw new Error(`index "${name}" on the ${this.resource.kind} cache must be declared before the cache starts.`);
    if (this.indexes.has(name)) throw new Error(`index "${name}" on the ${this.resource.kind} cache is declared twice.`);
    this.indexes.set(name, { fn, byValue: new Map() });
  }

  /** Applies one watcher event. At `initDone` it returns what the relist changed. */
  apply(event: WatcherEvent<K>): RelistChanges<K> | undefined {
    this.started = true;
    switch (event.type) {
      case 'init':
        this.buffer = new Map();
        break;
      case 'initApply':
        if (this.buffer) this.buffer.set(this.keyOf(event.object), event.object);
        else this.set(this.keyOf(event.object), event.object);
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
        this.set(this.keyOf(event.object), event.object);
        break;
      case 'delete':
        this.remove(this.keyOf(event.object));
        break;
      case 'error':
        break;
    }
    return undefined;
  }

  /** The writer's event stream ended. Before the first full list, readiness fails. */
  stop(): void {
    this.stopped = true;
    if (!this.ready) this.rejectReady(new StoreWriterStoppedError(this.resource.kind));
  }

  private set(key: string, obj: K): void {
    if (this.indexes.size > 0) {
      const old = this.objects.get(key);
      if (old) this.unindex(key, old);
      this.index(key, obj);
    }
    this.objects.set(key, obj);
  }

  private remove(key: string): void {
    const old = this.objects.get(key);
    if (old === undefined) return;
    if (this.indexes.size > 0) this.unindex(key, old);
    this.objects.delete(key);
  }

  private index(key: string, obj: K): void {
    for (const { fn, byValue } of this.indexes.values()) {
      for (const value of valuesOf(fn, obj)) {
        let keys = byValue.get(value);
        if (!keys) byValue.set(value, (keys = new Set()));
        keys.add(key);
      }
    }
  }

  private unindex(key: string, obj: K): void {
    for (const { fn, byValue } of this.indexes.values()) {
      for (const value of valuesOf(fn, obj)) {
        const keys = byValue.get(value);
        keys?.delete(key);
        if (keys?.size === 0) byValue.delete(value);
      }
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
    if (this.indexes.size > 0) {
      for (const index of this.indexes.values()) index.byValue.clear();
      for (const [key, obj] of next) this.index(key, obj);
    }
    return { changed, removed };
  }
}
