/**
 * `/debug.json` against the real API server: what it lists as queued, running
 * and recently finished is what the controller did. One worker (concurrency 1)
 * over four ConfigMaps, listed in name order: `a-fails` throws, `b-stuck` waits
 * on a promise the test holds, so `c-waits` and `d-waits` stay queued, due.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from 'undici';
import { Action, Api, ConfigMaps, Controller, ProbeServer, type ControllerDiagnostics } from '../../src/index.js';
import { until, useCluster } from '../support/cluster.js';
import { runInBackground, signal } from '../support/controller.js';

const t = useCluster();

test('the JSON form lists the running reconcile, the queue behind it and the failure before it, as the controller did them', { timeout: 60_000 }, async () => {
  const ns = await t.namespace('debug-json');
  const cms = Api.namespaced(t.client, ConfigMaps, ns);
  for (const name of ['a-fails', 'b-stuck', 'c-waits', 'd-waits']) await cms.create({ metadata: { name } });
  const release = signal();
  const stuckStarted = signal();
  const controller = new Controller(cms).withConfig({ name: 'debug-json', concurrency: 1 });
  const probes = new ProbeServer({ port: 0, host: '127.0.0.1', debugPage: true }).add(controller);
  const port = await probes.listen();
  const running = runInBackground(
    controller,
    async (cm) => {
      const name = cm.metadata!.name!;
      if (name === 'a-fails') throw new Error('the render template is missing');
      if (name === 'b-stuck') {
        stuckStarted.resolve();
        await release.promise;
      }
      return Action.awaitChange();
    },
    () => Action.awaitChange(),
    {},
  );
  const key = (name: string) => `ConfigMap.v1./${name}.${ns}`;
  try {
    await stuckStarted.promise;
    const fetchJson = async () => {
      const res = await request(`http://127.0.0.1:${port}/debug.json`);
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['content-type']), /application\/json/);
      const body = (await res.body.json()) as { controllers: ControllerDiagnostics[] };
      return body.controllers.find((c) => c.name === 'debug-json')!;
    };
    const d = await fetchJson();
    assert.equal(d.ready, true);
    assert.equal(d.concurrency, 1);
    assert.deepEqual(d.leadership, { mode: 'none' });
    assert.deepEqual(d.running.map((r) => [r.object, r.reason]), [[key('b-stuck'), 'object updated']]);
    assert.deepEqual(d.queue.next.map((q) => [q.object, q.reason]), [[key('c-waits'), 'object updated'], [key('d-waits'), 'object updated']]);
    assert.ok(d.queue.next.every((q) => q.dueInMs <= 0), 'both are due now');
    assert.equal(d.queue.dueNow, 2);
    assert.equal(d.queue.depth, 2);
    assert.ok(d.queue.oldestWaitMs !== undefined && d.queue.oldestWaitMs >= 0);
    assert.deepEqual(d.recent.map((r) => [r.object, r.result, r.error, r.action]), [[key('a-fails'), 'error', 'the render template is missing', 'await change']]);
    assert.equal(d.caches.length, 1);
    assert.equal(d.caches[0]!.objects, 4);
    assert.equal(d.caches[0]!.relists, 1);
    assert.equal(d.caches[0]!.ready, true);

    // The stuck reconcile's running time grows between two looks; nothing else moved.
    const firstFor = d.running[0]!.runningForMs;
    await until('the running time to grow', async () => (await fetchJson()).running[0]!.runningForMs > firstFor);

    release.resolve();
    await until('every object reconciled', () => running.results.length >= 4);
    const after = await fetchJson();
    assert.deepEqual(after.running, []);
    assert.equal(after.queue.depth, 0);
    assert.deepEqual(
      after.recent.map((r) => [r.object, r.result]),
      [[key('d-waits'), 'success'], [key('c-waits'), 'success'], [key('b-stuck'), 'success'], [key('a-fails'), 'error']],
      'newest first, in the order they ran',
    );
    assert.ok(after.recent[2]!.durationMs >= firstFor, "b-stuck's duration covers the time it was stuck");
  } finally {
    await running.stop();
    await probes.close();
  }
});
