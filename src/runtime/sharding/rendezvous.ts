/**
 * Rendezvous (highest random weight) hashing: an object goes to the member with
 * the highest hash of (member, object). Chosen over a ring with virtual nodes
 * because it needs no tuning and no state: when a member joins, only the objects
 * it now wins move (about 1/N of them), and when one leaves, only its own objects
 * move, spread evenly over the rest. The cost is one hash per member per object,
 * nothing next to a reconcile for the handful of members a ring has.
 */

/** 32-bit FNV-1a over the string's UTF-16 code units, then a final avalanche (MurmurHash3's fmix32). */
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The member `key` belongs to, or undefined when there are none. Ties (rare) go to the smaller identity, so every caller agrees. */
export function rendezvous(key: string, members: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = -1;
  for (const member of members) {
    const score = hash32(`${member}\u0000${key}`);
    if (score > bestScore || (score === bestScore && best !== undefined && member < best)) {
      best = member;
      bestScore = score;
    }
  }
  return best;
}
