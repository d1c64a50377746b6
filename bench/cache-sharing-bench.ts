/**
 * Scenario 7a: controllers sharing caches. One process runs one controller, or
 * three over the same kind, each with `owns()` of one child kind:
 *
 * - `one-controller`: one Controller over `caches.for(configMaps)` owning
 *   `caches.for(secrets, { metadataOnly: true })`;
 * - `three-shared`: three such controllers over the same CacheSet (one watch
 *   and one store per kind);
 * - `three-private`: three controllers given the Apis, each with caches of its
 *   own — what every multi-controller operator got before shared caches.
 *
 * Figures: watches and lists opened (kubeloop's own `rest_client_requests_total`),
 * heap retained once every controller is ready and its first reconciles are
 * done, and CPU time per update the parent writes while every controller
 * reconciles every object's last value.
 */
import { Action, Api, CacheSet, Client, ConfigMaps, Controller, metricsRegistry, Secrets } from 'kubeloop';
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import { cpuMs, fullGc, heapUsed, markWindow, monoMs, receive, send, until } from './child-io.js';
import { cmName } from './data.js';
import type { ChildTask } from './protocol.js';

/** `rest_client_requests_total` summed over status codes, by verb. */
async function requestsByVerb(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const metric of await metricsRegistry.getMetricsAsJSON()) {
    if (metric.name !== 'rest_client_requests_total') continue;
    for (const { labels, value } of metric.values) out[String(labels.verb)] = (out[String(labels.verb)] ?? 0) + value;
  }
  return out;
}

interface Tally {
  reconciles: number;
  /** Objects whose last written value this controller has reconciled. */
  converged: number;
  seen: Set<string>;
}

export async function cacheSharingBench(task: ChildTask): Promise<Record<string, number>> {
  const objects = Number(task.params.objects);
  const updates = Number(task.params.updates);
  const count = task.contender === 'one-controller' ? 1 : 3;
  const shared = task.contender !== 'three-private';
  const client = Client.fromKubeconfig({ paths: [task.target.kubeconfigPath] });
  const configMaps = Api.namespaced(client, ConfigMaps, task.namespace);
  const secrets = Api.namespaced(client, Secrets, task.namespace);

  // The value each object must end with, filled once the parent says where the values start.
  const finals = new Map<string, number>();
  // Resolved by the reconcile that completes the last tally (no polling in the measured window).
  let allConverged!: () => void;
  const converged = new Promise<void>((resolve) => (allConverged = resolve));
  const tallies: Tally[] = Array.from({ length: count }, () => ({ reconciles: 0, converged: 0, seen: new Set() }));
  let lastReconcile = monoMs();
  const reconcilerOf = (tally: Tally) => (cm: ConfigMap) => {
    tally.reconciles++;
    lastReconcile = monoMs();
    const name = cm.metadata!.name!;
    if (Number(cm.data?.v) === finals.get(name) && !tally.seen.has(name)) {
      tally.seen.add(name);
      if (++tally.converged === finals.size && tallies.every((t) => t.converged === finals.size)) allConverged();
    }
    return Action.awaitChange();
  };

  await fullGc();
  const heap0 = heapUsed();
  const cpu0 = cpuMs();
  const t0 = monoMs();
  const caches = new CacheSet();
  const shutdown = new AbortController();
  const controllers: Controller<ConfigMap>[] = [];
  for (let k = 0; k < count; k++) {
    const main = shared ? caches.for(configMaps) : configMaps;
    const owned = shared ? caches.for(secrets, { metadataOnly: true }) : secrets;
    controllers.push(new Controller<ConfigMap>(main).owns(owned).withConfig({ name: `bench-cache-${k}` }).gracefulShutdownOn(shutdown.signal));
  }
  let errors = 0;
  const runs = controllers.map(async (ctrl, k) => {
    for await (const r of ctrl.run(reconcilerOf(tallies[k]!), () => Action.requeue(1000), undefined)) if (!r.ok) errors++;
  });
  const failed = Promise.race(runs).then(() => {
    throw new Error('a controller stopped early');
  });
  failed.catch(() => {});
  await until('every cache ready', () => controllers.every((c) => c.readiness().every((r) => r.ready)), 120_000, 5);
  const readyMs = monoMs() - t0;
  // The first reconciles: every object at least once per controller (its owned Secret's first list triggers it again), then quiet.
  await until('the first reconciles', () => tallies.every((t) => t.reconciles >= objects), 120_000, 10);
  await until('the first reconciles to settle', () => monoMs() - lastReconcile >= 500, 120_000, 20);
  const startCpuMs = cpuMs() - cpu0;
  await fullGc();
  const heapRetained = heapUsed() - heap0;
  const atReady = await requestsByVerb();
  const queued = controllers.reduce((n, c) => n + c.queue().depth, 0);
  if (queued > 0) throw new Error(`${queued} objects still queued after the first reconciles`);

  send({ type: 'ready' });
  const { base } = (await receive('go')) as unknown as { base: number };
  // Update i sets object i % objects to base + i.
  for (let i = Math.max(0, updates - objects); i < updates; i++) finals.set(cmName(i % objects), base + i);
  for (const t of tallies) t.reconciles = 0;
  const cpu1 = cpuMs();
  const t1 = monoMs();
  send({ type: 'going' });
  await Promise.race([converged, failed]);
  const cpu = cpuMs() - cpu1;
  const streamMs = monoMs() - t1;
  markWindow(t1, t1 + streamMs);
  const atEnd = await requestsByVerb();
  const reconciles = tallies.reduce((n, t) => n + t.reconciles, 0);

  shutdown.abort();
  await Promise.all(runs);
  await client.close();
  return {
    controllers: count,
    watches: atReady.watch ?? 0,
    lists: atReady.list ?? 0,
    watchesAtEnd: atEnd.watch ?? 0,
    readyMs,
    startCpuMs,
    heapMB: heapRetained / 2 ** 20,
    cpuPerUpdateUs: (cpu * 1000) / updates,
    cpuPerReconcileUs: (cpu * 1000) / reconciles,
    reconcilesPerUpdate: reconciles / updates,
    streamMs,
    errors,
  };
}
