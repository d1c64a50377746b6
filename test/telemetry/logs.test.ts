import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { Action, Api, Client, ConfigMaps, Controller, Patch, configureLogging, logger, watcher } from '../../src/index.js';
import { setupTracing } from '../../src/telemetry/tracing-setup.js';
import { useCluster } from '../support/cluster.js';
import { runInBackground, Waiter } from '../support/controller.js';
import { captureLogs } from '../support/logs.js';

const t = useCluster();
after(() => configureLogging({ filter: 'off' }));

async function reconcileOnce(ns: string, body: () => void | Promise<void>): Promise<void> {
  const api = Api.namespaced(t.client, ConfigMaps, ns);
  await api.create({ metadata: { name: 'logged' } });
  const waiter = new Waiter();
  let done = false;
  const running = runInBackground(new Controller(api).withConfig({ name: 'log-test' }), async () => {
    await body();
    done = true;
    waiter.notify();
    return Action.awaitChange();
  }, () => Action.awaitChange(), {});
  await waiter.until('one reconcile', () => done);
  await running.stop();
}

describe('logs', () => {
  test('a line is one JSON object with level, ISO time, target, message and fields', () => {
    const { lines, raw } = captureLogs('info');
    logger('app').info({ replicas: 3 }, 'scaled');
    assert.equal(raw.length, 1);
    assert.ok(raw[0]!.endsWith('\n') && !raw[0]!.slice(0, -1).includes('\n'), 'one line');
    const line = lines[0]!;
    assert.equal(line.level, 'info');
    assert.equal(line.target, 'app');
    assert.equal(line.msg, 'scaled');
    assert.equal(line.replicas, 3);
    assert.ok(typeof line.time === 'string' && !Number.isNaN(Date.parse(line.time)), 'ISO time');
    assert.deepEqual(Object.keys(line).sort(), ['level', 'msg', 'replicas', 'target', 'time']);
  });

  test('a line logged inside the reconciler carries object.ref, object.reason and the controller name', async () => {
    const ns = await t.namespace();
    const { lines } = captureLogs('app=info');
    await reconcileOnce(ns, () => logger('app').info('inside'));
    const line = lines.find((l) => l.msg === 'inside')!;
    assert.equal(line['object.ref'], `ConfigMap.v1./logged.${ns}`);
    assert.equal(line['object.reason'], 'object updated');
    assert.equal(line.controller, 'log-test');
    assert.equal(line.trace_id, undefined, 'no trace id without a tracer provider');
  });

  test('with the SDK on, the line carries the trace_id and span_id of the reconcile span', async () => {
    const ns = await t.namespace();
    const exporter = new InMemorySpanExporter();
    const tracing = await setupTracing({ exporter, simple: true });
    try {
      const { lines } = captureLogs('app=info');
      await reconcileOnce(ns, () => logger('app').info('inside'));
      await tracing.flush();
      const span = exporter.getFinishedSpans().find((s) => s.name === 'reconciling object')!;
      const line = lines.find((l) => l.msg === 'inside')!;
      assert.match(String(line.trace_id), /^[0-9a-f]{32}$/);
      assert.equal(line.trace_id, span.spanContext().traceId);
      assert.equal(line.span_id, span.spanContext().spanId);
    } finally {
      await tracing.shutdown();
    }
  });

  test('kubeloop=warn,app=debug: the app logs at debug, the library only warnings', async () => {
    const ns = await t.namespace();
    const { lines } = captureLogs('kubeloop=warn,app=debug');
    await reconcileOnce(ns, () => logger('app').debug('detail'));
    assert.ok(lines.some((l) => l.target === 'app' && l.msg === 'detail'));
    assert.ok(lines.every((l) => !String(l.target).startsWith('kubeloop') || l.level === 'warn' || l.level === 'error'));
    logger('other').error('not named: off');
    assert.ok(!lines.some((l) => l.target === 'other'));
  });

  test('kubeloop::client=debug logs each HTTP request with its method, path, status and duration', async () => {
    const ns = await t.namespace();
    const { lines } = captureLogs('kubeloop::client=debug');
    await Api.namespaced(t.client, ConfigMaps, ns).create({ metadata: { name: 'http' } });
    await Api.namespaced(t.client, ConfigMaps, ns).getOpt('missing');
    logger('app').info('off');
    const requests = lines.filter((l) => l.target === 'kubeloop::client' && l.msg === 'request');
    assert.equal(requests.length, 2);
    assert.deepEqual(
      requests.map((l) => [l['kube.verb'], l['http.request.method'], l['url.path'], l['http.response.status_code']]),
      [['create', 'POST', `/api/v1/namespaces/${ns}/configmaps`, 201], ['get', 'GET', `/api/v1/namespaces/${ns}/configmaps/missing`, 404]],
    );
    assert.ok(requests.every((l) => typeof l.duration_ms === 'number'));
    assert.ok(lines.every((l) => l.target === 'kubeloop::client'));
  });

  test('bare trace turns on every target, down to each watch event', async () => {
    const ns = await t.namespace();
    const api = Api.namespaced(t.client, ConfigMaps, ns);
    const { lines } = captureLogs('trace');
    const abort = new AbortController();
    for await (const e of watcher(api, { signal: abort.signal })) {
      if (e.type === 'initDone') await api.create({ metadata: { name: 'watched' } });
      if (e.type === 'apply') break;
    }
    abort.abort();
    assert.ok(lines.some((l) => l.target === 'kubeloop::watcher' && l.level === 'trace' && l.msg === 'watch event' && l.name === 'watched'));
    assert.ok(lines.some((l) => l.target === 'kubeloop::client' && l.level === 'debug'));
  });

  test('a bad KUBELOOP_LOG directive stops the program at start-up with a sentence naming it', () => {
    const entry = fileURLToPath(new URL('../../src/index.js', import.meta.url));
    const res = spawnSync(process.execPath, ['--input-type=module', '-e', `await import(${JSON.stringify(entry)})`], { env: { ...process.env, KUBELOOP_LOG: 'info,kubeloop=loud' }, encoding: 'utf8' });
    assert.notEqual(res.status, 0);
    assert.match(res.stderr, /KUBELOOP_LOG: directive "kubeloop=loud" has an unknown level "loud"/);
  });

  test('fields named authorization, token, password, clientKey, privateKey or cookie are [redacted] at the top level and one and two levels down', () => {
    const { lines, raw } = captureLogs('info');
    const names = ['authorization', 'token', 'password', 'clientKey', 'privateKey', 'cookie'];
    for (const name of names) {
      logger('app').info({ [name]: `top-${name}-s3cr3t`, outer: { [name]: `one-${name}-s3cr3t`, inner: { [name]: `two-${name}-s3cr3t` } }, [`${name}Hint`]: 'kept' }, name);
    }
    const byName = names.map((name) => {
      const line = lines.find((l) => l.msg === name) as Record<string, any>;
      return [line[name], line.outer[name], line.outer.inner[name], line[`${name}Hint`]];
    });
    assert.deepEqual(byName, names.map(() => ['[redacted]', '[redacted]', '[redacted]', 'kept']), 'each of the six names, at each depth; other fields stay');
    assert.ok(!raw.join('').includes('s3cr3t'), 'no secret value reached a line');
  });

  test('the bearer token never reaches a log line, at any level, even on a 401 or when a caller logs headers', async () => {
    const ns = await t.namespace();
    const { raw } = captureLogs('trace');
    const api = Api.namespaced(t.client, ConfigMaps, ns);
    await api.create({ metadata: { name: 'secretive' } });
    await api.patch('secretive', Patch.merge({ data: { a: 'b' } }));
    await api.list();
    const wrongToken = 'wrong-token-0123456789abcdef';
    const bad = new Client({ ...t.client.config, auth: { type: 'token', token: wrongToken } });
    await assert.rejects(Api.namespaced(bad, ConfigMaps, ns).list(), (e: Error) => !e.message.includes(wrongToken));
    await bad.close();
    const abort = new AbortController();
    for await (const e of watcher(api, { signal: abort.signal })) if (e.type === 'initDone') break;
    abort.abort();
    logger('app').info({ headers: { authorization: `Bearer ${t.cluster.token}` }, token: t.cluster.token }, 'careless caller');
    const text = raw.join('');
    assert.ok(raw.length > 5, `captured ${raw.length} lines`);
    assert.ok(!text.includes(t.cluster.token), 'the admin token leaked into the logs');
    assert.ok(!text.includes(wrongToken), 'the rejected token leaked into the logs');
    assert.ok(text.includes('[redacted]'));
  });
});
