import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Action, Api, ConfigMaps, Controller, Patch, type ReconcileResult } from '../../src/index.js';
import { setupTracing } from '../../src/telemetry/tracing-setup.js';
import { useCluster } from '../support/cluster.js';
import { runInBackground, Waiter } from '../support/controller.js';
import { startGrpcReceiver, startHttpReceiver, type OtlpReceiver } from '../support/otlp-receiver.js';

const t = useCluster();

/**
 * Runs a controller whose reconcile gets its object, looks up a missing one (a
 * 404) and patches its object, with tracing exported over `protocol` to
 * `receiver`; returns the results once the controller stopped and tracing was
 * shut down (which flushes the last batch).
 */
async function reconcileOnce(protocol: 'http/protobuf' | 'grpc', receiver: OtlpReceiver, controllerName: string): Promise<{ ns: string; results: ReconcileResult[] }> {
  // options.env names the endpoint; process.env names a dead one, which must not be used.
  const saved = process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = 'http://127.0.0.1:9';
  let tracing;
  try {
    tracing = await setupTracing({
      serviceName: 'otlp-test',
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: protocol },
    });
  } finally {
    if (saved === undefined) delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
    else process.env.OTEL_EXPORTER_OTLP_ENDPOINT = saved;
  }
  try {
    assert.equal(tracing.enabled, true);
    assert.equal(tracing.protocol, protocol);
    const ns = await t.namespace('otlp');
    const cms = Api.namespaced(t.client, ConfigMaps, ns);
    await cms.create({ metadata: { name: 'traced' }, data: { k: 'v' } });
    const waiter = new Waiter();
    const running = runInBackground(
      new Controller(cms).withConfig({ name: controllerName }),
      async (cm) => {
        const name = cm.metadata!.name!;
        await cms.get(name);
        assert.equal(await cms.getOpt('missing'), undefined);
        await cms.patch(name, Patch.merge({ metadata: { annotations: { 'kubeloop.test/reconciled': 'yes' } } }));
        return Action.awaitChange();
      },
      () => Action.awaitChange(),
      {},
      waiter,
    );
    try {
      await waiter.until('a successful reconcile', () => running.results.some((r) => r.ok));
    } finally {
      await running.stop();
    }
    return { ns, results: running.results };
  } finally {
    await tracing.shutdown();
  }
}

function checkSpans(receiver: OtlpReceiver, ns: string, controllerName: string, results: ReconcileResult[]): void {
  assert.deepEqual(receiver.problems, []);
  assert.ok(receiver.requests > 0, 'the receiver got no export request');
  const spans = receiver.spans;
  const reconciles = spans.filter((s) => s.name === 'reconciling object');
  const ref = `ConfigMap.v1./traced.${ns}`;
  // Every reconcile the controller reported was exported, no more.
  const reconciled = results.filter((r) => r.ok || r.ref !== undefined);
  assert.deepEqual(results.filter((r) => !r.ok), [], 'no reconcile failed and no watch error');
  assert.equal(reconciles.length, reconciled.length, `reconcile spans ${reconciles.length} vs results ${reconciled.length}`);
  assert.ok(reconciles.length >= 1);
  for (const r of reconciles) {
    assert.equal(r.kind, 'SPAN_KIND_INTERNAL');
    assert.equal(r.attributes['object.ref'], ref);
    assert.equal(r.attributes['object.reason'], 'object updated');
    assert.equal(r.attributes.controller, controllerName);
    assert.equal(r.parentSpanId, '', 'a reconcile span is the root of its trace');
    assert.notEqual(r.statusCode, 'STATUS_CODE_ERROR');
    assert.equal(r.resource['service.name'], 'otlp-test');
    assert.match(r.traceId, /^[0-9a-f]{32}$/);
    assert.match(r.spanId, /^[0-9a-f]{16}$/);

    const children = spans.filter((s) => s.parentSpanId === r.spanId);
    const byName = (name: string, code: number) => children.filter((c) => c.name === name && c.attributes['http.response.status_code'] === code);
    const [got] = byName('get', 200);
    const [missing] = byName('get', 404);
    const [patched] = byName('patch', 200);
    assert.ok(got && missing && patched, `children of the reconcile span: ${JSON.stringify(children.map((c) => [c.name, c.attributes['http.response.status_code']]))}`);
    assert.equal(children.length, 3);
    for (const c of children) {
      assert.equal(c.traceId, r.traceId, 'a client span is in its reconcile span trace');
      assert.equal(c.kind, 'SPAN_KIND_CLIENT');
      assert.equal(c.resource['service.name'], 'otlp-test');
      assert.equal(c.scope, 'kubeloop');
    }
    assert.equal(got.attributes['http.request.method'], 'GET');
    assert.equal(got.attributes['url.path'], `/api/v1/namespaces/${ns}/configmaps/traced`);
    assert.equal(got.attributes['kube.verb'], 'get');
    assert.equal(got.statusCode, 'STATUS_CODE_UNSET');
    assert.equal(missing.attributes['url.path'], `/api/v1/namespaces/${ns}/configmaps/missing`);
    assert.equal(missing.statusCode, 'STATUS_CODE_ERROR', 'a 404 marks the client span failed');
    assert.equal(patched.attributes['http.request.method'], 'PATCH');
    assert.equal(patched.attributes['kube.verb'], 'patch');
    assert.equal(patched.statusCode, 'STATUS_CODE_UNSET');
  }
  // The watcher's own requests are exported too, outside any reconcile.
  const list = spans.find((s) => s.name === 'list' && s.attributes['url.path'] === `/api/v1/namespaces/${ns}/configmaps`);
  assert.ok(list, `no list span among ${[...new Set(spans.map((s) => s.name))].join(', ')}`);
  assert.ok(!reconciles.some((r) => r.traceId === list.traceId), 'the list is not part of a reconcile trace');
}

describe('OTLP export of kubeloop spans to a real receiver', () => {
  test('http/protobuf: a protobuf-decoding receiver gets the reconcile span and its client spans with parent links', async (tc) => {
    const receiver = await startHttpReceiver();
    tc.after(() => receiver.close());
    const { ns, results } = await reconcileOnce('http/protobuf', receiver, 'otlp-http');
    checkSpans(receiver, ns, 'otlp-http', results);
  });

  test('grpc: a TraceService/Export server gets the same spans (tracing set up again after the first shutdown)', async (tc) => {
    const receiver = await startGrpcReceiver();
    tc.after(() => receiver.close());
    const { ns, results } = await reconcileOnce('grpc', receiver, 'otlp-grpc');
    checkSpans(receiver, ns, 'otlp-grpc', results);
  });
});
