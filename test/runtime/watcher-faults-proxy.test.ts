/**
 * Watcher fault trials through a loopback TCP proxy in front of the API server:
 * connections cut at random moments, and connections stalled silently. After each
 * trial the store must hold exactly what a fresh list of the server holds, and the
 * watcher must have resumed from its resourceVersion: no relist, and no 410 Gone
 * (which a watch resumed from a wrong version would earn, and relist after).
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Api, ConfigMaps, setLogFilter, type Client } from '../../src/index.js';
import { until, useCluster } from '../support/cluster.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { Churn, WatchedStore, clientVia, converge, errorDigest, names, randomMs, seed, summary, type FaultTally } from '../support/watch-harness.js';

// The watcher warns on every error; the summary lines say what matters here.
if (!process.env.KUBELOOP_LOG) setLogFilter('info,kubeloop::watcher=error');

const t = useCluster();
let proxy: TcpProxy;
let viaProxy: Client;

// One proxy for the file, started once the cluster is up (useCluster's hook runs first).
async function startProxy(): Promise<void> {
  proxy ??= await TcpProxy.start({ host: '127.0.0.1', port: Number(new URL(t.cluster.server).port) });
  viaProxy ??= clientVia(t.cluster, proxy.url);
}
after(async () => {
  await viaProxy?.close();
  await proxy?.close();
});

test('after every connection is cut at random moments during churn, the store equals a fresh list', { timeout: 120_000 }, async (ctx) => {
  await startProxy();
  const ns = await t.namespace('cut');
  const direct = Api.namespaced(t.client, ConfigMaps, ns);
  await seed(direct, 10);
  const watched = new WatchedStore(Api.namespaced(viaProxy, ConfigMaps, ns), {}, ctx.signal);
  const tally: FaultTally = { fault: 'connection cuts', trials: 0, restarts: 0, relists: 0, mismatches: 0, gone: 0, cuts: 0 };
  const problems: string[] = [];
  try {
    await watched.store.waitUntilReady();
    for (let trial = 1; trial <= 8; trial++) {
      const mark = watched.mark();
      const cutsBefore = proxy.counts.cut;
      const churn = new Churn(direct, { names: names('churn', 20), signal: ctx.signal }).start();
      for (let i = 0; i < 3; i++) {
        await sleep(randomMs(50, 400));
        proxy.cutAll(Math.random() < 0.5);
      }
      await sleep(randomMs(50, 300));
      await churn.stop();
      const mismatch = await converge(watched, direct, 10_000);
      const seen = watched.since(mark);
      const cuts = proxy.counts.cut - cutsBefore;
      tally.trials++;
      tally.restarts += seen.errors.length;
      tally.relists += seen.init;
      tally.gone = Number(tally.gone) + seen.gone;
      if (seen.init > 0 || seen.gone > 0) problems.push(`trial ${trial}: the watcher relisted ${seen.init} times (${seen.gone} 410 Gone) instead of resuming from its resourceVersion`);
      tally.cuts = Number(tally.cuts) + cuts;
      if (mismatch.length > 0) {
        tally.mismatches++;
        problems.push(`trial ${trial}: the store differs from the server:\n  ${mismatch.join('\n  ')}`);
      }
      if (cuts === 0 || seen.errors.length === 0) problems.push(`trial ${trial} did not exercise its fault: ${cuts} connections cut, ${seen.errors.length} watcher errors`);
      if (churn.writes === 0) problems.push(`trial ${trial}: the churn wrote nothing`);
    }
  } finally {
    await watched.stop();
    console.log(summary(tally));
  }
  assert.deepEqual(problems, []);
});

test('a silently stalled connection is noticed by the idle timeout, and the store then equals a fresh list', { timeout: 120_000 }, async (ctx) => {
  const idleTimeoutMs = 2000;
  await startProxy();
  const ns = await t.namespace('stall');
  const direct = Api.namespaced(t.client, ConfigMaps, ns);
  await seed(direct, 10);
  const watched = new WatchedStore(Api.namespaced(viaProxy, ConfigMaps, ns), { idleTimeoutMs }, ctx.signal);
  const tally: FaultTally = { fault: 'silent stalls', trials: 0, restarts: 0, relists: 0, mismatches: 0, gone: 0, noticedAfterMs: '' };
  const noticed: number[] = [];
  const problems: string[] = [];
  try {
    await watched.store.waitUntilReady();
    for (let trial = 1; trial <= 4; trial++) {
      const mark = watched.mark();
      const churn = new Churn(direct, { names: names('churn', 20), signal: ctx.signal }).start();
      // Stall while the watch is streaming: an event just came through it.
      await watched.waitFor('a watch event', () => watched.since(mark).apply + watched.since(mark).delete > 0, 10_000);
      await sleep(randomMs(0, 200));
      const closedBefore = proxy.counts.closedWhileStalled;
      const writesBefore = churn.writes;
      const stalledAt = Date.now();
      const stalled = proxy.stall();
      await watched.waitFor('an idle-timeout error', () => watched.since(mark).errors.some((e) => /idle/.test(e.message)), idleTimeoutMs + 15_000,
        () => `errors: ${errorDigest(watched.since(mark).errors)}`);
      const noticedAfterMs = Date.now() - stalledAt;
      const writesWhileStalled = churn.writes - writesBefore;
      // The proxy sees the client close the stalled connection: no watcher event tells, so poll.
      const dropped = await until('the client to close the stalled connection', () => proxy.counts.closedWhileStalled > closedBefore, 5000).catch(() => false);
      proxy.resume();
      await sleep(randomMs(100, 300));
      await churn.stop();
      const mismatch = await converge(watched, direct, 10_000);
      const seen = watched.since(mark);
      tally.trials++;
      tally.restarts += seen.errors.length;
      tally.relists += seen.init;
      tally.gone = Number(tally.gone) + seen.gone;
      if (seen.init > 0 || seen.gone > 0) problems.push(`trial ${trial}: the watcher relisted ${seen.init} times (${seen.gone} 410 Gone) instead of resuming from its resourceVersion`);
      noticed.push(noticedAfterMs);
      if (mismatch.length > 0) {
        tally.mismatches++;
        problems.push(`trial ${trial}: the store differs from the server:\n  ${mismatch.join('\n  ')}`);
      }
      if (stalled === 0) problems.push(`trial ${trial}: no connection was open to stall`);
      // undici's timers tick every ~0.5 s, and the idle clock started at the last byte before the stall.
      if (noticedAfterMs < idleTimeoutMs / 2) problems.push(`trial ${trial}: the error came after ${noticedAfterMs} ms, before the ${idleTimeoutMs} ms idle timeout could have fired`);
      if (!dropped) problems.push(`trial ${trial}: the client never closed the stalled connection`);
      if (writesWhileStalled === 0) problems.push(`trial ${trial}: nothing was written while the watch was stalled`);
    }
  } finally {
    await watched.stop();
    proxy.resume();
    tally.noticedAfterMs = noticed.join(',');
    console.log(summary(tally));
  }
  assert.deepEqual(problems, []);
});
