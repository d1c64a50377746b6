/**
 * Sharding across replicas, each an OS process (test/fixtures/shard-replica.ts)
 * against the real API server: every object is reconciled by exactly one member;
 * a member killed with SIGKILL loses its objects to the others within the lease
 * duration plus a bound; members joining and leaving move objects with the drain
 * handshake; the sharder's own fail-over in the middle of a rebalance leaves no
 * object unassigned. Over all of it, from every replica's own reconcile log, no
 * object is ever reconciled by two replicas at once.
 *
 * Scale: KUBELOOP_SHARD_OBJECTS objects (default 300) and KUBELOOP_SHARD_CHANGES
 * membership changes (default 4); `npm run chaos` runs 3,000 and 10.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Api, ConfigMaps, Leases, ObjectRef, Patch, RING_LABEL, Secrets, drainLabel, shardLabel } from '../../src/index.js';
import { rendezvous } from '../../src/runtime/sharding/rendezvous.js';
import { until, useCluster } from '../support/cluster.js';
import type { Replica } from '../support/leader-fleet.js';
import { ShardFleet, wallClock } from '../support/shard-fleet.js';

const OBJECTS = Number(process.env.KUBELOOP_SHARD_OBJECTS ?? 300);
const CHANGES = Number(process.env.KUBELOOP_SHARD_CHANGES ?? 4);
const LEASE_MS = 6000;
/**
 * Beyond the lease duration: the sharder's check and its fresh read of the Lease
 * (about half a second), then a label write, a watch event and a reconcile per
 * object moved, at the sharder's and the members' concurrency on two shared cores.
 */
const reassignBoundMs = (moved: number) => 2000 + 4 * moved;

const t = useCluster();
let fleet: ShardFleet | undefined;
after(async () => fleet?.stop());

