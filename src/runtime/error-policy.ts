import type { KubeObject } from '../core/resource.js';
import { ObjectRef } from '../core/object-ref.js';
import type { Resource } from '../core/resource.js';
import { Action } from './action.js';

/**
 * Decides what happens after a failed reconcile. It runs inside the reconcile's
 * span. `onSuccess`, when present, is told about successful reconciles.
 */
export interface ErrorPolicy<K extends KubeObject, C> {
  (obj: K, error: unknown, ctx: C): Action | Promise<Action>;
  onSuccess?(ref: ObjectRef): void;
}

export interface BackoffPolicyOptions {
  /** First delay. Default 5 ms. */
  initialMs?: number;
  /** Longest delay. Default 5 minutes. */
  maxMs?: number;
  factor?: number;
}

/**
 * A ready error policy: per-object exponential backoff — 5 ms, 10 ms, 20 ms, …
 * up to a cap — that starts over after a successful reconcile of that object.
 *
 * @example
 * controller.run(reconcile, backoffErrorPolicy(Documents, { maxMs: 60_000 }), ctx)
 */
export function backoffErrorPolicy<K extends KubeObject, C = unknown>(resource: Resource<K>, options: BackoffPolicyOptions = {}): ErrorPolicy<K, C> & { failures(ref: ObjectRef): number } {
  const { initialMs = 5, maxMs = 300_000, factor = 2 } = options;
  const failures = new Map<string, number>();
  const policy = ((obj: K) => {
    const key = ObjectRef.from(resource, obj).key;
    const n = failures.get(key) ?? 0;
    failures.set(key, n + 1);
    return Action.requeue(Math.min(maxMs, initialMs * factor ** n));
  }) as unknown as ErrorPolicy<K, C> & { failures(ref: ObjectRef): number };
  policy.onSuccess = (ref) => void failures.delete(ref.key);
  policy.failures = (ref) => failures.get(ref.key) ?? 0;
  return policy;
}
