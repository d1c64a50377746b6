/**
 * The lease fence, against the real API server: a reconcile whose process was
 * stalled past its Lease's renew deadline (here, its own event loop blocked) has
 * its next API call refused in the process, before the deadline timer had a
 * chance to run — it never reaches the server — and the controller stops leading.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Action, Api, ConfigMaps, Controller, LeaderElector, type KubeRequest, type Layer, Client } from '../../src/index.js';
import { useCluster } from '../support/cluster.js';
import { runInBackground, Waiter } from '../support/controller.js';

const t = useCluster();

test('after a stall past the renew deadline, the reconcile\'s next API call is refused before it is sent', { timeout: 60_000 }, async () => {
  const ns = await t.namespace('fence');
  const sent: string[] = [];
  const record: Layer = (next) => (req: KubeRequest) => {
    if (req.path.includes('/configmaps/')) sent.push(`${req.verb} ${req.path}`);
    return next(req);
  };
  const client = new Client({ server: t.cluster.server, namespace: ns, tls: { ca: t.cluster.caPem, rejectUnauthorized: true }, auth: { type: 'token', token: t.cluster.token }, source: 'test' }, { layers: [record] });
  const cms = Api.namespaced(client, ConfigMaps, ns);
  await cms.create({ metadata: { name: 'stalls' } });
  const elector = new LeaderElector(client, { name: 'fence-test', namespace: ns, leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500 });
  const outcome: { error?: Error; leaderAfterStall?: boolean } = {};
  const waiter = new Waiter();
  const running = runInBackground(
    new Controller(cms).withConfig({ name: 'fence-test' }).withLeaderElection(elector, { onLost: 'recampaign' }),
    async (cm) => {
      if (outcome.error) return Action.awaitChange();
      // A stall longer than the renew deadline: no timer, no renewal runs meanwhile.
      const until = performance.now() + 2600;
      while (performance.now() < until);
      outcome.leaderAfterStall = elector.isLeader;
      try {
        await cms.get(cm.metadata!.name!);
      } catch (e) {
        outcome.error = e as Error;
      }
      waiter.notify();
      return Action.awaitChange();
    },
    () => Action.awaitChange(),
    {},
    waiter,
  );
  try {
    await waiter.until('the reconcile after the stall', () => outcome.error !== undefined || outcome.leaderAfterStall !== undefined);
    assert.equal(outcome.leaderAfterStall, false, 'by the clock, the lease was no longer held after the stall');
    assert.match(outcome.error?.message ?? 'no error: the call was sent', /no longer holds Lease .*fence-test; the reconcile's API call was not sent/);
    assert.deepEqual(sent.filter((s) => s.startsWith('get ')), [], 'the get never reached the transport');
  } finally {
    await running.stop();
    await client.close();
  }
});
