import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import { allow, Api, ConfigMaps, deny, isApiError, ManagedWebhookConfiguration, type FailurePolicy } from '../../src/index.js';
import { until, useCluster } from '../support/cluster.js';
import { startWebhookServer, type TestWebhookServer } from '../support/webhooks.js';

const t = useCluster();
const LABEL = 'kubeloop.test/webhook';

describe('failure policy', () => {
  let hooks: TestWebhookServer;
  let managed: ManagedWebhookConfiguration;
  const aborted: string[] = [];

  /** A webhook for ConfigMaps labelled `value`: denies data.refuse, hangs (until its signal) on data.hang. */
  const webhook = (value: string, failurePolicy: FailurePolicy) => ({
    name: `${value}.failure-policy.kubeloop.dev`,
    path: `/${value}`,
    rules: [{ operations: ['CREATE' as const], apiGroups: [''], apiVersions: ['v1'], resources: ['configmaps'] }],
    objectSelector: { matchLabels: { [LABEL]: value } },
    failurePolicy,
    timeoutSeconds: 5,
    handlerTimeoutMs: 1000,
    handler: async (req: { object?: ConfigMap; signal: AbortSignal }) => {
      if (req.object?.data?.hang !== undefined) {
        await new Promise<void>((resolve) => req.signal.addEventListener('abort', () => resolve(), { once: true }));
        aborted.push(value);
        return allow();
      }
      return req.object?.data?.refuse !== undefined ? deny(`refused by ${value}`) : allow();
    },
  });

  before(async () => {
    hooks = await startWebhookServer((server) => server.validating(webhook('ignore', 'Ignore')).validating(webhook('fail', 'Fail')));
    managed = new ManagedWebhookConfiguration(t.client, hooks.server, { name: 'failure-policy-test', endpoint: { url: hooks.url } });
    await managed.start();
    for (const value of ['ignore', 'fail']) {
      await until(`the ${value} webhook in force`, async () => {
        try {
          await Api.namespaced(t.client, ConfigMaps, 'default').create({ metadata: { name: 'probe', labels: { [LABEL]: value } }, data: { refuse: 'x' } }, { dryRun: true });
          return false;
        } catch (e) {
          return isApiError(e, 403);
        }
      });
    }
  });
  after(async () => {
    managed?.stop();
    await hooks?.stop();
  });

  test('a handler past its time limit is answered in time by its failure policy: Fail denies, Ignore admits with a warning', async () => {
    const ns = await t.namespace('slow');
    const cms = Api.namespaced(t.client, ConfigMaps, ns);
    let started = performance.now();
    await assert.rejects(cms.create({ metadata: { name: 'slow-fail', labels: { [LABEL]: 'fail' } }, data: { hang: 'x' } }), (e: unknown) => {
      assert.ok(isApiError(e, 500), String(e));
      assert.match((e as Error).message, /admission webhook fail\.failure-policy\.kubeloop\.dev did not answer within 1000 ms/);
      return true;
    });
    const failMs = performance.now() - started;
    assert.ok(failMs >= 1000 && failMs < 4000, `answered after the handler's 1 s, before the API server's 5 s (${Math.round(failMs)} ms)`);

    started = performance.now();
    const res = await t.client.request({
      verb: 'create',
      method: 'POST',
      path: `/api/v1/namespaces/${ns}/configmaps`,
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'slow-ignore', labels: { [LABEL]: 'ignore' } }, data: { hang: 'x' } }),
    });
    const ignoreMs = performance.now() - started;
    assert.equal(res.status, 201);
    assert.match(String(res.headers.warning), /did not answer within 1000 ms; the write was admitted without its check \(failurePolicy Ignore\)/);
    assert.ok(ignoreMs >= 1000 && ignoreMs < 4000, `${Math.round(ignoreMs)} ms`);
    assert.deepEqual(aborted.sort(), ['fail', 'ignore'], "each handler's signal was aborted at its time limit");
    assert.equal(await cms.getOpt('slow-fail'), undefined);
  });

  test('with the webhook server stopped, writes go through a webhook with Ignore and are refused by one with Fail', async () => {
    const ns = await t.namespace('stopped');
    const cms = Api.namespaced(t.client, ConfigMaps, ns);
    const port = hooks.server.port;
    await hooks.server.close();
    // The fault: nothing listens on the webhook's port any more.
    await assert.rejects(
      new Promise((resolve, reject) => connect(port, '127.0.0.1').once('connect', resolve).once('error', reject)),
      /ECONNREFUSED/,
    );
    // Ignore: the write is admitted (even one the handler would have refused).
    const admitted = await cms.create({ metadata: { name: 'through', labels: { [LABEL]: 'ignore' } }, data: { refuse: 'x' } });
    assert.equal(admitted.metadata!.name, 'through');
    // Fail: the write is refused by the API server, naming the webhook it could not call.
    await assert.rejects(cms.create({ metadata: { name: 'blocked', labels: { [LABEL]: 'fail' } } }), (e: unknown) => {
      assert.ok(isApiError(e, 500), String(e));
      assert.match((e as Error).message, /failed calling webhook "fail\.failure-policy\.kubeloop\.dev"/);
      assert.match((e as Error).message, /connection refused/);
      return true;
    });
    assert.equal(await cms.getOpt('blocked'), undefined);
  });
});
