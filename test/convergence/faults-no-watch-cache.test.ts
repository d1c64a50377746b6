/**
 * Convergence under faults, against an API server without its watch cache
 * (`--watch-cache=false`: watches and lists read etcd directly, so an etcd
 * compaction yields a real `410 Gone`): kube-apiserver killed (SIGKILL) and
 * restarted, a 410 that forces a relist, and a relist that fails part-way
 * (small pages; the connection is refused while a later page is asked for).
 * After the fault and a final round of writes every live object must be
 * reconciled at its final state (see test/support/convergence-oracle.ts).
 * `KUBELOOP_CHAOS_TRIALS` sets the trials per fault kind (default 1).
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, setLogFilter, type Layer } from '../../src/index.js';
import { clientFor, useCluster } from '../support/cluster.js';
import { ChaosReport, trialCount } from '../support/convergence-report.js';
import { controllerTrial, goneErrors, type TrialContext } from '../support/convergence-trial.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { randomMs } from '../support/watch-harness.js';

// The watcher and the controller warn on every fault; the report says what matters here.
if (!process.env.KUBELOOP_LOG) setLogFilter('error');

const t = useCluster({ apiserverArgs: ['--watch-cache=false'] });
const trials = trialCount();
const report = new ChaosReport();
let proxy: TcpProxy | undefined;
after(async () => {
  console.log(report.summary());
  await proxy?.close();
});

/**
 * While armed, the next request for a later page of a list (one with a `continue`
 * token) meets a blocked proxy: its connection is cut and new ones are refused
 * until it failed. The pages before it were already handed out.
 */
class PageCutter {
  armed = false;
  fired = 0;
  constructor(private readonly proxy: TcpProxy) {}
  readonly layer: Layer = (next) => async (req) => {
    if (!this.armed || req.verb !== 'list' || !req.query?.continue) return next(req);
    this.armed = false;
    this.fired++;
    this.proxy.block();
    try {
      return await next(req);
    } finally {
      this.proxy.unblock();
    }
  };
}

/** The file's TCP proxy in front of the API server, started on first use. */
async function fileProxy(): Promise<TcpProxy> {
  proxy ??= await TcpProxy.start({ host: '127.0.0.1', port: Number(new URL(t.cluster.server).port) });
  return proxy;
}

/** A client of the controller's own that goes through `proxy`, with `layers` above its transport. */
function viaProxy(proxy: TcpProxy, layers: Layer[] = []): Client {
  return new Client(
    { server: proxy.url, namespace: 'default', tls: { ca: t.cluster.caPem, rejectUnauthorized: true }, auth: { type: 'token', token: t.cluster.token }, source: 'test' },
    { layers },
  );
}

/**
 * Cuts the controller off (every connection cut, new ones refused) while the writer
 * moves the server on, compacts etcd, and lets the controller back: its watch from
 * the old resourceVersion must meet a 410 Gone and relist.
 */
async function goneAfterCompaction(ctx: TrialContext, proxy: TcpProxy, beforeUnblock: () => void = () => {}): Promise<number> {
  const watchErrors = ctx.ledger.errors.length;
  const goneBefore = goneErrors(ctx.ledger.errors);
  proxy.block();
  await ctx.ledger.until('the controller\'s watch to fail', () => ctx.ledger.errors.length > watchErrors, 10_000);
  await ctx.writer.accepted(10 + Math.floor(Math.random() * 10));
  const compactedAt = await t.cluster.compactEtcd();
  beforeUnblock();
  proxy.unblock();
  await ctx.ledger.until('a 410 Gone', () => goneErrors(ctx.ledger.errors) > goneBefore, 20_000);
  return compactedAt;
}

const timeout = 30_000 + trials * 90_000;

test('after kube-apiserver is killed (-9) and restarted with its watch cache off, every object is reconciled at its final state', { timeout }, async (tctx) => {
  const fault = 'apiserver kill -9 + restart (watch cache off)';
  for (let trial = 1; trial <= trials; trial++) {
    const client = clientFor(t.cluster);
    let pidsBefore: number[] = [];
    let pidsAfter: number[] = [];
    report.add(await controllerTrial({
      t, fault, trial, client, signal: tctx.signal,
      inject: async () => {
        pidsBefore = t.cluster.pids();
        await t.cluster.killApiserver();
        await sleep(randomMs(100, 1000)); // how long the server stays down
        await t.cluster.startApiserver();
        pidsAfter = t.cluster.pids();
      },
      prove: (ctx) => {
        const restarted = pidsBefore.some((p) => !pidsAfter.includes(p));
        ctx.evidence.apiserverRestarted = restarted;
        if (!restarted) ctx.faultProblems.push(`the API server pid did not change (${pidsBefore} → ${pidsAfter})`);
        if (Number(ctx.evidence.restarts) === 0) ctx.faultProblems.push('the controller\'s watcher never restarted');
      },
    }));
  }
  assert.deepEqual(report.problems(fault), []);
});

test('after etcd is compacted while the controller is cut off, the 410 Gone relist leaves every object reconciled at its final state', { timeout }, async (tctx) => {
  const fault = '410 Gone relist (compaction)';
  for (let trial = 1; trial <= trials; trial++) {
    const proxy = await fileProxy();
    const client = viaProxy(proxy);
    let compactedAt = 0;
    report.add(await controllerTrial({
      t, fault, trial, client, signal: tctx.signal,
      inject: async (ctx) => {
        compactedAt = await goneAfterCompaction(ctx, proxy);
      },
      prove: (ctx) => {
        ctx.evidence.compactedAt = compactedAt;
        if (Number(ctx.evidence.gone) === 0) ctx.faultProblems.push('the controller\'s watcher saw no 410 Gone');
        if (Number(ctx.evidence.relists) === 0) ctx.faultProblems.push('the controller\'s watcher did not relist');
      },
    }));
  }
  assert.deepEqual(report.problems(fault), []);
});

test('after a relist fails part-way (a later page cannot be fetched) and is retried, every object is reconciled at its final state', { timeout }, async (tctx) => {
  const fault = 'relist failing part-way';
  const pageSize = 5;
  for (let trial = 1; trial <= trials; trial++) {
    const proxy = await fileProxy();
    const cutter = new PageCutter(proxy);
    const client = viaProxy(proxy, [cutter.layer]);
    report.add(await controllerTrial({
      t, fault, trial, client, signal: tctx.signal,
      // Enough objects for several pages.
      seed: 30, writer: { minLive: 25, maxLive: 40 },
      watcherConfig: { pageSize },
      inject: async (ctx) => {
        await goneAfterCompaction(ctx, proxy, () => (cutter.armed = true));
        await ctx.ledger.until('the cut relist to be retried', () => cutter.fired > 0, 20_000);
      },
      prove: (ctx) => {
        ctx.evidence.pagesCut = cutter.fired;
        if (cutter.fired === 0) ctx.faultProblems.push('no later list page was cut');
        if (Number(ctx.evidence.relists) < 2) ctx.faultProblems.push(`the controller relisted ${ctx.evidence.relists} times: a cut relist and its retry need 2`);
      },
    }));
  }
  assert.deepEqual(report.problems(fault), []);
});
