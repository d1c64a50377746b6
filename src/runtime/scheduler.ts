/**
 * The controller's queue: at most one queued and one running entry per object.
 *
 * - A request for an object already queued replaces it only if it is due
 *   strictly earlier (earliest wins, and its reason wins); at the same due time
 *   the queued entry and its reason stay.
 * - A request for an object being reconciled is held, and is queued when that
 *   reconcile finishes — so an object never runs concurrently with itself.
 * - With a debounce, a request is delayed by it, and a newer request pushes a
 *   queued one back: a burst of changes becomes one run after the burst. A
 *   request with `debounce: false` (a requeue the reconciler or the error
 *   policy asked for) is due exactly at its `runAt`: the debounce is there to
 *   fold bursts of watch events, not to stretch a delay someone chose.
 *
 * Entries sit in an indexed binary heap ordered by due time (then arrival), so
 * push, pop and re-prioritising are O(log n).
 */

export interface ScheduleRequest<T> {
  /** Identity of the object (its `ObjectRef` key). */
  key: string;
  item: T;
  /** When it is due, on the `performance.now()` clock. */
  runAt: number;
  reason: string;
  /** Whether the scheduler's debounce applies. Default true; `false` for requeues, whose delay is exact. */
  debounce?: boolean;
}

export interface ScheduledEntry<T> extends ScheduleRequest<T> {
  /** When the entry was first queued (for queue-wait metrics). */
  queuedAt: number;
}

interface Slot<T> extends ScheduledEntry<T> {
  seq: number;
  index: number;
}

export interface SchedulerOptions {
  /** Delay added to each request (unless it says `debounce: false`); a newer request within it pushes the run back. Default 0. */
  debounceMs?: number;
}

export class Scheduler<T> {
  private readonly heap: Slot<T>[] = [];
  private readonly queued = new Map<string, Slot<T>>();
  private readonly held = new Map<string, Slot<T>>();
  private readonly running = new Map<string, number>();
  private seq = 0;
  private readonly debounceMs: number;

  constructor(options: SchedulerOptions = {}) {
    this.debounceMs = options.debounceMs ?? 0;
  }

  /** Requests a run. See the rules at the top of this file. True when it made a new entry (not folded into a queued or held one). */
  push(request: ScheduleRequest<T>, now = performance.now()): boolean {
    const runAt = request.debounce === false ? request.runAt : request.runAt + this.debounceMs;
    // Compared before the debounce: a newer debounced request is "earlier" than a queued
    // one's debounced due time, and so pushes it back.
    if (this.running.has(request.key)) {
      const held = this.held.get(request.key);
      if (!held) {
        this.held.set(request.key, this.slot(request, runAt, now));
        return true;
      }
      if (request.runAt < held.runAt) Object.assign(held, { runAt, reason: request.reason, item: request.item });
      return false;
    }
    const existing = this.queued.get(request.key);
    if (!existing) {
      const slot = this.slot(request, runAt, now);
      slot.index = this.heap.length;
      this.heap.push(slot);
      this.queued.set(request.key, slot);
      this.up(slot.index);
      return true;
    }
    if (request.runAt < existing.runAt) {
      const earlier = runAt < existing.runAt;
      existing.runAt = runAt;
      existing.reason = request.reason;
      existing.item = request.item;
      if (earlier) this.up(existing.index);
      else this.down(existing.index);
    }
    return false;
  }

  /** Takes the earliest entry due at `now` and marks its object running; `undefined` if none is due. */
  pop(now = performance.now()): ScheduledEntry<T> | undefined {
    const top = this.heap[0];
    if (!top || top.runAt > now) return undefined;
    this.removeAt(0);
    this.queued.delete(top.key);
    this.running.set(top.key, now);
    return top;
  }

  /** Marks the object's run finished; a request held meanwhile is queued now. */
  finish(key: string): void {
    this.running.delete(key);
    const held = this.held.get(key);
    if (held) {
      this.held.delete(key);
      held.index = this.heap.length;
      this.heap.push(held);
      this.queued.set(key, held);
      this.up(held.index);
    }
  }

  /** Drops every queued and held entry (running ones still need `finish`). */
  clear(): void {
    this.heap.length = 0;
    this.queued.clear();
    this.held.clear();
  }

  /** When the earliest queued entry is due, if any. */
  nextRunAt(): number | undefined {
    return this.heap[0]?.runAt;
  }

  /** Objects waiting: queued (due or not) plus held behind a running reconcile. */
  get depth(): number {
    return this.heap.length + this.held.size;
  }

  /** Objects being reconciled now. */
  get runningCount(): number {
    return this.running.size;
  }

  /** Queued entries already due at `now` (a scan: for probes and metrics, not hot paths). */
  dueCount(now = performance.now()): number {
    let n = 0;
    for (const s of this.heap) if (s.runAt <= now) n++;
    return n;
  }

  /**
   * The first `limit` queued entries by due time, and how many are due at `now`
   * and since when the earliest of those has been due (a sort of the heap: for the
   * diagnostics page, not hot paths). Held entries are not listed.
   */
  peek(limit: number, now = performance.now()): { next: ScheduledEntry<T>[]; due: number; oldestDueAt?: number } {
    const sorted = [...this.heap].sort((a, b) => (this.less(a, b) ? -1 : 1));
    const due = sorted.filter((s) => s.runAt <= now).length;
    return { next: sorted.slice(0, Math.max(0, limit)), due, oldestDueAt: due > 0 ? sorted[0]!.runAt : undefined };
  }

  /** Since when the oldest due-or-running piece of work has been waiting or running, if any. */
  busySince(now = performance.now()): number | undefined {
    let oldest = this.heap[0] && this.heap[0].runAt <= now ? this.heap[0].runAt : undefined;
    for (const started of this.running.values()) if (oldest === undefined || started < oldest) oldest = started;
    return oldest;
  }

  private slot(request: ScheduleRequest<T>, runAt: number, now: number): Slot<T> {
    return { key: request.key, item: request.item, reason: request.reason, runAt, queuedAt: now, seq: this.seq++, index: -1 };
  }

  private less(a: Slot<T>, b: Slot<T>): boolean {
    return a.runAt < b.runAt || (a.runAt === b.runAt && a.seq < b.seq);
  }

  private removeAt(i: number): void {
    const last = this.heap.pop()!;
    if (i < this.heap.length) {
      this.heap[i] = last;
      last.index = i;
      this.down(i);
      this.up(last.index);
    }
  }

  private up(i: number): void {
    const h = this.heap;
    const slot = h[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = h[p]!;
      if (!this.less(slot, parent)) break;
      h[i] = parent;
      parent.index = i;
      i = p;
    }
    h[i] = slot;
    slot.index = i;
  }

  private down(i: number): void {
    const h = this.heap;
    const n = h.length;
    const slot = h[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && this.less(h[r]!, h[l]!) ? r : l;
      const child = h[c]!;
      if (!this.less(child, slot)) break;
      h[i] = child;
      child.index = i;
      i = c;
    }
    h[i] = slot;
    slot.index = i;
  }
}
