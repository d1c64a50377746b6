/**
 * One run of a controller: wires its trigger sources, scheduler, runner,
 * leadership gate and result stream together, and reconciles one object at a
 * time per object (the runner and scheduler see to that).
 *
 *   sources ─schedule→ scheduler ─due→ runner ─work→ reconcileOne ─result→ stream
 *
 * The result stream is bounded: while `resultBufferSize` results wait for the
 * consumer, no new reconcile starts (backpressure, as a pulled stream gives in
 * kube-rs); watch and trigger errors that find the buffer full are dropped
 * (they are logged and counted anyway).
 */
import { setMaxListeners } from 'node:events';
import type { KubeObject, Resource } from '../core/resource.js';
import { ObjectRef } from '../core/object-ref.js';
import { logger } from '../telemetry/log.js';
import { controllerRuntimeMetrics } from '../telemetry/controller-runtime-metrics.js';
import type { ControllerDiagnostics } from '../telemetry/diagnostics.js';
import {
  reconcileActive, reconcileDuration, reconcileErrors, reconcileLongestRunning, reconcileQueueDepth, reconcileQueueWait, reconcileTotal, triggerErrors,
} from '../telemetry/metrics.js';
import { linkFromObject, objectStamp } from '../telemetry/object-trace.js';
import { withSpan } from '../telemetry/span.js';
import { Action } from './action.js';
import { Channel } from './channel.js';
import type { ErrorPolicy } from './error-policy.js';
import { DuplicateControllerError, errorKind, ObjectNotFoundError, QueueError, ReconcilerFailedError, ReconcileTimeoutError, TriggerError, type ControllerError } from './errors.js';
import { LeadershipGate } from './leadership-gate.js';
import type { LeaderElector } from './leader-election.js';
import { ReconcileReason } from './reasons.js';
import { LazyDeadline } from './deadline.js';
import { RunJournal } from './run-journal.js';
import { Runner } from './runner.js';
import { Scheduler, type ScheduledEntry } from './scheduler.js';
import type { Store } from './store.js';
import type { TriggerContext, TriggerSource } from './triggers.js';

const log = logger('kubeloop::controller');

/** What the runtime hands a reconcile beside the object and the user's context. */
export interface ReconcileInfo {
  /**
   * Aborts when the reconcile's deadline (`reconcileTimeoutMs`) passes or the
   * controller is stopped by force. kubeloop's API calls inside the reconcile
   * already follow it; pass it to your own cancellable work (fetch, timers).
   */
  signal: AbortSignal;
}

export type Reconciler<K extends KubeObject, C> = (obj: K, ctx: C, info: ReconcileInfo) => Promise<Action> | Action;

/** One entry of the result stream. Results never end the stream. */
export type ReconcileResult =
  | { ok: true; ref: ObjectRef; action: Action }
  | { ok: false; ref?: ObjectRef; error: ControllerError };

/** Liveness of the reconcile loop, for probes. */
export interface LivenessCheck {
  live: boolean;
  detail: string;
}

export interface RunSettings {
  name: string;
  concurrency: number;
  debounceMs: number;
  livenessThresholdMs: number;
  resultBufferSize: number;
  shutdownDeadlineMs: number;
  /** Deadline of one reconcile; undefined for none. */
  reconcileTimeoutMs?: number;
  /** Finished reconciles kept for the diagnostics page. */
  recentReconciles: number;
  /** Sharding: objects carrying `label` are handed back by `ack` instead of being reconciled. */
  drain?: { label: string; ack: (obj: never) => Promise<void> };
}

/** Names of the controllers running in this process: two with one name would share metric series. */
const runningNames = new Set<string>();

export class ControllerRun<K extends KubeObject, C> implements TriggerContext {
  readonly results: Channel<ReconcileResult>;
  readonly controller: string;
  private readonly abort = new AbortController();
  private stopping = false;
  private ended = false;
  private readonly scheduler: Scheduler<ObjectRef>;
  private readonly runner: Runner<ObjectRef>;
  private readonly gate?: LeadershipGate;
  private readonly cleanups: (() => void)[] = [];
  private readonly stoppedSources = new Map<string, string>();
  private waitingForConsumer = false;
  private readonly metrics;
  /** controller-runtime's metric names, when turned on (`enableControllerRuntimeMetrics`). */
  private readonly compat;
  private readonly journal: RunJournal;
  /** Aborted by a forced stop: the signal of reconciles that have no deadline of their own. */
  private readonly forced = new AbortController();
  /** With a lease (leader election, a shard ring): every API call of a reconcile checks it is still held. */
  private readonly fence?: () => void;

