/**
 * Predicates decide whether a changed object is worth a reconcile: each maps an
 * object to a value, and the object passes only when that value changed since
 * the last time it passed (or when the predicate has no value for it).
 */
import type { KubeObject } from '../core/resource.js';

export type Predicate<K extends KubeObject = KubeObject> = (obj: K) => string | number | undefined;

const stable = (v: unknown) => JSON.stringify(v ?? null, (_k, val: unknown) =>
  val && typeof val === 'object' && !Array.isArray(val) ? Object.fromEntries(Object.entries(val).sort(([a], [b]) => (a < b ? -1 : 1))) : val,
);

export const predicates = {
  /** `metadata.generation`: spec changes only (status updates do not bump it). No generation → always passes. */
  generation: (obj: KubeObject) => obj.metadata?.generation,
  /** `metadata.resourceVersion`: any change. */
  resourceVersion: (obj: KubeObject) => obj.metadata?.resourceVersion,
  /** Labels. */
  labels: (obj: KubeObject) => stable(obj.metadata?.labels),
  /** Annotations. */
  annotations: (obj: KubeObject) => stable(obj.metadata?.annotations),
  /** Finalizers (and whether deletion started). */
  finalizers: (obj: KubeObject) => stable([obj.metadata?.finalizers ?? [], obj.metadata?.deletionTimestamp ?? null]),
  /** Passes when any of the given predicates' values changed. */
  combine<K extends KubeObject>(...ps: Predicate<K>[]): Predicate<K> {
    return (obj) => {
      const values = ps.map((p) => p(obj));
      return values.every((v) => v === undefined) ? undefined : JSON.stringify(values);
    };
  },
};

/** Remembers each object's last passing value, keyed by uid (a re-created object always passes). */
export class PredicateState<K extends KubeObject> {
  private readonly seen = new Map<string, string | number>();
  constructor(private readonly predicate: Predicate<K>) {}

  passes(obj: K): boolean {
    const value = this.predicate(obj);
    const uid = obj.metadata?.uid;
    if (value === undefined || uid === undefined) return true;
    if (this.seen.get(uid) === value) return false;
    this.seen.set(uid, value);
    return true;
  }

  forget(obj: K): void {
    const uid = obj.metadata?.uid;
    if (uid !== undefined) this.seen.delete(uid);
  }
}

/**
 * Lets through only objects whose predicate value changed.
 *
 * @example
 * for await (const obj of predicateFilter(objects, predicates.generation)) { ... }
 */
export async function* predicateFilter<K extends KubeObject>(objects: AsyncIterable<K>, predicate: Predicate<K>): AsyncGenerator<K> {
  const state = new PredicateState(predicate);
  for await (const obj of objects) if (state.passes(obj)) yield obj;
}
