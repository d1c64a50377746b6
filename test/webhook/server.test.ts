import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import { Agent, request } from 'undici';
import { allow, metricsRegistry, mutate, WebhookServer, type AdmissionRule } from '../../src/index.js';
import { createWebhookCertificates } from '../../src/testing/index.js';
import { captureLogs } from '../support/logs.js';
import { signal } from '../support/controller.js';
import { metricValue } from '../support/metric-value.js';
import { admissionReview, startWebhookServer } from '../support/webhooks.js';

const rules: AdmissionRule[] = [{ operations: ['CREATE'], apiGroups: ['example.com'], apiVersions: ['v1'], resources: ['things'] }];
const refused = (port: number) => new Promise((resolve, reject) => connect(port, '127.0.0.1').once('connect', resolve).once('error', reject));

describe('webhook server, called directly', () => {
  test('malformed, oversized or misaddressed reviews get 400/404/405/413/415 with a clear message, are counted as errored, and the server goes on answering', async () => {
    const hooks = await startWebhookServer((s) => s.validating({ name: 'bad-input.kubeloop.dev', path: '/v', rules, handler: () => allow() }), { maxBodyBytes: 64 * 1024 });
    try {
      const errored = () => metricValue('webhook_requests_total', { webhook: 'bad-input.kubeloop.dev', operation: 'unknown', result: 'errored' });
      const before = await errored();
      const cases: [string, () => ReturnType<typeof hooks.post>, number, RegExp][] = [
        ['not JSON', () => hooks.post('/v', '{"kind": "AdmissionRev'), 400, /not valid JSON/],
        ['not a review', () => hooks.post('/v', { kind: 'Pod' }), 400, /not an AdmissionReview/],
        ['an unknown version', () => hooks.post('/v', { ...admissionReview({}), apiVersion: 'admission.k8s.io/v2' }), 400, /admission\.k8s\.io\/v2 is not served here; use one of admission\.k8s\.io\/v1, admission\.k8s\.io\/v1beta1/],
        ['no uid', () => hooks.post('/v', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { operation: 'CREATE', kind: {} } }), 400, /no request with uid/],
        ['not JSON content', () => hooks.post('/v', 'x', { 'content-type': 'text/plain' }), 415, /application\/json, not text\/plain/],
        ['a declared size over the limit', () => hooks.post('/v', JSON.stringify(admissionReview({ data: { big: 'x'.repeat(70 * 1024) } }))), 413, /over this webhook server's limit of 65536/],
      ];
      for (const [what, call, status, message] of cases) {
        const res = await call();
        assert.equal(res.status, status, what);
        assert.match(res.json.message, message, what);
      }
      assert.equal(await errored(), before + cases.length, 'each one counted as errored with operation unknown');

      // A chunked body declares no size: it is cut off once it passes the limit.
      const agent = new Agent({ connect: { ca: hooks.files.caPem } });
      async function* chunks() {
        for (let i = 0; i < 100; i++) yield Buffer.alloc(16 * 1024, 'x');
      }
      const chunked = await request(`${hooks.url}/v`, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' }, body: Readable.from(chunks()) });
      assert.equal(chunked.statusCode, 413);
      assert.match(await chunked.body.text(), /over this webhook server's limit of 65536 bytes/);
      await agent.close();

      const unknown = await hooks.post('/nowhere', admissionReview({}));
      assert.equal(unknown.status, 404);
      const getter = new Agent({ connect: { ca: hooks.files.caPem } });
      const got = await request(`${hooks.url}/v`, { dispatcher: getter });
      await got.body.text();
      await getter.close();
      assert.equal(got.statusCode, 405);
      assert.equal(got.headers.allow, 'POST');

      const ok = await hooks.post('/v', admissionReview({ metadata: { name: 'fine' } }));
      assert.equal(ok.status, 200);
      assert.equal(ok.json.response.allowed, true);
      // controller-runtime's names are off unless asked for (enableControllerRuntimeMetrics, see webhook/observability).
      assert.equal(metricsRegistry.getSingleMetric('controller_runtime_webhook_requests_total'), undefined);
    } finally {
      await hooks.stop();
    }
  });

  test('registering a webhook with failurePolicy Fail whose rules match core kinds logs a loud warning; Ignore, or a group of its own, does not', () => {
    const logs = captureLogs('kubeloop::webhook=warn');
    try {
      const server = new WebhookServer({ certFile: '/nonexistent/tls.crt', keyFile: '/nonexistent/tls.key' });
      const core: AdmissionRule[] = [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }];
      server.validating({ name: 'fail-core.kubeloop.dev', path: '/a', rules: core, handler: () => allow() });
      server.validating({ name: 'fail-default-core.kubeloop.dev', path: '/b', rules: [{ ...core[0]!, apiGroups: ['*'] }], failurePolicy: undefined, handler: () => allow() });
      server.validating({ name: 'ignore-core.kubeloop.dev', path: '/c', rules: core, failurePolicy: 'Ignore', handler: () => allow() });
      server.validating({ name: 'fail-own.kubeloop.dev', path: '/d', rules, failurePolicy: 'Fail', handler: () => allow() });
      const warned = logs.lines.filter((l) => /^WARNING: this webhook has failurePolicy Fail and its rules match core kinds/.test(String(l.msg))).map((l) => l.webhook);
      assert.deepEqual(warned, ['fail-core.kubeloop.dev', 'fail-default-core.kubeloop.dev']);
    } finally {
      captureLogs(process.env.KUBELOOP_LOG ?? 'error');
    }
  });

  test('a ca.crt that did not issue the serving certificate is not taken (a CA caught mid-rotation); one that did is', async () => {
    const hooks = await startWebhookServer((s) => s.validating({ name: 'ca-check.kubeloop.dev', path: '/v', rules, handler: () => allow() }));
    try {
      const inUse = hooks.server.certificates.current!;
      // Reloads here are the test's own calls only (no watch event racing them).
      hooks.server.certificates.stop();
      const stranger = await createWebhookCertificates(await mkdtemp(join(tmpdir(), 'kubeloop-stranger-')));
      const reloadErrors = () => metricValue('webhook_certificate_reloads_total', { result: 'error' });
      const errorsBefore = await reloadErrors();
      await writeFile(hooks.files.caFile, stranger.caPem);
      await hooks.server.certificates.reload();
      assert.equal(hooks.server.certificates.current!.caPem, inUse.caPem, 'the CA in use stays');
      assert.equal(await reloadErrors(), errorsBefore + 1, 'the refused reload is counted');
      // The stranger CA beside the issuer (a rollover's first step) is taken.
      await writeFile(hooks.files.caFile, inUse.caPem + stranger.caPem);
      await hooks.server.certificates.reload();
      assert.equal(hooks.server.certificates.current!.caPem, inUse.caPem + stranger.caPem);
      assert.equal(hooks.server.certificates.current!.fingerprint, inUse.fingerprint);
    } finally {
      await hooks.stop();
    }
  });

  test('a review is answered in the AdmissionReview version it came in (v1beta1 too), with its uid', async () => {
    const hooks = await startWebhookServer((s) => s.validating({ name: 'versions.kubeloop.dev', path: '/v', rules, handler: () => allow() }));
    try {
      for (const apiVersion of ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1']) {
        const review = { ...admissionReview({ metadata: { name: 'x' } }), apiVersion } as { apiVersion: string; request: { uid: string } };
        const res = await hooks.post('/v', review);
        assert.equal(res.status, 200);
        assert.equal(res.json.apiVersion, apiVersion);
        assert.equal(res.json.kind, 'AdmissionReview');
        assert.equal(res.json.response.uid, review.request.uid);
      }
      // Kept-alive connections are reused (undici opens a second one when the next request beats the first's release).
      for (let i = 0; i < 8; i++) assert.equal((await hooks.post('/v', admissionReview({ metadata: { name: `again-${i}` } }))).status, 200);
      const { accepted, open } = hooks.server.connections();
      assert.ok(accepted >= 1 && accepted <= 2, `10 reviews over ${accepted} connections`);
      assert.equal(open, accepted);
    } finally {
      await hooks.stop();
    }
  });

  test("a mutating handler's answer carries an RFC 6902 JSON patch from the sent object to the returned one, and none when nothing changed", async () => {
    const hooks = await startWebhookServer((s) =>
      s.mutating<ConfigMap>({
        name: 'patch.kubeloop.dev',
        path: '/m',
        rules,
        handler: (req) => {
          if (req.object!.metadata!.name === 'same') return mutate(req.object!);
          req.object!.data = { ...req.object!.data, added: 'yes' };
          delete req.object!.metadata!.annotations;
          return mutate(req.object!, ['defaulted data.added']);
        },
      }),
    );
    try {
      const res = await hooks.post('/m', admissionReview({ metadata: { name: 'cm', annotations: { a: 'b' } }, data: { own: 'v' } }));
      assert.equal(res.json.response.allowed, true);
      assert.equal(res.json.response.patchType, 'JSONPatch');
      const ops = JSON.parse(Buffer.from(res.json.response.patch, 'base64').toString());
      assert.deepEqual(
        ops.sort((a: { path: string }, b: { path: string }) => a.path.localeCompare(b.path)),
        [{ op: 'add', path: '/data/added', value: 'yes' }, { op: 'remove', path: '/metadata/annotations' }],
      );
      assert.deepEqual(res.json.response.warnings, ['defaulted data.added']);
      const same = await hooks.post('/m', admissionReview({ metadata: { name: 'same' } }));
      assert.equal(same.json.response.allowed, true);
      assert.equal(same.json.response.patch, undefined);
    } finally {
      await hooks.stop();
    }
  });

  test('close() drains: it stops accepting connections and reports not ready, the review in flight is answered, then it resolves', async () => {
    const entered = signal();
    const release = signal();
    const hooks = await startWebhookServer((s) =>
      s.validating({
        name: 'drain.kubeloop.dev',
        path: '/v',
        rules,
        handler: async () => {
          entered.resolve();
          await release.promise;
          return allow();
        },
      }),
    );
    const port = hooks.server.port;
    assert.equal(hooks.server.readiness()[0]!.ready, true);
    const inFlight = hooks.post('/v', admissionReview({ metadata: { name: 'slow' } }));
    await entered.promise;
    let closed = false;
    const closing = hooks.server.close().then(() => (closed = true));
    assert.equal(hooks.server.readiness()[0]!.ready, false, 'not ready while draining');
    await assert.rejects(refused(port), /ECONNREFUSED/, 'no new connection is accepted');
    assert.equal(closed, false, 'close() waits for the review in flight');
    release.resolve();
    const res = await inFlight;
    assert.equal(res.status, 200);
    assert.equal(res.json.response.allowed, true);
    assert.equal(res.headers.connection, 'close');
    await closing;
    assert.equal(closed, true);
    await hooks.stop();
  });

  test('close() cuts a review that outlasts drainTimeoutMs', async () => {
    const entered = signal();
    const hooks = await startWebhookServer(
      (s) =>
        s.validating({
          name: 'stuck.kubeloop.dev',
          path: '/v',
          rules,
          handlerTimeoutMs: 60_000,
          handler: async () => {
            entered.resolve();
            return new Promise<never>(() => {});
          },
        }),
      { drainTimeoutMs: 300 },
    );
    const inFlight = hooks.post('/v', admissionReview({ metadata: { name: 'stuck' } }));
    await entered.promise;
    const started = performance.now();
    await hooks.server.close();
    const took = performance.now() - started;
    assert.ok(took >= 290 && took < 2000, `closed after the drain timeout (${Math.round(took)} ms)`);
    await assert.rejects(inFlight, /other side closed|socket|closed/i);
    await hooks.stop();
  });
});
