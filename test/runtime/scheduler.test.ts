import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Scheduler } from '../../src/index.js';

const req = (key: string, runAt: number, reason = 'object updated', debounce?: boolean) => ({ key, item: key, runAt, reason, debounce });

describe('Scheduler', () => {
  test('pops entries in due order and nothing before it is due', () => {
    const s = new Scheduler<string>();
    s.push(req('b', 20), 0);
    s.push(req('a', 10), 0);
    s.push(req('c', 30), 0);
    assert.equal(s.pop(5), undefined);
    assert.equal(s.pop(25)?.key, 'a');
    assert.equal(s.pop(25)?.key, 'b');
    assert.equal(s.pop(25), undefined);
    assert.equal(s.pop(30)?.key, 'c');
  });

  test('keeps one queued entry per object: an earlier request replaces a later one and its reason wins', () => {
    const s = new Scheduler<string>();
    s.push(req('a', 100, 'reconciler requested retry'), 0);
    s.push(req('a', 10, 'object updated'), 0);
    assert.equal(s.depth, 1);
    const e = s.pop(10);
    assert.equal(e?.runAt, 10);
    assert.equal(e?.reason, 'object updated');
  });

  test('a request due at the same time as the queued one does not replace it: the queued reason stays', () => {
    const s = new Scheduler<string>();
    s.push(req('a', 10, 'object updated'), 0);
    s.push(req('a', 10, 'bulk reconcile requested'), 0);
    assert.equal(s.depth, 1);
    const e = s.pop(10);
    assert.equal(e?.reason, 'object updated', 'only a strictly earlier request wins');
  });

  test('a held request is replaced only by a strictly earlier one', () => {
    const s = new Scheduler<string>();
    s.push(req('a', 0), 0);
    assert.equal(s.pop(0)?.key, 'a');
    s.push(req('a', 5, 'related object updated: x'), 1);
    s.push(req('a', 5, 'reconciler requested retry'), 1);
    s.finish('a');
    assert.equal(s.pop(100)?.reason, 'related object updated: x', 'same due time: the first held request stays');
  });

  test('a later request for a queued object is dropped', () => {
    const s = new Scheduler<string>();
    s.push(req('a', 10, 'object updated'), 0);
    s.push(req('a', 100, 'reconciler requested retry'), 0);
    assert.equal(s.depth, 1);
    const e = s.pop(10);
    assert.equal(e?.reason, 'object updated');
    assert.equal(s.pop(1000), undefined);
  });

  test('a request for a running object is held and queued when it finishes, never popped concurrently', () => {
    const s = new Scheduler<string>();
    s.push(req('a', 0), 0);
    assert.equal(s.pop(0)?.key, 'a');
    s.push(req('a', 1, 'related object updated: x'), 1);
    s.push(req('a', 5, 'reconciler requested retry'), 1);
    assert.equal(s.depth, 1, 'held, one entry');
    assert.equal(s.pop(100), undefined, 'not while running');
    s.finish('a');
    const e = s.pop(100);
    assert.equal(e?.key, 'a');
    assert.equal(e?.reason, 'related object updated: x', 'earliest held request wins');
  });

  test('debounce delays a run and a newer request pushes it back', () => {
    const s = new Scheduler<string>({ debounceMs: 50 });
    s.push(req('a', 0), 0);
    assert.equal(s.pop(49), undefined);
    s.push(req('a', 30), 30);
    assert.equal(s.pop(60), undefined, 'pushed back to 80');
    assert.equal(s.pop(80)?.key, 'a');
  });

  test('a request with debounce: false is due exactly at its runAt, whatever the debounce', () => {
    const s = new Scheduler<string>({ debounceMs: 50 });
    s.push(req('a', 200, 'reconciler requested retry', false), 0);
    assert.equal(s.nextRunAt(), 200);
    assert.equal(s.pop(199), undefined);
    assert.equal(s.pop(200)?.reason, 'reconciler requested retry');
  });

  test('with a debounce, a requeue and a watch trigger: the one due earlier wins', () => {
    const s = new Scheduler<string>({ debounceMs: 50 });
    // A requeue due at 100; a change at 10 is due at 60 (10 + debounce): earlier, it wins.
    s.push(req('a', 100, 'reconciler requested retry', false), 0);
    s.push(req('a', 10, 'object updated'), 10);
    assert.equal(s.nextRunAt(), 60);
    // A requeue due at 40 is earlier than 60: it wins in turn.
    s.push(req('a', 40, 'reconciler requested retry', false), 20);
    assert.equal(s.nextRunAt(), 40);
    // A requeue due at 300 is later: dropped.
    s.push(req('a', 300, 'error policy requested retry', false), 30);
    assert.equal(s.depth, 1);
    assert.deepEqual([s.pop(40)?.reason, s.pop(1000)], ['reconciler requested retry', undefined]);
  });

  test('busySince reports the oldest due or running work and nothing when idle', () => {
    const s = new Scheduler<string>();
    assert.equal(s.busySince(0), undefined);
    s.push(req('a', 100), 0);
    s.push(req('b', 200), 0);
    assert.equal(s.busySince(50), undefined, 'not yet due');
    assert.equal(s.dueCount(50), 0);
    assert.equal(s.busySince(150), 100);
    assert.equal(s.dueCount(150), 1, 'one of the two is due');
    assert.equal(s.depth, 2);
    s.pop(150);
    assert.equal(s.runningCount, 1);
    assert.equal(s.busySince(199), 150, 'running since it started');
    s.finish('a');
    s.pop(250);
    s.finish('b');
    assert.equal(s.busySince(300), undefined);
  });

  for (const debounceMs of [0, 30]) {
    test(`stays a correct priority queue under random pushes, replacements and pops (100,000 operations, debounce ${debounceMs} ms)`, () => {
      const s = new Scheduler<string>({ debounceMs });
      // The model: each queued object's due time; a request replaces it only if due strictly earlier
      // (a debounced request compares its own time, so a newer one pushes the run back).
      const model = new Map<string, number>();
      let seed = 42;
      const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
      let now = 0;
      for (let i = 0; i < 100_000; i++) {
        const r = rand();
        if (r < 0.6) {
          const key = `k${Math.floor(rand() * 2000)}`;
          const runAt = now + Math.floor(rand() * 1000);
          const debounce = rand() < 0.5;
          s.push(req(key, runAt, 'object updated', debounce), now);
          const old = model.get(key);
          if (old === undefined || runAt < old) model.set(key, debounce ? runAt + debounceMs : runAt);
        } else {
          now += Math.floor(rand() * 20);
          const e = s.pop(now);
          const minDue = Math.min(...[...model.values()].filter((t) => t <= now), Infinity);
          if (minDue === Infinity) assert.equal(e, undefined);
          else {
            assert.ok(e, 'something was due');
            assert.equal(e.runAt, minDue);
            assert.equal(model.get(e.key), e.runAt);
            model.delete(e.key);
            s.finish(e.key);
          }
        }
        assert.equal(s.depth, model.size);
      }
    });
  }
});
