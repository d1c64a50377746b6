/**
 * Prometheus metrics (prom-client). Every metric kubeloop records lives in
 * `metricsRegistry`; register your own metrics there too and `/metrics` serves them.
 */
import { Counter, Gauge, Histogram, Registry, type RegistryContentType } from 'prom-client';
import { FastHistogram } from './histogram.js';

/**
 * kubeloop's registry. It is an OpenMetrics registry so that the reconcile
 * duration histogram can carry trace-id exemplars; `renderMetrics` also writes
 * the classic text format for scrapers that do not negotiate OpenMetrics.
 */
// prom-client's typings omit the constructor's content-type argument.
export const metricsRegistry: Registry<RegistryContentType> = new (Registry as unknown as new (type: RegistryContentType) => Registry<RegistryContentType>)(
  Registry.OPENMETRICS_CONTENT_TYPE,
);

export const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** A gauge whose values are read from live sources when scraped. */
export class SourcedGauge<L extends string> {
  private readonly sources = new Map<string, { labels: Record<L, string>; read: () => number }>();
  readonly gauge: Gauge<L>;
  constructor(name: string, help: string, labelNames: L[], registry: Registry<RegistryContentType> = metricsRegistry) {
    const sources = this.sources;
    this.gauge = new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        for (const s of sources.values()) this.set(s.labels, s.read());
      },
    });
  }
  /** Adds a source; the returned function removes it (and its series). */
  add(labels: Record<L, string>, read: () => number): () => void {
    const key = JSON.stringify(labels);
    this.sources.set(key, { labels, read });
    return () => {
      this.sources.delete(key);
      this.gauge.remove(labels);
    };
  }
}

/** One series of a counter counted on a hot path; see `DeferrableCounter`. */
export interface DeferredCounter {
  inc(n?: number): void;
}

class DeferredSeries<L extends string> implements DeferredCounter {
  pending = 0;
  constructor(
    private readonly dirty: Set<DeferredSeries<L>>,
    readonly labels: Record<L, string>,
  ) {}
  inc(n = 1): void {
    if (this.pending === 0) this.dirty.add(this);
    this.pending += n;
  }
}

/**
 * A prom-client counter whose hot-path series are counted in plain numbers that
 * reach prom-client when the registry is read (every scrape and `metrics()` call).
 * It spares prom-client's label hashing on paths that run for every watch event or
 * every reconcile.
 */
export class DeferrableCounter<L extends string> {
  readonly counter: Counter<L>;
  private readonly dirty = new Set<DeferredSeries<L>>();

  constructor(config: { name: string; help: string; labelNames: readonly L[] }, registry: Registry<RegistryContentType> = metricsRegistry) {
    const dirty = this.dirty;
    const counter: Counter<L> = new Counter({
      ...config,
      registers: [registry],
      collect() {
        for (const series of dirty) {
          counter.inc(series.labels, series.pending);
          series.pending = 0;
        }
        dirty.clear();
      },
    });
    this.counter = counter;
  }

  /**
   * A series with these labels; keep it and call `inc` on it. It is exported at 0
   * from now on: Prometheus's `rate()` and `increase()` only see increments after a
   * series' first sample, so a series born at 1 would hide its first event.
   */
  series(labels: Record<L, string>): DeferredCounter {
    this.counter.inc(labels, 0);
    return new DeferredSeries(this.dirty, labels);
  }
}

