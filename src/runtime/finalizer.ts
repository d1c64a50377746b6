/**
 * Finalizer helper: run cleanup before an object may disappear.
 *
 * On the first reconcile it adds the finalizer (a guarded JSON patch) and waits
 * for the change to come back; while the object lives it calls `apply`; once
 * deletion starts it calls `cleanup` and removes the finalizer only after
 * cleanup succeeded (a throwing cleanup keeps it, so the next run retries).
 * Cleanup may run more than once for one deletion (a run from a stale copy):
 * make it idempotent.
 */
import type { KubeObject } from '../core/resource.js';
import type { Api } from '../client/api.js';
import { isApiError } from '../core/errors.js';
import { Patch, type JsonPatchOp } from '../client/patch.js';
import { Action } from './action.js';

export interface FinalizerHandlers<K> {
  /** The object is alive and carries the finalizer: reconcile it. */
  apply(obj: K): Promise<Action> | Action;
  /** The object is being deleted: release what it holds. Throw to keep the finalizer and retry. */
  cleanup(obj: K): Promise<Action> | Action;
}

/**
 * @example
 * return finalizer(api, 'documents.example.com/cleanup', doc, {
 *   apply: (doc) => applyDocument(doc),
 *   cleanup: (doc) => deleteExternalCopy(doc),
 * });
 */
export async function finalizer<K extends KubeObject>(api: Api<K>, name: string, obj: K, handlers: FinalizerHandlers<K>): Promise<Action> {
  const meta = obj.metadata;
  if (!meta?.name) throw new TypeError('finalizer() needs an object with metadata.name.');
  const scoped = api.resource.namespaced && api.namespace === undefined && meta.namespace ? api.inNamespace(meta.namespace) : api;
  const finalizers = meta.finalizers ?? [];
  const index = finalizers.indexOf(name);

  if (meta.deletionTimestamp) {
    if (index === -1) return Action.awaitChange(); // someone else's finalizer holds it; nothing of ours to do
    const action = await handlers.cleanup(obj);
    // JSON patch removes by index: the test makes sure the list did not shift under us.
    try {
      await scoped.patch(meta.name, Patch.json([
        { op: 'test', path: `/metadata/finalizers/${index}`, value: name },
        { op: 'remove', path: `/metadata/finalizers/${index}` },
      ]));
    } catch (e) {
      // A run from a stale copy after the object already went: nothing is left to release.
      if (!isApiError(e, 404)) throw e;
    }
    return action;
  }

  if (index === -1) {
    const ops: JsonPatchOp[] =
      finalizers.length === 0
        ? [{ op: 'test', path: '/metadata/finalizers', value: null }, { op: 'add', path: '/metadata/finalizers', value: [name] }]
        : [{ op: 'test', path: '/metadata/finalizers', value: finalizers }, { op: 'add', path: '/metadata/finalizers/-', value: name }];
    await scoped.patch(meta.name, Patch.json(ops));
    // The patch comes back as a watch event and triggers the next run, which applies.
    return Action.awaitChange();
  }

  return handlers.apply(obj);
}
