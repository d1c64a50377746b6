import assert from 'node:assert/strict';
import { describe, mock, test } from 'node:test';
import { Action, ExponentialBackoff, ObjectRef, ResetTimerBackoff, backoffErrorPolicy, defaultWatcherBackoff, ConfigMaps } from '../../src/index.js';

describe('backoff', () => {
  test('exponential backoff doubles from the initial delay up to the cap, and reset starts over', () => {
    const b = new ExponentialBackoff({ initialMs: 800, maxMs: 30_000, jitter: 0 });
    assert.deepEqual(Array.from({ length: 8 }, () => b.next()), [800, 1600, 3200, 6400, 12800, 25600, 30000, 30000]);
    b.reset();
    assert.equal(b.next(), 800);
  });

  test('jitter keeps each delay within ±25% of the exponential value', () => {
    const b = new ExponentialBackoff({ initialMs: 800, maxMs: 30_000 });
    const seen = Array.from({ length: 5 }, () => b.next());
    [800, 1600, 3200, 6400, 12800].forEach((base, i) => {
      assert.ok(seen[i]! >= base * 0.75 && seen[i]! <= base * 1.25, `${seen[i]} within 25% of ${base}`);
    });
    const constant = new ExponentialBackoff({ initialMs: 800, maxMs: 30_000, random: () => 0.999 });
    assert.ok(constant.next() > 800, 'jitter moves the delay');
  });

  test('the reset timer starts over after a calm period', () => {
    let now = 0;
    const b = new ResetTimerBackoff(new ExponentialBackoff({ initialMs: 100, maxMs: 10_000, jitter: 0 }), 120_000, () => now);
    assert.deepEqual([b.next(), b.next(), b.next()], [100, 200, 400]);
    now += 120_001;
    assert.equal(b.next(), 100);
  });

  test('the default watcher backoff starts near 0.8 s and never exceeds 30 s', () => {
    const b = defaultWatcherBackoff();
    const first = b.next()!;
    assert.ok(first >= 600 && first <= 1000, `first delay ${first}`);
    let last = 0;
    for (let i = 0; i < 20; i++) last = b.next()!;
    assert.ok(last <= 30_000 && last >= 22_500, `capped delay ${last}`);
  });

  test('the default watcher backoff doubles (with jitter) and starts over after 120 s of calm, not before', () => {
    // Its calm clock is Date.now, read when the backoff is made: mock it first.
    mock.timers.enable({ apis: ['Date'], now: 0 });
    try {
      const b = defaultWatcherBackoff();
      const within = (d: number | undefined, base: number) => d !== undefined && d >= base * 0.75 && d <= base * 1.25;
      const first = [b.next(), b.next(), b.next()];
      assert.ok([800, 1600, 3200].every((base, i) => within(first[i], base)), `first delays ${first}`);
      mock.timers.tick(120_000);
      const after120 = b.next();
      assert.ok(within(after120, 6400), `after exactly 120 s it goes on doubling: ${after120}`);
      mock.timers.tick(120_001);
      const afterCalm = b.next();
      assert.ok(within(afterCalm, 800), `after more than 120 s of calm it starts over: ${afterCalm}`);
    } finally {
      mock.timers.reset();
    }
  });

  test('the backoff error policy by default: 5 ms doubling per failure, capped at 5 minutes', () => {
    const policy = backoffErrorPolicy(ConfigMaps);
    const obj = { metadata: { name: 'a', namespace: 'ns' } };
    const delays = Array.from({ length: 20 }, () => (policy(obj, new Error('x'), undefined) as Action).requeueAfterMs);
    assert.deepEqual(delays, Array.from({ length: 20 }, (_, n) => Math.min(300_000, 5 * 2 ** n)));
    assert.equal(delays.at(-1), 300_000);
    policy.onSuccess!(ObjectRef.from(ConfigMaps, obj));
    assert.equal((policy(obj, new Error('x'), undefined) as Action).requeueAfterMs, 5, 'a success starts it over');
  });

  test('the backoff error policy doubles per object from 5 ms and resets after a success', () => {
    const policy = backoffErrorPolicy(ConfigMaps, { maxMs: 40 });
    const a = { metadata: { name: 'a', namespace: 'ns' } };
    const b = { metadata: { name: 'b', namespace: 'ns' } };
    const delays = (obj: typeof a, n: number) => Array.from({ length: n }, () => (policy(obj, new Error('x'), undefined) as Action).requeueAfterMs);
    assert.deepEqual(delays(a, 5), [5, 10, 20, 40, 40]);
    assert.deepEqual(delays(b, 2), [5, 10], 'per object');
    policy.onSuccess!(ObjectRef.from(ConfigMaps, a));
    assert.deepEqual(delays(a, 2), [5, 10]);
    assert.equal(policy.failures(ObjectRef.from(ConfigMaps, b)), 2);
  });
});
