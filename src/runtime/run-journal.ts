/**
 * What a controller run is doing and has just done: the reconciles running now
 * (with when they started) and a ring buffer of the last finished ones.
 *
 * It feeds the stuck-work gauges (longest running, unfinished work) and the
 * diagnostics page. The hot path only stores references (a Map entry per
 * running reconcile, one slot write per finished one); messages and strings
 * are made when someone asks.
 */
import type { ObjectRef } from '../core/object-ref.js';
import type { FinishedReconcile, RunningReconcile } from '../telemetry/diagnostics.js';
import type { Action } from './action.js';

export interface RunningRecord {
  ref: ObjectRef;
  reason: string;
  /** performance.now() at the start. */
  startedAt: number;
  traceId?: string;
  /** performance.now() when its deadline passes, if it has one. */
  deadlineAt?: number;
}

/** A running record, completed in place when it finishes (one object per reconcile, not two). */
interface FinishedRecord extends RunningRecord {
  /** Date.now() at the end. */
  finishedAt: number;
  durationMs: number;
  result: FinishedReconcile['result'];
  error?: unknown;
  action: Action;
}

export class RunJournal {
  /** Running records, unordered; each knows its slot, so removal is a swap (no Map churn on the hot path). */
  private readonly runningNow: (RunningRecord & { slot?: number })[] = [];
  private readonly ring: (FinishedRecord | undefined)[];
  private next = 0;

  constructor(capacity: number) {
    this.ring = new Array<FinishedRecord | undefined>(Math.max(0, capacity));
  }

  /** Notes a reconcile that starts; hand the record back to `finished`. */
  started(record: RunningRecord): RunningRecord {
    (record as RunningRecord & { slot?: number }).slot = this.runningNow.length;
    this.runningNow.push(record);
    return record;
  }

  finished(running: RunningRecord, result: FinishedReconcile['result'], error: unknown, action: Action, now: number): void {
    const record = running as FinishedRecord & { slot?: number };
    const slot = record.slot;
    if (slot === undefined || this.runningNow[slot] !== record) return;
    const last = this.runningNow.pop()!;
    if (last !== record) {
      this.runningNow[slot] = last;
      last.slot = slot;
    }
    record.slot = undefined;
    if (this.ring.length === 0) return;
    record.finishedAt = Date.now();
    record.durationMs = now - record.startedAt;
    record.result = result;
    record.error = error;
    record.action = action;
    this.ring[this.next] = record;
    this.next = (this.next + 1) % this.ring.length;
  }

  /** Milliseconds the longest-running reconcile has been running; 0 when none runs. */
  longestRunningMs(now: number): number {
    let longest = 0;
    for (const r of this.runningNow) longest = Math.max(longest, now - r.startedAt);
    return longest;
  }

  /** Milliseconds of work in progress, summed over the running reconciles. */
  unfinishedMs(now: number): number {
    let sum = 0;
    for (const r of this.runningNow) sum += now - r.startedAt;
    return sum;
  }

  /** The running reconciles, longest-running first. */
  running(now: number): RunningReconcile[] {
    const wallOffset = Date.now() - now;
    return [...this.runningNow]
      .sort((a, b) => a.startedAt - b.startedAt)
      .map((r) => ({
        object: r.ref.key,
        reason: r.reason,
        startedAt: new Date(r.startedAt + wallOffset).toISOString(),
        runningForMs: Math.round(now - r.startedAt),
        ...(r.traceId ? { traceId: r.traceId } : {}),
        ...(r.deadlineAt !== undefined ? { deadlineInMs: Math.round(r.deadlineAt - now) } : {}),
      }));
  }

  /** The finished reconciles still in the ring, newest first. */
  recent(): FinishedReconcile[] {
    const out: FinishedReconcile[] = [];
    const n = this.ring.length;
    for (let i = 1; i <= n; i++) {
      const r = this.ring[(this.next - i + n) % n];
      if (!r) break;
      out.push({
        object: r.ref.key,
        reason: r.reason,
        finishedAt: new Date(r.finishedAt).toISOString(),
        durationMs: Math.round(r.durationMs * 10) / 10,
        result: r.result,
        ...(r.error !== undefined ? { error: r.error instanceof Error ? r.error.message : String(r.error) } : {}),
        action: r.action.toString(),
        ...(r.traceId ? { traceId: r.traceId } : {}),
      });
    }
    return out;
  }
}
