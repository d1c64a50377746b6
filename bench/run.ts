/**
 * `npm run bench`: starts a local control plane (etcd + kube-apiserver on
 * loopback), loads the data, runs every scenario several times with the
 * contenders alternating, each measurement in a child process of its own, and
 * writes bench/results/latest.json and latest.md.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalCluster } from 'kubeloop/testing';
import { Admin, parallel } from './admin.js';
import { readScale, readScenarios, type Scale, type ScenarioName } from './config.js';
import { cmName, cmPath, configMaps, widgetName, widgetPath, widgets } from './data.js';
import { withChild, type ChildOptions } from './harness.js';
import type { ChildTask, Contender, Target } from './protocol.js';
import { info, markdown, summarise, target, type Metric, type Ratio, type Row, type ScenarioResult } from './report.js';
import { percentile, ratio } from './stats.js';
import { TUNED } from './tuned.js';

const RESULTS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'results');
const started = Date.now();
const log = (msg: string) => console.error(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${msg}`);
const mono = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const NS = {
  warmup: (n: number) => `bench-warmup-${n}`,
  watch: 'bench-watch',
  burst: 'bench-burst',
  latency: 'bench-latency',
  obs: 'bench-obs',
};

interface Ctx {
  scale: Scale;
  target: Target;
  admin: Admin;
  childOptions: ChildOptions;
  otlpEndpoint: string;
  /** A value that only grows, so every write of the run is unique. */
  seq: number;
}

