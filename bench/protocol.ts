/**
 * Parent ↔ child messages. Every measurement runs in a child process of its own
 * (`node --expose-gc dist/bench/child.js`), so heap and CPU figures belong to one
 * contender; the parent drives the API server load and collects results over IPC.
 */
import type { Scale } from './config.js';

export type Contender =
  | 'kubeloop'
  | 'kubeloop-tuned'
  | 'kubeloop-any'
  | 'client-node'
  // a Go process (bench/contenders/client-go/main.go), not a Node child
  | 'client-go'
  | 'floor'
  // the floor over node:https, no undici in the process (watch scenario)
  | 'floor-http'
  | 'setTimeout'
  | 'all-on'
  | 'all-on-sampled'
  | 'all-on+cr-metrics'
  | 'all-on+deadline'
  | 'tracing-off'
  | 'all-off'
  // caches: sharing
  | 'one-controller'
  | 'three-shared'
  | 'three-private'
  // caches: transform and indexes
  | 'stripManagedFields'
  | 'transform-null'
  | 'stripped+indexes';

/** What the child needs to reach the cluster. */
export interface Target {
  kubeconfigPath: string;
  server: string;
  token: string;
  caPem: string;
}

export interface ChildTask {
  scenario: 'warmup' | 'watch' | 'burst' | 'latency' | 'scheduler' | 'observability' | 'cache-sharing' | 'cache-memory';
  contender: Contender;
  target: Target;
  namespace: string;
  scale: Scale;
  /** Scenario-specific figures (objects expected, OTLP endpoint…). */
  params: Record<string, string | number | boolean>;
}

/** A message either way: a `type` and whatever it carries. */
export interface Message {
  type: string;
  [key: string]: unknown;
}
