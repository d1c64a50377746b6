/**
 * The labels a shard ring writes, named after the ring (one object can be
 * sharded by several rings, one per controller kind):
 *
 * - `shard.kubeloop.dev/<ring>: <member>` on every object of a sharded kind (and
 *   on the objects it owns): the member that reconciles it. Each member watches
 *   with this label as its selector, so it caches only its share.
 * - `drain.kubeloop.dev/<ring>: "true"`: the sharder asks the member to let go of
 *   the object; the member acknowledges by removing both labels, after any
 *   reconcile of it has finished.
 * - `kubeloop.dev/ring: <ring>` on the members' Leases.
 *
 * The same protocol as timebertt's kubernetes-controller-sharding, with
 * kubeloop's own label names.
 */
export const RING_LABEL = 'kubeloop.dev/ring';

export const shardLabel = (ring: string): string => `shard.kubeloop.dev/${ring}`;
export const drainLabel = (ring: string): string => `drain.kubeloop.dev/${ring}`;

const NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** A ring's name goes into label keys and Lease names: a DNS label, at most 63 characters. */
export function checkRingName(name: string): void {
  if (!NAME.test(name)) throw new RangeError(`a shard ring's name must be a DNS label (lower-case letters, digits and '-', at most 63 characters), not ${JSON.stringify(name)}.`);
}

/** A member's identity goes into a label value: at most 63 characters of [A-Za-z0-9_.-], starting and ending alphanumeric. */
export function checkMemberIdentity(identity: string): void {
  if (!/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/.test(identity)) {
    throw new RangeError(`a shard member's identity becomes a label value: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit, not ${JSON.stringify(identity)}.`);
  }
}
