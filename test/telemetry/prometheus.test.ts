import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { Action, Api, ConfigMaps, Controller, type ReconcileResult } from '../../src/index.js';
import { resolvePrometheus } from '../../src/testing/index.js';
import { setupTracing, type Tracing } from '../../src/telemetry/tracing-setup.js';
import { until, useCluster } from '../support/cluster.js';
import { runInBackground, signal, Waiter, type RunningController } from '../support/controller.js';
import { startPrometheus, type PrometheusServer, type Sample } from '../support/prometheus.js';

const t = useCluster();

const CONTROLLER = 'prom-test';
const SEL = `controller="${CONTROLLER}"`;
const OK = 14;
const FAILING = 6;
const TOTAL = OK + FAILING;
/** Each reconcile works this long, so the backlog drains over several 1 s scrapes. */
const RECONCILE_MS = 150;

/** Every metric family kubeloop registers. */
const FAMILIES = [
  'reconcile_total counter',
  'reconcile_errors_total counter',
  'reconcile_duration_seconds histogram',
  'reconcile_queue_wait_seconds histogram',
  'reconcile_queue_depth gauge',
  'reconcile_active gauge',
  'watcher_events_total counter',
  'watcher_restarts_total counter',
  'watcher_relists_total counter',
  'store_objects gauge',
  'rest_client_requests_total counter',
  'rest_client_request_duration_seconds histogram',
];

