/** What the controller does after a reconcile: run again after a delay, or wait for a change. */
export class Action {
  private constructor(
    /** Milliseconds after the reconcile finished, or undefined to wait for a change. */
    readonly requeueAfterMs: number | undefined,
  ) {}

  /** Run again `ms` milliseconds after this reconcile finished (reason `reconciler requested retry`). */
  static requeue(ms: number): Action {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`Action.requeue needs a finite, non-negative delay in ms, not ${ms}.`);
    return new Action(ms);
  }

  /** Schedule nothing: the next change to the object (or a related one) triggers the next run. */
  static awaitChange(): Action {
    return AWAIT_CHANGE;
  }

  toString(): string {
    return this.requeueAfterMs === undefined ? 'await change' : `requeue after ${this.requeueAfterMs} ms`;
  }
}

const AWAIT_CHANGE = Object.freeze(new (Action as unknown as new (ms: undefined) => Action)(undefined));
