/**
 * The shard ring's metrics, registered in `metricsRegistry` when the first
 * `ShardRing` is made: a process that does not shard exports no empty shard
 * families (as with the webhook metrics, and controller-runtime's names when off).
 */
import { Counter, Gauge, Histogram } from 'prom-client';
import { DURATION_BUCKETS, metricsRegistry, SourcedGauge } from '../../telemetry/metrics.js';

function define() {
  const registers = [metricsRegistry];
  return {
    shardObjects: new SourcedGauge('shard_objects', "Objects in this replica's share of a shard ring (its main cache).", ['ring', 'shard']),
    shardRingMembers: new Gauge({
      name: 'shard_ring_members',
      help: 'Live members of a shard ring, as the sharder sees them (set on the replica that runs the sharder).',
      labelNames: ['ring'] as const,
      registers,
    }),
    shardMoves: new Counter({
      name: 'shard_moves_total',
      help: 'Shard label writes by the sharder: assign (an unlabelled object), reassign (from a dead member, no handshake), drain (a live member asked to let go).',
      labelNames: ['ring', 'kind'] as const,
      registers,
    }),
    shardDrainSeconds: new Histogram({
      name: 'shard_drain_seconds',
      help: 'From asking a member to drain an object to assigning it to its new member.',
      labelNames: ['ring'] as const,
      buckets: DURATION_BUCKETS,
      registers,
    }),
    shardDrains: new Counter({
      name: 'shard_drains_total',
      help: 'Objects this replica let go of when the sharder asked (drain acknowledged).',
      labelNames: ['ring'] as const,
      registers,
    }),
  };
}

let metrics: ReturnType<typeof define> | undefined;

/** The shard metrics, registered on first use. */
export function shardingMetrics(): ReturnType<typeof define> {
  return (metrics ??= define());
}
