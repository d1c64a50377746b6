import { Controller, type ErrorPolicy, type KubeObject, type Reconciler, type ReconcileResult, currentSpan } from '../../src/index.js';

/** A controller running in the background of a test, with its results collected. */
export interface RunningController {
  results: ReconcileResult[];
  /** Graceful shutdown, resolved when the result stream has ended. */
  stop(): Promise<void>;
  /** Resolves when the result stream ends. */
  done: Promise<void>;
}

/** Runs `controller` until `stop()`; each result is collected and `waiter` (if given) notified. */
export function runInBackground<K extends KubeObject, C>(controller: Controller<K>, reconcile: Reconciler<K, C>, errorPolicy: ErrorPolicy<K, C>, ctx: C, waiter?: Waiter): RunningController {
  const abort = new AbortController();
  controller.gracefulShutdownOn(abort.signal);
  const results: ReconcileResult[] = [];
  const done = (async () => {
    for await (const r of controller.run(reconcile, errorPolicy, ctx)) {
      results.push(r);
      waiter?.notify();
    }
  })();
  return {
    results,
    done,
    stop: async () => {
      abort.abort();
      await done;
    },
  };
}

/** The reason of the reconcile span around the caller (reasons are span fields, hidden from the reconciler's arguments). */
export function currentReason(): string {
  return String(currentSpan()?.logFields()['object.reason']);
}

/** A promise with its resolve function, to await something the code under test signals. */
export function signal<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Calls `check` each time `notify` is called, resolving when it returns true. */
export class Waiter {
  private waiters: { check: () => boolean; resolve: () => void; reject: (e: Error) => void; timer: NodeJS.Timeout }[] = [];
  notify(): void {
    for (const w of [...this.waiters]) {
      if (w.check()) {
        clearTimeout(w.timer);
        this.waiters = this.waiters.filter((x) => x !== w);
        w.resolve();
      }
    }
  }
  /** Resolves once `check()` is true (checked now and after each notify); rejects after `timeoutMs`. */
  until(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x.timer !== timer);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.waiters.push({ check, resolve, reject, timer });
    });
  }
}
