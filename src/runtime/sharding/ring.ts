/**
 * A shard ring: the replicas of an operator that share the objects of a kind.
 *
 * Every replica holds a Lease of its own (`<ring>-<identity>`, labelled
 * `kubeloop.dev/ring: <ring>`), renewed like a leader's, and reconciles only the
 * objects labelled with its identity — and only while that Lease is renewed, so
 * it has stopped before the others can see the Lease expire. One replica at a
 * time, elected on the Lease `<ring>-sharder`, is the sharder: it labels every
 * object with its member (see sharder.ts).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Leases } from '../../core/builtin.js';
import type { Client } from '../../client/client.js';
import { Api } from '../../client/api.js';
import type { KubeObject } from '../../core/resource.js';
import { LeaderElector, type LeaderElectorOptions } from '../leader-election.js';
import { shardingMetrics } from './metrics.js';
import { runSharder } from './sharder.js';
import { checkMemberIdentity, checkRingName, drainLabel, RING_LABEL, shardLabel } from './labels.js';

/** The member and sharder Leases' timings are leader election's (defaults 15 s / 10 s / 2 s). */
export interface ShardRingOptions extends Pick<LeaderElectorOptions, 'leaseDurationMs' | 'renewDeadlineMs' | 'retryPeriodMs'> {
  /** The ring's name: a DNS label, unique per sharded controller. */
  name: string;
  /** Where the ring's Leases live, usually the operator's own namespace (`POD_NAMESPACE`). */
  namespace: string;
  /** This replica's identity, a label value (the pod name is a good one). Default: the hostname and a random suffix. */
  identity?: string;
}

/** A Lease name for a member: DNS-safe, and told apart by a hash when two identities sanitize alike. */
function memberLeaseName(ring: string, identity: string): string {
  const safe = identity.toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/^-+|-+$/g, '').slice(0, 40);
  let h = 0x811c9dc5;
  for (let i = 0; i < identity.length; i++) h = Math.imul(h ^ identity.charCodeAt(i), 0x01000193);
  return `${ring}-${safe}-${(h >>> 0).toString(16).padStart(8, '0')}`;
}

export class ShardRing {
  readonly name: string;
  readonly namespace: string;
  readonly identity: string;
  /** This replica's membership Lease: held while it may reconcile its share. */
  readonly member: LeaderElector;
  /** The sharder role, held by one replica at a time. */
  readonly sharderElector: LeaderElector;
  readonly leases: Api<import('kubernetes-types/coordination/v1.js').Lease>;
  readonly timings: { leaseDurationMs: number; renewDeadlineMs: number; retryPeriodMs: number };
  /** The shard metrics (registered with the first ring of the process). */
  readonly metrics = shardingMetrics();

  constructor(
    readonly client: Client,
    options: ShardRingOptions,
  ) {
    checkRingName(options.name);
    this.name = options.name;
    this.namespace = options.namespace;
    this.identity = options.identity ?? `${hostname().slice(0, 50)}-${randomBytes(4).toString('hex')}`;
    checkMemberIdentity(this.identity);
    const timings = { leaseDurationMs: options.leaseDurationMs, renewDeadlineMs: options.renewDeadlineMs, retryPeriodMs: options.retryPeriodMs };
    this.member = new LeaderElector(client, { name: memberLeaseName(this.name, this.identity), namespace: this.namespace, identity: this.identity, labels: { [RING_LABEL]: this.name }, ...timings });
    this.sharderElector = new LeaderElector(client, { name: `${this.name}-sharder`, namespace: this.namespace, identity: this.identity, ...timings });
    const { leaseDurationMs, renewDeadlineMs, retryPeriodMs } = this.member.options;
    this.timings = { leaseDurationMs, renewDeadlineMs, retryPeriodMs };
    this.leases = Api.namespaced(client, Leases, this.namespace);
  }

  /** `shard.kubeloop.dev/<ring>` */
  get shardLabel(): string {
    return shardLabel(this.name);
  }

  /** `drain.kubeloop.dev/<ring>` */
  get drainLabel(): string {
    return drainLabel(this.name);
  }

  /** Campaigns for the sharder role over `main` (and the kinds it owns) and shards while holding it, until `signal` aborts. */
  runSharder(main: Api<KubeObject>, owned: Api<KubeObject>[], signal: AbortSignal): Promise<void> {
    return runSharder(this, main, owned, signal);
  }

  /** The label selector of this replica's share. */
  get selector(): string {
    return `${this.shardLabel}=${this.identity}`;
  }
}
