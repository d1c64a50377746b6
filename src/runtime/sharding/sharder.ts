/**
 * The sharder: one replica of the ring at a time (elected on `<ring>-sharder`)
 * labels every object of the sharded kind with the member that reconciles it,
 * by rendezvous hashing over the live members. It is itself a kubeloop
 * controller over the kind's metadata, so it gets the scheduler's guarantees
 * (one pass per object at a time, retries) for free. Per object:
 *
 * - no shard label, or the labelled member is dead (its Lease expired): label it
 *   with the chosen member at once — a dead member reconciles nothing, since it
 *   stops before its Lease can expire for others;
 * - labelled with a live member that is no longer the choice: ask that member to
 *   drain it (the drain label) and wait; the member removes both labels once no
 *   reconcile of the object runs, and the next pass assigns it;
 * - objects it owns (`owns()` kinds) carry their owner's shard label, so the
 *   member's `owns()` watch, which has the same selector, sees them.
 *
 * Every label write carries the object's resourceVersion: a write based on an
 * old view fails (409) instead of undoing a newer one; the newer view brings
 * another pass. The sharder keeps no state that matters across fail-over: a new
 * sharder reads where things stand from the labels.
 */
import type { Api, PartialObjectMetadata } from '../../client/api.js';
import { Patch } from '../../client/patch.js';
import { isApiError } from '../../core/errors.js';
import { ObjectRef } from '../../core/object-ref.js';
import { apiVersionOf, type KubeObject } from '../../core/resource.js';
import { logger } from '../../telemetry/log.js';
import { Action } from '../action.js';
import { Controller } from '../controller.js';
import { backoffErrorPolicy } from '../error-policy.js';
import { SharedCache } from '../shared-cache.js';
import { RingMembers } from './membership.js';
import { rendezvous } from './rendezvous.js';
import type { ShardRing } from './ring.js';

const log = logger('kubeloop::sharding');

type Meta = PartialObjectMetadata;

/**
 * Campaigns for the sharder role of `ring` over `main` (and the kinds it owns)
 * and shards while it holds it, until `signal` aborts. Every member runs this.
 */
export async function runSharder(ring: ShardRing, main: Api<KubeObject>, owned: Api<KubeObject>[], signal: AbortSignal): Promise<void> {
  const L = ring.shardLabel;
  const D = ring.drainLabel;
  const resource = main.resource;
  const mainApiVersion = apiVersionOf(resource);
  const members = new RingMembers(ring.leases, ring.name, Math.max(100, ring.timings.retryPeriodMs / 2));
  const mainCache = new SharedCache(main as unknown as Api<Meta>, { metadataOnly: true, name: `${ring.name}-sharder` });
  const ownerKey = (namespace: string | undefined, name: string) => `${namespace ?? ''}/${name}`;
  const childCaches = owned.map((api) =>
    new SharedCache(api as unknown as Api<Meta>, { metadataOnly: true, name: `${ring.name}-sharder-${api.resource.plural}` }).index('owner', (child) =>
      (child.metadata?.ownerReferences ?? []).filter((o) => o.kind === resource.kind && o.apiVersion === mainApiVersion).map((o) => ownerKey(child.metadata?.namespace, o.name)),
    ),
  );
  const { shardDrainSeconds, shardMoves, shardRingMembers } = ring.metrics;
  const moves = { assign: shardMoves.labels({ ring: ring.name, kind: 'assign' }), reassign: shardMoves.labels({ ring: ring.name, kind: 'reassign' }), drain: shardMoves.labels({ ring: ring.name, kind: 'drain' }) };
  const drainTime = shardDrainSeconds.labels({ ring: ring.name });
  /** When this sharder asked for each drain (lost on fail-over: only the metric suffers). */
  const drainsAsked = new Map<string, number>();
  let live: string[] = [];

  const label = async (api: Api<Meta>, obj: Meta, labels: Record<string, string | null>): Promise<boolean> => {
    try {
      await api.patch(obj.metadata!.name!, Patch.merge({ metadata: { resourceVersion: obj.metadata?.resourceVersion, labels } }));
      return true;
    } catch (e) {
      // Changed or gone since this view: the newer view brings another pass.
      if (isApiError(e, 409) || isApiError(e, 404)) return false;
      throw e;
    }
  };
  const scoped = <T extends KubeObject>(api: Api<T>, obj: Meta): Api<T> => (api.resource.namespaced && api.namespace === undefined ? api.inNamespace(obj.metadata!.namespace!) : api);

  const controller = new Controller<Meta>(mainCache).withConfig({ name: `${ring.name}-sharder`, concurrency: 64 });
  for (const cache of childCaches) controller.owns(cache);
  // Every object is looked at again whenever the set of live members changes.
  controller.reconcileAllOn((signal) => ({
    async *[Symbol.asyncIterator]() {
      for await (const set of members.changes(signal)) {
        const joined = set.filter((m) => !live.includes(m));
        const left = live.filter((m) => !set.includes(m));
        live = set;
        shardRingMembers.set({ ring: ring.name }, set.length);
        log.info({ ring: ring.name, members: set.join(','), joined: joined.join(','), left: left.join(',') }, 'ring members changed');
        yield;
      }
    },
  }));
  controller.withLeaderElection(ring.sharderElector, { onLost: 'recampaign' });

  const reconcile = async (obj: Meta): Promise<Action> => {
    if (!members.cache.store.isReady() || live.length === 0) return Action.awaitChange(); // the members' change reconciles everything
    const ref = ObjectRef.from(resource, obj);
    const labels = obj.metadata?.labels ?? {};
    const current = labels[L];
    const draining = labels[D] !== undefined;
    const desired = rendezvous(ref.key, live)!;
    const api = scoped(main as unknown as Api<Meta>, obj);
    let owner = current;
    if (!current || !live.includes(current)) {
      if (await label(api, obj, { [L]: desired, [D]: null })) {
        owner = desired;
        (current ? moves.reassign : moves.assign).inc();
        const asked = drainsAsked.get(ref.key);
        if (asked !== undefined) {
          drainTime.observe((performance.now() - asked) / 1000);
          drainsAsked.delete(ref.key);
        }
        log.debug({ ring: ring.name, shard: desired, from: current ?? '' }, current ? 'reassigned from a dead member' : 'assigned');
      }
    } else if (current !== desired && !draining) {
      if (await label(api, obj, { [D]: 'true' })) {
        drainsAsked.set(ref.key, performance.now());
        moves.drain.inc();
        log.debug({ ring: ring.name, shard: current, to: desired }, 'asked to drain');
      }
    }
    if (owner) {
      for (const [i, cache] of childCaches.entries()) {
        for (const child of cache.store.byIndex('owner', ownerKey(obj.metadata?.namespace, obj.metadata!.name!))) {
          if (child.metadata?.labels?.[L] !== owner) await label(scoped(owned[i]! as unknown as Api<Meta>, child), child, { [L]: owner });
        }
      }
    }
    return Action.awaitChange();
  };

  controller.gracefulShutdownOn(signal);
  const policy = backoffErrorPolicy(mainCache.api.resource, { initialMs: 200, maxMs: 30_000 });
  for await (const result of controller.run(reconcile, policy, undefined)) {
    if (!result.ok) log.warn({ ring: ring.name, ref: result.ref?.key, error: result.error.message }, 'sharding an object failed; retrying');
  }
}
