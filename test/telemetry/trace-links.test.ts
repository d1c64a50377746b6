/**
 * Trace links across objects, against the real API server and the OTLP test
 * receiver: a traced write stamps its object with `tracing.k8s.io/traceparent`,
 * the reconcile it causes carries a span link to the writer's span, writes made
 * inside that reconcile carry the object's stamp on (not their own, so a
 * rewrite changes nothing and triggers nothing), status writes never stamp, and
 * nothing is stamped while tracing is off or stamping is turned off.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  Action, Api, Client, ConfigMaps, Controller, currentSpan, Patch, setObjectTraceStamping, TRACEPARENT_ANNOTATION, withSpan, type KubeRequest, type Layer,
} from '../../src/index.js';
import { setupTracing, type Tracing } from '../../src/telemetry/tracing-setup.js';
import { useCluster } from '../support/cluster.js';
import { runInBackground, Waiter } from '../support/controller.js';
import { startHttpReceiver, type OtlpReceiver } from '../support/otlp-receiver.js';

const t = useCluster();
let receiver: OtlpReceiver;
let tracing: Tracing | undefined;
/** Bodies of the write requests sent by `capturing`, by verb. */
const sent: { verb: string; body: string }[] = [];
const capture: Layer = (next) => (req: KubeRequest) => {
  if (req.method !== 'GET') sent.push({ verb: req.verb, body: typeof req.body === 'string' ? req.body : '' });
  return next(req);
};
let capturing: Client;

before(async () => {
  receiver = await startHttpReceiver();
});
function capturingClient(): Client {
  return (capturing ??= new Client({ server: t.cluster.server, namespace: 'default', tls: { ca: t.cluster.caPem, rejectUnauthorized: true }, auth: { type: 'token', token: t.cluster.token }, source: 'test' }, { layers: [capture] }));
}
after(async () => {
  await tracing?.shutdown();
  await capturing?.close();
  await receiver?.close();
});

const stampOf = (obj: { metadata?: { annotations?: Record<string, string> } }) => obj.metadata?.annotations?.[TRACEPARENT_ANNOTATION];

test('while no tracer records, a write inside a span stamps nothing', async () => {
  const ns = await t.namespace('untraced');
  const cms = Api.namespaced(t.client, ConfigMaps, ns);
  const created = await withSpan('write untraced', {}, () => cms.create({ metadata: { name: 'plain' } }));
  assert.equal(stampOf(created), undefined);
});

test('a traced write links to the reconcile it causes; writes inside carry the stamp on without changing anything', { timeout: 60_000 }, async () => {
  tracing = await setupTracing({ serviceName: 'trace-links-test', env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' } });
  assert.equal(tracing.enabled, true);
  const ns = await t.namespace('links');
  const cms = Api.namespaced(t.client, ConfigMaps, ns);
  const seen: { childVersions: string[]; traceId?: string } = { childVersions: [] };
  const waiter = new Waiter();
  const running = runInBackground(
    new Controller(cms, { labelSelector: 'role=parent' }).withConfig({ name: 'trace-links' }),
    async (cm) => {
      if (seen.childVersions.length > 0) return Action.awaitChange();
      seen.traceId = currentSpan()?.traceId;
      // A child written twice with the same content: the second write must be a no-op for the server.
      const child = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `${cm.metadata!.name}-child` }, data: { from: cm.metadata!.name! } };
      for (let i = 0; i < 2; i++) {
        const written = await cms.patch(child.metadata.name, Patch.apply(child), { fieldManager: 'trace-links-test', force: true });
        seen.childVersions.push(written.metadata!.resourceVersion!);
      }
      return Action.awaitChange();
    },
    () => Action.awaitChange(),
    {},
    waiter,
  );
  try {
    const writer: { traceId?: string; spanId?: string } = {};
    // The "script": a traced write outside any controller.
    const created = await withSpan('write sample', {}, async (span) => {
      writer.traceId = span.traceId;
      writer.spanId = span.spanId;
      return cms.create({ metadata: { name: 'parent', labels: { role: 'parent' } }, data: { k: 'v' } });
    });
    const expected = `00-${writer.traceId}-${writer.spanId}-01`;
    assert.equal(stampOf(created), expected, 'the created object carries the writer span as its traceparent');
    await waiter.until('the parent to be reconciled', () => running.results.some((r) => r.ok && r.ref.name === 'parent'));

    const child = await cms.get('parent-child');
    assert.equal(stampOf(child), expected, "the reconcile's write carries the parent's stamp on, not its own span");
    assert.equal(seen.childVersions.length, 2);
    assert.equal(seen.childVersions[1], seen.childVersions[0], 'rewriting the child with the same content changed nothing (no new stamp, no new event)');

    await tracing.flush();
    const reconcile = receiver.spans.find((s) => s.name === 'reconciling object' && s.attributes['object.ref'] === `ConfigMap.v1./parent.${ns}`);
    assert.ok(reconcile, 'the reconcile span was exported');
    assert.equal(reconcile.attributes['object.reason'], 'object updated');
    assert.equal(reconcile.traceId, seen.traceId);
    assert.notEqual(reconcile.traceId, writer.traceId, 'a link, not a parent: the reconcile has a trace of its own');
    assert.deepEqual(reconcile.links.map((l) => [l.traceId, l.spanId]), [[writer.traceId, writer.spanId]]);
    assert.equal(reconcile.links[0]!.attributes['kubeloop.link'], 'object written');
    const written = receiver.spans.find((s) => s.name === 'write sample');
    assert.equal(written?.spanId, writer.spanId, 'the writer span itself reached the receiver: the link resolves end to end');
  } finally {
    await running.stop();
  }
});

test('status writes never stamp; stamping can be turned off', async () => {
  assert.ok(tracing?.enabled, 'runs after the tracing test');
  const ns = await t.namespace('stamps');
  const cms = Api.namespaced(capturingClient(), ConfigMaps, ns);
  await cms.create({ metadata: { name: 'target' } });
  sent.length = 0;
  await withSpan('writes', {}, async () => {
    await cms.patch('target', Patch.merge({ metadata: { labels: { a: 'b' } } }));
    // ConfigMaps have no status subresource: the server answers 404, but the body sent is what matters here.
    await cms.patchStatus('target', Patch.merge({ status: { x: 1 } })).catch(() => undefined);
  });
  const patch = sent.find((s) => s.verb === 'patch')!;
  const status = sent.find((s) => s.verb === 'patch_status')!;
  assert.match(patch.body, new RegExp(TRACEPARENT_ANNOTATION.replace('.', '\\.')));
  assert.doesNotMatch(status.body, /traceparent/);

  setObjectTraceStamping(false);
  try {
    const created = await withSpan('write with stamping off', {}, () => cms.create({ metadata: { name: 'unstamped' } }));
    assert.equal(stampOf(created), undefined);
  } finally {
    setObjectTraceStamping(true);
  }
});
