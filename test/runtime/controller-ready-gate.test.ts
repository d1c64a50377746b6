/**
 * "Nothing runs before the main store is ready", through the public Controller API:
 * the answer to the controller's first list of its main kind is held back at a
 * proxy, while a related watch (on a direct connection) keeps triggering one of
 * its objects. The trigger may queue, but no reconcile may start — not even one
 * that would find no object in the store — until the list has arrived.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { request } from 'undici';
import { Action, Api, ConfigMaps, Controller, ObjectRef, Patch, ProbeServer, Secrets, type Client } from '../../src/index.js';
import { useCluster } from '../support/cluster.js';
import { currentReason, runInBackground, Waiter } from '../support/controller.js';
import { InjectingProxy } from '../support/injecting-proxy.js';
import { clientVia } from '../support/watch-harness.js';

const t = useCluster();
let proxy: InjectingProxy | undefined;
let viaProxy: Client | undefined;
// The proxy first: a client's close() waits for requests in flight, which a closed proxy ends.
after(async () => {
  await proxy?.close();
  await viaProxy?.close();
});

const LIVENESS_THRESHOLD_MS = 200;

test('while the first list is held back, a trigger queues but no reconcile starts, /readyz is 503 and /livez stays 200; once it arrives every object is reconciled', async () => {
  const ns = await t.namespace('gate');
  const cms = Api.namespaced(t.client, ConfigMaps, ns);
  const secrets = Api.namespaced(t.client, Secrets, ns);
  await cms.create({ metadata: { name: 'target' } });
  proxy = await InjectingProxy.start({ server: t.cluster.server, caPem: t.cluster.caPem });
  const list = proxy.holdNext((method, url) => method === 'GET' && url.pathname === `/api/v1/namespaces/${ns}/configmaps` && url.searchParams.get('watch') !== 'true');
  viaProxy = clientVia(t.cluster, proxy.url, proxy.caPem);

  const waiter = new Waiter();
  const mappedAt: number[] = [];
  const starts: { name: string; reason: string; at: number }[] = [];
  const controller = new Controller(Api.namespaced(viaProxy, ConfigMaps, ns))
    .withConfig({ name: 'ready-gate', livenessThresholdMs: LIVENESS_THRESHOLD_MS })
    .watches(secrets, () => {
      mappedAt.push(performance.now());
      waiter.notify();
      return [ObjectRef.of(ConfigMaps, 'target', ns)];
    });
  const probes = new ProbeServer({ port: 0, host: '127.0.0.1' }).add(controller);
  const port = await probes.listen();
  const get = async (path: string) => {
    const res = await request(`http://127.0.0.1:${port}${path}`);
    return { status: res.statusCode, body: await res.body.text() };
  };
  const running = runInBackground(controller, (cm) => {
    starts.push({ name: cm.metadata!.name!, reason: currentReason(), at: performance.now() });
    waiter.notify();
    return Action.awaitChange();
  }, () => Action.awaitChange(), {}, waiter);
  try {
    await list.answered; // the API server answered the first list; the proxy holds the answer
    await secrets.create({ metadata: { name: 'pointer' }, stringData: { k: 'v' } });
    await waiter.until('the mapper to name the target', () => mappedAt.length >= 1);
    // Created while the list is held: it comes with the watch that follows the list.
    await cms.create({ metadata: { name: 'during' } });
    // A full round trip later (a write, then its watch event), the queued trigger has long been due.
    await secrets.patch('pointer', Patch.merge({ stringData: { k: 'changed' } }));
    await waiter.until('the mapper to see the change', () => mappedAt.length >= 2);
    assert.equal(starts.length, 0, `no reconcile starts before the store is ready: ${JSON.stringify(starts)}`);
    assert.equal(running.results.length, 0, `no result either (a run would have found no object in the store): ${running.results.map((r) => (r.ok ? r.ref.key : r.error.message)).join('; ')}`);
    assert.equal(controller.store.isReady(), false);
    assert.deepEqual(controller.queue(), { depth: 1, running: 0 }, 'the trigger waits in the queue');
    // Work has been due for longer than the liveness threshold, but the store is not ready: live, and not ready.
    let livez: { status: number; body: string };
    do livez = await get('/livez?verbose');
    while (livez.status === 200 && performance.now() - mappedAt[0]! < 3 * LIVENESS_THRESHOLD_MS);
    assert.equal(livez.status, 200, livez.body);
    assert.match(livez.body, /waiting for the first list/);
    assert.equal((await get('/readyz')).status, 503);
    assert.equal(starts.length, 0, JSON.stringify(starts));

    const releasedAt = performance.now();
    list.release();
    await waiter.until('both objects reconciled', () => ['target', 'during'].every((n) => starts.some((s) => s.name === n)));
    assert.equal((await get('/readyz')).status, 200);
    assert.deepEqual(starts.filter((s) => s.at < releasedAt), [], 'every reconcile started after the list arrived');
    assert.equal(starts.find((s) => s.name === 'target')!.reason, `related object updated: Secret.v1./pointer.${ns}`, 'the trigger queued first (the earliest) ran, with its reason');
    assert.ok(running.results.every((r) => r.ok), `results: ${running.results.map((r) => (r.ok ? 'ok' : r.error.message)).join('; ')}`);
  } finally {
    list.release();
    await running.stop();
    await probes.close();
  }
});