test(`${OBJECTS} objects on a ring of replicas: one member each, kill -9, ${CHANGES} membership changes and a sharder fail-over, never two at once`, { timeout: 600_000 }, async () => {
  const ns = await t.namespace('shard');
  const ring = 'ring';
  const L = shardLabel(ring);
  const D = drainLabel(ring);
  const cms = Api.namespaced(t.client, ConfigMaps, ns);
  fleet = new ShardFleet({ ...process.env, KUBECONFIG: t.cluster.kubeconfigPath }, ns, ring);
  const f = fleet;
  const leases = Api.namespaced(t.client, Leases, ns);
  const heldMembers = async () => (await leases.list({ labelSelector: `${RING_LABEL}=${ring}` })).items.filter((l) => l.spec?.holderIdentity).map((l) => l.spec!.holderIdentity!);

  /**
   * Every object labelled with the member rendezvous hashing picks among the live
   * replicas (so a rebalance has finished, not merely begun), none draining, each
   * last reconciled by its member.
   */
  const converge = async (what: string, timeoutMs = 60_000) => {
    let last = '';
    await until(
      what,
      async () => {
        const live = f.alive.map((r) => r.name);
        const items = (await cms.list({ labelSelector: 'app=sharded' })).items;
        const lastRuns = f.lastRuns();
        const wrong = items.filter((o) => {
          const owner = o.metadata?.labels?.[L];
          if (!owner || owner !== rendezvous(ObjectRef.from(ConfigMaps, o).key, live) || o.metadata?.labels?.[D] !== undefined) return true;
          return lastRuns.get(`${ns}/${o.metadata!.name}`)?.replica.name !== owner;
        });
        last = `${wrong.length} of ${items.length} not settled, e.g. ${wrong.slice(0, 3).map((o) => `${o.metadata!.name} ${JSON.stringify(o.metadata?.labels)}`).join('; ')}`;
        return items.length > 0 && wrong.length === 0;
      },
      timeoutMs,
      500,
    ).catch((e: Error) => {
      throw new Error(`${e.message}: ${last}`);
    });
    assert.deepEqual(f.overlaps(), [], `after ${what}: no object reconciled by two replicas at once`);
  };

  // Three members, known to the sharder before any object exists.
  const [a, b, c] = [f.start(), f.start(), f.start()];
  await until('three members holding their Leases', async () => (await heldMembers()).length === 3, 30_000, 200);
  await f.until('the sharder to see the three members', () => f.sharderSees(['member-1', 'member-2', 'member-3']));

  const names = Array.from({ length: OBJECTS }, (_, i) => `obj-${String(i).padStart(5, '0')}`);
  for (let i = 0; i < names.length; i += 50) {
    await Promise.all(names.slice(i, i + 50).map((name) => cms.create({ metadata: { name, labels: { app: 'sharded' } } })));
  }
  await converge('the first assignment');
  assert.deepEqual(f.replicas.flatMap((r) => r.all('member-lost').map((l) => `${r.name} ${l.rest.join(' ')}`)), [], 'no member lost its Lease while the ring was meant to be stable');
  const runs = f.runs();
  const byOne = names.filter((n) => new Set(runs.get(`${ns}/${n}`)?.map((r) => r.replica.name)).size === 1);
  const moved = names.filter((n) => !byOne.includes(n)).slice(0, 5).map((n) => `${n}: ${runs.get(`${ns}/${n}`)?.map((r) => `${r.replica.name}@${r.start.toFixed(0)}`).join(' ')}`);
  const ringLog = f.replicas.flatMap((r) => r.logs.filter((l) => /members changed|lost leadership|became leader/.test(l)).map((l) => `${r.name} ${l.slice(0, 220)}`));
  assert.equal(byOne.length, OBJECTS, `with a stable ring, every object was reconciled by exactly one member; moved: ${moved.join('; ')}\n${ringLog.join('\n')}`);
  const shares = [a, b, c].map((r) => new Set(r.all('reconcile').map((l) => l.rest[0])).size);
  assert.equal(shares.reduce((x, y) => x + y, 0), OBJECTS);
  for (const share of shares) assert.ok(share > OBJECTS / 6 && share < OBJECTS / 2, `shares ${shares.join(', ')}: each near a third`);
  console.log(`# shares of ${OBJECTS}: ${shares.join(', ')}`);

  // Each member reports its share; the sharder reports the ring.
  const scrape = async (r: Replica) => (await fetch(f.metricsUrl(r)!)).text();
  for (const [i, r] of [a, b, c].entries()) {
    const text = await scrape(r);
    assert.match(text, new RegExp(`^shard_objects\\{ring="${ring}",shard="${r.name}"\\} ${shares[i]}$`, 'm'), `${r.name} reports its share`);
  }
  assert.match(await scrape(f.sharder()!), new RegExp(`^shard_ring_members\\{ring="${ring}"\\} 3$`, 'm'));

  // An owned object carries its owner's shard label, so the owner's member sees it change.
  const owner = await cms.get('obj-00001');
  const ownerShard = owner.metadata!.labels![L]!;
  const secrets = Api.namespaced(t.client, Secrets, ns);
  const ownerRef = { apiVersion: 'v1', kind: 'ConfigMap', name: 'obj-00001', uid: owner.metadata!.uid! };
  await secrets.create({ metadata: { name: 'child-of-obj-00001', ownerReferences: [ownerRef] }, stringData: { v: '1' } });
  await until('the child to carry its owner\'s shard label', async () => (await secrets.get('child-of-obj-00001')).metadata?.labels?.[L] === ownerShard, 30_000, 200);
  const changedAt = wallClock();
  await secrets.patch('child-of-obj-00001', Patch.merge({ stringData: { v: '2' } }));
  const related = await f.until('the owner reconciled for its child', () =>
    f.replicas.flatMap((r) => r.all('reconcile', changedAt).filter((l) => l.rest[0] === `${ns}/obj-00001` && l.rest.slice(1).join(' ').includes('related object updated')).map(() => r.name))[0],
  );
  assert.equal(related, ownerShard, "the owner's own member reconciled it");

  // kill -9 of one member: its objects go to the others without a handshake, after its Lease expired.
  const victim = a.name === f.sharder()?.name ? b : a;
  const theirs = (await cms.list({ labelSelector: `${L}=${victim.name}` })).items.map((o) => `${ns}/${o.metadata!.name}`);
  const killedAt = victim.kill('SIGKILL');
  await victim.exited;
  await cms.create({ metadata: { name: 'born-during-outage', labels: { app: 'sharded' } } });
  names.push('born-during-outage');
  await converge('a member was killed');
  const allRuns = f.runs();
  const movedAt = theirs.map((key) => allRuns.get(key)!.filter((r) => r.replica !== victim && r.start > killedAt).sort((x, y) => x.start - y.start)[0]!.start);
  const slowest = Math.max(...movedAt) - killedAt;
  console.log(`# kill -9: ${theirs.length} objects reconciled elsewhere, the last ${slowest.toFixed(0)} ms after the kill (lease ${LEASE_MS} ms)`);
  const bound = reassignBoundMs(theirs.length);
  assert.ok(slowest < LEASE_MS + bound, `reassigned within the lease duration + ${bound} ms (took ${slowest.toFixed(0)} ms)`);
  assert.ok(f.lastRuns().get(`${ns}/born-during-outage`), 'the object created during the outage was reconciled');

  // Membership changes, graceful and not: joins move objects with the drain handshake.
  for (let change = 1; change <= CHANGES; change++) {
    const alive = f.alive;
    if (change % 3 === 0 && alive.length > 2) {
      const leaving = alive.find((r) => r !== f.sharder())!;
      leaving.kill('SIGTERM');
      await leaving.exited;
    } else if (change % 5 === 0 && alive.length > 2) {
      alive.find((r) => r !== f.sharder())!.kill('SIGKILL');
    } else f.start();
    await converge(`membership change ${change} (${f.alive.length} members)`);
  }

  // The sharder's own fail-over in the middle of a rebalance.
  const before = wallClock();
  f.start();
  const oldSharder = f.sharder()!;
  oldSharder.kill('SIGKILL');
  await oldSharder.exited;
  await f.until('another replica to take the sharder role', () => f.alive.find((r) => r.first('sharder', before)));
  await converge('the sharder was killed during a rebalance');

  const drains = f.replicas.flatMap((r) => r.logs.filter((l) => l.includes('drained: handed the object back')));
  assert.ok(drains.length > 0, 'objects moved with the drain handshake');
  const unassigned = (await cms.list({ labelSelector: `app=sharded,!${L}` })).items;
  assert.deepEqual(unassigned.map((o) => o.metadata!.name), [], 'no object left unassigned');
  if (process.env.SHARD_LOG) {
    const count = (msg: string) => f.replicas.flatMap((r) => r.logs).filter((l) => l.includes(`"msg":"${msg}"`)).length;
    for (const r of f.replicas) for (const l of r.logs) if (l.includes('ring members changed') || l.includes('became leader') || l.includes('stopped leading')) console.log(`# ${r.name} ${l.slice(0, 300)}`);
    console.log(`# asked to drain ${count('asked to drain')}, assigned ${count('assigned')}, reassigned ${count('reassigned from a dead member')}`);
  }
  console.log(`# ${f.replicas.length} replicas over the run, ${drains.length} drains acknowledged, ${[...f.runs().values()].flat().length} reconciles, 0 overlaps`);
});
