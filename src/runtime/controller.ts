/**
 * The Controller: watches a kind (and what it owns or relates to), keeps a
 * store of it, and runs your reconcile function for each object that needs it
 * — never twice at once for the same object, never before the store is ready,
 * and never from a store older than the change that triggered it.
 *
 *   watcher → reflector/store → triggers → scheduler → runner → result stream
 *
 * This file is the builder; one run lives in controller-run.ts, the pieces in
 * triggers.ts, runner.ts and leadership-gate.ts.
 */
import type { KubeObject } from '../core/resource.js';
import { ObjectRef } from '../core/object-ref.js';
import type { Api } from '../client/api.js';
import type { ControllerDiagnostics } from '../telemetry/diagnostics.js';
import { ProbeServer, type ProbeServerOptions } from '../telemetry/probe-server.js';
import { ControllerRun, type LivenessCheck, type Reconciler, type ReconcileResult } from './controller-run.js';
import type { ErrorPolicy } from './error-policy.js';
import type { LeaderElector } from './leader-election.js';
// A type only: the ring runs its sharder (itself a Controller), so importing its value here would be a cycle.
import type { ShardRing } from './sharding/ring.js';
import { Patch } from '../client/patch.js';
import { isApiError } from '../core/errors.js';
import { logger } from '../telemetry/log.js';
import type { Predicate } from './predicates.js';
import type { Store } from './store.js';
import { SharedCache, type CacheOptions } from './shared-cache.js';
import { bulkSource, mainSource, ownedSource, watchedSource, type Trigger, type TriggerSource } from './triggers.js';
import type { WatcherConfig } from './watcher.js';

const log = logger('kubeloop::sharding');

export { ReconcileReason } from './reasons.js';
export type { LivenessCheck, Reconciler, ReconcileInfo, ReconcileResult } from './controller-run.js';

export interface ControllerConfig {
  /** Names the controller in spans, logs and metric labels. Default: the kind, lower-cased. */
  name?: string;
  /** Most reconciles at once. Default unbounded. */
  concurrency?: number;
  /** Delay every trigger by this much; a newer trigger within it pushes the run back. Default 0. */
  debounceMs?: number;
  /** `/livez` fails when work has been due or running this long with no reconcile finishing. Default 5 minutes. */
  livenessThresholdMs?: number;
  /**
   * Results the stream holds for a consumer that has not read them yet. When it
   * is full no new reconcile starts until the consumer reads (backpressure), and
   * watch or trigger errors are dropped (they are logged and counted). Default 1000.
   */
  resultBufferSize?: number;
  /**
   * Graceful shutdown waits this long for running reconciles, then ends as a
   * forceful one would (the stream ends, the lease is left to expire; the
   * reconciles' promises are abandoned — JavaScript cannot cancel them). Keep it
   * below the pod's `terminationGracePeriodSeconds`. Default 30 s, as
   * controller-runtime's; `Infinity` waits for ever.
   */
  shutdownDeadlineMs?: number;
  /**
   * Deadline of one reconcile. When it passes, the reconcile's `info.signal`
   * aborts, every API call it makes through kubeloop's client is aborted with
   * it, the result is a `ReconcileTimeoutError` (through the error policy,
   * counted as `reconcile_errors_total{error="timeout"}`) and the object's slot
   * is freed. Code that ignores the signal (its own timers, other clients) goes
   * on in the background: JavaScript cannot cancel a promise. Default: none.
   */
  reconcileTimeoutMs?: number;
  /** Finished reconciles kept for the diagnostics page (`/debug`). Default 50. */
  recentReconciles?: number;
}

