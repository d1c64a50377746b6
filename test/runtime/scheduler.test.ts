import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Scheduler } from '../../src/index.js';

const req = (key: string, runAt: number, reason = 'object updated') => ({ key, item: key, runAt, reason });

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

  test('stays a correct priority queue under random pushes, replacements and pops (100,000 operations)', () => {
    const s = new Scheduler<string>();
    const model = new Map<string, number>();
    let seed = 42;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    let now = 0;
    for (let i = 0; i < 100_000; i++) {
      const r = rand();
      if (r < 0.6) {
        const key = `k${Math.floor(rand() * 2000)}`;
        const runAt = now + Math.floor(rand() * 1000);
        s.push(req(key, runAt), now);
        const old = model.get(key);
        if (old === undefined || runAt <= old) model.set(key, runAt);
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
});
