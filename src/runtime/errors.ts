import { ApiError, KubeloopError, TransportError } from '../core/errors.js';
import type { ObjectRef } from '../core/object-ref.js';

/** Why an entry of a controller's result stream failed. */
export class ControllerError extends KubeloopError {}

/** The reconciler threw (or rejected); `cause` is what it threw. */
export class ReconcilerFailedError extends ControllerError {
  constructor(
    readonly ref: ObjectRef,
    cause: unknown,
  ) {
    super('ERR_RECONCILER_FAILED', `reconciling ${ref.key} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** The object was due but is no longer in the store (it was deleted meanwhile). */
export class ObjectNotFoundError extends ControllerError {
  constructor(readonly ref: ObjectRef) {
    super('ERR_OBJECT_NOT_FOUND', `${ref.key} was due for a reconcile but is not in the store (deleted meanwhile).`);
  }
}

/** A watcher feeding the controller failed; it retries on its own. `cause` is the watcher's error. */
export class QueueError extends ControllerError {
  constructor(
    readonly source: string,
    cause: Error,
  ) {
    super('ERR_QUEUE', `the ${source} watch failed and will retry: ${cause.message}`, { cause });
  }
}

/** The bounded `error` label of `reconcile_errors_total` for a failed reconcile. */
export function errorKind(error: unknown): 'api_error' | 'transport_error' | 'reconciler_error' {
  if (error instanceof ApiError) return 'api_error';
  if (error instanceof TransportError) return 'transport_error';
  return 'reconciler_error';
}
