/**
 * A bad line inside a live watch stream, written by a TLS-terminating proxy between
 * the API server's own lines: the watcher reports it as an error event and the same
 * watch goes on (no reconnect, no relist).
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Api, ConfigMaps, Patch, WatchDecodeError, setLogFilter, type Client } from '../../src/index.js';
import { useCluster } from '../support/cluster.js';
import { InjectingProxy } from '../support/injecting-proxy.js';
import { WatchedStore, clientVia, converge } from '../support/watch-harness.js';

if (!process.env.KUBELOOP_LOG) setLogFilter('info,kubeloop::watcher=error');

const t = useCluster();
let proxy: InjectingProxy | undefined;
let viaProxy: Client | undefined;
after(async () => {
  await viaProxy?.close();
  await proxy?.close();
});

test('a malformed line inside a watch stream is an error event, and the watch goes on without a relist', { timeout: 60_000 }, async (ctx) => {
  proxy = await InjectingProxy.start({ server: t.cluster.server, caPem: t.cluster.caPem });
  viaProxy = clientVia(t.cluster, proxy.url, proxy.caPem);
  const ns = await t.namespace('malformed');
  const direct = Api.namespaced(t.client, ConfigMaps, ns);
  await direct.create({ metadata: { name: 'listed' }, data: { v: '1' } });
  const watched = new WatchedStore(Api.namespaced(viaProxy, ConfigMaps, ns), {}, ctx.signal);
  try {
    await watched.store.waitUntilReady();
    // A real change through the proxy: the watch is streaming.
    await direct.create({ metadata: { name: 'first' } });
    await watched.waitFor('the first object', () => watched.store.get({ name: 'first', namespace: ns }) !== undefined, 10_000);

    const secret = 'hunter2';
    const into = await proxy.inject(`{not json ${secret}\n{"kind":"NotAWatchEvent"}\n`);
    assert.equal(into, 1, 'one watch response was open');
    await watched.waitFor('two error events', () => watched.counts.error >= 2, 10_000);
    for (const error of watched.errors) {
      assert.ok(error instanceof WatchDecodeError, `a WatchDecodeError, not ${error.name}: ${error.message}`);
      assert.ok(!error.message.includes(secret), 'the bad line is not quoted in the error');
    }

    // Later real changes still arrive as events of the same watch.
    const applied = watched.counts.apply;
    const deleted = watched.counts.delete;
    await direct.create({ metadata: { name: 'after' } });
    await direct.patch('listed', Patch.merge({ data: { v: '2' } }));
    await direct.delete('first');
    assert.deepEqual(await converge(watched, direct, 10_000), []);
    assert.equal(watched.counts.apply - applied, 2, 'the create and the update arrived as apply events');
    assert.equal(watched.counts.delete - deleted, 1, 'the delete arrived as a delete event');
    assert.equal(watched.counts.error, 2, 'no other error');
    assert.equal(watched.counts.init, 1, 'no relist');
    assert.equal(proxy.watchRequests, 1, 'no new watch request');
  } finally {
    await watched.stop();
  }
});