export const reconcileTotal = new DeferrableCounter({
  name: 'reconcile_total',
  help: 'Reconciles finished, by result (success or error).',
  labelNames: ['controller', 'result'] as const,
});
export const reconcileErrors = new DeferrableCounter({
  name: 'reconcile_errors_total',
  help: 'Failed reconciles, by error kind (a small fixed set: reconciler_error, api_error, transport_error, timeout), and objects due but no longer in the store (object_not_found; no reconcile ran).',
  labelNames: ['controller', 'error'] as const,
});
// The two histograms observed on every reconcile are FastHistograms (see histogram.ts).
export const reconcileDuration = new FastHistogram({
  name: 'reconcile_duration_seconds',
  help: 'Time a reconcile took, error policy included; exemplars carry the trace id.',
  labelNames: ['controller'] as const,
  buckets: DURATION_BUCKETS,
  enableExemplars: true,
  registers: [metricsRegistry],
});
export const reconcileQueueWait = new FastHistogram({
  name: 'reconcile_queue_wait_seconds',
  help: 'Time from when a reconcile was due until it started.',
  labelNames: ['controller'] as const,
  buckets: DURATION_BUCKETS,
  registers: [metricsRegistry],
});
export const reconcileQueueDepth = new SourcedGauge('reconcile_queue_depth', 'Objects waiting in the scheduler (queued, due or not, and held behind a running reconcile).', [
  'controller',
]);
export const reconcileActive = new SourcedGauge('reconcile_active', 'Reconciles running now.', ['controller']);
export const reconcileLongestRunning = new SourcedGauge(
  'reconcile_longest_running_seconds',
  'How long the longest-running reconcile has been running (0 when none runs): a stuck reconcile shows as a value that keeps growing.',
  ['controller'],
);
export const watcherEvents = new DeferrableCounter({
  name: 'watcher_events_total',
  help: 'Watcher events, by type (init, init_apply, init_done, apply, delete, error).',
  labelNames: ['controller', 'resource', 'type'] as const,
});
export const watcherRestarts = new Counter({
  name: 'watcher_restarts_total',
  help: 'Watches that ended or failed and were started again.',
  labelNames: ['controller', 'resource'] as const,
  registers: [metricsRegistry],
});
export const watcherRelists = new Counter({
  name: 'watcher_relists_total',
  help: 'Full lists, the first one included (a 410 Gone forces one).',
  labelNames: ['controller', 'resource'] as const,
  registers: [metricsRegistry],
});
export const triggerErrors = new Counter({
  name: 'trigger_errors_total',
  help: 'Trigger events skipped because user code (a predicate, a mapper, a trigger) threw, and triggers that stopped for good, by source.',
  labelNames: ['controller', 'source', 'kind'] as const,
  registers: [metricsRegistry],
});
export const storeObjects = new SourcedGauge('store_objects', 'Objects in a reflector store.', ['controller', 'resource']);
export const clientRequests = new Counter({
  name: 'rest_client_requests_total',
  help: 'API requests, by Kubernetes verb and HTTP status code (0 when no answer came).',
  labelNames: ['verb', 'code'] as const,
  registers: [metricsRegistry],
});
export const clientRequestDuration = new Histogram({
  name: 'rest_client_request_duration_seconds',
  help: 'API request latency until the response (headers for watches), by verb.',
  labelNames: ['verb'] as const,
  buckets: DURATION_BUCKETS,
  registers: [metricsRegistry],
});

export const leaderElectionStatus = new Gauge({
  name: 'leader_election_status',
  help: 'Leader election on a Lease (label: namespace/name): 1 while this replica leads, 0 while it follows.',
  labelNames: ['lease'] as const,
  registers: [metricsRegistry],
});

let rendering: Promise<unknown> = Promise.resolve();

/**
 * Renders a registry as OpenMetrics (with exemplars) or as the classic
 * Prometheus text format. prom-client keys the format off the registry and
 * renames counters while writing OpenMetrics, so renders are serialised and
 * the names put back.
 */
export function renderMetrics(openMetrics: boolean, registry: Registry<RegistryContentType> = metricsRegistry): Promise<{ contentType: string; body: string }> {
  const run = async () => {
    const type = openMetrics ? Registry.OPENMETRICS_CONTENT_TYPE : Registry.PROMETHEUS_CONTENT_TYPE;
    const original = registry.contentType;
    const metrics = registry.getMetricsAsArray() as unknown as { name: string }[];
    const names = metrics.map((m) => m.name);
    registry.setContentType(type);
    try {
      return { contentType: type, body: await registry.metrics() };
    } finally {
      registry.setContentType(original);
      metrics.forEach((m, i) => (m.name = names[i]!));
    }
  };
  const result = rendering.then(run, run);
  rendering = result.catch(() => {});
  return result;
}
