import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { request } from 'undici';
import {
  Action, Api, ClusterRoleBindings, ClusterRoles, ConfigMaps, Controller, Patch, ProbeServer, Store, configureLogging, logger, reflector, watcher,
} from '../../src/index.js';
import { clientFor, until, useCluster } from '../support/cluster.js';
import { runInBackground, signal, Waiter } from '../support/controller.js';
import { captureLogs } from '../support/logs.js';

const t = useCluster({ users: [{ name: 'limited' }] });

async function get(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; type: string }> {
  const res = await request(`http://127.0.0.1:${port}${path}`, { headers });
  return { status: res.statusCode, body: await res.body.text(), type: String(res.headers['content-type']) };
}

describe('probe server', () => {
  test('/readyz is 503 until the first list completes and 200 after (a user who may not list yet, then may)', async () => {
    const ns = await t.namespace();
    const limited = clientFor(t.cluster, t.cluster.user('limited').token);
    const controller = new Controller(Api.namespaced(limited, ConfigMaps, ns)).withConfig({ name: 'gated' }).serveProbes({ port: 0, host: '127.0.0.1' });
    const running = runInBackground(controller, async () => Action.awaitChange(), () => Action.awaitChange(), {});
    let port = 0;
    try {
      await until('the probe server', () => (controller.probes!.port > 0 ? true : undefined));
      port = controller.probes!.port;
      // The watcher's list is forbidden: it keeps retrying and the store stays unready.
      await until('a failed list', () => running.results.some((r) => !r.ok && /403/.test(r.error.message)));
      const before = await get(port, '/readyz?verbose');
      assert.equal(before.status, 503);
      assert.match(before.body, /^\[-\]gated\/ConfigMap not ready/m);
      assert.match(before.body, /readyz check failed/);
      await Api.all(t.client, ClusterRoles).create({ metadata: { name: `list-cms-${ns}` }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['list', 'watch'] }] });
      await Api.all(t.client, ClusterRoleBindings).create({
        metadata: { name: `list-cms-${ns}` },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `list-cms-${ns}` },
        subjects: [{ kind: 'User', name: 'limited', apiGroup: 'rbac.authorization.k8s.io' }],
      });
      await until('readiness', async () => (await get(port, '/readyz')).status === 200, 30_000);
      const after = await get(port, '/readyz?verbose');
      assert.match(after.body, /^\[\+\]gated\/ConfigMap ok/m);
      assert.equal((await get(port, '/readyz')).body, 'ok\n');
    } finally {
      await running.stop();
      await limited.close();
    }
    // The port it listened on (the server reads 0 once closed) now refuses connections.
    assert.ok(port > 0);
    await assert.rejects(get(port, '/readyz'), (e: NodeJS.ErrnoException) => e.code === 'ECONNREFUSED', 'the server stopped with the controller');
  });

  test('/livez turns 503 when a reconcile hangs past the threshold while work is due, and stays 200 for an idle controller', async () => {
    const ns = await t.namespace();
    const api = Api.namespaced(t.client, ConfigMaps, ns);
    await api.create({ metadata: { name: 'hangs' } });
    await api.create({ metadata: { name: 'waits' } });
    const idleNs = await t.namespace();
    const idleApi = Api.namespaced(t.client, ConfigMaps, idleNs);
    await idleApi.create({ metadata: { name: 'quick' } });
    const release = signal();
    const threshold = 1000;
    const stuck = new Controller(api).withConfig({ name: 'stuck', concurrency: 1, livenessThresholdMs: threshold });
    const idle = new Controller(idleApi).withConfig({ name: 'idle', livenessThresholdMs: threshold });
    const probes = new ProbeServer({ port: 0, host: '127.0.0.1' });
    const idleProbes = new ProbeServer({ port: 0, host: '127.0.0.1' }).add(idle);
    probes.add(stuck);
    const port = await probes.listen();
    const idlePort = await idleProbes.listen();
    const waiter = new Waiter();
    const a = runInBackground(stuck, async () => {
      await release.promise;
      return Action.awaitChange();
    }, () => Action.awaitChange(), {});
    const b = runInBackground(idle, async () => Action.awaitChange(), () => Action.awaitChange(), {}, waiter);
    try {
      await waiter.until('the idle controller\'s reconcile', () => b.results.length === 1);
      const started = performance.now();
      assert.equal((await get(port, '/livez')).status, 200, 'live while within the threshold');
      await until('/livez to fail', async () => (await get(port, '/livez')).status === 503, 10_000);
      const elapsed = performance.now() - started;
      const failed = await get(port, '/livez?verbose');
      assert.match(failed.body, /^\[-\]stuck work has been due or running for \d+ s with no reconcile finishing/m);
      assert.ok(elapsed >= threshold * 0.5, `failed after ${elapsed.toFixed(0)} ms`);
      const idleNow = await get(idlePort, '/livez?verbose');
      assert.equal(idleNow.status, 200, 'the idle controller stays live over the same time');
      assert.match(idleNow.body, /^\[\+\]idle idle$/m);
      release.resolve();
      await until('/livez to recover once reconciles finish', async () => (await get(port, '/livez')).status === 200);
    } finally {
      release.resolve();
      await a.stop();
      await b.stop();
      await probes.close();
      await idleProbes.close();
    }
  });

  test('/log-level shows the filter and, with logLevelChanges, PUT changes it at runtime; a bad directive is a 400 naming it', async () => {
    const probes = new ProbeServer({ port: 0, host: '127.0.0.1', logLevelChanges: true });
    const port = await probes.listen();
    try {
      const { lines } = captureLogs('info');
      assert.equal((await get(port, '/log-level')).body, 'info\n');
      logger('app').debug('hidden');
      const put = await request(`http://127.0.0.1:${port}/log-level`, { method: 'PUT', body: 'info,app=debug' });
      assert.equal(put.statusCode, 200);
      assert.equal(await put.body.text(), 'info,app=debug\n');
      logger('app').debug('shown');
      assert.deepEqual(lines.filter((l) => l.target === 'app').map((l) => l.msg), ['shown']);
      const bad = await request(`http://127.0.0.1:${port}/log-level`, { method: 'PUT', body: 'app=chatty' });
      assert.equal(bad.statusCode, 400);
      assert.match(await bad.body.text(), /directive "app=chatty" has an unknown level "chatty"/);
      assert.equal((await get(port, '/log-level')).body, 'info,app=debug\n', 'a bad request changes nothing');
    } finally {
      configureLogging({ filter: 'off' });
      await probes.close();
    }
  });

  test('PUT /log-level is off by default: 403 saying how to turn it on, the filter stays, GET still answers', async () => {
    const probes = new ProbeServer({ port: 0, host: '127.0.0.1' });
    const port = await probes.listen();
    try {
      captureLogs('info');
      for (const method of ['PUT', 'POST'] as const) {
        const put = await request(`http://127.0.0.1:${port}/log-level`, { method, body: 'trace' });
        assert.equal(put.statusCode, 403, method);
        assert.match(await put.body.text(), /logLevelChanges: true/);
      }
      const now = await get(port, '/log-level');
      assert.equal(now.status, 200);
      assert.equal(now.body, 'info\n', 'the filter did not change');
    } finally {
      configureLogging({ filter: 'off' });
      await probes.close();
    }
  });

  test('with logLevelChanges, a body over 4096 bytes is 413 and bad input is 400, never 500, and changes nothing', async () => {
    const probes = new ProbeServer({ port: 0, host: '127.0.0.1', logLevelChanges: true });
    const port = await probes.listen();
    const put = async (body: string | Readable, headers: Record<string, string> = {}) => {
      const res = await request(`http://127.0.0.1:${port}/log-level`, { method: 'PUT', body, headers });
      return { status: res.statusCode, body: await res.body.text() };
    };
    try {
      captureLogs('info');
      const big = `info,${'app=debug,'.repeat(500)}`;
      assert.ok(Buffer.byteLength(big) > 4096);
      const declared = await put(big);
      assert.equal(declared.status, 413, `a declared length over the limit: ${declared.body}`);
      assert.match(declared.body, /larger than 4096 bytes/);
      // Without a content-length the server finds out while reading.
      const streamed = await put(Readable.from(Array.from({ length: 10 }, () => Buffer.from('app=debug,'.repeat(60)))));
      assert.equal(streamed.status, 413, `a chunked body over the limit: ${streamed.body}`);
      assert.equal((await put(`info${' '.repeat(4092)}`)).status, 200, 'a body of exactly 4096 bytes is accepted');
      const bad: [string, string, RegExp][] = [
        ['a bad directive', 'app=chatty', /directive "app=chatty" has an unknown level "chatty"/],
        ['JSON that does not parse', '{"filter": "debug"', /not valid JSON/],
        ['JSON without a filter', '{"level": "debug"}', /string field "filter"/],
        ['JSON with a filter that is not a string', '{"filter": 3}', /string field "filter"/],
        ['a JSON filter with a bad directive', '{"filter": "app=chatty"}', /unknown level "chatty"/],
        ['an empty body', '  ', /the body is empty/],
      ];
      for (const [what, body, why] of bad) {
        const res = await put(body);
        assert.equal(res.status, 400, `${what}: ${res.status} ${res.body}`);
        assert.match(res.body, why, what);
      }
      assert.equal((await get(port, '/log-level')).body, 'info\n', 'nothing changed the filter');
      const json = await put('{"filter": "info,app=debug"}');
      assert.deepEqual(json, { status: 200, body: 'info,app=debug\n' }, 'a good JSON body still works');
    } finally {
      configureLogging({ filter: 'off' });
      await probes.close();
    }
  });

  test('/metrics counts every event a watcher yielded, by type, and its relists', async () => {
    const ns = await t.namespace();
    const api = Api.namespaced(t.client, ConfigMaps, ns);
    for (let i = 0; i < 7; i++) await api.create({ metadata: { name: `cm-${i}` }, data: { v: '0' } });
    const probes = new ProbeServer({ port: 0, host: '127.0.0.1' });
    const port = await probes.listen();
    const abort = new AbortController();
    const store = new Store(ConfigMaps);
    const seen = { initApply: 0, apply: 0, delete: 0 };
    const consumed = (async () => {
      for await (const e of reflector(store, watcher(api, { signal: abort.signal, controller: `metrics-${ns}`, pageSize: 3 }))) {
        if (e.type === 'initApply') seen.initApply++;
        if (e.type === 'apply') seen.apply++;
        if (e.type === 'delete') seen.delete++;
      }
    })();
    const series = (body: string, type: string) => {
      const m = new RegExp(`^watcher_events_total\\{controller="metrics-${ns}",resource="configmaps",type="${type}"\\} (\\d+)$`, 'm').exec(body);
      return m ? Number(m[1]) : 0;
    };
    try {
      await store.waitUntilReady();
      const first = (await get(port, '/metrics')).body;
      assert.equal(series(first, 'init_apply'), 7, 'one init_apply per listed object (three pages)');
      assert.equal(series(first, 'init_done'), 1);
      for (let i = 0; i < 4; i++) await api.patch(`cm-${i}`, Patch.merge({ data: { v: '1' } }));
      await api.delete('cm-6');
      await until('the watch events', () => seen.apply >= 4 && seen.delete >= 1);
      const second = (await get(port, '/metrics')).body;
      assert.equal(series(second, 'apply'), seen.apply, 'apply counts what the watcher yielded');
      assert.equal(series(second, 'delete'), 1);
      assert.equal(series(second, 'init_apply'), 7, 'earlier counts are not counted twice');
      assert.match(second, new RegExp(`^watcher_relists_total\\{controller="metrics-${ns}",resource="configmaps"\\} 1$`, 'm'));
    } finally {
      abort.abort();
      await consumed;
      await probes.close();
    }
  });

  test('/metrics serves the Prometheus text format, or OpenMetrics when the scraper asks for it', async () => {
    const probes = new ProbeServer({ port: 0, host: '127.0.0.1' });
    const port = await probes.listen();
    try {
      const text = await get(port, '/metrics');
      assert.equal(text.status, 200);
      assert.match(text.type, /^text\/plain; version=0\.0\.4/);
      assert.match(text.body, /^# TYPE reconcile_total counter$/m);
      assert.match(text.body, /^# TYPE reconcile_duration_seconds histogram$/m);
      const om = await get(port, '/metrics', { accept: 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5' });
      assert.match(om.type, /^application\/openmetrics-text; version=1\.0\.0/);
      assert.match(om.body, /^# TYPE reconcile counter$/m);
      assert.ok(om.body.endsWith('# EOF\n'));
      const again = await get(port, '/metrics');
      assert.match(again.body, /^# TYPE reconcile_total counter$/m, 'rendering OpenMetrics did not rename the counters for later scrapes');
      assert.equal((await get(port, '/nope')).status, 404);
    } finally {
      await probes.close();
    }
  });
});
