/**
 * The Controller: watches a kind (and what it owns or relates to), keeps a
 * store of it, and runs your reconcile function for each object that needs it
 * — never twice at once for the same object, never before the store is ready.
 *
 *   watcher → reflector/store → triggers → scheduler → runner → result stream
 */
import type { KubeObject } from '../core/resource.js';
import { apiVersionOf } from '../core/resource.js';
import { ObjectRef } from '../core/object-ref.js';
import type { Api } from '../client/api.js';
import { logger } from '../telemetry/log.js';
import {
  reconcileActive, reconcileDuration, reconcileErrors, reconcileQueueDepth, reconcileQueueWait, reconcileTotal, storeObjects,
} from '../telemetry/metrics.js';
import { ProbeServer, type ProbeServerOptions } from '../telemetry/probe-server.js';
import { withSpan } from '../telemetry/span.js';
import { Action } from './action.js';
import { Channel } from './channel.js';
import type { ErrorPolicy } from './error-policy.js';
import { ControllerError, errorKind, ObjectNotFoundError, QueueError, ReconcilerFailedError } from './errors.js';
import type { LeaderElector } from './leader-election.js';
import { PredicateState, type Predicate } from './predicates.js';
import { Scheduler, type ScheduledEntry } from './scheduler.js';
import { reflector, Store } from './store.js';
import { metadataWatcher, watcher, type WatcherConfig, type WatcherEvent } from './watcher.js';

const log = logger('kubeloop::controller');

/** Electors guarding a running controller: one elector guards one controller (its release ends that controller's leadership only). */
const electorsInUse = new Map<LeaderElector, string>();

/** The reconcile reasons (exact strings, shown in spans and logs). */
export const ReconcileReason = {
  objectUpdated: 'object updated',
  relatedObjectUpdated: (ref: ObjectRef) => `related object updated: ${ref.key}`,
  reconcilerRequestedRetry: 'reconciler requested retry',
  errorPolicyRequestedRetry: 'error policy requested retry',
  bulkReconcileRequested: 'bulk reconcile requested',
  unknown: 'unknown',
} as const;

export type Reconciler<K extends KubeObject, C> = (obj: K, ctx: C) => Promise<Action> | Action;

/** One entry of the result stream. Results never end the stream. */
export type ReconcileResult =
  | { ok: true; ref: ObjectRef; action: Action }
  | { ok: false; ref?: ObjectRef; error: ControllerError };

export interface ControllerConfig {
  /** Names the controller in spans, logs and metric labels. Default: the kind, lower-cased. */
  name?: string;
  /** Most reconciles at once. Default unbounded. */
  concurrency?: number;
  /** Delay every trigger by this much; a newer trigger within it pushes the run back. Default 0. */
  debounceMs?: number;
  /** `/livez` fails when work has been due or running this long with no reconcile finishing. Default 5 minutes. */
  livenessThresholdMs?: number;
}

export interface MainWatcherConfig<K extends KubeObject> extends WatcherConfig {
  /** Only objects whose predicate value changed trigger a reconcile (e.g. `predicates.generation`). */
  predicate?: Predicate<K>;
}

type TriggerSource = (run: ControllerRun<any, any>) => Promise<void>;

export interface LeaderElectionConfig {
  /**
   * What to do when leadership is lost (renewals failed for the renew deadline,
   * or another replica holds the Lease): `exit` (default) logs and exits the
   * process with code 1, as controller-runtime does, so the orchestrator restarts
   * it as a clean follower; `recampaign` pauses reconciling, clears the queue and
   * campaigns again. Either way no reconcile starts after the loss; with
   * `recampaign`, reconciles already running finish.
   */
  onLost?: 'exit' | 'recampaign';
}

/** Readiness of one store, for probes. */
export interface ReadinessCheck {
  name: string;
  ready: boolean;
}

/** Liveness of the reconcile loop, for probes. */
export interface LivenessCheck {
  live: boolean;
  detail: string;
}

/**
 * @example
 * const controller = new Controller(Api.all(client, Documents), { labelSelector: 'team=a' })
 *   .owns(Api.all(client, ConfigMaps))
 *   .shutdownOnSignal();
 * for await (const result of controller.run(reconcile, errorPolicy, ctx)) {
 *   if (!result.ok) log.warn({ error: result.error.message }, 'reconcile failed');
 * }
 */
