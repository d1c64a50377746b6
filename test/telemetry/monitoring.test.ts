/**
 * The dashboard and the alerts of deploy/ against a real operator: a controller with
 * leader election, a watched kind whose mapper throws, reconciles that succeed, fail,
 * get a 503 from the API server and run past their deadline, and watches whose
 * connections are cut — scraped every second by a real Prometheus that also evaluates
 * the alert rules. Every query of the dashboard, and every part of every alert that
 * selects data, must return series; the alerts this traffic should raise must fire.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import type { ConfigMap, Secret } from 'kubernetes-types/core/v1.js';
import {
  Action, Api, Client, ConfigMaps, Controller, LeaderElector, ReconcileTimeoutError, Secrets, TriggerError, defineResource, isApiError, type ReconcileResult,
} from '../../src/index.js';
import { until, useCluster } from '../support/cluster.js';
import { runInBackground, signal, Waiter, type RunningController } from '../support/controller.js';
import { startPrometheus, type PrometheusServer, type Sample } from '../support/prometheus.js';
import { dataParts, labelValuesQuery, panelQueries, readDashboard, readRuleGroups } from '../support/promql.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { clientVia, fastBackoff } from '../support/watch-harness.js';

const t = useCluster();

const CONTROLLER = 'monitored';
/** The job the alerts' availability group selects: what the Prometheus Operator names the demo's targets. */
const JOB = 'document-controller';
const OK = ['ok-0', 'ok-1', 'ok-2', 'ok-3'];
const FAILING = ['fail-0', 'fail-1'];
/** Reconciled with a GET of an aggregated API whose APIService points at no Service: the API server answers 503. */
const UNAVAILABLE = 'api-503';
/** Its first reconcile awaits something that does not come before the deadline. */
const SLOW = 'slow';
const DEADLINE_MS = 1000;
/** Grafana's $__rate_interval at a 1 s scrape interval is 4 s; a minute covers the whole test. */
const RATE_INTERVAL = '1m';

const APIServices = defineResource({ group: 'apiregistration.k8s.io', version: 'v1', kind: 'APIService', plural: 'apiservices', namespaced: false });
const Things = defineResource({ group: 'unavailable.kubeloop.test', version: 'v1', kind: 'Thing', plural: 'things', namespaced: true });

