/**
 * Backoff policies: how long to wait before the next attempt after a failure.
 */

/** A backoff: `next()` is the next delay in ms (or `undefined` to give up); `reset()` starts over. */
export interface Backoff {
  next(): number | undefined;
  reset(): void;
}

export interface ExponentialBackoffOptions {
  initialMs: number;
  maxMs: number;
  factor?: number;
  /** Each delay is moved by up to ±jitter of itself. Default 0.25; 0 turns jitter off. */
  jitter?: number;
  random?: () => number;
}

/** Exponential backoff with jitter: initial, initial×factor, … capped at max. */
export class ExponentialBackoff implements Backoff {
  private attempt = 0;
  constructor(private readonly options: ExponentialBackoffOptions) {}

  next(): number {
    const { initialMs, maxMs, factor = 2, jitter = 0.25, random = Math.random } = this.options;
    const base = Math.min(maxMs, initialMs * factor ** this.attempt);
    if (base < maxMs) this.attempt++;
    const jittered = base * (1 + jitter * (random() * 2 - 1));
    return Math.min(maxMs, Math.max(0, jittered));
  }

  reset(): void {
    this.attempt = 0;
  }
}

/** Wraps a backoff so that it starts over when it has not been used for `resetAfterMs` (a calm period). */
export class ResetTimerBackoff implements Backoff {
  private lastUsed?: number;
  constructor(
    private readonly inner: Backoff,
    private readonly resetAfterMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  next(): number | undefined {
    const t = this.now();
    if (this.lastUsed !== undefined && t - this.lastUsed > this.resetAfterMs) this.inner.reset();
    this.lastUsed = t;
    return this.inner.next();
  }

  reset(): void {
    this.inner.reset();
  }
}

/**
 * The watcher's default: exponential from 0.8 s to 30 s, factor 2, with jitter,
 * reset after a success or after 120 s of calm — kube-rs's `DefaultBackoff`.
 */
export function defaultWatcherBackoff(): Backoff {
  return new ResetTimerBackoff(new ExponentialBackoff({ initialMs: 800, maxMs: 30_000, factor: 2 }), 120_000);
}
