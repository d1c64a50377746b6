/**
 * controller-runtime's metric names, for the Grafana dashboards and alerts
 * people already run against Go operators. Off by default (kubeloop's own
 * metrics say the same things); `enableControllerRuntimeMetrics()` registers
 * them in `metricsRegistry`, and controllers that start afterwards record them
 * beside kubeloop's.
 *
 * Names, labels, buckets and meanings follow controller-runtime
 * (pkg/internal/controller/metrics and pkg/metrics/workqueue.go): both `name`
 * and `controller` on the workqueue metrics carry the controller's name, and
 * `workqueue_depth` has an empty `priority` label.
 */
import { Counter } from 'prom-client';
import { FastHistogram } from './histogram.js';
import { DeferrableCounter, metricsRegistry, SourcedGauge } from './metrics.js';

const RECONCILE_TIME_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10,
  15, 20, 25, 30, 40, 50, 60,
];
/** client-go's workqueue buckets: 10 ns × 10^k, k = 0…11. */
const WORKQUEUE_BUCKETS = Array.from({ length: 12 }, (_, k) => Number((10e-9 * 10 ** k).toPrecision(3)));

function define() {
  const registers = [metricsRegistry];
  return {
    reconcileTotal: new DeferrableCounter({
      name: 'controller_runtime_reconcile_total',
      help: 'Total number of reconciliations per controller (result: success, error, requeue_after).',
      labelNames: ['controller', 'result'] as const,
    }),
    reconcileErrors: new DeferrableCounter({
      name: 'controller_runtime_reconcile_errors_total',
      help: 'Total number of reconciliation errors per controller (timeouts included).',
      labelNames: ['controller'] as const,
    }),
    // Declared so that dashboards summing them find a series; a JavaScript reconciler cannot panic, and kubeloop has no terminal errors.
    terminalErrors: new Counter({
      name: 'controller_runtime_terminal_reconcile_errors_total',
      help: 'Total number of terminal reconciliation errors per controller (always 0 in kubeloop).',
      labelNames: ['controller'] as const,
      registers,
    }),
    panics: new Counter({
      name: 'controller_runtime_reconcile_panics_total',
      help: 'Total number of reconciliation panics per controller (always 0 in kubeloop: a throwing reconciler is an error).',
      labelNames: ['controller'] as const,
      registers,
    }),
    reconcileTime: new FastHistogram({
      name: 'controller_runtime_reconcile_time_seconds',
      help: 'Length of time per reconciliation per controller',
      labelNames: ['controller'] as const,
      buckets: RECONCILE_TIME_BUCKETS,
      registers,
    }),
    maxConcurrent: new SourcedGauge('controller_runtime_max_concurrent_reconciles', 'Maximum number of concurrent reconciles per controller (+Inf when unbounded).', ['controller']),
    activeWorkers: new SourcedGauge('controller_runtime_active_workers', 'Number of currently used workers per controller', ['controller']),
    depth: new SourcedGauge('workqueue_depth', 'Current depth of workqueue: objects due and waiting for a worker (not those scheduled for later, nor held behind their own running reconcile).', [
      'name',
      'controller',
      'priority',
    ]),
    adds: new DeferrableCounter({ name: 'workqueue_adds_total', help: 'Total number of adds handled by workqueue', labelNames: ['name', 'controller'] as const }),
    queueDuration: new FastHistogram({
      name: 'workqueue_queue_duration_seconds',
      help: 'How long in seconds an item stays in workqueue before being requested',
      labelNames: ['name', 'controller'] as const,
      buckets: WORKQUEUE_BUCKETS,
      registers,
    }),
    workDuration: new FastHistogram({
      name: 'workqueue_work_duration_seconds',
      help: 'How long in seconds processing an item from workqueue takes.',
      labelNames: ['name', 'controller'] as const,
      buckets: WORKQUEUE_BUCKETS,
      registers,
    }),
    unfinished: new SourcedGauge(
      'workqueue_unfinished_work_seconds',
      "How many seconds of work has been done that is in progress and hasn't been observed by work_duration. Large values indicate stuck reconciles.",
      ['name', 'controller'],
    ),
    longestRunning: new SourcedGauge('workqueue_longest_running_processor_seconds', 'How many seconds has the longest running processor for workqueue been running.', ['name', 'controller']),
    retries: new DeferrableCounter({ name: 'workqueue_retries_total', help: 'Total number of retries handled by workqueue (every requeue the reconciler or its error policy asked for).', labelNames: ['name', 'controller'] as const }),
  };
}

export type ControllerRuntimeMetrics = ReturnType<typeof define>;

let metrics: ControllerRuntimeMetrics | undefined;

/**
 * Registers controller-runtime's metric names in `metricsRegistry`; controllers
 * started from now on record them too. Idempotent.
 *
 * @example
 * enableControllerRuntimeMetrics();
 * new Controller(api).serveProbes();
 */
export function enableControllerRuntimeMetrics(): void {
  metrics ??= define();
}

/** The metrics when enabled. */
export function controllerRuntimeMetrics(): ControllerRuntimeMetrics | undefined {
  return metrics;
}
