/**
 * A reconcile's deadline signal, made only when someone reads it. Creating an
 * AbortSignal costs microseconds in Node 20 (about a third of a no-op reconcile),
 * and most reconciles finish without anyone reading theirs: the reconciler
 * reads `info.signal` only if it passes it on, and kubeloop's client reads it
 * only when the reconcile makes an API call.
 */
import { setMaxListeners } from 'node:events';

export class LazyDeadline {
  private controller?: AbortController;
  private fired = false;
  private reason: unknown;

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      // Every API call in flight listens on it: many listeners are normal here.
      setMaxListeners(0, this.controller.signal);
      if (this.fired) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  abort(reason: unknown): void {
    if (this.fired) return;
    this.fired = true;
    this.reason = reason;
    this.controller?.abort(reason);
  }
}
