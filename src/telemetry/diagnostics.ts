/**
 * What a controller tells the diagnostics page (`/debug`, `/debug.json`) about
 * itself right now. The types live here, below the runtime, so that the probe
 * server can serve them without importing the controller; the runtime fills
 * them in (a controller is a `DiagnosticsSource`).
 *
 * Nothing here carries object contents, headers or tokens: objects appear by
 * their reference (`Kind.version.group/name.namespace`), errors by message.
 * Times are milliseconds; absolute times are ISO-8601 strings in UTC.
 */

/** One queued request: an object waiting for its reconcile. */
export interface QueuedEntry {
  object: string;
  reason: string;
  /** Negative when already due: it has been waiting that long. */
  dueInMs: number;
}

/** A reconcile running now. */
export interface RunningReconcile {
  object: string;
  reason: string;
  startedAt: string;
  runningForMs: number;
  traceId?: string;
  /** When its deadline (`reconcileTimeoutMs`) passes, if it has one. */
  deadlineInMs?: number;
}

/** A finished reconcile (newest first in `recent`). */
export interface FinishedReconcile {
  object: string;
  reason: string;
  finishedAt: string;
  durationMs: number;
  result: 'success' | 'error' | 'timeout';
  /** The error's message for failed ones (never the object or a secret). */
  error?: string;
  /** What happens next: `requeue after 5000 ms` or `await change`. */
  action: string;
  traceId?: string;
}

/** One cache (a watch and its store) that a controller reads. */
export interface CacheDiagnostics {
  name: string;
  resource: string;
  objects: number;
  ready: boolean;
  /** When the current watch was issued (undefined while listing, after an error, or stopped). */
  connectedSince?: string;
  lastEventAt?: string;
  restarts: number;
  relists: number;
  lastError?: { message: string; at: string };
}

export interface ControllerDiagnostics {
  name: string;
  leadership: { mode: 'none' } | { mode: 'leading' | 'following'; lease: string; holder?: string };
  ready: boolean;
  live: { live: boolean; detail: string };
  /** 0 = unbounded. */
  concurrency: number;
  reconcileTimeoutMs?: number;
  /** `/livez` fails when work has been due or running this long with nothing finishing. */
  livenessThresholdMs?: number;
  queue: {
    depth: number;
    dueNow: number;
    /** How long the longest-waiting due entry has waited. */
    oldestWaitMs?: number;
    /** The next entries by due time, at most `limit` (see `DiagnosticsSource`). */
    next: QueuedEntry[];
  };
  running: RunningReconcile[];
  recent: FinishedReconcile[];
  caches: CacheDiagnostics[];
}

/** Anything that can describe itself to the diagnostics page: a Controller, typically. */
export interface DiagnosticsSource {
  readonly name: string;
  /** `limit` bounds the queue entries listed; recent reconciles are bounded by the source's ring buffer. */
  diagnostics(limit: number): ControllerDiagnostics;
}