export interface MainWatcherConfig<K extends KubeObject> extends WatcherConfig {
  /** Only objects whose predicate value changed trigger a reconcile (e.g. `predicates.generation`). */
  predicate?: Predicate<K>;
}

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
  /** The main kind's store (reads only); filled while the controller runs. */
  readonly store: Store<K>;
  /** The main kind's API. */
  readonly api: Api<K>;
  private readonly mainCache: SharedCache<K>;
  /** Caches this controller made for itself (given an `Api`, not a cache): they take its name. */
  private readonly privateCaches: SharedCache<any>[] = [];
  private readonly caches: SharedCache<any>[] = [];
  private config: Required<Omit<ControllerConfig, 'name' | 'reconcileTimeoutMs'>> & { name: string; reconcileTimeoutMs?: number };
  private readonly sources: TriggerSource[] = [];
  private readonly shutdownSignals: AbortSignal[] = [];
  private osSignals?: NodeJS.Signals[];
  private current?: ControllerRun<K, any>;
  private started = false;
  private election?: { elector: LeaderElector; onLost: 'exit' | 'recampaign' };
  private sharding?: ShardRing;
  /** The caches of `owns()` kinds, and their APIs: a sharded controller restricts them to its share. */
  private readonly ownedCaches: SharedCache<any>[] = [];
  /** The probe server started with `serveProbes`, if any. */
  probes?: ProbeServer;

  /**
   * Over an `Api` (with watcher options and a `predicate`) the controller keeps a
   * cache of its own; over a `SharedCache` it shares that cache's watch and store
   * (only `predicate` applies then: selectors and transforms belong to the cache).
   */
  constructor(
    source: Api<K> | SharedCache<K>,
    private readonly watcherConfig: MainWatcherConfig<K> = {},
  ) {
    const { predicate: _predicate, ...cacheOptions } = watcherConfig;
    if (source instanceof SharedCache && Object.keys(cacheOptions).length > 0) {
      throw new Error(`a Controller over a shared cache takes only a predicate; ${Object.keys(cacheOptions).join(', ')} belong to the cache (caches.for(api, options)).`);
    }
    this.mainCache = this.use(source, cacheOptions);
    this.api = this.mainCache.api;
    this.store = this.mainCache.store;
    this.config = {
      name: this.api.resource.kind.toLowerCase(),
      concurrency: 0,
      debounceMs: 0,
      livenessThresholdMs: 300_000,
      resultBufferSize: 1000,
      shutdownDeadlineMs: 30_000,
      recentReconciles: 50,
    };
  }

  /** The cache behind `source`: a shared one as it is, or a private one for an `Api`. */
  private use<T extends KubeObject>(source: Api<T> | SharedCache<T>, options: CacheOptions<T>): SharedCache<T> {
    let cache: SharedCache<T>;
    if (source instanceof SharedCache) cache = source;
    else {
      cache = new SharedCache(source, options);
      this.privateCaches.push(cache);
    }
    this.caches.push(cache);
    return cache;
  }

  get name(): string {
    return this.config.name;
  }

  /** Sets name, concurrency, debounce and the liveness threshold. */
  withConfig(config: ControllerConfig): this {
    if (config.concurrency !== undefined && (!Number.isInteger(config.concurrency) || config.concurrency < 0)) {
      throw new RangeError(`concurrency must be a non-negative integer (0 = unbounded), not ${config.concurrency}.`);
    }
    if (config.shutdownDeadlineMs !== undefined && !(config.shutdownDeadlineMs >= 0)) {
      throw new RangeError(`shutdownDeadlineMs must be a non-negative number of milliseconds (or Infinity), not ${config.shutdownDeadlineMs}.`);
    }
    if (config.resultBufferSize !== undefined && (!Number.isInteger(config.resultBufferSize) || config.resultBufferSize < 1)) {
      throw new RangeError(`resultBufferSize must be a positive integer, not ${config.resultBufferSize}.`);
    }
    if (config.reconcileTimeoutMs !== undefined && !(Number.isFinite(config.reconcileTimeoutMs) && config.reconcileTimeoutMs > 0)) {
      throw new RangeError(`reconcileTimeoutMs must be a positive, finite number of milliseconds, not ${config.reconcileTimeoutMs}.`);
    }
    if (config.recentReconciles !== undefined && (!Number.isInteger(config.recentReconciles) || config.recentReconciles < 0)) {
      throw new RangeError(`recentReconciles must be a non-negative integer, not ${config.recentReconciles}.`);
    }
    this.config = { ...this.config, ...Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined)) };
    return this;
  }

  /**
   * Reconciles the owner when an object of the child kind changes or is deleted:
   * its `ownerReferences` of the main kind name the owners. Given an `Api`, the
   * controller watches the children's metadata only, in a cache of its own.
   */
  owns<C extends KubeObject>(child: Api<C> | SharedCache<C>, config: WatcherConfig = {}): this {
    const cache = this.use(child, { ...config, metadataOnly: true });
    this.ownedCaches.push(cache);
    this.sources.push(ownedSource(this.api.resource, cache as unknown as SharedCache<KubeObject>));
    return this;
  }

  /** Reconciles the objects `mapper` names whenever an object of the other kind changes or is deleted. */
  watches<O extends KubeObject>(other: Api<O> | SharedCache<O>, mapper: (obj: O) => Iterable<ObjectRef>, config: WatcherConfig = {}): this {
    this.sources.push(watchedSource(this.use(other, config), mapper));
    return this;
  }

  /**
   * Reconciles every object in the store each time `trigger` yields. Give it a
   * function of the run's signal when a timer drives it, so the timer ends with
   * the run; a plain iterable is closed when the run ends. A trigger that throws
   * has stopped for good and fails `/livez`.
   *
   * @example
   * import { setInterval } from 'node:timers/promises';
   * controller.reconcileAllOn((signal) => setInterval(10 * 60_000, undefined, { signal }));
   */
  reconcileAllOn(trigger: Trigger): this {
    this.sources.push(bulkSource(this.store, trigger, `reconcileAllOn #${this.sources.filter((s) => s.name.startsWith('reconcileAllOn')).length + 1}`));
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
    if (this.sharding) throw new Error(`controller ${this.name} is sharded: its ring's Leases already decide who reconciles what; use one or the other.`);
    const onLost = config.onLost ?? 'exit';
    if (onLost !== 'exit' && onLost !== 'recampaign') throw new RangeError(`onLost must be 'exit' or 'recampaign', not ${String(onLost)}.`);
    this.election = { elector, onLost };
    return this;
  }

  /**
   * Shares the objects among the replicas of `ring`: this replica reconciles only
   * the objects labelled with its identity (its main and `owns()` caches carry
   * that label selector, so it caches only its share), and only while its member
   * Lease is renewed — losing it exits the process, as losing a leader's lease
   * does. Every replica also campaigns for the ring's sharder role, which labels
   * the objects (see sharding/sharder.ts). Objects move between replicas with a
   * drain handshake: never two replicas reconcile one object at a time.
   *
   * @example
   * const ring = new ShardRing(client, { name: 'documents', namespace: process.env.POD_NAMESPACE!, identity: process.env.POD_NAME });
   * new Controller(Api.all(client, Documents)).owns(Api.all(client, ConfigMaps)).withSharding(ring);
   */
  withSharding(ring: ShardRing): this {
    if (this.election) throw new Error(`controller ${this.name} uses leader election: a sharded controller's ring decides who reconciles what; use one or the other.`);
    this.sharding = ring;
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
    const ring = this.sharding;
    if (ring) for (const cache of [this.mainCache, ...this.ownedCaches]) cache.restrict(ring.selector);
    const settings = ring ? { ...this.config, drain: { label: ring.drainLabel, ack: (obj: K) => this.acknowledgeDrain(ring, obj) } } : this.config;
    const election = ring ? { elector: ring.member, onLost: 'exit' as const } : this.election;
    const run = new ControllerRun(this.api.resource, this.store, settings, reconcile, errorPolicy, ctx, election);
    this.current = run;
    for (const cache of this.privateCaches) cache.rename(this.name);
    let sharderRun: Promise<void> | undefined;
    let removeGauge: (() => void) | undefined;
    try {
      await this.probes?.listen();
      run.start([mainSource(this.mainCache, this.watcherConfig.predicate), ...this.sources], this.shutdownSignals, this.osSignals);
      if (ring) {
        // The sharder role, campaigned for by every member; it stops when this run starts stopping.
        sharderRun = ring.runSharder(this.api as unknown as Api<KubeObject>, this.ownedCaches.map((c) => c.api as Api<KubeObject>), run.signal).catch((e: Error) =>
          log.error({ ring: ring.name, error: e.message }, 'the sharder stopped'),
        );
        removeGauge = ring.metrics.shardObjects.add({ ring: ring.name, shard: ring.identity }, () => this.store.size);
      }
      for (;;) {
        const next = await run.results.next();
        if (next.done) return;
        yield next.value;
      }
    } finally {
      run.stop(true);
      await sharderRun;
      removeGauge?.();
      await this.probes?.close();
    }
  }

  /**
   * Lets go of an object the sharder asked this replica to drain: runs in the
   * object's scheduler slot, so no reconcile of it is running, and removes both
   * labels at the resourceVersion seen (a 409 means a newer view is coming, which
   * brings another try). The object then leaves this replica's watch.
   */
  private async acknowledgeDrain(ring: ShardRing, obj: K): Promise<void> {
    const meta = obj.metadata!;
    const api = this.api.resource.namespaced && this.api.namespace === undefined ? this.api.inNamespace(meta.namespace!) : this.api;
    try {
      await api.patch(meta.name!, Patch.merge({ metadata: { resourceVersion: meta.resourceVersion, labels: { [ring.shardLabel]: null, [ring.drainLabel]: null } } }));
    } catch (e) {
      if (isApiError(e, 409) || isApiError(e, 404)) return;
      throw e;
    }
    ring.metrics.shardDrains.inc({ ring: ring.name });
    log.info({ ring: ring.name, object: ObjectRef.from(this.api.resource, obj).key }, 'drained: handed the object back to the sharder');
  }

  /** Readiness of every cache this controller reads (its main kind's, owned and watched kinds'). */
  readiness(): ReadinessCheck[] {
    return this.caches.map((cache) => cache.readiness());
  }

  /** Whether the reconcile loop makes progress (idle counts as live). */
  liveness(now = performance.now()): LivenessCheck {
    return this.current?.liveness(now) ?? { live: true, detail: 'not running' };
  }

  /** Objects waiting in the scheduler and reconciles running (for diagnostics). */
  queue(): { depth: number; running: number } {
    return this.current?.queueState() ?? { depth: 0, running: 0 };
  }

  /** What the controller is doing now, for the diagnostics page (`/debug`): queue, running and recent reconciles, caches. */
  diagnostics(limit = 50): ControllerDiagnostics {
    const now = performance.now();
    const run = this.current?.diagnostics(limit, now) ?? {
      leadership: { mode: 'none' as const },
      live: this.liveness(now),
      concurrency: this.config.concurrency,
      queue: { depth: 0, dueNow: 0, next: [] },
      running: [],
      recent: [],
    };
    return { name: this.name, ready: this.caches.every((c) => c.store.isReady()), ...run, caches: this.caches.map((c) => c.diagnostics()) };
  }
}