describe('a real Prometheus scraping the probe server', () => {
  const exporter = new InMemorySpanExporter();
  const gate = signal();
  const waiter = new Waiter();
  const started: string[] = [];
  const startedAt = Date.now() / 1000;
  let tracing: Tracing | undefined;
  let running: RunningController | undefined;
  let controller: Controller<any>;
  let prom: PrometheusServer | undefined;
  let probeUrl: string;

  const reconciled = (): ReconcileResult[] => running!.results.filter((r) => r.ref !== undefined);

  /** Polls an instant query until `ok` accepts its samples; at the deadline, fails with what was seen and the scrape health. */
  async function eventually(expr: string, ok: (samples: Sample[]) => boolean, timeoutMs = 30_000): Promise<Sample[]> {
    let last: Sample[] = [];
    try {
      return await until(expr, async () => {
        last = await prom!.query(expr);
        return ok(last) && last;
      }, timeoutMs, 250);
    } catch (e) {
      const targets = await prom!.targets().catch(() => []);
      throw new Error(`${(e as Error).message}; last result ${JSON.stringify(last)}; targets ${JSON.stringify(targets)}`, { cause: e });
    }
  }

  before(async () => {
    tracing = await setupTracing({ serviceName: 'prometheus-test', exporter, simple: true });
    const ns = await t.namespace('prom');
    const cms = Api.namespaced(t.client, ConfigMaps, ns);
    for (let i = 0; i < OK; i++) await cms.create({ metadata: { name: `ok-${i}` } });
    for (let i = 0; i < FAILING; i++) await cms.create({ metadata: { name: `fail-${i}` } });
    controller = new Controller(cms).withConfig({ name: CONTROLLER, concurrency: 1 }).serveProbes({ port: 0, host: '127.0.0.1' });
    running = runInBackground(
      controller,
      async (cm) => {
        const name = cm.metadata!.name!;
        started.push(name);
        waiter.notify();
        // The first reconcile holds the only slot until Prometheus has seen the backlog behind it.
        if (started.length === 1) await gate.promise;
        await delay(RECONCILE_MS);
        if (name.startsWith('fail-')) throw new Error('planned failure');
        return Action.awaitChange();
      },
      () => Action.awaitChange(),
      {},
      waiter,
    );
    await waiter.until('the first reconcile to start', () => started.length >= 1);
    probeUrl = `http://127.0.0.1:${controller.probes!.port}`;
    prom = await startPrometheus({ targets: [`127.0.0.1:${controller.probes!.port}`], flags: ['--enable-feature=exemplar-storage'] });
  });

  after(async () => {
    gate.resolve();
    await running?.stop();
    await prom?.stop();
    await tracing?.shutdown();
  });

  test('reconcile_queue_depth is non-zero in Prometheus while a backlog waits behind a running reconcile', async () => {
    try {
      assert.deepEqual(controller.queue(), { depth: TOTAL - 1, running: 1 });
      const [max] = await eventually(`max_over_time(reconcile_queue_depth{${SEL}}[1m])`, (s) => s.length === 1 && s[0]!.value > 0);
      assert.equal(max!.value, TOTAL - 1, 'Prometheus saw the whole backlog');
      assert.equal(started.length, 1, 'the backlog was still there');
    } finally {
      gate.resolve();
    }
  });

  test('reconcile_total carries result="success" and result="error" with the counts the result stream reported', async () => {
    gate.resolve();
    await waiter.until('every object reconciled', () => new Set(reconciled().map((r) => r.ref!.key)).size === TOTAL, 60_000);
    const results = reconciled();
    const successes = results.filter((r) => r.ok).length;
    const errors = results.filter((r) => !r.ok).length;
    assert.ok(successes >= OK && errors >= FAILING, `stream: ${successes} successes, ${errors} errors`);
    const samples = await eventually(`reconcile_total{${SEL}}`, (s) => {
      const by = Object.fromEntries(s.map((x) => [x.metric.result, x.value]));
      return by.success === successes && by.error === errors;
    });
    assert.deepEqual(samples.map((s) => s.metric.result).sort(), ['error', 'success']);
    // Every kind is exported from 0 (so rate() sees a first error); only reconciler_error moved.
    const [kinds] = await eventually(`sum by (error) (reconcile_errors_total{${SEL}}) > 0`, (s) => s.length === 1 && s[0]!.value === errors);
    assert.equal(kinds!.metric.error, 'reconciler_error');
    // The backlog drained: the gauge follows the scheduler down to zero.
    await eventually(`reconcile_queue_depth{${SEL}}`, (s) => s.length === 1 && s[0]!.value === 0);
  });

  test('histogram_quantile over reconcile_duration_seconds gives a finite 0.9 quantile within the reconciles\' durations', async () => {
    const expr = `histogram_quantile(0.9, sum by (le) (rate(reconcile_duration_seconds_bucket{${SEL}}[1m])))`;
    const [q] = await eventually(expr, (s) => s.length === 1 && Number.isFinite(s[0]!.value));
    console.log(`# ${expr} = ${q!.value}`);
    // Every reconcile took at least RECONCILE_MS, so the quantile is past the 0.1 s bucket;
    // all but the first (held) one took about RECONCILE_MS, far below the top buckets.
    assert.ok(q!.value >= 0.1 && q!.value <= 2.5, `0.9 quantile ${q!.value}`);
    const [count] = await eventually(`reconcile_duration_seconds_count{${SEL}}`, (s) => s.length === 1 && s[0]!.value >= TOTAL);
    assert.equal(count!.value, reconciled().length);
  });

  test('exemplars on reconcile_duration_seconds carry the trace id of a reconcile span', async () => {
    const spans = exporter.getFinishedSpans().filter((s) => s.name === 'reconciling object' && s.attributes.controller === CONTROLLER);
    assert.ok(spans.length >= TOTAL, `${spans.length} reconcile spans`);
    const byTrace = new Map(spans.map((s) => [s.spanContext().traceId, s]));
    let found: { seriesLabels: Record<string, string>; exemplars: { labels: Record<string, string>; value: number }[] }[] = [];
    await until('exemplars of reconcile_duration_seconds_bucket in Prometheus', async () => {
      found = await prom!.queryExemplars(`reconcile_duration_seconds_bucket{${SEL}}`, startedAt - 60, Date.now() / 1000 + 60);
      return found.some((f) => f.exemplars.length > 0);
    }, 30_000, 250).catch((e: Error) => {
      throw new Error(`${e.message}; Prometheus log:\n${prom!.log().split('\n').filter((l) => /exemplar|error/i.test(l)).join('\n')}`);
    });
    const exemplars = found.flatMap((f) => f.exemplars.map((x) => ({ ...x, le: Number(f.seriesLabels.le) })));
    console.log(`# ${exemplars.length} exemplars: ${JSON.stringify(exemplars.map((x) => [x.le, x.value, x.labels.trace_id]))}`);
    for (const x of exemplars) {
      assert.deepEqual(Object.keys(x.labels), ['trace_id']);
      const span = byTrace.get(x.labels.trace_id!);
      assert.ok(span, `exemplar trace id ${x.labels.trace_id} is no reconcile span's`);
      // The exemplar is the duration observed inside that span, in the bucket it belongs to.
      const spanSeconds = span.duration[0] + span.duration[1] / 1e9;
      // (Timers may fire a millisecond early against performance.now(), hence the slack below.)
      assert.ok(x.value >= RECONCILE_MS / 1000 - 0.005 && x.value <= spanSeconds + 1e-3, `exemplar ${x.value} s vs span ${spanSeconds} s`);
      assert.ok(x.value <= x.le, `exemplar ${x.value} above its bucket le=${x.le}`);
    }
  });

  test('promtool check metrics finds no problem in the plain-text /metrics of the probe server', async () => {
    const res = await fetch(`${probeUrl}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const body = await res.text();
    for (const family of FAMILIES) assert.ok(body.includes(`# TYPE ${family}\n`), `the exposition lacks ${family}`);
    const errors = reconciled().filter((r) => !r.ok).length;
    const line = `reconcile_total{controller="${CONTROLLER}",result="error"} ${errors}`;
    assert.ok(body.split('\n').includes(line), `the exposition lacks ${line}`);
    const { promtool } = await resolvePrometheus({ install: false });
    const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
      const child = spawn(promtool, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
      child.on('error', reject);
      child.on('close', (c) => resolve({ code: c, output }));
      child.stdin.end(body);
    });
    assert.equal(output, '', `promtool: ${output}`);
    assert.equal(code, 0);
  });
});
