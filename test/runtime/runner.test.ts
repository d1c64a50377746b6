// The runner on its own, without an API server (as kube-rs tests runner.rs):
// the start gate, the concurrency limit, finishing entries whatever their work
// did, and the mayStart gate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Runner } from '../../src/runtime/runner.js';
import { Scheduler, type ScheduledEntry } from '../../src/runtime/scheduler.js';

/** A promise with its resolve, for work the test finishes by hand. */
function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void } {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

/** Resolves once `cond()` holds, checked after each turn of the event loop (no fixed sleeps). */
async function until(cond: () => boolean, what: string, limitMs = 2000): Promise<void> {
  const deadline = performance.now() + limitMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

function setup(concurrency: number, mayStart?: () => boolean) {
  const scheduler = new Scheduler<string>();
  const started: string[] = [];
  const gates = new Map<string, ReturnType<typeof deferred>>();
  const internal: unknown[] = [];
  const runner = new Runner<string>({
    scheduler,
    concurrency,
    mayStart,
    work: (entry: ScheduledEntry<string>) => {
      started.push(entry.key);
      const d = deferred();
      gates.set(entry.key, d);
      return d.promise;
    },
    onInternalError: (e) => internal.push(e),
  });
  const push = (key: string, delayMs = 0) => {
    scheduler.push({ key, item: key, runAt: performance.now() + delayMs, reason: 'test' });
    runner.wake();
  };
  return { scheduler, runner, started, gates, internal, push };
}

test('nothing starts before the ready gate opens, and everything due starts once it does', async () => {
  const { runner, started, push } = setup(0);
  const ready = deferred();
  const loop = runner.run(ready.promise);
  push('a');
  push('b');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(started, [], 'an entry started before the gate opened');
  ready.resolve();
  await until(() => started.length === 2, 'both entries to start');
  assert.deepEqual(started.sort(), ['a', 'b']);
  runner.stop();
  await loop;
});

test('a ready gate that rejects ends the runner without starting anything', async () => {
  const { runner, started, push } = setup(0);
  push('a');
  await runner.run(Promise.reject(new Error('writer stopped')));
  assert.deepEqual(started, []);
});

test('at most `concurrency` entries run at once; the next starts when one finishes', async () => {
  const { runner, started, gates, push } = setup(2);
  const loop = runner.run(Promise.resolve());
  for (const k of ['a', 'b', 'c', 'd']) push(k);
  await until(() => started.length === 2, 'two entries to start');
  await new Promise((r) => setImmediate(r));
  assert.equal(started.length, 2, 'a third entry started beyond the limit');
  assert.equal(runner.running, 2);
  gates.get(started[0]!)!.resolve();
  await until(() => started.length === 3, 'the third entry to start after one finished');
  assert.equal(runner.running, 2);
  for (const k of started) gates.get(k)!.resolve();
  await until(() => started.length === 4, 'the fourth entry');
  gates.get(started[3]!)!.resolve();
  await until(() => runner.running === 0, 'all to finish');
  runner.stop();
  await loop;
});

test('work that throws or rejects still finishes its entry, so a request held meanwhile runs next', async () => {
  const { runner, started, gates, internal, push } = setup(0);
  const loop = runner.run(Promise.resolve());
  push('a');
  await until(() => started.length === 1, 'a to start');
  push('a'); // held: `a` is running
  await new Promise((r) => setImmediate(r));
  assert.equal(started.length, 1, 'the same object started while it was running');
  gates.get('a')!.reject(new Error('boom'));
  await until(() => started.length === 2, 'the held request for a to run after the failure');
  assert.equal(internal.length, 1, 'the failure reached onInternalError');
  gates.get('a')!.resolve();
  await until(() => runner.running === 0, 'a to finish');
  runner.stop();
  await loop;
});

test('an entry due later starts at its time without anyone waking the runner', async () => {
  const { runner, started, gates, push } = setup(0);
  const loop = runner.run(Promise.resolve());
  const pushedAt = performance.now();
  push('later', 60);
  await until(() => started.length === 1, 'the delayed entry to start');
  assert.ok(performance.now() - pushedAt >= 55, 'the delayed entry started early');
  gates.get('later')!.resolve();
  runner.stop();
  await loop;
});

test('while mayStart says no nothing starts; after a wake it starts what is due', async () => {
  let open = false;
  const { runner, started, gates, push } = setup(0, () => open);
  const loop = runner.run(Promise.resolve());
  push('a');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(started, []);
  open = true;
  runner.wake();
  await until(() => started.length === 1, 'a to start once open');
  gates.get('a')!.resolve();
  runner.stop();
  await loop;
});

test('stop() starts nothing more, and settled() waits for what runs', async () => {
  const { runner, started, gates, push } = setup(0);
  const loop = runner.run(Promise.resolve());
  push('a');
  await until(() => started.length === 1, 'a to start');
  runner.stop();
  await loop;
  push('b');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(started, ['a'], 'an entry started after stop()');
  let settled = false;
  const s = runner.settled().then(() => (settled = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(settled, false, 'settled() resolved while a was running');
  gates.get('a')!.resolve();
  await s;
  assert.equal(runner.running, 0);
});

test('work that never waits on I/O (CPU-bound reconciles) still lets timers run between starts', async () => {
  const scheduler = new Scheduler<string>();
  const finished: number[] = [];
  const runner = new Runner<string>({
    scheduler,
    concurrency: 1,
    // 5 ms of CPU and no await on I/O: without a yield, each start would follow the last through microtasks alone.
    work: async () => {
      const until = performance.now() + 5;
      while (performance.now() < until);
      finished.push(performance.now());
    },
  });
  for (let i = 0; i < 40; i++) scheduler.push({ key: `k${i}`, item: `k${i}`, runAt: 0, reason: 'test' });
  let timerRanAfter: number | undefined;
  setTimeout(() => (timerRanAfter = finished.length), 0);
  const loop = runner.run(Promise.resolve());
  await until(() => finished.length === 40, 'every entry to finish', 5000);
  runner.stop();
  await loop;
  assert.ok(timerRanAfter !== undefined && timerRanAfter < 10, `a 0 ms timer ran only after ${timerRanAfter} of 40 five-millisecond entries`);
});