/** Contenders in a different order each repetition (a rotation), so none always goes first. */
function rotation<T>(items: T[], rep: number): T[] {
  const k = rep % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

async function repeat(
  ctx: Ctx,
  what: string,
  contenders: Contender[],
  run: (contender: Contender, rep: number) => Promise<Record<string, number>>,
  reps = ctx.scale.reps,
): Promise<Map<Contender, Record<string, number>[]>> {
  const runs = new Map<Contender, Record<string, number>[]>(contenders.map((c) => [c, []]));
  for (let rep = 0; rep < reps; rep++) {
    for (const c of rotation(contenders, rep)) {
      const t = mono();
      const result = await run(c, rep);
      runs.get(c)!.push(result);
      log(`${what} rep ${rep + 1}/${reps} ${c}: ${JSON.stringify(result, (_k, v: unknown) => (typeof v === 'number' ? Math.round(v * 100) / 100 : v))} (${((mono() - t) / 1000).toFixed(1)} s)`);
    }
  }
  return runs;
}

function task(ctx: Ctx, scenario: ChildTask['scenario'], contender: Contender, namespace: string, params: ChildTask['params'] = {}): ChildTask {
  return { scenario, contender, target: ctx.target, namespace, scale: ctx.scale, params };
}

function rows(runs: Map<Contender, Record<string, number>[]>): Row[] {
  return [...runs].map(([c, r]) => summarise(c, r));
}

const med = (rs: Row[], contender: string, key: string) => rs.find((r) => r.contender === contender)?.median[key] ?? Number.NaN;

// ---------------------------------------------------------------------------------------------
// Scenario 1: cache warm-up

async function warmup(ctx: Ctx, size: number): Promise<ScenarioResult> {
  const contenders: Contender[] = ['kubeloop', 'client-node', 'floor', 'kubeloop-any'];
  const runs = await repeat(
    ctx,
    `warm-up ${size}`,
    contenders,
    (c) => withChild(task(ctx, 'warmup', c, NS.warmup(size), { objects: size }), ctx.childOptions, async (child) => (await child.next('result')).result as Record<string, number>),
    ctx.scale.quickReps,
  );
  const rs = rows(runs);
  const metrics: Metric[] = [
    { key: 'readyMs', label: 'time to ready (ms)' },
    { key: 'cpuMs', label: 'CPU time (ms)' },
    { key: 'heapBytesPerObject', label: 'heap retained per object (bytes)' },
    { key: 'heapMB', label: 'heap retained (MiB)' },
  ];
  const ratios: Ratio[] = [
    target('kubeloop / floor, time to ready', ratio(med(rs, 'kubeloop', 'readyMs'), med(rs, 'floor', 'readyMs')), 1.15),
    target('kubeloop / floor, heap per object', ratio(med(rs, 'kubeloop', 'heapBytesPerObject'), med(rs, 'floor', 'heapBytesPerObject')), 1.15),
    target('kubeloop / client-node, time to ready', ratio(med(rs, 'kubeloop', 'readyMs'), med(rs, 'client-node', 'readyMs')), 0.8),
    info('kubeloop / floor, CPU time', ratio(med(rs, 'kubeloop', 'cpuMs'), med(rs, 'floor', 'cpuMs'))),
    info('kubeloop / client-node, CPU time', ratio(med(rs, 'kubeloop', 'cpuMs'), med(rs, 'client-node', 'cpuMs'))),
    info('kubeloop / client-node, heap per object', ratio(med(rs, 'kubeloop', 'heapBytesPerObject'), med(rs, 'client-node', 'heapBytesPerObject'))),
    info('floor / client-node, time to ready', ratio(med(rs, 'floor', 'readyMs'), med(rs, 'client-node', 'readyMs'))),
    target('kubeloop-any / client-node, time to ready', ratio(med(rs, 'kubeloop-any', 'readyMs'), med(rs, 'client-node', 'readyMs')), 0.8),
    info('kubeloop-any / floor, heap per object', ratio(med(rs, 'kubeloop-any', 'heapBytesPerObject'), med(rs, 'floor', 'heapBytesPerObject'))),
  ];
  return {
    id: `warmup-${size}`,
    title: `1. Cache warm-up, ${size.toLocaleString('en')} ConfigMaps`,
    metrics,
    rows: rs,
    ratios,
    notes: [
      'kubeloop: `reflector(store, watcher(api))`, ready at `store.waitUntilReady()` (paged list, 500 per page, then the watch starts). ' +
        'client-node: `makeInformer` over `listNamespacedConfigMap` (one unpaged list, as its informer does), ready when `informer.start()` resolves. ' +
        'floor: paged list (500) with undici, `JSON.parse` into a `Map`; no watch. ' +
        "kubeloop-any: the same as kubeloop with the watcher's documented `listSemantic: 'any'` (the list is served from the API server's watch cache, `resourceVersion=0`, which 1.20 answers in one piece), the way kube-rs's `ListSemantic::Any` and client-go's reflector start.",
      'Heap: `heapUsed` after two forced GCs, minus the same before the start, divided by the objects (the cache itself plus whatever the client keeps).',
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// Scenario 2: watch throughput

async function watchThroughput(ctx: Ctx): Promise<ScenarioResult> {
  const contenders: Contender[] = ['kubeloop', 'client-node', 'floor'];
  const { watchObjects: objects, watchUpdates: updates } = ctx.scale;
  let writeSeconds: number[] = [];
  const runs = await repeat(ctx, 'watch throughput', contenders, (c) =>
    withChild(task(ctx, 'watch', c, NS.watch, { updates }), ctx.childOptions, async (child) => {
      await child.next('ready');
      const base = (ctx.seq += updates);
      const t = mono();
      await parallel(updates, 64, (i) => ctx.admin.mergePatch(cmPath(NS.watch, cmName(i % objects)), { data: { v: String(base + i) } }));
      writeSeconds.push((mono() - t) / 1000);
      return (await child.next('result')).result as Record<string, number>;
    }),
  );
  const rs = rows(runs);
  writeSeconds = writeSeconds.sort((a, b) => a - b);
  return {
    id: 'watch',
    title: `2. Watch throughput, ${updates.toLocaleString('en')} updates to a ready cache of ${objects.toLocaleString('en')}`,
    metrics: [
      { key: 'cpuPerEventUs', label: 'client CPU per event (µs)' },
      { key: 'cpuMs', label: 'client CPU total (ms)' },
      { key: 'eventsPerSecond', label: 'events/s (bounded by the writer)' },
    ],
    rows: rs,
    ratios: [
      target('kubeloop / client-node, CPU per event', ratio(med(rs, 'kubeloop', 'cpuPerEventUs'), med(rs, 'client-node', 'cpuPerEventUs')), 0.8),
      info('kubeloop / floor, CPU per event', ratio(med(rs, 'kubeloop', 'cpuPerEventUs'), med(rs, 'floor', 'cpuPerEventUs'))),
    ],
    notes: [
      `The parent process writes the updates (merge patches, 64 in flight; median ${percentile(writeSeconds, 50).toFixed(1)} s per run); the child counts the events its cache applies and measures its own CPU time (process.cpuUsage) from ready to the last event.`,
      'kubeloop: reflector + watcher (every event goes through the watcher, its metrics and the store). client-node: informer `update` callbacks. floor: one raw undici watch, lines split by hand, `JSON.parse` into a `Map`.',
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// Scenario 3: burst convergence

async function burst(ctx: Ctx): Promise<ScenarioResult> {
  const contenders: Contender[] = ['kubeloop', 'client-node', 'kubeloop-tuned'];
  const { burstObjects: objects, burstUpdates: updates } = ctx.scale;
  let writeRetries = 0;
  const runs = await repeat(ctx, 'burst', contenders, (c) =>
    withChild(task(ctx, 'burst', c, NS.burst, { settleMs: c === 'kubeloop-tuned' ? 1000 + TUNED.debounceMs : 1000 }), ctx.childOptions, async (child) => {
      await child.next('ready');
      const base = (ctx.seq += 1000);
      const final = base + updates;
      const list = await ctx.admin.call('GET', widgetPath(NS.burst));
      const observed = new Map<string, number>();
      for (const w of list.items) observed.set(w.metadata.name, w.status?.observed ?? -1);
      let pending = [...observed.values()].filter((v) => v !== final).length;
      let events = 0;
      let converged!: () => void;
      let watchFailed!: (e: Error) => void;
      const convergedP = new Promise<void>((resolve, reject) => {
        converged = resolve;
        watchFailed = reject;
      });
      const watch = ctx.admin.watch(widgetPath(NS.burst), list.metadata.resourceVersion, (type, obj) => {
        if (type !== 'MODIFIED' && type !== 'ADDED') return;
        events++;
        const name = obj.metadata.name as string;
        const before = observed.get(name);
        const now = obj.status?.observed ?? -1;
        observed.set(name, now);
        if (before !== final && now === final) pending--;
        else if (before === final && now !== final) pending++;
        if (pending === 0) converged();
      }, (e) => watchFailed(e));
      try {
        await watch.ready;
        child.send({ type: 'go' });
        await child.next('going');
        const t0 = mono();
        // Each object's updates in order (its last value is known), all objects at once: as fast as the server accepts.
        const retriesBefore = ctx.admin.retries;
        await parallel(objects, objects, async (i) => {
          const path = widgetPath(NS.burst, widgetName(i));
          for (let k = 1; k <= updates; k++) await ctx.admin.mergePatch(path, { spec: { value: base + k } });
          // A write that timed out (504) may still land after the ones sent later: make sure the last value stands.
          if (ctx.admin.retries > retriesBefore) {
            while ((await ctx.admin.call('GET', path)).spec?.value !== final) await ctx.admin.mergePatch(path, { spec: { value: final } });
          }
        });
        writeRetries += ctx.admin.retries - retriesBefore;
        const written = mono() - t0;
        const timeout = sleep(180_000).then(async () => {
          const sample = await ctx.admin.call('GET', widgetPath(NS.burst, widgetName(0)));
          throw new Error(`no convergence within 180 s: ${pending} objects behind, ${events} events seen; ${widgetName(0)} has spec ${sample.spec?.value}, status ${sample.status?.observed}, final ${final}`);
        });
        await Promise.race([convergedP, timeout]);
        const convergeMs = mono() - t0;
        child.send({ type: 'converged' });
        const r = (await child.next('result')).result as Record<string, number>;
        return { convergeMs, writeMs: written, ...r };
      } finally {
        await watch.stop();
      }
    }),
  );
  const rs = rows(runs);
  return {
    id: 'burst',
    title: `3. Burst convergence, ${objects} objects × ${updates} updates`,
    metrics: [
      { key: 'reconciles', label: 'reconciles' },
      { key: 'reconcilesToConverge', label: 'reconciles until converged' },
      { key: 'apiCalls', label: 'API calls by reconciles' },
      { key: 'statusPatches', label: 'status patches' },
      { key: 'convergeMs', label: 'time to convergence (ms)' },
      { key: 'writeMs', label: 'burst write time (ms)' },
      { key: 'maxConcurrentSameObject', label: 'most concurrent reconciles of one object' },
      { key: 'errors', label: 'failed reconciles' },
    ],
    rows: rs,
    ratios: [
      target('kubeloop / client-node, reconciles', ratio(med(rs, 'kubeloop', 'reconciles'), med(rs, 'client-node', 'reconciles')), 0.25),
      target('kubeloop / client-node, time to convergence', ratio(med(rs, 'kubeloop', 'convergeMs'), med(rs, 'client-node', 'convergeMs')), 1.0),
      info('kubeloop / client-node, API calls', ratio(med(rs, 'kubeloop', 'apiCalls'), med(rs, 'client-node', 'apiCalls'))),
      target('kubeloop-tuned / client-node, reconciles', ratio(med(rs, 'kubeloop-tuned', 'reconciles'), med(rs, 'client-node', 'reconciles')), 0.25),
      target('kubeloop-tuned / client-node, time to convergence', ratio(med(rs, 'kubeloop-tuned', 'convergeMs'), med(rs, 'client-node', 'convergeMs')), 1.0),
      info('kubeloop-tuned / client-node, API calls', ratio(med(rs, 'kubeloop-tuned', 'apiCalls'), med(rs, 'client-node', 'apiCalls'))),
    ],
    notes: [
      'A small CRD (`widgets.bench.kubeloop.dev`, status subresource) stands in for ConfigMaps, which have no status. The parent sends each object its updates in order (merge patches of `spec.value`), all objects at once.',
      'The reconciler (the same function for both) GETs the object and, when `status.observed` differs from `spec.value`, patches the status subresource; API calls counts those GETs and PATCHes.',
      'Convergence: a watch in the parent sees every object with `status.observed` equal to its last `spec.value`. Reconciles are counted from the first write until 1 s without any reconcile after convergence (status patches trigger events too).',
      'kubeloop: a `Controller` with default settings (no debounce, no predicate, unbounded concurrency). ' +
        `kubeloop-tuned: the same with the two documented knobs a status-writing controller would use, \`predicate: predicates.generation\` (its own status writes do not trigger it) and \`debounceMs: ${TUNED.debounceMs}\`. ` +
        'client-node: informer `add`/`update` callbacks calling the reconciler for every event.',
      'Under this load the API server drops watchers that fall behind; kubeloop resumes from the last resourceVersion, the client-node informer resumes or relists (a relist folds many events into one `update`).',
      `Writes the overloaded API server answered 429/503/504 and the parent sent again, over all runs: ${writeRetries}.`,
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// Scenario 4: change-to-reconcile latency

async function latency(ctx: Ctx): Promise<ScenarioResult> {
  const contenders: Contender[] = ['kubeloop', 'client-node'];
  const { latencyObjects: objects, latencyRate: rate, latencySeconds: seconds } = ctx.scale;
  const total = rate * seconds;
  const runs = await repeat(ctx, 'latency', contenders, (c) =>
    withChild(task(ctx, 'latency', c, NS.latency), ctx.childOptions, async (child) => {
      await child.next('ready');
      const base = (ctx.seq += total);
      const writes: { name: string; v: number; t: number }[] = [];
      const inflight: Promise<void>[] = [];
      const t0 = mono();
      let lateStarts = 0;
      for (let k = 0; k < total; k++) {
        const due = t0 + (k * 1000) / rate;
        const wait = due - mono();
        if (wait > 0) await sleep(wait);
        else if (wait < -5) lateStarts++;
        const name = cmName(k % objects);
        const v = base + k;
        inflight.push(ctx.admin.mergePatch(cmPath(NS.latency, name), { data: { v: String(v) } }).then(() => void writes.push({ name, v, t: mono() })));
      }
      await Promise.all(inflight);
      const achievedRate = total / ((mono() - t0) / 1000);
      await sleep(1000);
      child.send({ type: 'stop' });
      const { records } = (await child.next('result')).result as { records: [string, number, number][] };
      const byName = new Map<string, [number, number][]>();
      for (const [name, v, t] of records) (byName.get(name) ?? byName.set(name, []).get(name)!).push([v, t]);
      const latencies: number[] = [];
      let missed = 0;
      let early = 0;
      for (const w of writes) {
        // The first reconcile that saw this write (or a later one) of the same object.
        const seen = (byName.get(w.name) ?? []).filter(([v]) => v >= w.v).map(([, t]) => t);
        if (seen.length === 0) {
          missed++;
          continue;
        }
        const d = Math.min(...seen) - w.t;
        if (d < 0) early++;
        latencies.push(Math.max(0, d));
      }
      return {
        p50Ms: percentile(latencies, 50),
        p90Ms: percentile(latencies, 90),
        p99Ms: percentile(latencies, 99),
        maxMs: percentile(latencies, 100),
        writes: writes.length,
        reconciles: records.length,
        missed,
        eventBeforeResponse: early,
        achievedRate,
        lateStarts,
      };
    }),
  );
  const rs = rows(runs);
  return {
    id: 'latency',
    title: `4. Change-to-reconcile latency, ${rate} updates/s for ${seconds} s over ${objects} ConfigMaps`,
    metrics: [
      { key: 'p50Ms', label: 'p50 (ms)' },
      { key: 'p90Ms', label: 'p90 (ms)' },
      { key: 'p99Ms', label: 'p99 (ms)' },
      { key: 'maxMs', label: 'max (ms)' },
      { key: 'reconciles', label: 'reconciles' },
      { key: 'missed', label: 'writes never reconciled' },
      { key: 'eventBeforeResponse', label: 'reconcile before the write response' },
      { key: 'achievedRate', label: 'writes/s achieved' },
    ],
    rows: rs,
    ratios: [
      target('kubeloop p99 (ms)', med(rs, 'kubeloop', 'p99Ms'), 50, ' ms'),
      info('kubeloop / client-node, p99', ratio(med(rs, 'kubeloop', 'p99Ms'), med(rs, 'client-node', 'p99Ms'))),
      info('kubeloop / client-node, p50', ratio(med(rs, 'kubeloop', 'p50Ms'), med(rs, 'client-node', 'p50Ms'))),
    ],
    notes: [
      'The parent writes at a steady rate (open loop: each write starts on schedule whatever the others do) and notes when each response arrived; the child notes when each reconcile started and with which value. Both use CLOCK_MONOTONIC (process.hrtime), which every process on the machine shares.',
      'Latency of a write = start of the first reconcile that saw its value (or a later one) minus the arrival of the write response. A watch event can beat the response; such latencies count as 0 (column "reconcile before the write response").',
      'kubeloop: a `Controller` with a no-op reconciler. client-node: informer callbacks calling the reconciler.',
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// Scenario 5: scheduler

async function scheduler(ctx: Ctx): Promise<ScenarioResult> {
  const contenders: Contender[] = ['kubeloop', 'setTimeout'];
  const runs = await repeat(
    ctx,
    'scheduler',
    contenders,
    (c) => withChild(task(ctx, 'scheduler', c, ''), ctx.childOptions, async (child) => (await child.next('result')).result as Record<string, number>),
    ctx.scale.quickReps,
  );
  const rs = rows(runs);
  return {
    id: 'scheduler',
    title: `5. Scheduler, ${ctx.scale.schedulerEntries.toLocaleString('en')} entries with random delays (0–${ctx.scale.schedulerMaxDelayMs} ms)`,
    metrics: [
      { key: 'pushNs', label: 'push (ns/entry)' },
      { key: 'popNs', label: 'pop (ns/entry)' },
      { key: 'heapBytesPerEntry', label: 'heap per queued entry (bytes)' },
    ],
    rows: rs,
    ratios: [
      info('kubeloop / setTimeout, push', ratio(med(rs, 'kubeloop', 'pushNs'), med(rs, 'setTimeout', 'pushNs'))),
      info('kubeloop / setTimeout, pop', ratio(med(rs, 'kubeloop', 'popNs'), med(rs, 'setTimeout', 'popNs'))),
      info('kubeloop / setTimeout, heap per entry', ratio(med(rs, 'kubeloop', 'heapBytesPerEntry'), med(rs, 'setTimeout', 'heapBytesPerEntry'))),
    ],
    notes: [
      "kubeloop: the controller's `Scheduler` (indexed binary heap, one entry per object key): push = `push()`, pop = `pop()` + `finish()` as the controller calls them, wall time of the loop. Keys are built before measuring.",
      'setTimeout: one Node timer per entry, the usual way to requeue in a hand-written client-node controller; pop = CPU time spent while the timers fire, per timer. The issue sets no target here.',
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// Scenario 6: observability overhead

async function observability(ctx: Ctx): Promise<ScenarioResult> {
  const contenders: Contender[] = ['all-on', 'tracing-off', 'all-off', 'all-on-sampled'];
  // The noisiest figures of the suite (a few µs per reconcile): as many repetitions as the quick scenarios.
  const runs = await repeat(
    ctx,
    'observability',
    contenders,
    (c) => withChild(task(ctx, 'observability', c, NS.obs, { otlpEndpoint: ctx.otlpEndpoint }), ctx.childOptions, async (child) => (await child.next('result')).result as Record<string, number>),
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
    ],
    notes: [
      'all-on: logs at info (the default filter) to a null destination, metrics, and tracing via `setupTracing` exporting OTLP http/protobuf (batched) to a receiver in the parent process on loopback. all-on-sampled: the same with `OTEL_TRACES_SAMPLER=parentbased_traceidratio` at 0.1 (for information). tracing-off: the same without the tracing SDK. all-off: log filter `off`, no SDK, and metric recording replaced by no-ops in that process (kubeloop has no switch for its metrics; the bench stubs the prom-client objects, while the counters kubeloop keeps in plain numbers until a scrape still count, a few ns each).',
      "Cost per reconcile = the child's CPU time (process.cpuUsage) over the measuring window divided by the reconciles in it; the reconciler returns `Action.requeue`, so no API call is made.",
    ],
  };
}

// ---------------------------------------------------------------------------------------------

function otlpSink(): Promise<{ server: Server; endpoint: string; received: { requests: number; bytes: number } }> {
  const received = { requests: 0, bytes: 0 };
  const server = createServer((req, res) => {
    req.on('data', (c: Buffer) => (received.bytes += c.length));
    req.on('end', () => {
      received.requests++;
      res.writeHead(200, { 'content-type': 'application/x-protobuf' });
      res.end();
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received })));
}

async function loadData(admin: Admin, scale: Scale, scenarios: ScenarioName[]): Promise<void> {
  const has = (s: ScenarioName) => scenarios.includes(s);
  const t = mono();
  if (has('watch')) await configMaps(admin, NS.watch, scale.watchObjects);
  if (has('latency')) await configMaps(admin, NS.latency, scale.latencyObjects);
  if (has('observability')) await configMaps(admin, NS.obs, scale.obsObjects);
  if (has('burst')) await widgets(admin, NS.burst, scale.burstObjects);
  if (has('warmup')) {
    for (const n of scale.warmupSizes) {
      const t1 = mono();
      await configMaps(admin, NS.warmup(n), n, (done) => log(`  ${NS.warmup(n)}: ${done} created`));
      log(`loaded ${n} ConfigMaps in ${((mono() - t1) / 1000).toFixed(1)} s (${Math.round(n / ((mono() - t1) / 1000))}/s)`);
    }
  }
  log(`data loaded in ${((mono() - t) / 1000).toFixed(1)} s`);
}

async function main(): Promise<void> {
  const scale = readScale();
  const scenarios = readScenarios();
  const childOptions: ChildOptions = process.env.BENCH_PROFILE ? { profileDir: join(RESULTS, 'profiles') } : {};
  log(`scale ${scale.name}, ${scale.reps} repetitions, scenarios: ${scenarios.join(', ')}${childOptions.profileDir ? `, CPU profiles in ${childOptions.profileDir}` : ''}`);
  let cluster: LocalCluster | undefined;
  let admin: Admin | undefined;
  const sink = await otlpSink();
  const results: ScenarioResult[] = [];
  let kubernetes = 'unknown';
  try {
    const needsCluster = scenarios.some((s) => s !== 'scheduler');
    let t: Target = { kubeconfigPath: '', server: '', token: '', caPem: '' };
    if (needsCluster) {
      log('starting the local control plane (etcd + kube-apiserver)');
      cluster = await LocalCluster.start();
      t = { kubeconfigPath: cluster.kubeconfigPath, server: cluster.server, token: cluster.token, caPem: cluster.caPem };
      admin = new Admin(t);
      const version = (await admin.call('GET', '/version')) as { gitVersion: string; major?: string; minor?: string };
      kubernetes = version.major && version.minor ? `${version.major}.${version.minor} (${version.gitVersion})` : version.gitVersion;
      log(`control plane ${kubernetes} ready at ${cluster.server}`);
      await loadData(admin, scale, scenarios);
    }
    const ctx: Ctx = { scale, target: t, admin: admin!, childOptions, otlpEndpoint: sink.endpoint, seq: 1000 };
    for (const s of scenarios) {
      log(`scenario ${s}`);
      if (s === 'warmup') for (const n of scale.warmupSizes) results.push(await warmup(ctx, n));
      if (s === 'watch') results.push(await watchThroughput(ctx));
      if (s === 'burst') results.push(await burst(ctx));
      if (s === 'latency') results.push(await latency(ctx));
      if (s === 'scheduler') results.push(await scheduler(ctx));
      if (s === 'observability') {
        results.push(await observability(ctx));
        results.at(-1)!.notes.push(`The OTLP receiver got ${sink.received.requests} export requests, ${(sink.received.bytes / 2 ** 20).toFixed(1)} MiB in all.`);
      }
    }
  } finally {
    await admin?.close().catch(() => {});
    sink.server.close();
    if (cluster) {
      log('stopping the control plane');
      await cluster.stop();
    }
  }
  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    kubernetes,
    scale: scale.name,
    reps: scale.reps,
    quickReps: scale.quickReps,
    scenarios,
    totalSeconds: Math.round((Date.now() - started) / 1000),
    config: scale,
  };
  await mkdir(RESULTS, { recursive: true });
  await writeFile(join(RESULTS, 'latest.json'), JSON.stringify({ meta, scenarios: results }, null, 2) + '\n');
  const md = markdown(meta, results);
  await writeFile(join(RESULTS, 'latest.md'), md + '\n');
  console.log(md);
  log(`wrote ${join(RESULTS, 'latest.json')} and latest.md`);
}

main().catch((e: Error) => {
  console.error(e.stack ?? e.message);
  process.exitCode = 1;
});
