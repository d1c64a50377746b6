/**
 * Convergence across a leader fail-over: two replicas (OS processes, see
 * test/fixtures/convergence-replica.ts) share a Lease; while a writer churns,
 * the leader is killed (SIGKILL: the lease must expire) or stopped (SIGTERM: it
 * hands the lease over), a replacement replica starts, and the follower takes
 * over from its warm cache. The oracle judges what the replicas reconciled
 * together: every live object at its final state, no ObjectNotFoundError for an
 * object that exists, cleanup for every deleted object that carried the
 * finalizer, and no two leaders at once. `KUBELOOP_CHAOS_TRIALS` sets the trials.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Api, ConfigMaps, setLogFilter } from '../../src/index.js';
import { useCluster } from '../support/cluster.js';
import { ConvergenceFleet } from '../support/convergence-fleet.js';
import { judge, Ledger } from '../support/convergence-oracle.js';
import { ChaosReport, trialCount } from '../support/convergence-report.js';
import { CONVERGE_BOUND_MS } from '../support/convergence-trial.js';
import { Writer } from '../support/convergence-writer.js';

if (!process.env.KUBELOOP_LOG) setLogFilter('error');

const t = useCluster();
const trials = trialCount();
const report = new ChaosReport();
const fleets: ConvergenceFleet[] = [];
after(async () => {
  console.log(report.summary());
  await Promise.all(fleets.map((f) => f.stop()));
});

test('after the leader is killed or stopped while objects change, the replicas together reconcile every object at its final state', { timeout: 30_000 + trials * 90_000 }, async (tctx) => {
  const fault = 'leader fail-over';
  for (let trial = 1; trial <= trials; trial++) {
    const ns = await t.namespace('failover');
    const api = Api.namespaced(t.client, ConfigMaps, ns);
    const writer = new Writer(api, 'obj', { signal: tctx.signal });
    const seed = 10;
    await writer.seed(seed);
    const ledger = new Ledger();
    const fleet = new ConvergenceFleet({ ...process.env, KUBELOOP_LOG: 'error', KUBECONFIG: t.cluster.kubeconfigPath }, ns, 'convergence', ledger);
    fleets.push(fleet);
    // Odd trials crash the leader, even ones shut it down gracefully.
    const signal: NodeJS.Signals = trial % 2 === 1 ? 'SIGKILL' : 'SIGTERM';
    const faultProblems: string[] = [];
    const misses: string[] = [];
    try {
      fleet.start();
      fleet.start();
      const first = await fleet.leader('a first leader');
      await ledger.until(`the ${seed} seeded objects to be reconciled`, () => ledger.last.size >= seed, 30_000);
      writer.start();
      await writer.accepted(10);
      const writesBefore = writer.writes;
      first.proc.kill(signal);
      const next = await fleet.leader('another replica to lead', (r) => r !== first);
      fleet.start(); // the replacement, as a Deployment would start one
      await writer.accepted(10);
      await writer.stop();
      await writer.finalRound();
      const verdict = await judge(api, ledger, writer, CONVERGE_BOUND_MS);
      misses.push(...verdict.misses);
      await first.exited;
      const handedOverAfterMs = next.leadingAt! - first.leadershipEndedAt!;
      // Two leaders at once could reconcile one object twice at the same time.
      if (handedOverAfterMs < 0) misses.push(`${next.name} started leading ${-handedOverAfterMs} ms before ${first.name} stopped`);
      if (writer.writes === writesBefore) faultProblems.push('the writer wrote nothing during the fail-over');
      report.add({
        fault, trial, objects: verdict.objects, misses, excused: verdict.excused, converged: verdict.converged, convergeMs: verdict.convergeMs, faultProblems,
        evidence: {
          signal, from: first.name, to: next.name, handedOverAfterMs: Math.round(handedOverAfterMs),
          writes: writer.writes - writesBefore, reconciles: ledger.reconciles, writeFailures: writer.failures,
        },
      });
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${fleet.describe()}`, { cause: e });
    } finally {
      await writer.stop();
      await fleet.stop();
    }
  }
  assert.deepEqual(report.problems(fault), []);
});
