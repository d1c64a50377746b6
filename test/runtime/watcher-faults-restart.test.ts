/**
 * Watcher fault trials: kube-apiserver killed (SIGKILL) mid-watch and started again
 * on the same port while writers keep trying. After each trial the store must hold
 * exactly what a fresh list of the server holds, and every relist must have been
 * forced by a 410 Gone: a restarted API server may no longer keep the watcher's
 * resourceVersion, but any other failure resumes from it.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Api, ConfigMaps, setLogFilter, type Client } from '../../src/index.js';
import { clientFor, useCluster } from '../support/cluster.js';
import { Churn, WatchedStore, converge, errorDigest, names, randomMs, seed, summary, type FaultTally } from '../support/watch-harness.js';

// The watcher warns on every error; the summary line says what matters here.
if (!process.env.KUBELOOP_LOG) setLogFilter('info,kubeloop::watcher=error');

const t = useCluster();
let watchClient: Client | undefined;
after(() => watchClient?.close());

test('after kube-apiserver is killed and restarted mid-watch, the store equals a fresh list', { timeout: 180_000 }, async (ctx) => {
  const ns = await t.namespace('restart');
  const direct = Api.namespaced(t.client, ConfigMaps, ns);
  await seed(direct, 10);
  // Its own client: the watcher's connections are not the writers'.
  watchClient = clientFor(t.cluster);
  const watched = new WatchedStore(Api.namespaced(watchClient, ConfigMaps, ns), {}, ctx.signal);
  const tally: FaultTally = { fault: 'apiserver kill+restart', trials: 0, restarts: 0, relists: 0, mismatches: 0, gone: 0, failedWrites: 0 };
  const problems: string[] = [];
  const restartMs: number[] = [];
  try {
    await watched.store.waitUntilReady();
    for (let trial = 1; trial <= 4; trial++) {
      const mark = watched.mark();
      const churn = new Churn(direct, { names: names('churn', 20), signal: ctx.signal }).start();
      // Kill while the watch is streaming: an event just came through it.
      await watched.waitFor('a watch event', () => watched.since(mark).apply + watched.since(mark).delete > 0, 10_000);
      await sleep(randomMs(0, 300));
      await t.cluster.killApiserver();
      await sleep(randomMs(100, 500));
      const startedAt = Date.now();
      await t.cluster.startApiserver();
      restartMs.push(Date.now() - startedAt);
      await sleep(randomMs(200, 500));
      await churn.stop();
      const mismatch = await converge(watched, direct, 30_000);
      const seen = watched.since(mark);
      tally.trials++;
      tally.restarts += seen.errors.length;
      tally.relists += seen.init;
      tally.gone = Number(tally.gone) + seen.gone;
      if (seen.relistsWithoutGone > 0) problems.push(`trial ${trial}: ${seen.relistsWithoutGone} of ${seen.init} relists came without a 410 Gone (errors: ${errorDigest(seen.errors)})`);
      tally.failedWrites = Number(tally.failedWrites) + churn.failures;
      if (mismatch.length > 0) {
        tally.mismatches++;
        problems.push(`trial ${trial}: the store differs from the server:\n  ${mismatch.join('\n  ')}`);
      }
      if (seen.errors.length === 0) problems.push(`trial ${trial} did not exercise its fault: the watcher saw no error`);
      if (churn.writes === 0) problems.push(`trial ${trial}: the churn wrote nothing`);
    }
  } finally {
    await watched.stop();
    tally.apiserverStartMs = restartMs.join(',');
    console.log(summary(tally));
  }
  assert.deepEqual(problems, []);
});