describe('the dashboard and the alerts against a real operator and a real Prometheus', () => {
  const waiter = new Waiter();
  const slowGate = signal();
  const closers: (() => Promise<void>)[] = [];
  let running: RunningController | undefined;
  let prom: PrometheusServer | undefined;
  let proxy: TcpProxy;
  let ns: string;
  let slowRuns = 0;

  const results = (): ReconcileResult[] => running?.results ?? [];
  const reconciledOk = (name: string) => results().some((r) => r.ok && r.ref.name === name);
  const failedWith = (name: string, match: (e: Error) => boolean) => results().some((r) => !r.ok && r.ref?.name === name && match(r.error));

  /** Polls an instant query until `ok` accepts its samples; at the deadline, fails with what was seen. */
  async function eventually(expr: string, ok: (samples: Sample[]) => boolean, timeoutMs = 20_000): Promise<Sample[]> {
    let last: Sample[] = [];
    try {
      return await until(expr, async () => {
        last = await prom!.query(expr);
        return ok(last) && last;
      }, timeoutMs, 250);
    } catch (e) {
      throw new Error(`${(e as Error).message}; last result ${JSON.stringify(last)}`, { cause: e });
    }
  }

  before(async () => {
    ns = await t.namespace('monitoring');
    proxy = await TcpProxy.start({ host: '127.0.0.1', port: Number(new URL(t.cluster.server).port) });
    closers.push(() => proxy.close());
    const viaProxy = clientVia(t.cluster, proxy.url);
    // One answer per request: a 503 is not retried, so each reconcile of UNAVAILABLE is one request.
    const noRetries = new Client(t.client.config, { retry: { maxRetries: 0 } });
    closers.push(() => viaProxy.close(), () => noRetries.close());

    await Api.all(t.client, APIServices).create({
      metadata: { name: `${Things.version}.${Things.group}` },
      spec: { group: Things.group, version: Things.version, service: { namespace: ns, name: 'nowhere', port: 443 }, insecureSkipTLSVerify: true, groupPriorityMinimum: 1000, versionPriority: 15 },
    } as never);
    const things = Api.namespaced(noRetries, Things, ns);
    await until('the API server to answer 503 for the unavailable APIService', async () => {
      try {
        await things.list();
        return false;
      } catch (e) {
        return isApiError(e, 503);
      }
    });

    const cms = Api.namespaced(t.client, ConfigMaps, ns);
    for (const name of [...OK, ...FAILING, UNAVAILABLE, SLOW]) await cms.create({ metadata: { name } });
    const secretsViaProxy = Api.namespaced(viaProxy, Secrets, ns);
    const controller = new Controller(Api.namespaced(viaProxy, ConfigMaps, ns), { backoff: fastBackoff })
      .watches(secretsViaProxy, (s: Secret) => {
        if (s.metadata?.name === 'boom') throw new Error('planned mapper failure');
        return [];
      }, { backoff: fastBackoff })
      .withConfig({ name: CONTROLLER, concurrency: 2, reconcileTimeoutMs: DEADLINE_MS })
      // The Lease through the direct client: cutting the proxy's connections must not cost the leadership.
      .withLeaderElection(new LeaderElector(t.client, { name: CONTROLLER, namespace: ns, identity: 'replica-0' }), { onLost: 'recampaign' })
      .serveProbes({ port: 0, host: '127.0.0.1' });
    running = runInBackground(
      controller,
      async (cm: ConfigMap) => {
        const name = cm.metadata!.name!;
        if (name.startsWith('fail-')) throw new Error('planned failure');
        if (name === UNAVAILABLE) await things.list();
        // The user's own await that ignores the deadline's signal: only the first run hangs.
        if (name === SLOW && slowRuns++ === 0) await slowGate.promise;
        await secretsViaProxy.getOpt(name); // a 404
        return Action.awaitChange();
      },
      () => Action.requeue(250),
      {},
      waiter,
    );
    // Only the leader reconciles: the first result means the Lease is held and the probe server listens.
    await waiter.until('a first reconcile', () => results().length > 0);

    const rules = readRuleGroups();
    // `for:` shortened so that an alert fires within the test; promtool's unit tests hold the real durations.
    const rulesFile = join(t.cluster.dir, 'kubeloop.rules.yaml');
    writeFileSync(rulesFile, stringify({ groups: rules.map((g) => ({ ...g, rules: g.rules.map((r) => ({ ...r, for: '0s' })) })) }));
    prom = await startPrometheus({ targets: [`127.0.0.1:${controller.probes!.port}`], job: JOB, ruleFiles: [rulesFile] });
    closers.push(() => prom!.stop());

    await waiter.until('every object reconciled or failed as planned', () =>
      OK.every(reconciledOk)
      && FAILING.every((n) => failedWith(n, (e) => /planned failure/.test(String((e as { cause?: Error }).cause?.message ?? e.message))))
      && failedWith(UNAVAILABLE, (e) => /503|unavailable/i.test(String((e as { cause?: Error }).cause?.message ?? e.message)))
      && failedWith(SLOW, (e) => e instanceof ReconcileTimeoutError)
      && reconciledOk(SLOW));

    // The watches: cut, then refused until both watchers have been turned away (their requests get no answer: code 0).
    const refusedBefore = proxy.counts.refused;
    assert.ok(proxy.block() >= 2, 'the two watches were open through the proxy');
    await until('both watchers to retry and be refused', () => proxy.counts.refused >= refusedBefore + 2);
    proxy.unblock();
    await cms.create({ metadata: { name: 'after-the-cut' } });
    await waiter.until('the ConfigMap made after the cut reconciled (the watch is back)', () => reconciledOk('after-the-cut'));

    // The mapper throws on this Secret: a trigger error.
    await Api.namespaced(t.client, Secrets, ns).create({ metadata: { name: 'boom' } });
    await waiter.until('the trigger error in the result stream', () => results().some((r) => !r.ok && r.error instanceof TriggerError));
  });

  after(async () => {
    slowGate.resolve();
    await running?.stop();
    for (const close of closers.reverse()) await close();
  });

  test('the dashboard\'s job and controller variables list the operator\'s job and controller', async () => {
    const [, job, controller] = readDashboard().templating.list;
    const jobs = labelValuesQuery(String(job!.query));
    const [seen] = await eventually(jobs.expr, (s) => s.length >= 1);
    assert.equal(seen!.metric.job, JOB);
    const controllers = labelValuesQuery(String(controller!.query).replace('$job', JOB));
    assert.deepEqual((await eventually(controllers.expr, (s) => s.length >= 1)).map((s) => s.metric.controller), [CONTROLLER]);
  });

  test('every query of every dashboard panel returns at least one series, with the variables set to the operator\'s job and controller', async () => {
    const queries = panelQueries(readDashboard());
    assert.ok(queries.length >= 20, `${queries.length} queries`);
    const empty: string[] = [];
    for (const q of queries) {
      const expr = q.expr.replace(/\$__rate_interval/g, RATE_INTERVAL).replace(/\$job/g, JOB).replace(/\$controller/g, CONTROLLER);
      assert.doesNotMatch(expr, /\$/, `${q.panel}: a variable left in ${expr}`);
      const samples = await eventually(expr, (s) => s.length > 0).catch(() => [] as Sample[]);
      if (samples.length === 0) empty.push(`${q.panel} (${q.refId}): ${expr}`);
      else console.log(`# ${q.panel} ${q.refId}: ${samples.length} series, e.g. ${JSON.stringify(samples[0]!.metric)} = ${samples[0]!.value}`);
    }
    assert.deepEqual(empty, [], 'queries that returned nothing');
  });

  test('every alert\'s expression, its thresholds removed, selects series of the operator', async () => {
    const rules = readRuleGroups().flatMap((g) => g.rules);
    assert.equal(rules.length, 12);
    const empty: string[] = [];
    for (const rule of rules) {
      const parts = dataParts(rule.expr);
      assert.ok(parts.length >= 1, rule.alert);
      for (const part of parts) {
        const samples = await eventually(part, (s) => s.length > 0).catch(() => [] as Sample[]);
        if (samples.length === 0) empty.push(`${rule.alert}: ${part}`);
        else console.log(`# ${rule.alert}: ${part.replace(/\s+/g, ' ')} → ${samples.length} series, e.g. ${JSON.stringify(samples[0]!.metric)} = ${samples[0]!.value}`);
      }
    }
    assert.deepEqual(empty, [], 'alert parts that selected nothing');
  });

  test('Prometheus fires KubeloopReconcileErrorsHigh, KubeloopReconcileTimeouts and KubeloopTriggerErrors for the controller; KubeloopNoLeader and the availability alerts stay quiet', async () => {
    const firing = (alert: string) => `ALERTS{alertname="${alert}", alertstate="firing", controller="${CONTROLLER}", job="${JOB}"}`;
    await eventually(firing('KubeloopReconcileErrorsHigh'), (s) => s.length === 1);
    const [timeouts] = await eventually(firing('KubeloopReconcileTimeouts'), (s) => s.length === 1);
    assert.equal(timeouts!.metric.severity, 'warning');
    const [trigger] = await eventually(firing('KubeloopTriggerErrors'), (s) => s.length === 1);
    assert.deepEqual([trigger!.metric.source, trigger!.metric.kind], ['secrets (watched)', 'threw']);
    // The rules have been evaluated every second all along, with for: 0s: any of these would show now.
    assert.deepEqual(await prom!.query('ALERTS{alertname=~"KubeloopNoLeader|KubeloopOperatorDown|KubeloopOperatorAbsent"}'), []);
    assert.deepEqual((await prom!.query(`leader_election_status{job="${JOB}"}`)).map((s) => s.value), [1]);
  });
});
