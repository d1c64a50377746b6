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

/**
 * The reconcile ran past the controller's `reconcileTimeoutMs`: its signal was
 * aborted (so were its API calls through kubeloop's client) and its slot freed.
 */
export class ReconcileTimeoutError extends ControllerError {
  constructor(
    readonly ref: ObjectRef,
    readonly timeoutMs: number,
  ) {
    super('ERR_RECONCILE_TIMEOUT', `reconciling ${ref.key} did not finish within its ${timeoutMs} ms deadline; it was aborted.`);
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

/**
 * User code feeding the controller threw (a predicate, a `watches()` mapper, a
 * `reconcileAllOn` trigger). With `stopped` false the one event was skipped and
 * the source goes on; with `stopped` true the source ended for good (a trigger
 * iterator that threw cannot be resumed) and `/livez` fails.
 */
export class TriggerError extends ControllerError {
  constructor(
    readonly source: string,
    readonly stopped: boolean,
    cause: unknown,
  ) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super(
      stopped ? 'ERR_TRIGGER_STOPPED' : 'ERR_TRIGGER',
      stopped ? `the ${source} trigger stopped for good: ${why}` : `the ${source} trigger threw on one event, which was skipped: ${why}`,
      { cause },
    );
  }
}

/** Two controllers with one name run in one process: their metric series and logs would be indistinguishable. */
export class DuplicateControllerError extends ControllerError {
  constructor(readonly controllerName: string) {
    super('ERR_DUPLICATE_CONTROLLER', `a controller named ${controllerName} is already running in this process; give each one its own name with withConfig({ name }).`);
  }
}

/** The bounded `error` label of `reconcile_errors_total` for a failed reconcile. */
export function errorKind(error: unknown): 'api_error' | 'transport_error' | 'reconciler_error' | 'timeout' {
  if (error instanceof ReconcileTimeoutError) return 'timeout';
  if (error instanceof ApiError) return 'api_error';
  if (error instanceof TransportError) return 'transport_error';
  return 'reconciler_error';
}
