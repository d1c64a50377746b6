/** Scenario 1: cache warm-up — time until the store is ready, CPU time, heap retained per object, peak RSS. */
import { childOptionsFor, clientGo } from '../contenders/client-go.js';
import { configMaps } from '../data.js';
import type { Contender } from '../protocol.js';
import { info, target, type Metric, type Ratio, type ScenarioResult } from '../report.js';
import { ratio } from '../stats.js';
import { log, med, mono, NS, repeat, rows, simpleChild, task, type Ctx, type Scenario } from './scenario.js';

async function warmup(ctx: Ctx, size: number): Promise<ScenarioResult> {
  const go = await clientGo();
  const contenders: Contender[] = ['kubeloop', 'client-node', 'floor', 'kubeloop-any', ...(go.exec ? (['client-go'] as const) : [])];
  const runs = await repeat(
    ctx,
    `warm-up ${size}`,
    contenders,
    (c) => simpleChild(ctx, task(ctx, 'warmup', c, NS.warmup(size), { objects: size }), childOptionsFor(ctx.childOptions, c, go)),
    ctx.scale.quickReps,
  );
  const rs = rows(runs);
  const metrics: Metric[] = [
    { key: 'readyMs', label: 'time to ready (ms)' },
    { key: 'cpuMs', label: 'CPU time (ms)' },
    { key: 'heapBytesPerObject', label: 'heap retained per object (bytes)' },
    { key: 'heapMB', label: 'heap retained (MiB)' },
    { key: 'peakRssMB', label: 'peak RSS (MiB)' },
  ];
  const ratios: Ratio[] = [
    target('kubeloop / floor, time to ready', ratio(med(rs, 'kubeloop', 'readyMs'), med(rs, 'floor', 'readyMs')), 1.15),
    target('kubeloop / floor, heap per object', ratio(med(rs, 'kubeloop', 'heapBytesPerObject'), med(rs, 'floor', 'heapBytesPerObject')), 1.15),
    target('kubeloop / client-node, time to ready', ratio(med(rs, 'kubeloop', 'readyMs'), med(rs, 'client-node', 'readyMs')), 0.8),
    info('kubeloop / floor, CPU time', ratio(med(rs, 'kubeloop', 'cpuMs'), med(rs, 'floor', 'cpuMs'))),
    target('kubeloop / client-node, CPU time', ratio(med(rs, 'kubeloop', 'cpuMs'), med(rs, 'client-node', 'cpuMs')), 0.9),
    target('kubeloop / client-node, heap per object', ratio(med(rs, 'kubeloop', 'heapBytesPerObject'), med(rs, 'client-node', 'heapBytesPerObject')), 0.9),
    info('floor / client-node, time to ready', ratio(med(rs, 'floor', 'readyMs'), med(rs, 'client-node', 'readyMs'))),
    target('kubeloop-any / client-node, time to ready', ratio(med(rs, 'kubeloop-any', 'readyMs'), med(rs, 'client-node', 'readyMs')), 0.8),
    info('kubeloop-any / floor, heap per object', ratio(med(rs, 'kubeloop-any', 'heapBytesPerObject'), med(rs, 'floor', 'heapBytesPerObject'))),
    target('kubeloop / client-node, peak RSS during warm-up', ratio(med(rs, 'kubeloop', 'peakRssMB'), med(rs, 'client-node', 'peakRssMB')), 0.6),
  ];
  if (go.exec) {
    ratios.push(
      info('kubeloop / client-go, time to ready', ratio(med(rs, 'kubeloop', 'readyMs'), med(rs, 'client-go', 'readyMs'))),
      target('kubeloop / client-go, CPU to warm up', ratio(med(rs, 'kubeloop', 'cpuMs'), med(rs, 'client-go', 'cpuMs')), 1.0),
      info('kubeloop / client-go, heap per object', ratio(med(rs, 'kubeloop', 'heapBytesPerObject'), med(rs, 'client-go', 'heapBytesPerObject'))),
      info('kubeloop / client-go, peak RSS', ratio(med(rs, 'kubeloop', 'peakRssMB'), med(rs, 'client-go', 'peakRssMB'))),
    );
  }
  return {
    id: `warmup-${size}`,
    title: `1. Cache warm-up, ${size.toLocaleString('en')} ConfigMaps`,
    metrics,
    rows: rs,
    ratios,
    notes: [
      'kubeloop: `reflector(store, watcher(api))`, ready at `store.waitUntilReady()` (a consistent paged list with the default page sizes: 500 objects, then pages of about 2 MiB of JSON; then the watch starts). ' +
        'client-node: `makeInformer` over `listNamespacedConfigMap` (one unpaged list, as its informer does), ready when `informer.start()` resolves. ' +
        'floor: paged list (500) with undici, `JSON.parse` into a `Map`; no watch. ' +
        "kubeloop-any: the same as kubeloop with the watcher's documented `listSemantic: 'any'` (the list is served from the API server's watch cache, `resourceVersion=0`, which 1.20 answers in one piece), the way kube-rs's `ListSemantic::Any` and client-go's reflector start.",
      'Heap: `heapUsed` after two forced GCs, minus the same before the start, divided by the objects (the cache itself plus whatever the client keeps). ' +
        "Peak RSS: the process's `ru_maxrss` once ready (`process.resourceUsage().maxRSS` in Node), the runtime's own start-up included.",
      go.exec
        ? 'client-go: a Go process (`bench/contenders/client-go/main.go`; the client-go vendored by Kubernetes 1.20.2, built with the Go that built kube-apiserver), a `SharedInformerFactory` ConfigMap informer of the namespace, no resync, started by `factory.Start`; ' +
          "its reflector lists with `resourceVersion=0` (from the watch cache, as kubeloop-any) in client-go's default content type, JSON. Ready when `HasSynced()` holds (polled every millisecond, not `WaitForCacheSync`'s 100 ms). " +
          'Measured as the Node children are: CPU from `getrusage` (user + system of every thread, as `process.cpuUsage`), from just before the factory is made to ready; ' +
          "heap is **Go heap**, not V8 heap: `HeapAlloc` after two `runtime.GC()`, minus the same before, so heap ratios against it compare two runtimes' object layouts."
        : `client-go: skipped (${go.skipped ?? 'unknown reason'})`,
    ],
  };
}

export const warmupScenario: Scenario = {
  needsCluster: true,
  async load(admin, scale) {
    for (const n of scale.warmupSizes) {
      const t = mono();
      await configMaps(admin, NS.warmup(n), n, (done) => log(`  ${NS.warmup(n)}: ${done} created`));
      log(`loaded ${n} ConfigMaps in ${((mono() - t) / 1000).toFixed(1)} s (${Math.round(n / ((mono() - t) / 1000))}/s)`);
    }
  },
  async run(ctx) {
    const results: ScenarioResult[] = [];
    for (const n of ctx.scale.warmupSizes) results.push(await warmup(ctx, n));
    return results;
  },
};
