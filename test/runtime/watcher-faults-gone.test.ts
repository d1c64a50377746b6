/**
 * Watcher fault trials: a real `410 Gone`. The API server runs without its watch
 * cache, so watches read etcd directly; the watcher is cut off by a proxy, the
 * server moves on, etcd is compacted, and the resumed watch is too old. The watcher
 * must relist, and objects are created and deleted while that paged relist runs.
 * After each trial the store must hold exactly what a fresh list of the server holds.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Api, ApiError, ConfigMaps, Patch, setLogFilter, type Client } from '../../src/index.js';
import { useCluster } from '../support/cluster.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { Churn, WatchedStore, clientVia, converge, errorDigest, names, randomMs, seed, summary, type FaultTally } from '../support/watch-harness.js';

// The watcher warns on every error; the summary line says what matters here.
if (!process.env.KUBELOOP_LOG) setLogFilter('info,kubeloop::watcher=error');

const t = useCluster({ apiserverArgs: ['--watch-cache=false'] });
let proxy: TcpProxy | undefined;
let viaProxy: Client | undefined;
after(async () => {
  await viaProxy?.close();
  await proxy?.close();
});

/** One trial's relist, and the changes the consumer made once its first page was in. */
interface RelistRecord {
  trial: number;
  victim: string;
  /** Items of the relist that completed. */
  items: number;
  done: boolean;
  created?: string;
  deleted?: string;
  failure?: string;
}

test('410 Gone after compaction forces a relist; objects created and deleted during the relist end up right in the store', { timeout: 120_000 }, async (ctx) => {
  const pageSize = 5;
  proxy = await TcpProxy.start({ host: '127.0.0.1', port: Number(new URL(t.cluster.server).port) });
  viaProxy = clientVia(t.cluster, proxy.url);
  const ns = await t.namespace('gone');
  const direct = Api.namespaced(t.client, ConfigMaps, ns);
  await seed(direct, 20);
  const watched = new WatchedStore(Api.namespaced(viaProxy, ConfigMaps, ns), { pageSize }, ctx.signal);

  // Armed for the relist of one trial: once its first page is in, create one object and
  // delete another (a `victim-*`, which sorts onto a later page), then let the list go on.
  // (A list that fails half-way is followed by another: the changes are made once.)
  let armed: RelistRecord | undefined;
  let listing = false;
  watched.onEvent = async (event) => {
    const relist = armed;
    if (!relist || relist.done) return;
    if (event.type === 'init') {
      listing = true;
      relist.items = 0;
    }
    if (event.type === 'error') listing = false;
    if (event.type === 'initDone' && listing) relist.done = true;
    if (event.type !== 'initApply' || !listing) return;
    relist.items++;
    if (relist.created || relist.failure) return;
    try {
      const created = `during-relist-${relist.trial}`;
      await direct.create({ metadata: { name: created }, data: { trial: String(relist.trial) } });
      relist.created = created;
      await direct.delete(relist.victim);
      relist.deleted = relist.victim;
    } catch (e) {
      relist.failure = (e as Error).message;
    }
  };

  const tally: FaultTally = { fault: '410 Gone relist', trials: 0, restarts: 0, relists: 0, mismatches: 0, gone: 0 };
  const problems: string[] = [];
  try {
    await watched.store.waitUntilReady();
    for (let trial = 1; trial <= 5; trial++) {
      // `victim-N` is deleted during the relist, `doomed-N` while the watcher is cut off.
      const victim = `victim-${trial}`;
      const doomed = `doomed-${trial}`;
      await direct.create({ metadata: { name: victim } });
      await direct.create({ metadata: { name: doomed } });
      await watched.waitFor(`${victim} and ${doomed} in the store`, () => [victim, doomed].every((name) => watched.store.get({ name, namespace: ns })), 10_000);
      const mark = watched.mark();
      const churn = new Churn(direct, { names: names('churn', 20), signal: ctx.signal }).start();
      await watched.waitFor('a watch event', () => watched.since(mark).apply + watched.since(mark).delete > 0, 10_000);
      await sleep(randomMs(50, 300));

      // Cut the watcher off; the server moves on (a sure update and delete, plus the churn); compact.
      proxy.block();
      await watched.waitFor('the watcher to lose its connection', () => watched.since(mark).errors.length > 0, 10_000);
      await direct.patch('base-00', Patch.merge({ data: { trial: String(trial) } }));
      await direct.delete(doomed);
      await sleep(randomMs(100, 300));
      armed = { trial, victim, items: 0, done: false };
      const compactedAt = await t.cluster.compactEtcd();
      proxy.unblock();

      const relist = armed;
      await watched.waitFor('a relist after the 410', () => relist.done, 30_000,
        () => `errors: ${errorDigest(watched.since(mark).errors)}`);
      armed = undefined;
      await sleep(randomMs(100, 300)); // the churn goes on over the new watch
      await churn.stop();
      const mismatch = await converge(watched, direct, 10_000);

      const seen = watched.since(mark);
      const gone = seen.errors.filter((e) => e instanceof ApiError && e.code === 410);
      tally.trials++;
      tally.restarts += seen.errors.length;
      tally.relists += seen.init;
      tally.gone = Number(tally.gone) + gone.length;
      if (mismatch.length > 0) {
        tally.mismatches++;
        problems.push(`trial ${trial}: the store differs from the server:\n  ${mismatch.join('\n  ')}`);
      }
      if (gone.length === 0) problems.push(`trial ${trial} (compacted at ${compactedAt}): no 410 Gone; errors: ${errorDigest(seen.errors)}`);
      if (seen.init === 0) problems.push(`trial ${trial}: no relist`);
      if (relist.failure || !relist.created || !relist.deleted) problems.push(`trial ${trial}: the changes during the relist failed: ${relist.failure ?? 'not made'}`);
      if (relist.items <= pageSize) problems.push(`trial ${trial}: the relist had ${relist.items} items, one page only`);
      if (!watched.store.get({ name: `during-relist-${trial}`, namespace: ns })) problems.push(`trial ${trial}: the object created during the relist is not in the store`);
      if (watched.store.get({ name: doomed, namespace: ns })) problems.push(`trial ${trial}: the object deleted while the watcher was cut off is still in the store`);
      if (watched.store.get({ name: victim, namespace: ns })) problems.push(`trial ${trial}: the object deleted during the relist is still in the store`);
    }
  } finally {
    await watched.stop();
    console.log(summary(tally));
  }
  assert.deepEqual(problems, []);
});