export class Controller<K extends KubeObject> {
  /** The cache of the main kind; filled while the controller runs. */
  readonly store: Store<K>;
  private config: Required<Omit<ControllerConfig, 'name'>> & { name: string };
  private readonly sources: TriggerSource[] = [];
  private readonly shutdownSignals: AbortSignal[] = [];
  private osSignals?: NodeJS.Signals[];
  private current?: ControllerRun<K, any>;
  private started = false;
  private election?: { elector: LeaderElector; onLost: 'exit' | 'recampaign' };
  /** The probe server started with `serveProbes`, if any. */
  probes?: ProbeServer;

  constructor(
    readonly api: Api<K>,
    private readonly watcherConfig: MainWatcherConfig<K> = {},
  ) {
    this.store = new Store(api.resource);
    this.config = { name: api.resource.kind.toLowerCase(), concurrency: 0, debounceMs: 0, livenessThresholdMs: 300_000 };
  }

  get name(): string {
    return this.config.name;
  }

  /** Sets name, concurrency, debounce and the liveness threshold. */
  withConfig(config: ControllerConfig): this {
    if (config.concurrency !== undefined && (!Number.isInteger(config.concurrency) || config.concurrency < 0)) {
      throw new RangeError(`concurrency must be a non-negative integer (0 = unbounded), not ${config.concurrency}.`);
    }
    this.config = { ...this.config, ...Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined)) };
    return this;
  }

  /**
   * Reconciles the owner when an object of `childApi` changes or is deleted: its
   * `ownerReferences` of the main kind name the owners. Watches metadata only.
   */
  owns<C extends KubeObject>(childApi: Api<C>, config: WatcherConfig = {}): this {
    const main = this.api.resource;
    const mainApiVersion = apiVersionOf(main);
    const child = childApi.resource;
    this.sources.push(async (run) => {
      const events = metadataWatcher(childApi, { ...config, signal: run.abort.signal, controller: run.name });
      await run.consume(`${child.plural} (owned)`, events, (obj) => {
        const ns = obj.metadata.namespace;
        const childRef = ObjectRef.from(child, obj);
        for (const owner of obj.metadata.ownerReferences ?? []) {
          if (owner.kind === main.kind && owner.apiVersion === mainApiVersion) {
            run.schedule(ObjectRef.of(main, owner.name, ns), ReconcileReason.relatedObjectUpdated(childRef));
          }
        }
      });
    });
    return this;
  }

  /** Reconciles the objects `mapper` names whenever an object of `otherApi` changes or is deleted. */
  watches<O extends KubeObject>(otherApi: Api<O>, mapper: (obj: O) => Iterable<ObjectRef>, config: WatcherConfig = {}): this {
    const other = otherApi.resource;
    this.sources.push(async (run) => {
      const events = watcher(otherApi, { ...config, signal: run.abort.signal, controller: run.name });
      await run.consume(`${other.plural} (watched)`, events, (obj) => {
        const objRef = ObjectRef.from(other, obj);
        for (const ref of mapper(obj)) run.schedule(ref, ReconcileReason.relatedObjectUpdated(objRef));
      });
    });
    return this;
  }

  /** Reconciles every object in the store each time `trigger` yields. */
  reconcileAllOn(trigger: AsyncIterable<unknown>): this {
    this.sources.push(async (run) => {
      for await (const _ of trigger) {
        if (run.stopping) break;
        for (const obj of this.store.list()) run.schedule(ObjectRef.from(this.api.resource, obj), ReconcileReason.bulkReconcileRequested);
      }
    });
    return this;
  }

  /** First SIGTERM/SIGINT: graceful shutdown. Second: forceful. Handlers are removed when the run ends. */
  shutdownOnSignal(signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT']): this {
    this.osSignals = signals;
    return this;
  }

  /** Graceful shutdown when `signal` aborts: no new reconciles, watches end, running ones finish, then the stream ends. */
  gracefulShutdownOn(signal: AbortSignal): this {
    this.shutdownSignals.push(signal);
    return this;
  }

  /**
   * Serves `/metrics`, `/readyz`, `/livez` and `/log-level` while this controller
   * runs: the server starts with `run()` and stops when the stream ends.
   */
  serveProbes(options: ProbeServerOptions = {}): this {
    this.probes = new ProbeServer(options).add(this);
    return this;
  }

  /**
   * Reconciles only while `elector` leads. Followers keep their watches and
   * stores warm, so `/readyz` (which is about the caches) answers 200 on every
   * replica and a new leader starts from a full cache; `/livez` reports a
   * follower as live. On taking the lease, every object in the store is
   * scheduled (reason `bulk reconcile requested`). Graceful shutdown releases
   * the lease once the running reconciles finished, so a follower takes over at
   * its next check; a forced shutdown leaves the lease to expire.
   *
   * @example
   * const elector = new LeaderElector(client, { name: 'my-operator', namespace: process.env.POD_NAMESPACE ?? 'default' });
   * new Controller(api).withLeaderElection(elector).shutdownOnSignal();
   */
  withLeaderElection(elector: LeaderElector, config: LeaderElectionConfig = {}): this {
    const onLost = config.onLost ?? 'exit';
    if (onLost !== 'exit' && onLost !== 'recampaign') throw new RangeError(`onLost must be 'exit' or 'recampaign', not ${String(onLost)}.`);
    this.election = { elector, onLost };
    return this;
  }

  /** Starts graceful shutdown of the running controller now. */
  shutdown(): void {
    this.current?.stop(false);
  }

  /**
   * Runs the controller: an async iterable of results that ends only after
   * shutdown. Nothing starts until you iterate it; leaving the loop early stops
   * the controller at once.
   */
  async *run<C>(reconcile: Reconciler<K, C>, errorPolicy: ErrorPolicy<K, C>, ctx: C): AsyncGenerator<ReconcileResult> {
    if (this.started) throw new Error(`controller ${this.name} is already running or has run; create a new Controller.`);
    this.started = true;
    const run = new ControllerRun(this, this.config, reconcile, errorPolicy, ctx, this.election);
    this.current = run;
    await this.probes?.listen();
    try {
      run.start(this.watcherConfig, this.sources, this.shutdownSignals, this.osSignals);
      for (;;) {
        const next = await run.results.next();
        if (next.done) return;
        yield next.value;
      }
    } finally {
      run.stop(true);
      await this.probes?.close();
    }
  }

  /** Readiness of the stores this controller fills (the main one). */
  readiness(): ReadinessCheck[] {
    return [{ name: `${this.name}/${this.api.resource.kind}`, ready: this.store.isReady() }];
  }

  /** Whether the reconcile loop makes progress (idle counts as live). */
  liveness(now = performance.now()): LivenessCheck {
    return this.current?.liveness(now) ?? { live: true, detail: 'not running' };
  }

  /** Objects waiting in the scheduler and reconciles running (for diagnostics). */
  queue(): { depth: number; running: number } {
    return this.current?.queueState() ?? { depth: 0, running: 0 };
  }
}

