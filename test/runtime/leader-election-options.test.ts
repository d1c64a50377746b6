import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { describe, test } from 'node:test';
import { Client, Controller, Api, ConfigMaps, LeaderElectionConfigError, LeaderElector, resolveLeaderElectorOptions } from '../../src/index.js';

const lease = { name: 'my-operator', namespace: 'operators' };
const client = new Client({ server: 'https://127.0.0.1:9', namespace: 'default', tls: { rejectUnauthorized: true }, auth: { type: 'none' }, source: 'test' });

/** The error `options` are refused with. */
function refusal(options: Parameters<typeof resolveLeaderElectorOptions>[0]): LeaderElectionConfigError {
  try {
    resolveLeaderElectorOptions(options);
  } catch (e) {
    assert.ok(e instanceof LeaderElectionConfigError, `a LeaderElectionConfigError, not ${String(e)}`);
    assert.equal(e.code, 'ERR_LEADER_ELECTION_CONFIG');
    assert.match(e.message, /\.$/, 'a sentence');
    assert.doesNotMatch(e.message, /\.\s/, 'only one');
    return e;
  }
  assert.fail(`${JSON.stringify(options)} was accepted`);
}

describe('leader election options', () => {
  test('the defaults are client-go\'s: lease 15 s, renew deadline 10 s, retry period 2 s, identity = hostname plus a random suffix', () => {
    const a = resolveLeaderElectorOptions(lease);
    const b = resolveLeaderElectorOptions(lease);
    assert.deepEqual({ ...a, identity: undefined }, { ...lease, identity: undefined, leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, labels: {} });
    assert.match(a.identity, new RegExp(`^${hostname().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-[0-9a-f]{8}$`));
    assert.notEqual(a.identity, b.identity, 'two replicas on one host get different identities');
    assert.ok(Object.isFrozen(a));
  });

  test('explicit values win, and undefined ones fall back to the defaults', () => {
    const o = resolveLeaderElectorOptions({ ...lease, identity: 'pod-0', leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500 });
    assert.deepEqual(o, { ...lease, identity: 'pod-0', leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500, labels: {} });
    assert.equal(resolveLeaderElectorOptions({ ...lease, identity: undefined, retryPeriodMs: undefined }).retryPeriodMs, 2000);
  });

  test('the lease duration must exceed the renew deadline, so a leader gives up before its lease expires for the others', () => {
    assert.match(refusal({ ...lease, leaseDurationMs: 10_000 }).message, /leaseDurationMs \(10000\) must be greater than renewDeadlineMs \(10000\)/);
    assert.match(refusal({ ...lease, leaseDurationMs: 3000, renewDeadlineMs: 4000, retryPeriodMs: 500 }).message, /leaseDurationMs \(3000\) must be greater than renewDeadlineMs \(4000\)/);
  });

  test('the renew deadline must exceed 1.2 × the retry period (client-go\'s jitter factor)', () => {
    assert.match(refusal({ ...lease, renewDeadlineMs: 2400, retryPeriodMs: 2000 }).message, /renewDeadlineMs \(2400\) must be greater than 1\.2 × retryPeriodMs \(1\.2 × 2000 = 2400\)/);
    assert.doesNotThrow(() => resolveLeaderElectorOptions({ ...lease, renewDeadlineMs: 2401, retryPeriodMs: 2000 }));
  });

  test('durations must be positive numbers, and the lease duration whole seconds (a Lease stores leaseDurationSeconds)', () => {
    assert.match(refusal({ ...lease, retryPeriodMs: 0 }).message, /^retryPeriodMs must be a positive number of milliseconds, not 0\.$/);
    assert.match(refusal({ ...lease, renewDeadlineMs: -1 }).message, /^renewDeadlineMs must be a positive number/);
    assert.match(refusal({ ...lease, leaseDurationMs: Number.NaN }).message, /^leaseDurationMs must be a positive number/);
    assert.match(refusal({ ...lease, leaseDurationMs: 15_500 }).message, /^leaseDurationMs must be a whole number of seconds .* not 15500\.$/);
  });

  test('the lease name, namespace and identity must not be empty', () => {
    assert.match(refusal({ ...lease, name: '' }).message, /needs the name of the Lease/);
    assert.match(refusal({ ...lease, namespace: '' }).message, /Lease my-operator needs its namespace/);
    assert.match(refusal({ ...lease, identity: '' }).message, /identity must not be empty/);
  });

  test('the LeaderElector constructor validates the same way', () => {
    assert.throws(() => new LeaderElector(client, { ...lease, leaseDurationMs: 5000 }), LeaderElectionConfigError);
    const elector = new LeaderElector(client, { ...lease, identity: 'pod-0' });
    assert.equal(elector.identity, 'pod-0');
    assert.equal(elector.isLeader, false);
    assert.equal(elector.options.leaseDurationMs, 15_000);
  });

  test('withLeaderElection accepts only onLost exit or recampaign', () => {
    const elector = new LeaderElector(client, lease);
    const controller = new Controller(Api.namespaced(client, ConfigMaps, 'default'));
    assert.throws(() => controller.withLeaderElection(elector, { onLost: 'ignore' as never }), /onLost must be 'exit' or 'recampaign', not ignore\./);
    assert.equal(controller.withLeaderElection(elector, { onLost: 'recampaign' }), controller);
  });
});
