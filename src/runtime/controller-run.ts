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
import type { KubeObject, Resource } from '../core/resource.js';
import { ObjectRef } from '../core/object-ref.js';
import { logger } from '../telemetry/log.js';
import {
  reconcileActive, reconcileDuration, reconcileErrors, reconcileQueueDepth, reconcileQueueWait, reconcileTotal, triggerErrors,
} from '../telemetry/metrics.js';
import { withSpan } from '../telemetry/span.js';
import { Action } from './action.js';
import { Channel } from './channel.js';
import type { ErrorPolicy } from './error-policy.js';
import { DuplicateControllerError, errorKind, ObjectNotFoundError, QueueError, ReconcilerFailedError, TriggerError, type ControllerError } from './errors.js';
import { LeadershipGate } from './leadership-gate.js';
import type { LeaderElector } from './leader-election.js';
import { ReconcileReason } from './reasons.js';
import { Runner } from './runner.js';
import { Scheduler, type ScheduledEntry } from './scheduler.js';
import type { Store } from './store.js';
import type { TriggerContext, TriggerSource } from './triggers.js';

const log = logger('kubeloop::controller');

export type Reconciler<K extends KubeObject, C> = (obj: K, ctx: C) => Promise<Action> | Action;

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
      },
      queueWait: reconcileQueueWait.labels(labels),
      duration: reconcileDuration.labels(labels),
    };
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  start(sources: TriggerSource[], shutdownSignals: AbortSignal[], osSignals?: NodeJS.Signals[]): void {
    const r = this.resource;
    this.cleanups.push(
      reconcileQueueDepth.add({ controller: this.controller }, () => this.scheduler.depth),
      reconcileActive.add({ controller: this.controller }, () => this.runner.running),
    );
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
    this.scheduler.push({ key: ref.key, item: ref, runAt: performance.now() + delayMs, reason });
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
    this.metrics.queueWait.observe(Math.max(0, now - entry.runAt) / 1000);
    const ref = entry.item;
    const obj = this.store.getByKey(entry.key);
    if (!obj) {
      // Nothing ran: not a failed reconcile, but worth counting (deleted while queued).
      this.metrics.errors.object_not_found.inc();
      this.results.push({ ok: false, ref, error: new ObjectNotFoundError(ref) });
      return;
    }
    await withSpan(
      'reconciling object',
      { 'object.ref': ref.key, 'object.reason': entry.reason, controller: this.controller },
      async (span) => {
        log.debug('reconciling');
        const started = performance.now();
        let action: Action;
        let failure: unknown;
        let failed = false;
        try {
          action = await this.reconcile(obj, this.ctx);
          if (!(action instanceof Action)) throw new TypeError(`the reconciler returned ${String(action)} instead of an Action.`);
          this.errorPolicy.onSuccess?.(ref);
        } catch (e) {
          failed = true;
          failure = e;
          span.fail(e);
          action = await this.runErrorPolicy(obj, e);
        }
        const seconds = (performance.now() - started) / 1000;
        const traceId = span.traceId;
        if (traceId) this.metrics.duration.observeWithExemplar(seconds, { trace_id: traceId });
        else this.metrics.duration.observe(seconds);
        if (failed) {
          this.metrics.failure.inc();
          this.metrics.errors[errorKind(failure)].inc();
          const error = new ReconcilerFailedError(ref, failure);
          log.debug({ duration_ms: Math.round(seconds * 1000), error: error.message, action: action.toString() }, 'reconcile failed');
          this.results.push({ ok: false, ref, error });
        } else {
          this.metrics.success.inc();
          log.debug({ duration_ms: Math.round(seconds * 1000), action: action.toString() }, 'reconciled');
          this.results.push({ ok: true, ref, action });
        }
        if (action.requeueAfterMs !== undefined && !this.stopping && (!this.gate || this.gate.open)) {
          const reason = failed ? ReconcileReason.errorPolicyRequestedRetry : ReconcileReason.reconcilerRequestedRetry;
          // The delay asked for is exact: the debounce is for bursts of watch events.
          this.scheduler.push({ key: entry.key, item: ref, runAt: performance.now() + action.requeueAfterMs, reason, debounce: false });
        }
      },
      { root: true },
    );
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
}
