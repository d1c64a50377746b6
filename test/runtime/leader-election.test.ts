/**
 * Leader election across separate OS processes against the real local control
 * plane. Each replica is test/fixtures/leader-child.ts: a controller with leader
 * election (lease 3 s, renew deadline 2 s, retry period 0.5 s) that stamps its
 * lines (`leading`, `stopped`, `reconcile` …) with the machine's wall clock, so
 * the test can compare the processes' leadership intervals. The last group runs
 * electors and controllers inside the test process, where their telemetry, probes
 * and edge cases can be inspected directly.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, test } from 'node:test';
import { parse } from 'yaml';
import { SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import type { Lease } from 'kubernetes-types/coordination/v1.js';
import { request } from 'undici';
import {
  Action, Api, ConfigMaps, Controller, CustomResourceDefinitions, LeaderElector, LeadershipLostError, Leases, ProbeServer, configureLogging, metricsRegistry, type Client, type LeaderElectorOptions,
} from '../../src/index.js';
import { setupTracing } from '../../src/telemetry/tracing-setup.js';
import { until, useCluster } from '../support/cluster.js';
import { currentReason, runInBackground, signal, Waiter } from '../support/controller.js';
import { captureLogs } from '../support/logs.js';
import { clientVia } from '../support/watch-harness.js';
import { Fleet, overlaps, wallClock, type Replica } from '../support/leader-fleet.js';
import { TcpProxy } from '../support/tcp-proxy.js';

const LEASE_MS = 3000;
const DEADLINE_MS = 2000;
const RETRY_MS = 500;
/** Process scheduling and request latency on a loaded two-core machine, allowed on top of a bound. */
const SLACK_MS = 250;

const t = useCluster();
const fleets: Fleet[] = [];
const proxies: TcpProxy[] = [];

afterEach(async () => {
  await Promise.all(fleets.splice(0).map((f) => f.stop()));
  await Promise.all(proxies.splice(0).map((p) => p.close()));
});

/** A fresh namespace holding one ConfigMap for the replicas to reconcile, and a fleet on its Lease. */
async function setup(lease = 'le'): Promise<{ ns: string; fleet: Fleet; leases: Api<Lease> }> {
  const ns = await t.namespace('le');
  await Api.namespaced(t.client, ConfigMaps, ns).create({ metadata: { name: 'work' } });
  const fleet = new Fleet({ ...process.env, KUBECONFIG: t.cluster.kubeconfigPath }, ns, lease);
  fleets.push(fleet);
  return { ns, fleet, leases: Api.namespaced(t.client, Leases, ns) };
}

async function proxy(): Promise<TcpProxy> {
  const p = await TcpProxy.start({ host: '127.0.0.1', port: Number(new URL(t.cluster.server).port) });
  proxies.push(p);
  return p;
}

/** Waits until `replica` leads and has started a reconcile in this term, and `followers` have seen it as the holder. */
async function settled(fleet: Fleet, replica: Replica, followers: Replica[]): Promise<void> {
  const since = replica.all('leading').at(-1)?.t ?? 0;
  await fleet.until(`${replica.name} to reconcile as leader`, () => replica.leading && replica.first('reconcile', since));
  await fleet.until(`the followers to see ${replica.name} lead`, () => followers.every((f) => f.lines.some((l) => l.kind === 'leader' && l.rest[0] === replica.identity)));
}

/** Resolves with the Lease once `check` holds for it, watching it (a renewal is an event). */
async function watchLease(leases: Api<Lease>, name: string, what: string, check: (lease: Lease) => boolean, timeoutMs = 20_000): Promise<Lease> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    for await (const event of leases.watch({ fieldSelector: `metadata.name=${name}`, signal: abort.signal })) {
      if ((event.type === 'ADDED' || event.type === 'MODIFIED') && check(event.object)) return event.object;
    }
    throw new Error(`the watch ended before ${what}`);
  } catch (e) {
    if (abort.signal.aborted) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    throw e;
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
}