  constructor(
    private readonly resource: Resource<K>,
    private readonly store: Store<K>,
    private readonly settings: RunSettings,
    private readonly reconcile: Reconciler<K, C>,
    private readonly errorPolicy: ErrorPolicy<K, C>,
    private readonly ctx: C,
    election?: { elector: LeaderElector; onLost: 'exit' | 'recampaign' },
  ) {
    this.controller = settings.name;
    if (runningNames.has(settings.name)) throw new DuplicateControllerError(settings.name);
    // Claimed before anything else can fail, released in finish().
    this.gate = election && LeadershipGate.claim(election.elector, election.onLost, settings.name);
    runningNames.add(settings.name);
    const gate = this.gate;
    this.fence = gate && (() => gate.check());
    this.cleanups.push(() => runningNames.delete(settings.name));
    this.results = new Channel<ReconcileResult>(() => this.resultTaken());
    this.scheduler = new Scheduler({ debounceMs: settings.debounceMs });
    this.runner = new Runner({
      scheduler: this.scheduler,
      concurrency: settings.concurrency,
      mayStart: () => this.mayStart(),
      work: (entry, now) => this.reconcileOne(entry, now),
      onInternalError: (e) => log.error({ controller: this.controller, error: (e as Error).message }, 'internal error while reconciling'),
    });
    const labels = { controller: this.controller };
    this.metrics = {
      // Deferred series: counted in plain numbers, handed to prom-client when the metrics are read.
      success: reconcileTotal.series({ ...labels, result: 'success' }),
      failure: reconcileTotal.series({ ...labels, result: 'error' }),
      errors: {
        api_error: reconcileErrors.series({ ...labels, error: 'api_error' }),
        transport_error: reconcileErrors.series({ ...labels, error: 'transport_error' }),
        reconciler_error: reconcileErrors.series({ ...labels, error: 'reconciler_error' }),
        object_not_found: reconcileErrors.series({ ...labels, error: 'object_not_found' }),
        timeout: reconcileErrors.series({ ...labels, error: 'timeout' }),
      },
      queueWait: reconcileQueueWait.labels(labels),
      duration: reconcileDuration.labels(labels),
    };
    this.journal = new RunJournal(settings.recentReconciles);
    // Every API call of every running reconcile listens on it while in flight: many listeners are normal here.
    setMaxListeners(0, this.forced.signal);
    const cr = controllerRuntimeMetrics();
    const queue = { name: this.controller, controller: this.controller };
    this.compat = cr && {
      success: cr.reconcileTotal.series({ ...labels, result: 'success' }),
      error: cr.reconcileTotal.series({ ...labels, result: 'error' }),
      requeueAfter: cr.reconcileTotal.series({ ...labels, result: 'requeue_after' }),
      errors: cr.reconcileErrors.series(labels),
      reconcileTime: cr.reconcileTime.labels(labels),
      adds: cr.adds.series(queue),
      retries: cr.retries.series(queue),
      queueDuration: cr.queueDuration.labels(queue),
      workDuration: cr.workDuration.labels(queue),
    };
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  start(sources: TriggerSource[], shutdownSignals: AbortSignal[], osSignals?: NodeJS.Signals[]): void {
    const r = this.resource;
    const labels = { controller: this.controller };
    this.cleanups.push(
      reconcileQueueDepth.add(labels, () => this.scheduler.depth),
      reconcileActive.add(labels, () => this.runner.running),
      reconcileLongestRunning.add(labels, () => this.journal.longestRunningMs(performance.now()) / 1000),
    );
    const cr = controllerRuntimeMetrics();
    if (cr) {
      const queue = { name: this.controller, controller: this.controller };
      // Zero series, so that sums over them find this controller (kubeloop has neither panics nor terminal errors).
      cr.panics.inc(labels, 0);
      cr.terminalErrors.inc(labels, 0);
      this.compat!.success.inc(0);
      this.compat!.error.inc(0);
      this.compat!.errors.inc(0);
      this.cleanups.push(
        cr.maxConcurrent.add(labels, () => (this.settings.concurrency > 0 ? this.settings.concurrency : Number.POSITIVE_INFINITY)),
        cr.activeWorkers.add(labels, () => this.runner.running),
        cr.depth.add({ ...queue, priority: '' }, () => this.scheduler.dueCount()),
        cr.unfinished.add(queue, () => this.journal.unfinishedMs(performance.now()) / 1000),
        cr.longestRunning.add(queue, () => this.journal.longestRunningMs(performance.now()) / 1000),
      );
    }
    for (const signal of shutdownSignals) {
      if (signal.aborted) this.stop(false);
      const onAbort = () => this.stop(false);
      signal.addEventListener('abort', onAbort, { once: true });
      this.cleanups.push(() => signal.removeEventListener('abort', onAbort));
    }
    if (osSignals) {
      let received = 0;
      const onSignal = (sig: NodeJS.Signals) => {
        received++;
        log.info({ signal: sig }, received === 1 ? 'shutting down gracefully (send the signal again to force)' : 'forceful shutdown');
        this.stop(received > 1);
      };
      for (const s of osSignals) process.on(s, onSignal);
      this.cleanups.push(() => osSignals.forEach((s) => process.off(s, onSignal)));
    }
    for (const source of sources) {
      // Exported at 0 from the start, so that rate() and increase() count a first failure.
      for (const kind of ['threw', 'stopped']) triggerErrors.inc({ controller: this.controller, source: source.name, kind }, 0);
      source.run(this).catch((e: unknown) => {
        if (!this.stopping) this.userCodeFailed(source.name, e, true);
      });
    }
    this.gate
      ?.run(this.abort.signal, {
        onLead: () => {
          for (const obj of this.store.list()) this.schedule(ObjectRef.from(r, obj), ReconcileReason.bulkReconcileRequested);
        },
        onLoss: () => {
          this.scheduler.clear();
          this.runner.wake();
        },
      })
      .catch((e: Error) => log.error({ controller: this.controller, error: e.message }, 'leader election failed'));
    void this.runner.run(this.store.waitUntilReady(this.abort.signal)).then(() => {
      if (!this.stopping) log.debug({ controller: this.controller }, 'runner ended');
    });
  }

  /** Reconciles start only while leading (with leader election) and while the result stream has room. */
  private mayStart(): boolean {
    if (this.gate && !this.gate.open) return false;
    if (this.results.size + this.runner.running >= this.settings.resultBufferSize) {
      this.waitingForConsumer = true;
      return false;
    }
    return true;
  }

  private resultTaken(): void {
    if (this.waitingForConsumer && this.results.size + this.runner.running < this.settings.resultBufferSize) {
      this.waitingForConsumer = false;
      this.runner.wake();
    }
  }

  schedule(ref: ObjectRef, reason: string, delayMs = 0): void {
    // A follower queues nothing: it schedules every object when it takes the lease.
    if (this.stopping || (this.gate && !this.gate.open)) return;
    if (this.scheduler.push({ key: ref.key, item: ref, runAt: performance.now() + delayMs, reason })) this.compat?.adds.inc();
    this.runner.wake();
  }

  watchFailed(source: string, error: Error): void {
    this.pushDroppable({ ok: false, error: new QueueError(source, error) });
  }

  userCodeFailed(source: string, error: unknown, stopped: boolean): void {
    const failure = new TriggerError(source, stopped, error);
    triggerErrors.inc({ controller: this.controller, source, kind: stopped ? 'stopped' : 'threw' });
    if (stopped) {
      this.stoppedSources.set(source, failure.message);
      log.error({ controller: this.controller, source, error: failure.message }, 'trigger stopped for good');
    } else {
      log.warn({ controller: this.controller, source, error: failure.message }, 'trigger threw; event skipped');
    }
    this.pushDroppable({ ok: false, error: failure });
  }

  private pushDroppable(result: ReconcileResult): void {
    if (this.results.size >= this.settings.resultBufferSize) {
      log.debug({ controller: this.controller, error: result.ok ? undefined : result.error.message }, 'result stream full; result dropped');
      return;
    }
    this.results.push(result);
  }

  private async reconcileOne(entry: ScheduledEntry<ObjectRef>, now: number): Promise<void> {
    const waited = Math.max(0, now - entry.runAt) / 1000;
    this.metrics.queueWait.observe(waited);
    this.compat?.queueDuration.observe(waited);
    const ref = entry.item;
    const obj = this.store.getByKey(entry.key);
    if (!obj) {
      // Nothing ran: not a failed reconcile, but worth counting (deleted while queued).
      this.metrics.errors.object_not_found.inc();
      this.results.push({ ok: false, ref, error: new ObjectNotFoundError(ref) });
      return;
    }
    const drain = this.settings.drain;
    if (drain && obj.metadata?.labels?.[drain.label] !== undefined) {
      // The sharder wants it elsewhere: hand it back (in this slot, so no reconcile of it runs) instead of reconciling.
      try {
        await (drain.ack as (o: K) => Promise<void>)(obj);
      } catch (e) {
        log.warn({ controller: this.controller, object: ref.key, error: (e as Error).message }, 'acknowledging a drain failed; trying again');
        this.scheduler.push({ key: entry.key, item: ref, runAt: performance.now() + 1000, reason: entry.reason, debounce: false });
      }
      return;
    }
    const timeoutMs = this.settings.reconcileTimeoutMs;
    // One controller per reconcile only when there is a deadline; otherwise the run's own signal (aborted by a forced stop).
    const deadline = timeoutMs === undefined ? undefined : new LazyDeadline();
    const signal = deadline ? () => deadline.signal : this.forced.signal;
    const info: ReconcileInfo = deadline ? { get signal() { return deadline.signal; } } : { signal: this.forced.signal };
    // Only a change of the object itself was caused by its last write; requeues and related objects were not.
    const link = entry.reason === ReconcileReason.objectUpdated ? linkFromObject(obj) : undefined;
    await withSpan(
      'reconciling object',
      { 'object.ref': ref.key, 'object.reason': entry.reason, controller: this.controller },
      async (span) => {
        log.debug('reconciling');
        const started = performance.now();
        const record = this.journal.started({ ref, reason: entry.reason, startedAt: started, traceId: span.traceId, deadlineAt: timeoutMs === undefined ? undefined : started + timeoutMs });
        let action: Action;
        let failure: unknown;
        let failed = false;
        try {
          const work = Promise.resolve().then(() => this.reconcile(obj, this.ctx, info));
          action = deadline ? await this.withDeadline(work, deadline, ref, timeoutMs!) : await work;
          if (!(action instanceof Action)) throw new TypeError(`the reconciler returned ${String(action)} instead of an Action.`);
          this.errorPolicy.onSuccess?.(ref);
        } catch (e) {
          failed = true;
          failure = e;
          span.fail(e);
          action = await this.runErrorPolicy(obj, e);
        }
        const ended = performance.now();
        const seconds = (ended - started) / 1000;
        const traceId = span.traceId;
        if (traceId) this.metrics.duration.observeWithExemplar(seconds, { trace_id: traceId });
        else this.metrics.duration.observe(seconds);
        const timedOut = failure instanceof ReconcileTimeoutError;
        this.journal.finished(record, failed ? (timedOut ? 'timeout' : 'error') : 'success', failure, action, ended);
        if (this.compat) this.recordCompat(seconds, failed, action);
        if (failed) {
          this.metrics.failure.inc();
          this.metrics.errors[errorKind(failure)].inc();
          const error = timedOut ? (failure as ReconcileTimeoutError) : new ReconcilerFailedError(ref, failure);
          log.debug({ duration_ms: Math.round(seconds * 1000), error: error.message, action: action.toString() }, timedOut ? 'reconcile timed out' : 'reconcile failed');
          this.results.push({ ok: false, ref, error });
        } else {
          this.metrics.success.inc();
          log.debug({ duration_ms: Math.round(seconds * 1000), action: action.toString() }, 'reconciled');
          this.results.push({ ok: true, ref, action });
        }
        if (action.requeueAfterMs !== undefined && !this.stopping && (!this.gate || this.gate.open)) {
          const reason = failed ? ReconcileReason.errorPolicyRequestedRetry : ReconcileReason.reconcilerRequestedRetry;
          // The delay asked for is exact: the debounce is for bursts of watch events.
          const added = this.scheduler.push({ key: entry.key, item: ref, runAt: performance.now() + action.requeueAfterMs, reason, debounce: false });
          if (added) this.compat?.adds.inc();
          // client-go counts every delayed add as a retry (AddAfter), folded or not.
          this.compat?.retries.inc();
        }
      },
      // Writes inside carry on the object's own trace context, never the reconcile's (see object-trace.ts).
      { root: true, signal, links: link ? [link] : undefined, writeStamp: objectStamp(obj) ?? null, fence: this.fence },
    );
  }

  /**
   * The reconcile's outcome, or a `ReconcileTimeoutError` once `timeoutMs` passed:
   * then its signal aborts (and with it every kubeloop API call inside) and the
   * slot is freed without waiting for code that ignores the signal.
   */
  private async withDeadline(work: Promise<Action>, deadline: LazyDeadline, ref: ObjectRef, timeoutMs: number): Promise<Action> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = new ReconcileTimeoutError(ref, timeoutMs);
        deadline.abort(error);
        reject(error);
      }, timeoutMs);
    });
    // What the abandoned reconcile throws later (its aborted calls) must not be an unhandled rejection.
    work.catch(() => {});
    try {
      return await Promise.race([work, expired]);
    } finally {
      clearTimeout(timer);
    }
  }

  private recordCompat(seconds: number, failed: boolean, action: Action): void {
    const c = this.compat!;
    c.reconcileTime.observe(seconds);
    c.workDuration.observe(seconds);
    if (failed) {
      c.error.inc();
      c.errors.inc();
    } else if (action.requeueAfterMs !== undefined) c.requeueAfter.inc();
    else c.success.inc();
  }

  private async runErrorPolicy(obj: K, error: unknown): Promise<Action> {
    try {
      const action = await this.errorPolicy(obj, error, this.ctx);
      if (action instanceof Action) return action;
      log.error({ returned: String(action) }, 'the error policy did not return an Action; waiting for a change');
    } catch (e) {
      log.error({ error: (e as Error).message }, 'the error policy threw; waiting for a change');
    }
    return Action.awaitChange();
  }

  /** Graceful: stop starting work, end the watches, let running reconciles finish, end the stream. Forceful: end now. */
  stop(force: boolean): void {
    if (this.ended) return;
    if (!this.stopping) {
      this.stopping = true;
      this.abort.abort();
      this.scheduler.clear();
      this.runner.stop();
      if (!force && Number.isFinite(this.settings.shutdownDeadlineMs)) {
        // Graceful has a deadline, so it ends before the orchestrator's SIGKILL does (terminationGracePeriodSeconds).
        const deadline = setTimeout(() => {
          log.warn({ controller: this.controller, running: this.runner.running, deadline_ms: this.settings.shutdownDeadlineMs }, 'graceful shutdown deadline passed; ending with reconciles still running');
          this.stop(true);
        }, this.settings.shutdownDeadlineMs);
        // Not unref'd: a hanging reconcile may hold nothing that keeps the process up, and the deadline must still come.
        this.cleanups.push(() => clearTimeout(deadline));
      }
    }
    if (force) {
      // Reconciles still running lose their API calls too.
      this.forced.abort(new Error(`controller ${this.controller} was stopped by force`));
      // Reconciles may still be running: the lease is left to expire, not handed over.
      this.gate?.stepDown();
      return this.finish(true);
    }
    void this.runner
      .settled()
      .then(() => this.gate?.release())
      .catch((e: Error) => log.warn({ controller: this.controller, error: e.message }, 'releasing the lease failed'))
      .then(() => this.finish(false));
  }

  private finish(force: boolean): void {
    if (this.ended) return;
    this.ended = true;
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    this.results.close(force);
    log.debug({ controller: this.controller, force }, 'controller stopped');
  }

  liveness(now: number): LivenessCheck {
    if (this.ended) return { live: true, detail: 'stopped' };
    if (this.stoppedSources.size > 0) {
      return { live: false, detail: [...this.stoppedSources.values()].join('; ') };
    }
    if (this.gate && !this.gate.open && this.runner.running === 0) return { live: true, detail: 'following: another replica holds the lease' };
    if (!this.store.isReady()) return { live: true, detail: 'waiting for the first list (see /readyz)' };
    const busySince = this.scheduler.busySince(now);
    if (busySince === undefined) return { live: true, detail: 'idle' };
    const stalledMs = now - Math.max(busySince, this.runner.lastFinishedAt);
    if (stalledMs > this.settings.livenessThresholdMs) {
      return { live: false, detail: `work has been due or running for ${Math.round(stalledMs / 1000)} s with no reconcile finishing` };
    }
    return { live: true, detail: 'making progress' };
  }

  queueState(): { depth: number; running: number } {
    return { depth: this.scheduler.depth, running: this.runner.running };
  }

  /** The run as the diagnostics page shows it (computed on request: a sort of the queue). */
  diagnostics(limit: number, now = performance.now()): Omit<ControllerDiagnostics, 'name' | 'ready' | 'caches'> {
    const { next, due, oldestDueAt } = this.scheduler.peek(limit, now);
    const elector = this.gate?.elector;
    return {
      leadership: elector ? { mode: this.gate!.open ? 'leading' : 'following', lease: `${elector.options.namespace}/${elector.options.name}`, ...(elector.leader ? { holder: elector.leader } : {}) } : { mode: 'none' },
      live: this.liveness(now),
      concurrency: this.settings.concurrency,
      livenessThresholdMs: this.settings.livenessThresholdMs,
      ...(this.settings.reconcileTimeoutMs !== undefined ? { reconcileTimeoutMs: this.settings.reconcileTimeoutMs } : {}),
      queue: {
        depth: this.scheduler.depth,
        dueNow: due,
        ...(oldestDueAt !== undefined ? { oldestWaitMs: Math.round(now - oldestDueAt) } : {}),
        next: next.map((e) => ({ object: e.item.key, reason: e.reason, dueInMs: Math.round(e.runAt - now) })),
      },
      running: this.journal.running(now),
      recent: this.journal.recent(),
    };
  }
}
