/**
 * Who is in a shard ring: the Leases labelled with the ring's name whose holder
 * renewed them within their lease duration. As for leader election, expiry is
 * judged by this process's own monotonic clock from when it saw each Lease
 * change, never by the timestamps in the record (the holder's clock may be
 * skewed) — so a sharder that just started counts every held Lease as alive for
 * a whole lease duration before it may call a member dead.
 */
import type { Lease } from 'kubernetes-types/coordination/v1.js';
import type { Api } from '../../client/api.js';
import { SharedCache } from '../shared-cache.js';
import { RING_LABEL } from './labels.js';

export class RingMembers {
  readonly cache: SharedCache<Lease>;
  /** Per Lease name: its resourceVersion last seen, and when (performance.now()) that version was first seen. */
  private readonly seen = new Map<string, { version: string; at: number }>();

  constructor(
    leases: Api<Lease>,
    readonly ring: string,
    /** How often `changes()` looks for expired members. */
    private readonly checkEveryMs: number,
  ) {
    this.cache = new SharedCache(leases, { labelSelector: `${RING_LABEL}=${ring}`, name: `${ring}-members` });
  }

  /** The identities of the live members, sorted. */
  alive(now = performance.now()): string[] {
    const out: string[] = [];
    const names = new Set<string>();
    for (const lease of this.cache.store.list()) {
      const name = lease.metadata?.name ?? '';
      names.add(name);
      const version = lease.metadata?.resourceVersion ?? '';
      let seen = this.seen.get(name);
      if (!seen || seen.version !== version) {
        seen = { version, at: now };
        this.seen.set(name, seen);
      }
      const holder = lease.spec?.holderIdentity ?? '';
      if (holder !== '' && now - seen.at < (lease.spec?.leaseDurationSeconds ?? 0) * 1000) out.push(holder);
    }
    for (const name of this.seen.keys()) if (!names.has(name)) this.seen.delete(name);
    return out.sort();
  }

  /**
   * Whether `identity`'s Lease is still expired on a fresh read. A member drops out
   * of the set only after this: a sharder whose own event loop lagged behind the
   * Lease events must not take a late event for a missed renewal.
   */
  private async confirmGone(identity: string, signal: AbortSignal): Promise<boolean> {
    const lease = this.cache.store.list().find((l) => l.spec?.holderIdentity === identity);
    if (!lease) return true;
    const fresh = await this.cache.api.getOpt(lease.metadata!.name!, { signal }).catch(() => lease);
    if (!fresh) return true;
    const name = fresh.metadata!.name!;
    const version = fresh.metadata?.resourceVersion ?? '';
    const seen = this.seen.get(name);
    if (!seen || seen.version !== version) this.seen.set(name, { version, at: performance.now() });
    const holder = fresh.spec?.holderIdentity ?? '';
    return holder !== identity || performance.now() - this.seen.get(name)!.at >= (fresh.spec?.leaseDurationSeconds ?? 0) * 1000;
  }

  /**
   * Yields the live members each time the set changes (at once with the first
   * set), looking after every Lease event and every `checkEveryMs` for expiry.
   */
  async *changes(outer: AbortSignal): AsyncGenerator<string[]> {
    // Its own signal too, so that a consumer leaving the loop ends the subscription.
    const local = new AbortController();
    const signal = AbortSignal.any([outer, local.signal]);
    let wake: (() => void) | undefined;
    const nudge = () => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    // Lease events update the versions seen as they arrive, so expiry runs from the event, not from the next check.
    const events = (async () => {
      for await (const _ of this.cache.subscribe(signal)) {
        this.alive();
        nudge();
      }
    })().catch(() => {});
    const timer = setInterval(nudge, this.checkEveryMs);
    signal.addEventListener('abort', nudge, { once: true });
    try {
      await this.cache.store.waitUntilReady(signal).catch(() => undefined);
      // Every Lease seen from the first list on, before the first verdict.
      this.alive();
      let last: string | undefined;
      let previous: string[] = [];
      while (!signal.aborted) {
        let members = this.alive();
        const dropped = previous.filter((m) => !members.includes(m));
        if (dropped.length > 0) {
          const gone = await Promise.all(dropped.map((m) => this.confirmGone(m, signal)));
          members = [...members, ...dropped.filter((_, i) => !gone[i])].sort();
        }
        previous = members;
        const key = members.join('\n');
        if (key !== last) {
          last = key;
          yield members;
        }
        await new Promise<void>((resolve) => (wake = resolve));
      }
    } finally {
      clearInterval(timer);
      signal.removeEventListener('abort', nudge);
      local.abort();
      await events;
    }
  }
}
