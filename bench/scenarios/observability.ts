/** Scenario 6: observability overhead — CPU per no-op reconcile with tracing, logs and metrics on and off. */
import { configMaps } from '../data.js';
import type { Contender } from '../protocol.js';
import { info, target, type ScenarioResult } from '../report.js';
import { ratio } from '../stats.js';
import { med, NS, repeat, rows, simpleChild, task, type Ctx, type Scenario } from './scenario.js';

async function observability(ctx: Ctx): Promise<ScenarioResult> {
  const contenders: Contender[] = ['all-on', 'tracing-off', 'all-off', 'all-on-sampled', 'all-on+cr-metrics', 'all-on+deadline'];
  // The noisiest figures of the suite (a few µs per reconcile): as many repetitions as the quick scenarios.
  const runs = await repeat(
    ctx,
    'observability',
    contenders,
    (c) => simpleChild(ctx, task(ctx, 'observability', c, NS.obs, { otlpEndpoint: ctx.otlp.endpoint })),
    ctx.scale.quickReps,
  );
  const rs = rows(runs);
  const { obsObjects, obsRequeueMs } = ctx.scale;
  return {
    id: 'observability',
    title: `6. Observability overhead, no-op reconciles (${obsObjects} objects, each requeued every ${obsRequeueMs} ms)`,
    metrics: [
      { key: 'cpuPerReconcileUs', label: 'CPU per reconcile (µs)' },
      { key: 'reconcilesPerSecond', label: 'reconciles/s' },
      { key: 'reconciles', label: 'reconciles measured' },
    ],
    rows: rs,
    ratios: [
      target('everything on (tracing exported) / all off', ratio(med(rs, 'all-on', 'cpuPerReconcileUs'), med(rs, 'all-off', 'cpuPerReconcileUs')), 1.15),
      target('tracing off (logs + metrics) / all off', ratio(med(rs, 'tracing-off', 'cpuPerReconcileUs'), med(rs, 'all-off', 'cpuPerReconcileUs')), 1.05),
      info('everything on, 10% of traces sampled / all off', ratio(med(rs, 'all-on-sampled', 'cpuPerReconcileUs'), med(rs, 'all-off', 'cpuPerReconcileUs'))),
      info("everything on + controller-runtime's metric names / everything on", ratio(med(rs, 'all-on+cr-metrics', 'cpuPerReconcileUs'), med(rs, 'all-on', 'cpuPerReconcileUs'))),
      info('everything on + a reconcile deadline / everything on', ratio(med(rs, 'all-on+deadline', 'cpuPerReconcileUs'), med(rs, 'all-on', 'cpuPerReconcileUs'))),
    ],
    notes: [
      'all-on: logs at info (the default filter) to a null destination, metrics, and tracing via `setupTracing` exporting OTLP http/protobuf (batched) to a receiver in the parent process on loopback. all-on-sampled: the same with `OTEL_TRACES_SAMPLER=parentbased_traceidratio` at 0.1 (for information). all-on+cr-metrics: all-on with `enableControllerRuntimeMetrics()`, so both metric families are recorded on every reconcile. all-on+deadline: all-on with `reconcileTimeoutMs: 30000` (a timer and an AbortController per reconcile; the deadline never passes). tracing-off: the same as all-on without the tracing SDK. all-off: log filter `off`, no SDK, and metric recording replaced by no-ops in that process (kubeloop has no switch for its metrics; the bench stubs the prom-client objects, while the counters kubeloop keeps in plain numbers until a scrape still count, a few ns each).',
      "Cost per reconcile = the child's CPU time (process.cpuUsage) over the measuring window divided by the reconciles in it; the reconciler returns `Action.requeue`, so no API call is made.",
    ],
  };
}

export const observabilityScenario: Scenario = {
  needsCluster: true,
  // Run alone (BENCH_ONLY=observability), it writes observability.{json,md} and leaves the full run's latest.* as they are.
  ownResults: 'observability',
  load: (admin, scale) => configMaps(admin, NS.obs, scale.obsObjects),
  async run(ctx) {
    const result = await observability(ctx);
    result.notes.push(`The OTLP receiver got ${ctx.otlp.received.requests} export requests, ${(ctx.otlp.received.bytes / 2 ** 20).toFixed(1)} MiB in all.`);
    return [result];
  },
};