/** One run of a controller: its scheduler, runner, watch loops and result stream. */
class ControllerRun<K extends KubeObject, C> {
  readonly results = new Channel<ReconcileResult>();
  readonly abort = new AbortController();
  readonly name: string;
  stopping = false;
  private readonly scheduler: Scheduler<ObjectRef>;
  private readonly active = new Set<Promise<void>>();
  private readonly limit: number;
  private wakeUp?: () => void;
  private timer?: NodeJS.Timeout;
  private lastFinishedAt = performance.now();
  private ended = false;
  private readonly cleanups: (() => void)[] = [];
  private readonly metrics;
  /** True while this run may start reconciles: always without leader election, else while it leads. */
  private leading: boolean;

  constructor(
    private readonly controller: Controller<K>,
    private readonly config: Required<ControllerConfig>,
    private readonly reconcile: Reconciler<K, C>,
    private readonly errorPolicy: ErrorPolicy<K, C>,
    private readonly ctx: C,
    private election?: { elector: LeaderElector; onLost: 'exit' | 'recampaign' },
  ) {
    this.leading = election === undefined;
    this.name = config.name;
    this.scheduler = new Scheduler({ debounceMs: config.debounceMs });
    this.limit = config.concurrency > 0 ? config.concurrency : Number.POSITIVE_INFINITY;
    const labels = { controller: this.name };
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

  start(watcherConfig: MainWatcherConfig<K>, sources: TriggerSource[], shutdownSignals: AbortSignal[], osSignals?: NodeJS.Signals[]): void {
    if (this.election) {
      const { elector } = this.election;
      const other = electorsInUse.get(elector);
      if (other !== undefined) {
        this.election = undefined; // not ours to step down or release
        throw new Error(`the LeaderElector for Lease ${elector.options.namespace}/${elector.options.name} already guards controller ${other}; give each controller its own elector and Lease.`);
      }
      electorsInUse.set(elector, this.name);
      this.cleanups.push(() => electorsInUse.delete(elector));
    }
    const r = this.controller.api.resource;
    const resource = r.group ? `${r.plural}.${r.group}` : r.plural;
    this.cleanups.push(
      reconcileQueueDepth.add({ controller: this.name }, () => this.scheduler.depth),
      reconcileActive.add({ controller: this.name }, () => this.active.size),
      storeObjects.add({ controller: this.name, resource }, () => this.controller.store.size),
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

    const { predicate, ...wc } = watcherConfig;
    const filter = predicate ? new PredicateState(predicate) : undefined;
    const store = this.controller.store;
    const main = reflector(store, watcher(this.controller.api, { ...wc, signal: this.abort.signal, controller: this.name }));
    void this.consume(resource, main, (obj, event) => {
      if (event.type === 'delete') return void filter?.forget(obj);
      if (filter && !filter.passes(obj)) return;
      this.schedule(ObjectRef.from(r, obj), ReconcileReason.objectUpdated);
    });
    for (const source of sources) {
      source(this).catch((e: Error) => {
        if (!this.stopping) this.results.push({ ok: false, error: new QueueError('trigger', e) });
      });
    }
    if (this.election) void this.lead(this.election.elector, this.election.onLost);
    void this.runner();
  }

  /** May reconciles start now? Without leader election always; with it, only while the lease is held and renewed. */
  private mayReconcile(): boolean {
    return this.election === undefined || (this.leading && this.election.elector.isLeader);
  }

  /** Campaigns, reconciles while leading, and on a loss exits or campaigns again. */
  private async lead(elector: LeaderElector, onLost: 'exit' | 'recampaign'): Promise<void> {
    const r = this.controller.api.resource;
    while (!this.stopping) {
      let leadership: AbortSignal;
      try {
        leadership = await elector.acquire(this.abort.signal);
      } catch {
        return; // shut down while campaigning
      }
      this.leading = true;
      log.info({ controller: this.name, identity: elector.identity }, 'leading: reconciling every object');
      for (const obj of this.controller.store.list()) this.schedule(ObjectRef.from(r, obj), ReconcileReason.bulkReconcileRequested);
      const lost = await new Promise<Error>((resolve) => {
        if (leadership.aborted) resolve(leadership.reason as Error);
        else leadership.addEventListener('abort', () => resolve(leadership.reason as Error), { once: true });
      });
      // Before anything else: no reconcile may start from now on.
      this.leading = false;
      this.scheduler.clear();
      this.wake();
      if (this.stopping) return; // our own graceful shutdown released the lease
      if (onLost === 'exit') {
        log.error({ controller: this.name, error: lost.message }, 'leadership lost; exiting');
        process.exit(1);
      }
      log.warn({ controller: this.name, error: lost.message }, 'leadership lost; reconciling paused, campaigning again');
    }
  }

  /** Feeds a watcher's objects to `onObject` (apply, initApply and delete); errors become results. */
  async consume<T extends KubeObject>(what: string, events: AsyncIterable<WatcherEvent<T>>, onObject: (obj: T, event: WatcherEvent<T>) => void): Promise<void> {
    for await (const event of events) {
      if (this.stopping) break;
      if (event.type === 'error') this.results.push({ ok: false, error: new QueueError(what, event.error) });
      else if (event.type === 'apply' || event.type === 'initApply' || event.type === 'delete') onObject(event.object, event);
    }
  }

  schedule(ref: ObjectRef, reason: string, delayMs = 0): void {
    // A follower queues nothing: it schedules every object when it takes the lease.
    if (this.stopping || !this.mayReconcile()) return;
    this.scheduler.push({ key: ref.key, item: ref, runAt: performance.now() + delayMs, reason });
    this.wake();
  }

  private wake(): void {
    const w = this.wakeUp;
    this.wakeUp = undefined;
    w?.();
  }

  private async runner(): Promise<void> {
    try {
      await this.controller.store.waitUntilReady(this.abort.signal);
    } catch {
      return; // stopped before the store was ready
    }
    log.debug({ controller: this.name }, 'store ready; reconciling');
    while (!this.stopping) {
      const now = performance.now();
      while (this.active.size < this.limit && this.mayReconcile()) {
        const entry = this.scheduler.pop(now);
        if (!entry) break;
        this.launch(entry, now);
      }
      const next = this.active.size < this.limit ? this.scheduler.nextRunAt() : undefined;
      await new Promise<void>((resolve) => {
        this.wakeUp = resolve;
        if (next !== undefined) this.timer = setTimeout(() => this.wake(), Math.max(0, next - performance.now()));
      });
      clearTimeout(this.timer);
    }
  }

  private launch(entry: ScheduledEntry<ObjectRef>, now: number): void {
    this.metrics.queueWait.observe(Math.max(0, now - entry.runAt) / 1000);
    const p = this.reconcileOne(entry)
      .catch((e: Error) => log.error({ error: e.message }, 'internal error while reconciling'))
      .finally(() => {
        this.active.delete(p);
        this.scheduler.finish(entry.key);
        this.lastFinishedAt = performance.now();
        this.wake();
      });
    this.active.add(p);
  }

  private async reconcileOne(entry: ScheduledEntry<ObjectRef>): Promise<void> {
    const ref = entry.item;
    const obj = this.controller.store.getByKey(entry.key);
    if (!obj) {
      this.metrics.failure.inc();
      this.metrics.errors.object_not_found.inc();
      this.results.push({ ok: false, ref, error: new ObjectNotFoundError(ref) });
      return;
    }
    await withSpan(
      'reconciling object',
      { 'object.ref': ref.key, 'object.reason': entry.reason, controller: this.name },
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
        if (action.requeueAfterMs !== undefined && !this.stopping && this.mayReconcile()) {
          const reason = failed ? ReconcileReason.errorPolicyRequestedRetry : ReconcileReason.reconcilerRequestedRetry;
          this.scheduler.push({ key: entry.key, item: ref, runAt: performance.now() + action.requeueAfterMs, reason });
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
      this.wake();
      clearTimeout(this.timer);
    }
    if (force) {
      // Reconciles may still be running: the lease is left to expire, not handed over.
      this.election?.elector.stepDown();
      return this.finish(true);
    }
    void Promise.all(this.active)
      .then(() => this.election?.elector.release())
      .then(() => this.finish(false));
  }

  private finish(force: boolean): void {
    if (this.ended) return;
    this.ended = true;
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    this.results.close(force);
    log.debug({ controller: this.name, force }, 'controller stopped');
  }

  liveness(now: number): LivenessCheck {
    if (this.ended) return { live: true, detail: 'stopped' };
    if (!this.mayReconcile() && this.active.size === 0) return { live: true, detail: 'following: another replica holds the lease' };
    if (!this.controller.store.isReady()) return { live: true, detail: 'waiting for the first list (see /readyz)' };
    const busySince = this.scheduler.busySince(now);
    if (busySince === undefined) return { live: true, detail: 'idle' };
    const stalledMs = now - Math.max(busySince, this.lastFinishedAt);
    if (stalledMs > this.config.livenessThresholdMs) {
      return { live: false, detail: `work has been due or running for ${Math.round(stalledMs / 1000)} s with no reconcile finishing` };
    }
    return { live: true, detail: 'making progress' };
  }

  queueState(): { depth: number; running: number } {
    return { depth: this.scheduler.depth, running: this.active.size };
  }
}
