import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import { request } from 'undici';
import { allow, Api, ConfigMaps, deny, enableControllerRuntimeMetrics, isApiError, logger, ManagedWebhookConfiguration, mutate, ProbeServer } from '../../src/index.js';
import { setupTracing, type Tracing } from '../../src/telemetry/tracing-setup.js';
import { until, useCluster } from '../support/cluster.js';
import { captureLogs } from '../support/logs.js';
import { startHttpReceiver, type OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver.js';
import { startPrometheus, type PrometheusServer, type Sample } from '../support/prometheus.js';
import { admissionReview, startWebhookServer, type TestWebhookServer } from '../support/webhooks.js';

const t = useCluster();
const LABEL = 'kubeloop.test/webhook';
const VALIDATE = 'validate.observability.kubeloop.dev';
const MUTATE = 'mutate.observability.kubeloop.dev';
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';
const handlerLog = logger('observability_test');

describe('webhook observability', () => {
  let receiver: OtlpReceiver;
  let tracing: Tracing;
  let hooks: TestWebhookServer;
  let managed: ManagedWebhookConfiguration;
  let probes: ProbeServer;
  let prom: PrometheusServer;
  let ns: string;
  let spans: ReceivedSpan[] = [];
  const logs: Record<string, unknown>[] = [];

  before(async () => {
    // Process-wide, and this file is a process of its own: controller-runtime's webhook names are recorded too.
    enableControllerRuntimeMetrics();
    receiver = await startHttpReceiver();
    tracing = await setupTracing({ serviceName: 'webhook-test', env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' } });
    assert.equal(tracing.enabled, true);
    const onLabel = (value: string) => ({
      rules: [{ operations: ['CREATE' as const], apiGroups: [''], apiVersions: ['v1'], resources: ['configmaps'] }],
      objectSelector: { matchLabels: { [LABEL]: value } },
      failurePolicy: 'Ignore' as const,
    });
    hooks = await startWebhookServer((server) =>
      server
        .validating<ConfigMap>({
          name: VALIDATE,
          path: '/validate',
          ...onLabel('validate'),
          handler: (req) => {
            handlerLog.info('validating');
            return req.object?.data?.refuse ? deny('refused') : allow();
          },
        })
        .mutating<ConfigMap>({
          name: MUTATE,
          path: '/mutate',
          ...onLabel('mutate'),
          handler: (req) => mutate({ ...req.object!, data: { ...req.object!.data, added: 'yes' } }),
        }),
    );
    managed = new ManagedWebhookConfiguration(t.client, hooks.server, { name: 'observability-test', endpoint: { url: hooks.url } });
    await managed.start();
    probes = new ProbeServer({ port: 0, host: '127.0.0.1' }).add(hooks.server);
    await probes.listen();
    prom = await startPrometheus({ targets: [`127.0.0.1:${probes.port}`] });
    await until('the webhooks in force', async () => {
      try {
        await Api.namespaced(t.client, ConfigMaps, 'default').create({ metadata: { name: 'probe', labels: { [LABEL]: 'validate' } }, data: { refuse: 'x' } }, { dryRun: true });
        return false;
      } catch (e) {
        return isApiError(e, 403);
      }
    });
    ns = await t.namespace('obs');
    const cms = Api.namespaced(t.client, ConfigMaps, ns);
    const captured = captureLogs('observability_test=info');
    try {
      await cms.create({ metadata: { name: 'allowed', labels: { [LABEL]: 'validate' } } });
      await assert.rejects(cms.create({ metadata: { name: 'denied', labels: { [LABEL]: 'validate' } }, data: { refuse: 'x' } }), /refused/);
      await cms.create({ metadata: { name: 'dry', labels: { [LABEL]: 'validate' } } }, { dryRun: true });
      await cms.create({ metadata: { name: 'mutated', labels: { [LABEL]: 'mutate' } } });
      // The 1.20 API server sends no traceparent (its tracing came in 1.22): a direct call shows the header is honoured.
      const direct = await hooks.post('/validate', admissionReview({ metadata: { name: 'traced', namespace: ns } }, { namespace: ns, name: 'traced' }), {
        traceparent: `00-${TRACE_ID}-${PARENT_ID}-01`,
      });
      assert.equal(direct.json.response.allowed, true);
    } finally {
      logs.push(...captured.lines);
      captureLogs(process.env.KUBELOOP_LOG ?? 'error');
    }
    await tracing.shutdown();
    spans = receiver.spans.filter((s) => s.name === 'admission review');
  });
  after(async () => {
    managed?.stop();
    await prom?.stop();
    await probes?.close();
    await hooks?.stop();
    await tracing?.shutdown();
    await receiver?.close();
  });

  test('each admission request is a server span with webhook, operation, object ref, dry run, allowed and patch size', () => {
    assert.deepEqual(receiver.problems, []);
    const of = (name: string) => spans.find((s) => s.attributes['object.ref'] === `ConfigMap.v1./${name}.${ns}`);
    const allowed = of('allowed');
    const denied = of('denied');
    const dry = of('dry');
    const mutated = of('mutated');
    assert.ok(allowed && denied && dry && mutated, `spans: ${JSON.stringify(spans.map((s) => s.attributes['object.ref']))}`);
    for (const s of [allowed, denied, dry, mutated]) {
      assert.equal(s.kind, 'SPAN_KIND_SERVER');
      assert.equal(s.attributes['admission.operation'], 'CREATE');
      assert.equal(s.resource['service.name'], 'webhook-test');
      assert.equal(s.parentSpanId, '', 'a root span: the API server sent no traceparent');
    }
    assert.equal(allowed.attributes.webhook, VALIDATE);
    assert.equal(allowed.attributes['admission.allowed'], true);
    assert.equal(allowed.attributes['admission.dry_run'], false);
    assert.equal(denied.attributes['admission.allowed'], false);
    assert.equal(denied.attributes['admission.code'], 403);
    assert.equal(dry.attributes['admission.dry_run'], true);
    assert.equal(mutated.attributes.webhook, MUTATE);
    assert.ok(Number(mutated.attributes['admission.patch_bytes']) > 0, 'the patch size is recorded');
  });

  test("a review that comes with a traceparent is a child of the caller's span", () => {
    const traced = spans.find((s) => s.attributes['object.ref'] === `ConfigMap.v1./traced.${ns}`);
    assert.ok(traced);
    assert.equal(traced.traceId, TRACE_ID);
    assert.equal(traced.parentSpanId, PARENT_ID);
  });

  test("log lines written inside a handler carry the review's span fields and trace id", () => {
    const lines = logs.filter((l) => l.msg === 'validating');
    assert.ok(lines.length >= 3, `${lines.length} lines`);
    const denied = lines.find((l) => l['object.ref'] === `ConfigMap.v1./denied.${ns}`);
    assert.ok(denied);
    assert.equal(denied.webhook, VALIDATE);
    assert.equal(denied['admission.operation'], 'CREATE');
    assert.equal(denied['admission.dry_run'], false);
    assert.equal(denied.trace_id, spans.find((s) => s.attributes['object.ref'] === `ConfigMap.v1./denied.${ns}`)!.traceId);
    const traced = lines.find((l) => l['object.ref'] === `ConfigMap.v1./traced.${ns}`);
    assert.equal(traced?.trace_id, TRACE_ID);
  });

  test('Prometheus scrapes requests by webhook, operation and result, the latency histogram and the in-flight gauge', async () => {
    const eventually = (expr: string, ok: (s: Sample[]) => boolean) => until(expr, async () => {
      const s = await prom.query(expr);
      return ok(s) && s;
    }, 30_000, 250);
    const value = (s: Sample[], result: string) => s.find((x) => x.metric.result === result)?.value;
    // The API server retries nothing here: one review per write (the until() probes above were denied dry runs).
    const validate = await eventually(`webhook_requests_total{webhook="${VALIDATE}",operation="CREATE"}`, (s) => value(s, 'allowed') !== undefined && value(s, 'denied') !== undefined);
    assert.equal(value(validate, 'allowed'), 3, 'allowed, the dry run and the direct call');
    assert.ok(value(validate, 'denied')! >= 2, 'the denied write and at least one denied probe');
    const [mutateCount] = await eventually(`webhook_requests_total{webhook="${MUTATE}",operation="CREATE",result="allowed"}`, (s) => s.length === 1);
    assert.equal(mutateCount!.value, 1);
    const [latency] = await eventually(`sum(webhook_request_duration_seconds_count{webhook="${VALIDATE}"})`, (s) => s.length === 1);
    assert.equal(latency!.value, value(validate, 'allowed')! + value(validate, 'denied')!);
    const [inFlight] = await eventually(`webhook_requests_in_flight{webhook="${VALIDATE}"}`, (s) => s.length === 1);
    assert.equal(inFlight!.value, 0);
    const [expiry] = await eventually('webhook_certificate_expiry_timestamp_seconds', (s) => s.length === 1);
    assert.equal(expiry!.value, Math.round(hooks.server.certificates.current!.notAfter.getTime() / 1000));
    assert.equal(expiry!.metric.cert_file, hooks.files.certFile);
  });

  test("with enableControllerRuntimeMetrics(), controller-runtime's webhook names are scraped too: requests by path and HTTP code, latency, in flight", async () => {
    const eventually = (expr: string, ok: (s: Sample[]) => boolean) => until(expr, async () => {
      const s = await prom.query(expr);
      return ok(s) && s;
    }, 30_000, 250);
    const [ours] = await eventually(`sum(webhook_requests_total{webhook="${VALIDATE}"})`, (s) => s.length === 1);
    const [theirs] = await eventually('controller_runtime_webhook_requests_total{webhook="/validate",code="200"}', (s) => s.length === 1);
    assert.equal(theirs!.value, ours!.value, 'every review of the validating webhook, allowed or denied, was an HTTP 200');
    const [latency] = await eventually('controller_runtime_webhook_latency_seconds_count{webhook="/validate"}', (s) => s.length === 1);
    assert.equal(latency!.value, ours!.value);
    const [inFlight] = await eventually('controller_runtime_webhook_requests_in_flight{webhook="/mutate"}', (s) => s.length === 1);
    assert.equal(inFlight!.value, 0);
  });

  test('/readyz includes the webhook server: ready while it listens with a certificate, not after it closed', async () => {
    const before = await request(`http://127.0.0.1:${probes.port}/readyz?verbose`);
    assert.equal(before.statusCode, 200);
    assert.match(await before.body.text(), /^\[\+\]webhook-server ok/m);
    await hooks.server.close();
    const afterClose = await request(`http://127.0.0.1:${probes.port}/readyz?verbose`);
    assert.equal(afterClose.statusCode, 503);
    assert.match(await afterClose.body.text(), /^\[-\]webhook-server not ready/m);
  });
});
