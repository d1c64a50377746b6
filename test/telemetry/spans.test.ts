import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { after, before, beforeEach, describe, test } from 'node:test';
import { SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import { Action, Api, Client, ConfigMaps, Controller, Namespaces, Patch, instrument, withSpan } from '../../src/index.js';
import { setupTracing, type Tracing } from '../../src/telemetry/tracing-setup.js';
import { useCluster } from '../support/cluster.js';
import { runInBackground, Waiter } from '../support/controller.js';

const t = useCluster();
const exporter = new InMemorySpanExporter();
let tracing: Tracing;
before(async () => {
  tracing = await setupTracing({ exporter, simple: true });
});
after(() => tracing.shutdown());
beforeEach(() => exporter.reset());

const parentOf = (s: ReadableSpan) => (s as unknown as { parentSpanContext?: { spanId: string } }).parentSpanContext?.spanId;
const childrenOf = (spans: ReadableSpan[], parent: ReadableSpan) => spans.filter((s) => parentOf(s) === parent.spanContext().spanId);

async function runUntil(api: Api<ConfigMap>, reconcile: (cm: ConfigMap) => Promise<Action>, errorPolicy: (cm: ConfigMap) => Promise<Action> | Action, count: number): Promise<void> {
  const waiter = new Waiter();
  const running = runInBackground(new Controller(api).withConfig({ name: 'span-test' }), reconcile, errorPolicy, {}, waiter);
  await waiter.until(`${count} results`, () => running.results.length >= count);
  await running.stop();
}

describe('spans', () => {
  test('each reconcile is one "reconciling object" span and its API calls are client spans under it', async () => {
    const ns = await t.namespace();
    const api = Api.namespaced(t.client, ConfigMaps, ns);
    await api.create({ metadata: { name: 'traced' } });
    await runUntil(api, async (cm) => {
      await api.get(cm.metadata!.name!);
      await api.patch(cm.metadata!.name!, Patch.merge({ metadata: { annotations: { seen: 'yes' } } }));
      return Action.awaitChange();
    }, () => Action.awaitChange(), 1);
    const spans = exporter.getFinishedSpans();
    const reconciles = spans.filter((s) => s.name === 'reconciling object');
    assert.equal(reconciles.length >= 1, true);
    const first = reconciles[0]!;
    assert.equal(parentOf(first), undefined, 'a reconcile span starts its own trace');
    assert.deepEqual(first.attributes, { 'object.ref': `ConfigMap.v1./traced.${ns}`, 'object.reason': 'object updated', controller: 'span-test' });
    const children = childrenOf(spans, first);
    assert.deepEqual(children.map((c) => c.name), ['get', 'patch']);
    const [get, patch] = children;
    assert.equal(get!.attributes['http.request.method'], 'GET');
    assert.equal(get!.attributes['url.path'], `/api/v1/namespaces/${ns}/configmaps/traced`);
    assert.equal(get!.attributes['http.response.status_code'], 200);
    assert.equal(patch!.attributes['http.request.method'], 'PATCH');
    assert.equal(patch!.attributes['http.response.status_code'], 200);
    assert.ok(children.every((c) => c.kind === 2 /* CLIENT */ && c.spanContext().traceId === first.spanContext().traceId));
    assert.ok(get!.duration[0] > 0 || get!.duration[1] > 0, 'the span has a duration');
  });

  test('a failing reconcile span has error status and the error policy\'s own calls are under it', async () => {
    const ns = await t.namespace();
    const api = Api.namespaced(t.client, ConfigMaps, ns);
    await api.create({ metadata: { name: 'failing' } });
    await runUntil(api, async () => {
      throw new Error('the spec is refused');
    }, async (cm) => {
      await api.patch(cm.metadata!.name!, Patch.merge({ metadata: { annotations: { refused: 'yes' } } }));
      return Action.awaitChange();
    }, 1);
    const spans = exporter.getFinishedSpans();
    const span = spans.find((s) => s.name === 'reconciling object')!;
    assert.equal(span.status.code, SpanStatusCode.ERROR);
    assert.equal(span.status.message, 'the spec is refused');
    assert.ok(span.events.some((e) => e.name === 'exception'));
    assert.deepEqual(childrenOf(spans, span).map((c) => c.name), ['patch']);
  });

  test('a 4xx answer marks the client span as an error; the status subresource has its own verb', async () => {
    const ns = await t.namespace();
    const api = Api.namespaced(t.client, ConfigMaps, ns);
    await withSpan('outer', {}, async () => {
      await api.getOpt('missing');
    });
    const get = exporter.getFinishedSpans().find((s) => s.name === 'get')!;
    assert.equal(get.attributes['http.response.status_code'], 404);
    assert.equal(get.status.code, SpanStatusCode.ERROR);
    await assert.rejects(api.patchStatus('missing', Patch.merge({})));
    assert.ok(exporter.getFinishedSpans().some((s) => s.name === 'patch_status'));
  });

  test('every API verb is a client span of its name with method, path and status; a watch span ends when the response headers arrive', async () => {
    const ns = await t.namespace();
    const api = Api.namespaced(t.client, ConfigMaps, ns);
    const namespaces = Api.all(t.client, Namespaces);
    const abort = new AbortController();
    let watchSpanEndedWhileOpen = false;
    await withSpan('outer', {}, async () => {
      const created = await api.create({ metadata: { name: 'verbs' } });
      // Without a resourceVersion the watch starts with an ADDED for the existing object.
      for await (const event of api.watch({ signal: abort.signal })) {
        // The watch is open and streaming: its span has already ended.
        watchSpanEndedWhileOpen = exporter.getFinishedSpans().some((sp) => sp.name === 'watch');
        if (event.type === 'ADDED') break;
      }
      await api.get('verbs');
      await api.list();
      await api.replace('verbs', { ...created, data: { v: '1' } });
      await api.patch('verbs', Patch.merge({ data: { v: '2' } }));
      await api.delete('verbs');
      const own = await namespaces.getStatus(ns);
      await namespaces.patchStatus(ns, Patch.merge({ status: { phase: 'Active' } }));
      await namespaces.replaceStatus(ns, own);
    });
    abort.abort();
    assert.ok(watchSpanEndedWhileOpen, 'the watch span had ended while the watch was still delivering events');
    const spans = exporter.getFinishedSpans();
    const client = childrenOf(spans, spans.find((sp) => sp.name === 'outer')!);
    assert.ok(client.every((sp) => sp.kind === 2 /* CLIENT */));
    const seen = client.map((sp) => [sp.name, sp.attributes['kube.verb'], sp.attributes['http.request.method'], sp.attributes['http.response.status_code'], sp.status.code]);
    const ok = SpanStatusCode.UNSET;
    assert.deepEqual(seen, [
      ['create', 'create', 'POST', 201, ok],
      ['watch', 'watch', 'GET', 200, ok],
      ['get', 'get', 'GET', 200, ok],
      ['list', 'list', 'GET', 200, ok],
      ['update', 'update', 'PUT', 200, ok],
      ['patch', 'patch', 'PATCH', 200, ok],
      ['delete', 'delete', 'DELETE', 200, ok],
      ['get_status', 'get_status', 'GET', 200, ok],
      ['patch_status', 'patch_status', 'PATCH', 200, ok],
      ['update_status', 'update_status', 'PUT', 200, ok],
    ]);
    assert.deepEqual(client.filter((sp) => sp.name.endsWith('_status')).map((sp) => sp.attributes['url.path']), Array(3).fill(`/api/v1/namespaces/${ns}/status`));
  });

  test('a 5xx answer marks the client span as an error with its status code; a request that got no answer is an error span without one', async () => {
    const server = createServer((_req, res) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end('{"kind":"Status","apiVersion":"v1","status":"Failure","code":500,"reason":"InternalError","message":"boom"}');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    const config = { namespace: 'default', tls: { rejectUnauthorized: true }, auth: { type: 'none' as const }, source: 'test' };
    const failing = new Client({ ...config, server: `http://127.0.0.1:${port}` });
    // A port nobody listens on: the connection is refused.
    const closed = new Client({ ...config, server: 'http://127.0.0.1:1' });
    try {
      await withSpan('outer', {}, async () => {
        await assert.rejects(Api.namespaced(failing, ConfigMaps, 'default').get('x'), /boom/);
        await assert.rejects(Api.namespaced(closed, ConfigMaps, 'default').list(), /connection refused/);
      });
    } finally {
      await failing.close();
      await closed.close();
      server.close();
    }
    const spans = exporter.getFinishedSpans();
    const under = childrenOf(spans, spans.find((sp) => sp.name === 'outer')!);
    const get = under.filter((sp) => sp.name === 'get');
    const list = under.filter((sp) => sp.name === 'list');
    assert.deepEqual(get.map((sp) => [sp.attributes['http.response.status_code'], sp.status.code]), [[500, SpanStatusCode.ERROR]], 'one attempt: a 500 is not retried');
    assert.deepEqual(list.map((sp) => [sp.attributes['http.response.status_code'], sp.status.code]), [[undefined, SpanStatusCode.ERROR]]);
    assert.match(list[0]!.status.message ?? '', /connection refused/);
  });

  test('instrument() wraps a user function in a span with its fields, under the current span', async () => {
    const sync = instrument(async (bucket: string) => `synced ${bucket}`, { name: 'sync bucket', fields: (bucket) => ({ bucket }) });
    const result = await withSpan('outer', { step: 1 }, () => sync('photos'));
    assert.equal(result, 'synced photos');
    const spans = exporter.getFinishedSpans();
    const inner = spans.find((s) => s.name === 'sync bucket')!;
    const outer = spans.find((s) => s.name === 'outer')!;
    assert.equal(inner.attributes.bucket, 'photos');
    assert.equal(parentOf(inner), outer.spanContext().spanId);
  });

  test('the W3C traceparent header goes out with the client span\'s ids, and no span attribute holds the token', async () => {
    const seen: (string | undefined)[] = [];
    const server = createServer((req, res) => {
      seen.push(req.headers.traceparent as string | undefined);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"x"}}');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    const secret = 'sekret-token-abcdef0123456789';
    const client = new Client({ server: `http://127.0.0.1:${port}`, namespace: 'default', tls: { rejectUnauthorized: true }, auth: { type: 'token', token: secret }, source: 'test' });
    try {
      await withSpan('outer', {}, () => Api.namespaced(client, ConfigMaps, 'default').get('x'));
    } finally {
      await client.close();
      server.close();
    }
    const get = exporter.getFinishedSpans().find((s) => s.name === 'get')!;
    assert.equal(seen[0], `00-${get.spanContext().traceId}-${get.spanContext().spanId}-01`);
    const attributes = JSON.stringify(exporter.getFinishedSpans().map((s) => [s.attributes, s.events]));
    assert.ok(!attributes.includes(secret));
  });
});
