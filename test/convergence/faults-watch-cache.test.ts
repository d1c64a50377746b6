/**
 * Convergence under faults, against an API server with its watch cache on (the
 * default): kube-apiserver killed (SIGKILL) and started again, connections cut,
 * connections stalled silently. A controller reconciles ConfigMaps while a writer
 * creates, changes and deletes them; after the fault and a final round of writes
 * every live object must be reconciled at its final state (see
 * test/support/convergence-oracle.ts). `KUBELOOP_CHAOS_TRIALS` sets the trials
 * per fault kind (default 1; `npm run chaos` runs more).
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { QueueError, setLogFilter, type Client } from '../../src/index.js';
import { clientFor, useCluster } from '../support/cluster.js';
import { ChaosReport, trialCount } from '../support/convergence-report.js';
import { controllerTrial, moveEtcdRevisionOn } from '../support/convergence-trial.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { clientVia, randomMs } from '../support/watch-harness.js';

// The watcher and the controller warn on every fault; the report says what matters here.
if (!process.env.KUBELOOP_LOG) setLogFilter('error');

const t = useCluster();
const trials = trialCount();
const report = new ChaosReport();
let proxy: TcpProxy | undefined;
after(async () => {
  console.log(report.summary());
  await proxy?.close();
});

/** A client of the controller's own through the file's TCP proxy (started on first use). */
async function viaProxy(): Promise<{ client: Client; proxy: TcpProxy }> {
  proxy ??= await TcpProxy.start({ host: '127.0.0.1', port: Number(new URL(t.cluster.server).port) });
  return { client: clientVia(t.cluster, proxy.url), proxy };
}

const timeout = 30_000 + trials * 90_000;

test('after kube-apiserver is killed (-9) and restarted with its watch cache on, every object is reconciled at its final state', { timeout }, async (tctx) => {
  const fault = 'apiserver kill -9 + restart (watch cache on)';
  for (let trial = 1; trial <= trials; trial++) {
    const client = clientFor(t.cluster);
    let pidsBefore: number[] = [];
    let pidsAfter: number[] = [];
    // Odd trials move etcd's revision on while the server is down, so the resumed
    // watch meets 410 Gone and relists; even ones leave it to chance.
    const revisionMovedOn = trial % 2 === 1;
    report.add(await controllerTrial({
      t, fault, trial, client, signal: tctx.signal,
      inject: async () => {
        pidsBefore = t.cluster.pids();
        await t.cluster.killApiserver();
        if (revisionMovedOn) await moveEtcdRevisionOn(t.cluster);
        await sleep(randomMs(100, 1000)); // how long the server stays down
        await t.cluster.startApiserver();
        pidsAfter = t.cluster.pids();
      },
      prove: (ctx) => {
        const restarted = pidsBefore.some((p) => !pidsAfter.includes(p));
        ctx.evidence.apiserverRestarted = restarted;
        ctx.evidence.revisionMovedOn = revisionMovedOn;
        if (revisionMovedOn && Number(ctx.evidence.gone) === 0) ctx.faultProblems.push('etcd\'s revision moved on, but the resumed watch met no 410 Gone');
        if (!restarted) ctx.faultProblems.push(`the API server pid did not change (${pidsBefore} → ${pidsAfter})`);
        if (Number(ctx.evidence.restarts) === 0) ctx.faultProblems.push('the controller\'s watcher never restarted');
      },
    }));
  }
  assert.deepEqual(report.problems(fault), []);
});

test('after every connection of the controller is cut at random moments, every object is reconciled at its final state', { timeout }, async (tctx) => {
  const fault = 'connection cuts';
  for (let trial = 1; trial <= trials; trial++) {
    const { client, proxy } = await viaProxy();
    let cuts = 0;
    report.add(await controllerTrial({
      t, fault, trial, client, signal: tctx.signal,
      inject: async (ctx) => {
        for (let i = 0; i < 3; i++) {
          await ctx.writer.accepted(3 + Math.floor(Math.random() * 10));
          cuts += proxy.cutAll(Math.random() < 0.5);
        }
      },
      prove: (ctx) => {
        ctx.evidence.cuts = cuts;
        if (cuts === 0) ctx.faultProblems.push('no connection was open to cut');
        if (Number(ctx.evidence.restarts) === 0) ctx.faultProblems.push('the controller\'s watcher never restarted');
      },
    }));
  }
  assert.deepEqual(report.problems(fault), []);
});

test('after the controller\'s connections stall silently until its idle timeout notices, every object is reconciled at its final state', { timeout }, async (tctx) => {
  const fault = 'silent stalls';
  const idleTimeoutMs = 2000;
  for (let trial = 1; trial <= trials; trial++) {
    const { client, proxy } = await viaProxy();
    let stalled = 0;
    let noticedAfterMs = 0;
    report.add(await controllerTrial({
      t, fault, trial, client, signal: tctx.signal, watcherConfig: { idleTimeoutMs },
      inject: async (ctx) => {
        const idleErrors = () => ctx.ledger.errors.filter((e) => e instanceof QueueError && /idle/i.test(e.message)).length;
        const before = idleErrors();
        const stalledAt = Date.now();
        stalled = proxy.stall();
        try {
          await ctx.ledger.until('an idle-timeout watch error', () => idleErrors() > before, idleTimeoutMs + 15_000);
          noticedAfterMs = Date.now() - stalledAt;
        } finally {
          proxy.resume();
        }
      },
      prove: (ctx) => {
        ctx.evidence.stalled = stalled;
        ctx.evidence.noticedAfterMs = noticedAfterMs;
        if (stalled === 0) ctx.faultProblems.push('no connection was open to stall');
        if (noticedAfterMs === 0) ctx.faultProblems.push('the idle timeout never noticed the stall');
      },
    }));
  }
  assert.deepEqual(report.problems(fault), []);
});