const ms = (n: number) => `${n.toFixed(0)} ms`;

/** The value of `leader_election_status` for a lease, if set. */
async function leaderStatus(lease: string): Promise<number | undefined> {
  const metric = await metricsRegistry.getSingleMetric('leader_election_status')!.get();
  return metric.values.find((v) => v.labels.lease === lease)?.value;
}

const short = (name: string, namespace: string, identity: string): LeaderElectorOptions => ({
  name, namespace, identity, leaseDurationMs: LEASE_MS, renewDeadlineMs: DEADLINE_MS, retryPeriodMs: RETRY_MS,
});

describe('leader election across processes', () => {
  test('three replicas started together: exactly one leads, the others follow it for longer than a lease duration', async () => {
    const { fleet, leases } = await setup();
    const replicas = [fleet.start(), fleet.start(), fleet.start()];
    const leader = await fleet.nextLeader(0);
    const followers = replicas.filter((r) => r !== leader);
    await settled(fleet, leader, followers);
    // Followers check every retry period and would take an expired lease: keep watching
    // the leader renew until well past the point where a lapse would have shown.
    const seenAt = wallClock();
    const renewed = await watchLease(leases, 'le', 'renewals for a lease duration + 2 retry periods', () => wallClock() > seenAt + LEASE_MS + 2 * RETRY_MS);
    assert.deepEqual(replicas.map((r) => r.all('leading').length), replicas.map((r) => (r === leader ? 1 : 0)), 'one leading line, from one replica');
    assert.deepEqual(followers.map((f) => f.all('reconcile').length), [0, 0], 'followers reconcile nothing');
    assert.equal(renewed.spec?.holderIdentity, leader.identity);
    assert.equal(renewed.spec?.leaseDurationSeconds, LEASE_MS / 1000);
    assert.equal(renewed.spec?.leaseTransitions, 0, 'the Lease was created by its first holder');
    assert.ok(leader.logs.some((l) => /"target":"kubeloop::leader".*"msg":"became leader"/.test(l)), 'the transition is logged under kubeloop::leader');
    assert.ok(followers.every((f) => f.logs.some((l) => /"msg":"new leader observed"/.test(l) && l.includes(leader.identity))));
  });

  test('kill -9 of the leader: another replica leads within lease duration + retry period, not before the lease expired', async () => {
    const { fleet } = await setup();
    const replicas = [fleet.start(), fleet.start(), fleet.start()];
    const leader = await fleet.nextLeader(0);
    await settled(fleet, leader, replicas.filter((r) => r !== leader));
    const killedAt = leader.kill('SIGKILL');
    const next = await fleet.nextLeader(killedAt);
    const failover = next.first('leading', killedAt)!.t - killedAt;
    console.log(`# kill -9 fail-over: ${ms(failover)} (bound: lease ${LEASE_MS} + retry ${RETRY_MS} = ${LEASE_MS + RETRY_MS} ms)`);
    assert.ok(failover <= LEASE_MS + RETRY_MS + SLACK_MS, `fail-over took ${ms(failover)}`);
    // The last renewal was at most a retry period before the kill, and the lease lasts a lease duration from when followers saw it.
    assert.ok(failover >= LEASE_MS - RETRY_MS - SLACK_MS, `a follower took the lease ${ms(failover)} after the kill, before it could have expired`);
    assert.deepEqual(overlaps(fleet.intervals()), []);
  });

  test('SIGTERM of the leader: it finishes its reconcile, releases the Lease, exits 0, and another leads within 2 retry periods', async () => {
    const { fleet, leases } = await setup();
    const replicas = [fleet.start(), fleet.start()];
    const leader = await fleet.nextLeader(0);
    const follower = replicas.find((r) => r !== leader)!;
    await settled(fleet, leader, [follower]);
    const termAt = leader.kill('SIGTERM');
    const exit = await leader.exited;
    assert.deepEqual(exit, { code: 0, signal: null });
    await fleet.nextLeader(termAt);
    const stopped = leader.first('stopped', termAt)!;
    const leading = follower.first('leading', termAt)!;
    const handover = leading.t - termAt;
    console.log(`# SIGTERM hand-over: ${ms(handover)} from the signal, ${ms(leading.t - stopped.t)} after the leader stopped (bound: 2 retry periods = ${2 * RETRY_MS} ms)`);
    assert.ok(handover <= 2 * RETRY_MS, `hand-over took ${ms(handover)}`);
    assert.equal(stopped.rest[0], 'stepped-down');
    assert.ok(leader.first('released', termAt), 'the leader handed the Lease back');
    assert.ok(leading.t > stopped.t, 'the follower led only after the leader stopped');
    assert.equal(leader.all('reconcile').length, leader.all('reconciled').length, 'the running reconcile finished before the release');
    assert.deepEqual(leader.all('reconcile', stopped.t), [], 'no reconcile after stopping');
    assert.ok(leader.logs.some((l) => /"msg":"released the lease"/.test(l)));
    const lease = await leases.get('le');
    assert.equal(lease.spec?.holderIdentity, follower.identity);
    assert.equal(lease.spec?.leaseTransitions, 1, 'one transition: the release does not count, the take-over does');
  });

  test('10 fail-overs (SIGTERM, kill -9, cut off from the API server): the leadership intervals of all processes never overlap', { timeout: 120_000 }, async () => {
    const { fleet, leases } = await setup();
    const proxyOf = new Map<Replica, TcpProxy>();
    const startReplica = async () => {
      const p = await proxy();
      proxyOf.set(fleet.start({ mode: 'recampaign', server: p.url }), p);
    };
    for (let i = 0; i < 3; i++) await startReplica();
    const faults = ['SIGTERM', 'kill -9', 'cut off'] as const;
    const figures: Record<string, number[]> = { 'SIGTERM': [], 'kill -9': [], 'cut off': [] };
    for (let round = 0; round < 10; round++) {
      const leader = await fleet.until('a leader', () => fleet.replicas.find((r) => r.leading));
      await settled(fleet, leader, []);
      await fleet.until('a live follower to see the leader', () => fleet.replicas.some((r) => r !== leader && r.alive && r.lines.some((l) => l.kind === 'leader' && l.rest[0] === leader.identity)));
      // Warm followers only: one still listing when it takes over reconciles its objects as they arrive ("object updated").
      await fleet.until('every live follower to have listed', () => fleet.replicas.every((r) => r === leader || !r.alive || r.first('ready')));
      const fault = faults[round % 3]!;
      const at = wallClock();
      if (fault === 'SIGTERM') leader.kill('SIGTERM');
      else if (fault === 'kill -9') leader.kill('SIGKILL');
      else proxyOf.get(leader)!.block();
      const next = await fleet.nextLeader(at);
      figures[fault]!.push(next.first('leading', at)!.t - at);
      if (fault === 'cut off') {
        assert.equal(leader.first('stopped', at)?.rest[0], 'renew-deadline');
        proxyOf.get(leader)!.unblock(); // it campaigns again, and follows
      } else {
        const exit = await leader.exited;
        assert.equal(exit.code, fault === 'SIGTERM' ? 0 : null);
        await startReplica();
      }
    }
    await settled(fleet, await fleet.until('the last leader', () => fleet.replicas.find((r) => r.leading)), []);
    for (const [fault, list] of Object.entries(figures)) console.log(`# ${fault} fail-overs: ${list.map(ms).join(', ')}`);
    const intervals = fleet.intervals();
    assert.deepEqual(overlaps(intervals), [], 'two replicas led at once');
    assert.equal(intervals.length, 11, `the first leader and 10 successors:\n${fleet.replicas.map((r) => r.describe()).join('\n')}`);
    const gaps = intervals.slice(1).map((iv, i) => iv.start - intervals[i]!.end);
    console.log(`# gaps between one leader's end and the next one's start: min ${ms(Math.min(...gaps))}, max ${ms(Math.max(...gaps))}`);
    for (const r of fleet.replicas) assert.deepEqual(r.reconcilesOutsideLeadership(), [], `${r.name} reconciled while not leading`);
    // Every new leader — a follower taking over, or a replica leading again after a cut — schedules every object anew.
    const firstReasons = intervals.slice(1).map((iv) => {
      const replica = fleet.replicas.find((r) => r.name === iv.replica)!;
      return `${iv.replica}: ${replica.first('reconcile', iv.start - 0.1)?.rest.join(' ')}`;
    });
    assert.deepEqual(firstReasons, intervals.slice(1).map((iv) => `${iv.replica}: "bulk reconcile requested"`), 'the first reconcile of each new leader');
    assert.ok((await leases.get('le')).spec!.leaseTransitions! >= 10);
  });

  test('a leader cut off from the API server stops within the renew deadline, and the next leader starts only after that', async () => {
    const { fleet } = await setup();
    const cut = await proxy();
    const leader = fleet.start({ mode: 'exit', server: cut.url });
    await fleet.nextLeader(0);
    const follower = fleet.start();
    await settled(fleet, leader, [follower]);
    const cutAt = wallClock();
    cut.block();
    const next = await fleet.nextLeader(cutAt);
    assert.equal(next, follower);
    const exit = await leader.exited;
    const stopped = leader.first('stopped', cutAt);
    assert.ok(stopped, 'the leader said it stopped');
    const stoppedAfter = stopped.t - cutAt;
    const gap = follower.first('leading', cutAt)!.t - stopped.t;
    console.log(`# cut-off leader stopped ${ms(stoppedAfter)} after the cut (renew deadline ${DEADLINE_MS} ms); the next leader started ${ms(gap)} later`);
    assert.equal(stopped.rest[0], 'renew-deadline');
    assert.ok(stoppedAfter <= DEADLINE_MS + 100, `stopped ${ms(stoppedAfter)} after the cut`);
    // The leader stops a renew deadline after it sent its last renewal; followers wait a lease duration from seeing it.
    assert.ok(gap >= LEASE_MS - DEADLINE_MS, `the next leader started ${ms(gap)} after the old one stopped, less than lease duration - renew deadline (${LEASE_MS - DEADLINE_MS} ms)`);
    assert.ok(leader.all('attempt-failed', cutAt).some((l) => l.rest[0] === 'renew'), 'it tried to renew');
    assert.deepEqual(leader.all('reconcile', stopped.t), [], 'no reconcile started after it stopped');
    assert.deepEqual(exit, { code: 1, signal: null }, 'onLost exit: the process exits non-zero');
    assert.ok(leader.logs.some((l) => /"msg":"lost leadership".*"reason":"renew-deadline"|"reason":"renew-deadline".*"msg":"lost leadership"/.test(l)));
  });

  test('a follower that cannot reach the API server keeps retrying and never claims the lease, then takes it once it can', async () => {
    const { fleet, leases } = await setup();
    const leader = fleet.start();
    await fleet.nextLeader(0);
    const cut = await proxy();
    const follower = fleet.start({ server: cut.url });
    await settled(fleet, leader, [follower]);
    cut.block();
    const killedAt = leader.kill('SIGKILL');
    await leader.exited;
    const before = await leases.get('le');
    // By its own clock the lease expired a lease duration after it last saw it change; go well past that.
    const past = killedAt + LEASE_MS + 2 * RETRY_MS;
    await fleet.until('failed attempts past the expiry', () => follower.first('attempt-failed', past));
    const failures = follower.all('attempt-failed', killedAt).length;
    assert.equal(follower.all('leading').length, 0, 'it never claimed leadership while cut off');
    assert.ok(failures >= (LEASE_MS + 2 * RETRY_MS) / RETRY_MS / 2, `it kept retrying every retry period: ${failures} failed attempts`);
    const after = await leases.get('le');
    assert.equal(after.metadata?.resourceVersion, before.metadata?.resourceVersion, 'nobody wrote the Lease meanwhile');
    assert.equal(after.spec?.holderIdentity, leader.identity);
    const unblockedAt = wallClock();
    cut.unblock();
    await fleet.nextLeader(unblockedAt);
    const took = follower.first('leading', unblockedAt)!.t - unblockedAt;
    console.log(`# unreachable follower: ${failures} failed attempts while cut off, no claim; led ${ms(took)} after it could reach the API server again`);
    // Its next attempt comes within a retry period. If the leader renewed once more after the
    // follower's last read, that version is news to it: it waits a lease duration from seeing it.
    assert.ok(took <= LEASE_MS + 2 * RETRY_MS, `took ${ms(took)}`);
  });

  test('the demo operator with LEADER_ELECTION=true leads on Lease document-controller in POD_NAMESPACE as POD_NAME, and releases it on SIGTERM', async () => {
    const ns = await t.namespace('le');
    const leases = Api.namespaced(t.client, Leases, ns);
    const crd = parse(readFileSync(fileURLToPath(new URL('../../../deploy/crd.yaml', import.meta.url)), 'utf8'));
    const crds = Api.all(t.client, CustomResourceDefinitions);
    if (!(await crds.getOpt(crd.metadata.name))) await crds.create(crd);
    await until('the Document CRD to be established', async () => (await crds.get(crd.metadata.name)).status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True'));
    const operator = spawn(process.execPath, [fileURLToPath(new URL('../../examples/document-controller/operator.js', import.meta.url))], {
      env: { ...process.env, KUBECONFIG: t.cluster.kubeconfigPath, PROBE_PORT: '0', KUBELOOP_LOG: 'error', LEADER_ELECTION: 'true', POD_NAMESPACE: ns, POD_NAME: 'document-controller-0' },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const exited = once(operator, 'exit');
    try {
      // SIGTERM as soon as the Lease names it: the operator may not have had the answer to its
      // write yet; releasing on the way out covers that case too.
      const held = await watchLease(leases, 'document-controller', 'the operator to hold the Lease', (l) => l.spec?.holderIdentity === 'document-controller-0');
      assert.equal(held.spec?.leaseDurationSeconds, 15, 'the default lease duration');
      operator.kill('SIGTERM');
      assert.deepEqual(await exited, [0, null]);
      assert.equal((await leases.get('document-controller')).spec?.holderIdentity, '', 'released on the way out');
    } finally {
      operator.kill('SIGKILL');
    }
  });
});

describe('leader election in one process', () => {
  afterEach(() => configureLogging()); // undo captureLogs
  test('a follower keeps its cache warm (/readyz 200, /livez live) but reconciles nothing; on a graceful hand-over it schedules every object as a bulk reconcile', async () => {
    const ns = await t.namespace('le');
    const api = Api.namespaced(t.client, ConfigMaps, ns);
    await api.create({ metadata: { name: 'work' } });
    const lease = `${ns}/inproc`;
    const electorA = new LeaderElector(t.client, short('inproc', ns, 'a'));
    const waiter = new Waiter();
    const reasons = { a: [] as string[], b: [] as string[] };
    const reconciler = (who: 'a' | 'b') => () => {
      reasons[who].push(currentReason());
      return Action.awaitChange();
    };
    const a = runInBackground(new Controller(api).withConfig({ name: 'a' }).withLeaderElection(electorA, { onLost: 'recampaign' }), reconciler('a'), () => Action.awaitChange(), {}, waiter);
    let b: ReturnType<typeof runInBackground> | undefined;
    let probes: ProbeServer | undefined;
    try {
      await waiter.until('a to reconcile', () => reasons.a.length > 0);
      assert.equal(await leaderStatus(lease), 1, 'leader_election_status is 1 on the leader');
      const electorB = new LeaderElector(t.client, short('inproc', ns, 'b'));
      const sawA = signal();
      electorB.on('leader', (holder) => holder === 'a' && sawA.resolve());
      const controllerB = new Controller(api).withConfig({ name: 'b' }).withLeaderElection(electorB, { onLost: 'recampaign' });
      probes = new ProbeServer({ port: 0, host: '127.0.0.1' }).add(controllerB);
      const port = await probes.listen();
      b = runInBackground(controllerB, reconciler('b'), () => Action.awaitChange(), {}, waiter);
      await sawA.promise;
      await controllerB.store.waitUntilReady();
      const get = async (path: string) => {
        const res = await request(`http://127.0.0.1:${port}${path}`);
        return { status: res.statusCode, body: await res.body.text() };
      };
      assert.deepEqual(await get('/readyz'), { status: 200, body: 'ok\n' }, 'the follower is ready: its cache is warm');
      const livez = await get('/livez?verbose');
      assert.equal(livez.status, 200);
      assert.match(livez.body, /following: another replica holds the lease/);
      assert.equal(controllerB.store.size, 1);
      assert.deepEqual(reasons.b, [], 'the follower reconciles nothing');
      assert.equal(controllerB.queue().depth, 0, 'nor queues anything');
      await a.stop(); // graceful: releases the lease
      await waiter.until('b to reconcile', () => reasons.b.length > 0, 5000);
      assert.deepEqual(reasons.b, ['bulk reconcile requested']);
      assert.equal(await leaderStatus(lease), 1, 'the gauge follows the lease to b');
      await b.stop();
      assert.equal(await leaderStatus(lease), 0);
      const released = await Api.namespaced(t.client, Leases, ns).get('inproc');
      assert.deepEqual([released.spec?.holderIdentity, released.spec?.leaseDurationSeconds, released.spec?.leaseTransitions], ['', 1, 1]);
    } finally {
      await a.stop();
      await b?.stop();
      await probes?.close();
    }
  });

  test('failed renewals are "renewing lease" spans marked failed; at the renew deadline the signal aborts, the gauge drops to 0 and the loss is logged', async () => {
    const ns = await t.namespace('le');
    const exporter = new InMemorySpanExporter();
    const tracing = await setupTracing({ exporter, simple: true });
    const { lines } = captureLogs('error,kubeloop::leader=info');
    const cut = await proxy();
    let client: Client | undefined;
    try {
      client = clientVia(t.cluster, cut.url);
      const elector = new LeaderElector(client, short('spans', ns, 'cut'));
      const leadership = await elector.acquire();
      assert.equal(elector.isLeader, true);
      assert.equal(await leaderStatus(`${ns}/spans`), 1);
      const lost = new Promise<unknown>((resolve) => leadership.addEventListener('abort', () => resolve(leadership.reason), { once: true }));
      const cutAt = performance.now();
      cut.block();
      const reason = await lost;
      const after = performance.now() - cutAt;
      assert.ok(reason instanceof LeadershipLostError && reason.reason === 'renew-deadline', String(reason));
      assert.ok(after <= DEADLINE_MS + 100, `lost ${ms(after)} after the cut`);
      assert.equal(elector.isLeader, false);
      assert.equal(await leaderStatus(`${ns}/spans`), 0);
      const spans = exporter.getFinishedSpans();
      const renewing = spans.filter((s) => s.name === 'renewing lease');
      assert.ok(renewing.length >= 1, `spans: ${spans.map((s) => s.name).join(', ')}`);
      for (const span of renewing) {
        assert.equal(span.status.code, SpanStatusCode.ERROR);
        assert.equal(span.attributes.lease, `${ns}/spans`);
        assert.equal(span.attributes.identity, 'cut');
        const children = spans.filter((c) => (c as unknown as { parentSpanContext?: { spanId: string } }).parentSpanContext?.spanId === span.spanContext().spanId);
        assert.deepEqual(children.map((c) => c.name), ['update'], 'the retried request is a client span under it');
      }
      const messages = lines.filter((l) => l.target === 'kubeloop::leader').map((l) => l.msg);
      assert.deepEqual([...new Set(messages)], ['campaigning for the lease', 'became leader', 'failed to renew the lease; retrying until the renew deadline', 'lost leadership']);
    } finally {
      configureLogging();
      await client?.close();
      await tracing.shutdown();
    }
  });

  test('a renewal stalled on a silent connection is abandoned at half the renew deadline, and the next attempt keeps the lease', async () => {
    const ns = await t.namespace('le');
    const leases = Api.namespaced(t.client, Leases, ns);
    const stall = await proxy();
    const client = clientVia(t.cluster, stall.url);
    // Renew deadline 3 s: each attempt gets 1.5 s, which leaves time for another after a stalled one and a retry period.
    const deadlineMs = 3000;
    const elector = new LeaderElector(client, { name: 'stall', namespace: ns, identity: 'stalled', leaseDurationMs: 4000, renewDeadlineMs: deadlineMs, retryPeriodMs: RETRY_MS });
    try {
      const leadership = await elector.acquire();
      const failed = new Promise<{ error: Error; phase: string; at: number; wall: number }>((resolve) => {
        elector.once('attemptFailed', (error, phase) => resolve({ error, phase, at: performance.now(), wall: Date.now() }));
      });
      // The connection that carries the next renewal goes silent in both directions; the others, and new ones, work.
      stall.stallNextRequest();
      const lost = new Promise<never>((_, reject) => {
        leadership.addEventListener('abort', () => reject(new Error(`leadership ended (${String(leadership.reason)}) before the stalled attempt was abandoned`)), { once: true });
      });
      lost.catch(() => {}); // it also rejects at the release below, when nobody waits for it
      const failure = await Promise.race([failed, lost]);
      assert.equal(stall.counts.stalled, 1, 'one connection was stalled');
      const sentAt = stall.firstHeldRequestAt;
      assert.ok(sentAt !== undefined, 'a renewal was sent into the stalled connection');
      const waited = failure.at - sentAt;
      console.log(`# a stalled renewal was abandoned ${ms(waited)} after it was sent (renew deadline ${deadlineMs} ms)`);
      assert.equal(failure.phase, 'renew');
      assert.match(failure.error.message, /the renew attempt got no answer within 1500 ms/);
      assert.ok(waited >= deadlineMs / 2 - 20 && waited <= deadlineMs / 2 + SLACK_MS, `abandoned ${ms(waited)} after it was sent`);
      // The next attempt, on a fresh connection, renews in time.
      const renewed = await watchLease(leases, 'stall', 'a renewal after the stalled attempt', (l) => Date.parse(l.spec?.renewTime ?? '') > failure.wall);
      assert.equal(renewed.spec?.holderIdentity, 'stalled');
      assert.equal(leadership.aborted, false, 'leadership never lapsed');
      assert.equal(elector.isLeader, true);
    } finally {
      await elector.release();
      await client.close();
    }
  });

  test('optimistic concurrency: when someone else writes the Lease, the leader\'s next renewal gets a 409, reads it, and stops at once (reason taken)', async () => {
    const ns = await t.namespace('le');
    const leases = Api.namespaced(t.client, Leases, ns);
    const { lines } = captureLogs('error,kubeloop::leader=info');
    const elector = new LeaderElector(t.client, short('taken', ns, 'holder'));
    const leadership = await elector.acquire();
    const lost = new Promise<unknown>((resolve) => leadership.addEventListener('abort', () => resolve(leadership.reason), { once: true }));
    const lease = await leases.get('taken');
    await leases.replace('taken', { ...lease, spec: { ...lease.spec, holderIdentity: 'intruder' } });
    const writtenAt = performance.now();
    const reason = await lost;
    const after = performance.now() - writtenAt;
    assert.ok(reason instanceof LeadershipLostError && reason.reason === 'taken', String(reason));
    assert.match(reason.message, /held by intruder/);
    assert.ok(after <= RETRY_MS + SLACK_MS, `noticed ${ms(after)} after the write, at its next renewal`);
    assert.equal(elector.leader, 'intruder');
    assert.equal((await leases.get('taken')).spec?.holderIdentity, 'intruder', 'the leader did not overwrite it');
    assert.equal(await elector.release(), false, 'nothing to release');
    const loss = lines.find((l) => l.msg === 'lost leadership');
    assert.deepEqual([loss?.target, loss?.reason, loss?.lease, loss?.identity], ['kubeloop::leader', 'taken', `${ns}/taken`, 'holder']);
  });

  test('clock skew: a follower ignores the Lease\'s timestamps and waits a lease duration from when it saw the record change', async () => {
    const ns = await t.namespace('le');
    const leases = Api.namespaced(t.client, Leases, ns);
    // A holder whose clock is far behind: by the record's timestamps the lease expired decades ago.
    const ancient = '2000-01-01T00:00:00.000000Z';
    await leases.create({ metadata: { name: 'skew' }, spec: { holderIdentity: 'slow-clock', leaseDurationSeconds: LEASE_MS / 1000, acquireTime: ancient, renewTime: ancient, leaseTransitions: 4 } });
    const elector = new LeaderElector(t.client, short('skew', ns, 'fresh'));
    const started = performance.now();
    await elector.acquire();
    const waited = performance.now() - started;
    await elector.release();
    console.log(`# a lease with renewTime in 2000 was taken over after ${ms(waited)} (lease duration ${LEASE_MS} ms)`);
    assert.ok(waited >= LEASE_MS, `took over after ${ms(waited)}, before a lease duration passed on its own clock`);
    assert.ok(waited <= LEASE_MS + SLACK_MS, `took over after ${ms(waited)}: it checks again right when the lease expires`);
    assert.equal((await leases.get('skew')).spec?.leaseTransitions, 5);
  });

  test('one elector guards one controller: a second controller run with it fails with a sentence saying so', async () => {
    const ns = await t.namespace('le');
    const api = Api.namespaced(t.client, ConfigMaps, ns);
    const elector = new LeaderElector(t.client, short('shared', ns, 'one'));
    const first = runInBackground(new Controller(api).withConfig({ name: 'first' }).withLeaderElection(elector, { onLost: 'recampaign' }), () => Action.awaitChange(), () => Action.awaitChange(), {});
    try {
      const second = new Controller(api).withConfig({ name: 'second' }).withLeaderElection(elector, { onLost: 'recampaign' });
      await assert.rejects(second.run(() => Action.awaitChange(), () => Action.awaitChange(), {}).next(), /already guards controller first; give each controller its own elector and Lease\./);
      if (!elector.isLeader) await once(elector, 'leading'); // the first controller's campaign is unharmed
    } finally {
      await first.stop();
    }
    assert.equal(elector.isLeader, false, 'stopping the first controller released the lease');
  });

  test('aborting the signal given to acquire() ends the campaign with its reason; the elector can campaign again', async () => {
    const ns = await t.namespace('le');
    const holder = new LeaderElector(t.client, short('abort', ns, 'holder'));
    await holder.acquire();
    const follower = new LeaderElector(t.client, short('abort', ns, 'follower'));
    const stop = new AbortController();
    const sawHolder = signal();
    follower.once('leader', () => sawHolder.resolve());
    const campaign = follower.acquire(stop.signal);
    await sawHolder.promise;
    stop.abort(new Error('shutting down'));
    await assert.rejects(campaign, /^Error: shutting down$/);
    assert.equal(follower.isLeader, false);
    await holder.release();
    const leadership = await follower.acquire();
    assert.equal(follower.isLeader, true);
    assert.equal(leadership.aborted, false);
    assert.equal(await follower.release(), true);
  });
});
