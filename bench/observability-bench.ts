/**
 * Scenario 6: the cost per reconcile of kubeloop's observability. A controller
 * over N ConfigMaps whose no-op reconciler requeues every object every R ms, so
 * reconciles run at a steady N/R per ms without any API call; the child's CPU
 * time over a window, divided by the reconciles in it, is the cost per reconcile.
 *
 * - `all-on`: logs at info (the default) to a null destination, metrics, and
 *   tracing exported by `setupTracing` over OTLP http/protobuf to a receiver in
 *   the parent process on loopback (batching, as in production).
 * - `all-on-sampled`: as `all-on` with `OTEL_TRACES_SAMPLER=parentbased_traceidratio`
 *   at 0.1, a common production setting (informational; the issue sets no target).
 * - `all-on+cr-metrics`: as `all-on`, with `enableControllerRuntimeMetrics()`
 *   called first, so every reconcile records controller-runtime's metric names
 *   beside kubeloop's (the cost of having both families).
 * - `all-on+deadline`: as `all-on`, with `reconcileTimeoutMs` set (one timer and
 *   one AbortController per reconcile; the deadline never passes).
 * - `tracing-off`: logs and metrics as above, no tracing SDK.
 * - `all-off`: the log filter `off`, no tracing SDK, and metric recording
 *   replaced by no-ops in this process (kubeloop has no switch for its metrics:
 *   the bench stubs prom-client's metric objects to get a true baseline; the
 *   deferred counters, plain additions until a scrape, still count).
 */
import { Action, Api, Client, ConfigMaps, configureLogging, Controller, enableControllerRuntimeMetrics, metricsRegistry } from 'kubeloop';
import { setupTracing, type Tracing } from 'kubeloop/telemetry';
import { cpuMs, markWindow, monoMs, sleep } from './child-io.js';
import type { ChildTask } from './protocol.js';

function stubMetrics(): void {
  const noop = () => {};
  const child = { inc: noop, observe: noop, set: noop, startTimer: () => noop };
  for (const metric of metricsRegistry.getMetricsAsArray()) {
    Object.assign(metric as object, { inc: noop, observe: noop, set: noop, startTimer: () => noop, labels: () => child });
  }
}

export async function observabilityBench(task: ChildTask): Promise<Record<string, number>> {
  const config = task.contender;
  let tracing: Tracing | undefined;
  if (config === 'all-off') {
    configureLogging({ filter: 'off' });
    stubMetrics();
  } else {
    // A null destination: pino still formats every line that passes the filter.
    configureLogging({ filter: 'info', destination: { write: () => {} } });
    if (config !== 'tracing-off') {
      if (config === 'all-on-sampled') {
        // The SDK reads its sampler from the environment.
        process.env.OTEL_TRACES_SAMPLER = 'parentbased_traceidratio';
        process.env.OTEL_TRACES_SAMPLER_ARG = '0.1';
      }
      tracing = await setupTracing({
        serviceName: 'kubeloop-bench',
        env: { OTEL_EXPORTER_OTLP_ENDPOINT: String(task.params.otlpEndpoint), OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' },
      });
      if (!tracing.enabled) throw new Error('tracing did not start');
    }
  }

  // Before the controller starts: a controller records the names enabled when it starts.
  if (config === 'all-on+cr-metrics') enableControllerRuntimeMetrics();

  const client = Client.fromKubeconfig({ paths: [task.target.kubeconfigPath] });
  const controller = new Controller(Api.namespaced(client, ConfigMaps, task.namespace)).withConfig({
    name: 'bench-noop',
    // Far beyond a no-op reconcile: the timer is armed and cleared every time, never fires.
    reconcileTimeoutMs: config === 'all-on+deadline' ? 30_000 : undefined,
  });
  const shutdown = new AbortController();
  controller.gracefulShutdownOn(shutdown.signal);
  const requeue = Action.requeue(task.scale.obsRequeueMs);
  let ok = 0;
  let failed = 0;
  const done = (async () => {
    for await (const r of controller.run(() => requeue, () => requeue, undefined)) {
      if (r.ok) ok++;
      else failed++;
    }
  })();
  await controller.store.waitUntilReady();
  await sleep(task.scale.obsWarmupSeconds * 1000);
  const start = { n: ok, cpu: cpuMs(), t: monoMs() };
  await sleep(task.scale.obsMeasureSeconds * 1000);
  const end = { n: ok, cpu: cpuMs(), t: monoMs() };
  markWindow(start.t, end.t);
  shutdown.abort();
  await done;
  await tracing?.shutdown();
  await client.close();
  if (failed > 0) throw new Error(`${failed} reconciles failed`);
  const reconciles = end.n - start.n;
  return {
    reconciles,
    reconcilesPerSecond: reconciles / ((end.t - start.t) / 1000),
    cpuPerReconcileUs: ((end.cpu - start.cpu) * 1000) / reconciles,
  };
}
