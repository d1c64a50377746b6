/**
 * Rendezvous hashing, pure logic: shares are even, a member that joins takes
 * about 1/(n+1) of the objects and only from the others (nothing else moves), a
 * member that leaves gives away only its own, and every caller agrees.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rendezvous } from '../../src/runtime/sharding/rendezvous.js';

const keys = Array.from({ length: 30_000 }, (_, i) => `ConfigMap.v1./obj-${i}.ns-${i % 7}`);
const assign = (members: string[]) => new Map(keys.map((k) => [k, rendezvous(k, members)!]));

test('shares are even across members', () => {
  const members = ['member-1', 'member-2', 'member-3'];
  const counts = new Map<string, number>();
  for (const owner of assign(members).values()) counts.set(owner, (counts.get(owner) ?? 0) + 1);
  for (const m of members) {
    const share = counts.get(m)! / keys.length;
    assert.ok(Math.abs(share - 1 / 3) < 0.02, `${m} has ${(share * 100).toFixed(1)}%`);
  }
});

test('a member joining takes about 1/(n+1) of the objects, and only objects move to it', () => {
  const before = assign(['a', 'b', 'c']);
  const after = assign(['a', 'b', 'c', 'd']);
  const moved = keys.filter((k) => before.get(k) !== after.get(k));
  assert.ok(moved.every((k) => after.get(k) === 'd'), 'every moved object went to the new member');
  assert.ok(Math.abs(moved.length / keys.length - 1 / 4) < 0.02, `${moved.length} of ${keys.length} moved`);
});

test('a member leaving gives away only its own objects, spread over the rest', () => {
  const before = assign(['a', 'b', 'c', 'd']);
  const after = assign(['a', 'b', 'd']);
  for (const k of keys) if (before.get(k) !== 'c') assert.equal(after.get(k), before.get(k));
  const theirs = keys.filter((k) => before.get(k) === 'c');
  const to = new Set(theirs.map((k) => after.get(k)));
  assert.deepEqual([...to].sort(), ['a', 'b', 'd']);
});

test('the order members are listed in does not matter, and no members means no owner', () => {
  const k = 'Document.v1.example.com/x.y';
  assert.equal(rendezvous(k, ['a', 'b', 'c']), rendezvous(k, ['c', 'a', 'b']));
  assert.equal(rendezvous(k, []), undefined);
});
