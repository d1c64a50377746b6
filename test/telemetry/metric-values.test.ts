/**
 * Metric families asserted by their values: each test does something countable
 * against the real API server and reads the registry (as `/metrics` renders it)
 * before and after. Nothing else runs in this process meanwhile, so the
 * differences are exactly what the test did.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { setTimeout as work } from 'node:timers/promises';
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import {
  Action, Api, ApiError, Client, ConfigMaps, Controller, TransportError, renderMetrics, watcher, type WatcherEvent,
} from '../../src/index.js';
import { useCluster } from '../support/cluster.js';
import { runInBackground, Waiter } from '../support/controller.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { clientVia, fastBackoff } from '../support/watch-harness.js';

const t = useCluster();
const closers: (() => Promise<void>)[] = [];
after(() => Promise.all(closers.map((c) => c())));

/** The samples of the classic text format, each with its name, labels and value. */
async function scrape(): Promise<{ name: string; labels: Record<string, string>; value: number }[]> {
  const { body } = await renderMetrics(false);
  return body.split('\n').filter((l) => l && !l.startsWith('#')).map((line) => {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)/.exec(line)!;
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1]!, x[2]!]));
    return { name: m[1]!, labels, value: Number(m[3]) };
  });
}

/** The value of the one sample of `name` whose labels include `labels` (0 when there is none yet). */
async function value(name: string, labels: Record<string, string>): Promise<number> {
  const found = (await scrape()).filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.ok(found.length <= 1, `${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value ?? 0;
}

/** Reads each `[name, labels]` now; `delta()` reads them again and gives the differences. */
async function counters(series: [string, Record<string, string>][]): Promise<{ delta: () => Promise<number[]> }> {
  const before = await Promise.all(series.map(([n, l]) => value(n, l)));
  return { delta: async () => (await Promise.all(series.map(([n, l]) => value(n, l)))).map((v, i) => v - before[i]!) };
}

describe('metric values follow what happened', () => {
  test('rest_client_requests_total counts requests by verb and code (0 when no answer came); the duration histogram counts the same, a watch once its headers arrived', async () => {
    const ns = await t.namespace('metrics');
    const api = Api.namespaced(t.client, ConfigMaps, ns);
    await api.create({ metadata: { name: 'counted' } });
    const refused = new Client({ ...t.client.config, server: 'https://127.0.0.1:1' });
    closers.push(() => refused.close());
    const c = await counters([
      ['rest_client_requests_total', { verb: 'get', code: '200' }],
      ['rest_client_requests_total', { verb: 'get', code: '404' }],
      ['rest_client_requests_total', { verb: 'list', code: '0' }],
      ['rest_client_requests_total', { verb: 'watch', code: '200' }],
      ['rest_client_request_duration_seconds_count', { verb: 'get' }],
      ['rest_client_request_duration_seconds_count', { verb: 'list' }],
      ['rest_client_request_duration_seconds_count', { verb: 'watch' }],
    ]);
    for (let i = 0; i < 3; i++) await api.get('counted');
    assert.equal(await api.getOpt('missing'), undefined);
    await assert.rejects(Api.namespaced(refused, ConfigMaps, ns).list(), TransportError);
    const abort = new AbortController();
    let whileOpen: number[] = [];
    for await (const event of api.watch({ signal: abort.signal })) {
      if (event.type !== 'ADDED') continue;
      whileOpen = await c.delta(); // the watch is still open
      break;
    }
    abort.abort();
    assert.deepEqual(whileOpen, [3, 1, 1, 1, 4, 1, 1], 'get 200 ×3, get 404, list with no answer (code 0), watch 200; durations for each, the watch\'s while it is open');
  });

  test('watcher_restarts_total counts each watch that failed and started again; watcher_relists_total only the first list', async () => {
    const ns = await t.namespace('metrics');
    const direct = Api.namespaced(t.client, ConfigMaps, ns);
    const proxy = await TcpProxy.start({ host: '127.0.0.1', port: Number(new URL(t.cluster.server).port) });
    const viaProxy = clientVia(t.cluster, proxy.url);
    closers.push(() => proxy.close(), () => viaProxy.close());
    const labels = { controller: 'metric-restarts', resource: 'configmaps' };
    const c = await counters([
      ['watcher_restarts_total', labels],
      ['watcher_relists_total', labels],
      ['watcher_events_total', { ...labels, type: 'error' }],
    ]);
    const abort = new AbortController();
    const events: WatcherEvent<ConfigMap>[] = [];
    const waiter = new Waiter();
    const done = (async () => {
      for await (const e of watcher(Api.namespaced(viaProxy, ConfigMaps, ns), { controller: labels.controller, backoff: fastBackoff, signal: abort.signal })) {
        events.push(e);
        waiter.notify();
      }
    })();
    const count = (type: string) => events.filter((e) => e.type === type).length;
    try {
      await waiter.until('the first list', () => count('initDone') === 1);
      for (let cut = 1; cut <= 2; cut++) {
        // An object created now arrives through the watch: the watch is open.
        await direct.create({ metadata: { name: `live-${cut}` } });
        await waiter.until(`the watch to deliver live-${cut}`, () => events.some((e) => e.type === 'apply' && e.object.metadata?.name === `live-${cut}`));
        assert.ok(proxy.cutAll() >= 1);
        await waiter.until(`watch error ${cut}`, () => count('error') === cut);
      }
      await direct.create({ metadata: { name: 'after' } });
      await waiter.until('the watch to resume', () => events.some((e) => e.type === 'apply' && e.object.metadata?.name === 'after'));
    } finally {
      abort.abort();
      await done;
    }
    assert.deepEqual(await c.delta(), [2, 1, 2], 'two restarts, one list, two errors');
    assert.equal(count('init'), 1, 'no relist: the watch resumed');
  });

  test('store_objects, reconcile_active, reconcile_queue_depth and reconcile_queue_wait_seconds follow the controller', async () => {
    const ns = await t.namespace('metrics');
    const api = Api.namespaced(t.client, ConfigMaps, ns);
    await api.create({ metadata: { name: 'a' } });
    await api.create({ metadata: { name: 'b' } });
    const name = 'metric-values';
    const c = await counters([
      ['reconcile_queue_wait_seconds_count', { controller: name }],
      ['reconcile_queue_wait_seconds_bucket', { controller: name, le: '0.1' }],
      ['reconcile_queue_wait_seconds_sum', { controller: name }],
    ]);
    const WORK_MS = 300;
    const started: string[] = [];
    const finished: string[] = [];
    const waiter = new Waiter();
    const running = runInBackground(new Controller(api).withConfig({ name, concurrency: 1 }), async (cm) => {
      const n = cm.metadata!.name!;
      started.push(n);
      waiter.notify();
      if (n !== 'c') await work(WORK_MS); // the reconciler's own work; the other object waits behind it
      finished.push(n);
      waiter.notify();
      return Action.awaitChange();
    }, () => Action.awaitChange(), {}, waiter);
    const gauges = async () => [
      await value('store_objects', { controller: name, resource: 'configmaps' }),
      await value('reconcile_active', { controller: name }),
      await value('reconcile_queue_depth', { controller: name }),
    ];
    try {
      await waiter.until('the first reconcile', () => started.length === 1);
      assert.deepEqual(await gauges(), [2, 1, 1], 'two objects stored, one running, one waiting');
      await waiter.until('both reconciled', () => finished.length === 2);
      await api.create({ metadata: { name: 'c' } });
      await waiter.until('c reconciled', () => finished.includes('c'));
      await waiter.until('the result of c', () => running.results.length === 3);
      assert.deepEqual(await gauges(), [3, 0, 0], 'three objects stored, nothing running or waiting');
    } finally {
      await running.stop();
    }
    const [count, fast, sum] = await c.delta();
    assert.equal(count, 3, 'one queue wait per reconcile');
    assert.equal(fast, 2, 'the first and c started at once; the second waited for the first to finish');
    assert.ok(sum! >= (WORK_MS - 20) / 1000, `queue waits sum to ${sum} s: the second object waited about ${WORK_MS} ms`);
  });

  test('reconcile_errors_total counts each failed reconcile under one of a fixed set of kinds, never the message', async () => {
    const ns = await t.namespace('metrics');
    const api = Api.namespaced(t.client, ConfigMaps, ns);
    for (const n of ['plain', 'api', 'transport', 'fine']) await api.create({ metadata: { name: n } });
    const unreachable = new Client({ ...t.client.config, server: 'https://127.0.0.1:1' });
    closers.push(() => unreachable.close());
    const name = 'metric-errors';
    const waiter = new Waiter();
    const running = runInBackground(new Controller(api).withConfig({ name }), async (cm) => {
      switch (cm.metadata!.name) {
        case 'plain':
          throw new Error(`a message with details ${Math.random()}`);
        case 'api':
          await api.get('does-not-exist');
          break;
        case 'transport':
          await Api.namespaced(unreachable, ConfigMaps, ns).list();
          break;
      }
      return Action.awaitChange();
    }, () => Action.awaitChange(), {}, waiter);
    try {
      await waiter.until('four results', () => running.results.length === 4);
    } finally {
      await running.stop();
    }
    const failures = running.results.filter((r) => !r.ok).map((r) => (r.ok ? undefined : (r.error.cause as Error)));
    assert.equal(failures.filter((e) => e instanceof ApiError).length, 1);
    assert.equal(failures.filter((e) => e instanceof TransportError).length, 1);
    const samples = (await scrape()).filter((s) => s.name === 'reconcile_errors_total' && s.labels.controller === name && s.value > 0);
    assert.deepEqual(Object.fromEntries(samples.map((s) => [s.labels.error, s.value])), { reconciler_error: 1, api_error: 1, transport_error: 1 });
    assert.equal(await value('reconcile_total', { controller: name, result: 'error' }), 3);
    assert.equal(await value('reconcile_total', { controller: name, result: 'success' }), 1);
  });
});
