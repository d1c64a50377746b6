/**
 * The runner: takes due entries from a Scheduler and starts them, within a
 * concurrency limit, once a start gate has opened and only while `mayStart`
 * says so (leadership, a full result stream). It knows nothing of Kubernetes:
 * `work(entry)` is the reconcile, and the runner only guarantees three things:
 *
 * - nothing starts before `ready` resolves;
 * - at most `concurrency` entries run at once;
 * - every started entry is finished in the scheduler when its work settles,
 *   whether it resolved or threw — so a held request for the same object is
 *   queued and the object is never reconciled concurrently with itself.
 *
 * Whoever pushes to the scheduler or changes what `mayStart` answers calls
 * `wake()`; the runner also wakes by itself when the next entry falls due.
 */
import type { ScheduledEntry, Scheduler } from './scheduler.js';

/** Longest the runner starts work without letting the event loop turn (timers, I/O). */
const YIELD_AFTER_MS = 10;

export interface RunnerOptions<T> {
  scheduler: Scheduler<T>;
  /** Most entries running at once; 0 or Infinity is unbounded. */
  concurrency: number;
  /** Asked before each start: may one more entry start now? Default: always. */
  mayStart?: () => boolean;
  /** The work for one entry (the runner catches what it throws; report failures inside). */
  work: (entry: ScheduledEntry<T>, now: number) => Promise<void>;
  /** Told when `work` threw past its own error handling: a bug, not a reconcile failure. */
  onInternalError?: (error: unknown, entry: ScheduledEntry<T>) => void;
}

export class Runner<T> {
  private readonly active = new Set<Promise<void>>();
  private readonly limit: number;
  private wakeUp?: () => void;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  /** When the last entry finished (performance.now()), or when the runner was made. */
  lastFinishedAt = performance.now();

  constructor(private readonly options: RunnerOptions<T>) {
    this.limit = options.concurrency > 0 ? options.concurrency : Number.POSITIVE_INFINITY;
  }

  /** Entries running now. */
  get running(): number {
    return this.active.size;
  }

  /** Starts entries as they fall due, once `ready` resolves; ends when `stop()` is called or `ready` rejects. */
  async run(ready: Promise<void>): Promise<void> {
    try {
      await ready;
    } catch {
      return; // stopped (or the store's writer ended) before the gate opened
    }
    const { scheduler } = this.options;
    const mayStart = this.options.mayStart ?? (() => true);
    let ranSince = performance.now();
    while (!this.stopped) {
      let now = performance.now();
      // Reconciles that finish without waiting on I/O (CPU work) would chain start to
      // start through microtasks alone, and no timer — a Lease renewal, an idle
      // timeout — would run until the queue is empty: let the event loop turn.
      if (now - ranSince > YIELD_AFTER_MS) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        now = ranSince = performance.now();
        if (this.stopped) break;
      }
      while (this.active.size < this.limit && mayStart()) {
        const entry = scheduler.pop(now);
        if (!entry) break;
        this.launch(entry, now);
      }
      const next = this.active.size < this.limit && mayStart() ? scheduler.nextRunAt() : undefined;
      const idle = this.active.size === 0;
      await new Promise<void>((resolve) => {
        this.wakeUp = resolve;
        if (next !== undefined) this.timer = setTimeout(() => this.wake(), Math.max(0, next - performance.now()));
      });
      clearTimeout(this.timer);
      // Waking from a timer or an I/O event means the loop turned already.
      if (idle) ranSince = performance.now();
    }
  }

  /** Looks at the scheduler again now (something was pushed, or `mayStart` may answer differently). */
  wake(): void {
    const w = this.wakeUp;
    this.wakeUp = undefined;
    w?.();
  }

  /** Starts nothing more; running entries go on (see `settled`). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.wake();
  }

  /** Resolves when every entry running now has finished. */
  settled(): Promise<void> {
    return Promise.all(this.active).then(() => undefined);
  }

  private launch(entry: ScheduledEntry<T>, now: number): void {
    const p = Promise.resolve()
      .then(() => this.options.work(entry, now))
      .catch((e: unknown) => {
        try {
          this.options.onInternalError?.(e, entry);
        } catch {
          // a failing error reporter must not leave the entry unfinished
        }
      })
      .finally(() => {
        this.active.delete(p);
        this.options.scheduler.finish(entry.key);
        this.lastFinishedAt = performance.now();
        this.wake();
      });
    this.active.add(p);
  }
}
