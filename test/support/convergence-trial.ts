/**
 * One convergence trial with the controller in the test process: a fresh
 * namespace with seeded objects, a Controller reconciling it with the
 * convergence reconciler, a writer churning while the fault is injected, a
 * final round of writes, and the oracle's verdict. The fault is a function of
 * the trial context; it records what shows that it really happened.
 */
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import { request } from 'undici';
import {
  Api, ApiError, ConfigMaps, Controller, ExponentialBackoff, ObjectNotFoundError, QueueError, type Client, type MainWatcherConfig,
} from '../../src/index.js';
import type { LocalCluster } from '../../src/testing/index.js';
import type { TestCluster } from './cluster.js';
import { convergenceReconciler, retrySoon } from './convergence-reconciler.js';
import { judge, Ledger } from './convergence-oracle.js';
import type { TrialOutcome } from './convergence-report.js';
import { Writer, type WriterOptions } from './convergence-writer.js';
import { metricValue } from './metric-value.js';

/** Every live object reconciled at its final state within this long after the last write. */
export const CONVERGE_BOUND_MS = 15_000;

/**
 * Writes one key outside the API server's keyspace straight into etcd, moving its
 * revision on. Done while kube-apiserver is down, it stands for the writes a busy
 * cluster makes meanwhile (other API servers, leases): the restarted server's
 * fresh watch cache starts past every watcher's resourceVersion and answers their
 * resumed watches with 410 Gone, so they relist.
 */
export async function moveEtcdRevisionOn(cluster: LocalCluster): Promise<number> {
  const key = Buffer.from('/kubeloop-test/revision').toString('base64');
  const value = Buffer.from(String(Date.now())).toString('base64');
  const res = await request(`${cluster.etcdUrl}/v3/kv/put`, { method: 'POST', body: JSON.stringify({ key, value }) });
  const body = (await res.body.json()) as { header?: { revision?: string } };
  if (res.statusCode !== 200) throw new Error(`etcd put answered ${res.statusCode}: ${JSON.stringify(body)}`);
  return Number(body.header?.revision);
}

/** Watch errors of the result stream whose watcher error was a `410 Gone`. */
export function goneErrors(errors: Error[]): number {
  return errors.filter((e) => e instanceof QueueError && e.cause instanceof ApiError && e.cause.code === 410).length;
}

export interface TrialContext {
  ns: string;
  controllerName: string;
  controller: Controller<ConfigMap>;
  writer: Writer;
  ledger: Ledger;
  /** Shown in the report: what proves the fault happened. */
  evidence: Record<string, number | string | boolean>;
  /** Recorded when the fault provably did not happen. */
  faultProblems: string[];
}

export interface ControllerTrialOptions {
  t: TestCluster;
  fault: string;
  trial: number;
  /** The controller's own client (straight to the API server, or through a proxy); closed when the trial ends. */
  client: Client;
  watcherConfig?: MainWatcherConfig<ConfigMap>;
  /** Objects created before the controller starts. Default 10. */
  seed?: number;
  writer?: Omit<WriterOptions, 'signal'>;
  signal?: AbortSignal;
  /** Runs while the writer churns; must leave the fault over when it returns. */
  inject(ctx: TrialContext): Promise<void>;
  /**
   * Runs after the verdict, with `ctx.evidence` holding the deltas over the fault of
   * `relists`, `restarts`, `watchErrors`, `gone` (410s) and `writes`: records in
   * `ctx.faultProblems` why the fault did not really happen, if it did not.
   */
  prove(ctx: TrialContext): void;
}

/** Watcher retries on a short leash (100 ms to 2 s), so a trial spends its time on faults, not in backoff. */
export const trialBackoff = (): ExponentialBackoff => new ExponentialBackoff({ initialMs: 100, maxMs: 2000 });

export async function controllerTrial(o: ControllerTrialOptions): Promise<TrialOutcome> {
  const slug = o.fault.replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 30);
  const ns = await o.t.namespace(slug.slice(0, 20));
  const writerApi = Api.namespaced(o.t.client, ConfigMaps, ns);
  const writer = new Writer(writerApi, 'obj', { ...o.writer, signal: o.signal });
  const seed = o.seed ?? 10;
  await writer.seed(seed);

  const controllerName = `${slug}-${o.trial}`;
  const ledger = new Ledger();
  const api = Api.namespaced(o.client, ConfigMaps, ns);
  const controller = new Controller(api, { backoff: trialBackoff, ...o.watcherConfig }).withConfig({ name: controllerName });
  const shutdown = new AbortController();
  controller.gracefulShutdownOn(shutdown.signal);
  const done = (async () => {
    for await (const r of controller.run(convergenceReconciler(api, ledger), retrySoon, {})) {
      if (r.ok) continue;
      if (r.error instanceof ObjectNotFoundError) ledger.objectNotFound(r.error.ref.name);
      else ledger.error(r.error, r.ref?.name);
    }
  })();

  const watcherLabels = { controller: controllerName, resource: 'configmaps' };
  const counters = async () => ({
    relists: await metricValue('watcher_relists_total', watcherLabels),
    restarts: await metricValue('watcher_restarts_total', watcherLabels),
    watchErrors: ledger.errors.filter((e) => e instanceof QueueError).length,
    gone: goneErrors(ledger.errors),
    writes: writer.writes,
  });
  const ctx: TrialContext = { ns, controllerName, controller, writer, ledger, evidence: {}, faultProblems: [] };
  try {
    await ledger.until(`the ${seed} seeded objects to be reconciled`, () => ledger.last.size >= seed, 30_000);
    writer.start();
    await writer.accepted(10);
    const before = await counters();
    await o.inject(ctx);
    // The churn goes on over the recovered connection before the final round.
    await writer.accepted(10);
    await writer.stop();
    await writer.finalRound();
    const verdict = await judge(writerApi, ledger, writer, CONVERGE_BOUND_MS);
    const after = await counters();
    for (const k of Object.keys(after) as (keyof typeof after)[]) ctx.evidence[k] ??= after[k] - before[k];
    ctx.evidence.reconciles = ledger.reconciles;
    ctx.evidence.writeFailures = writer.failures;
    if (Number(ctx.evidence.writes) === 0) ctx.faultProblems.push('the writer wrote nothing during the fault');
    o.prove(ctx);
    return { fault: o.fault, trial: o.trial, ...verdict, faultProblems: ctx.faultProblems, evidence: ctx.evidence };
  } finally {
    await writer.stop();
    shutdown.abort();
    await done;
    await o.client.close();
  }
}
