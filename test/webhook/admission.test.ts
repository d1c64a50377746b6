import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  allow, Api, Client, ConfigMaps, deny, isApiError, ManagedWebhookConfiguration, mutate, ValidatingWebhookConfigurations, type AdmissionRequest, type Layer,
} from '../../src/index.js';
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import { until, useCluster } from '../support/cluster.js';
import { captureLogs } from '../support/logs.js';
import { startWebhookServer, type TestWebhookServer } from '../support/webhooks.js';

const t = useCluster();
const LABEL = 'kubeloop.test/webhook';
const seen: AdmissionRequest<ConfigMap>[] = [];
let hooks: TestWebhookServer;
let managed: ManagedWebhookConfiguration;

/** Rules for ConfigMap writes that carry `LABEL: value`, so each test picks its webhook by label. */
const onLabel = (value: string) => ({
  rules: [{ operations: ['CREATE', 'UPDATE', 'DELETE'] as ('CREATE' | 'UPDATE' | 'DELETE')[], apiGroups: [''], apiVersions: ['v1'], resources: ['configmaps'] }],
  objectSelector: { matchLabels: { [LABEL]: value } },
  failurePolicy: 'Ignore' as const,
});

describe('admission webhooks through the API server', () => {
  // Inside the describe: the file-level hook that starts the cluster has run by then.
  before(async () => {
    hooks = await startWebhookServer((server) =>
      server
        .validating<ConfigMap>({
          name: 'validate.admission-test.kubeloop.dev',
          path: '/validate',
          ...onLabel('validate'),
          handler: (req) => {
            seen.push(req);
            if (req.object?.data?.forbidden !== undefined) return deny(`the key "forbidden" is not allowed in ConfigMap ${req.name}`, { code: 422, reason: 'Invalid' });
            if (req.object?.data?.deprecated !== undefined) return allow(['the key "deprecated" will stop working in the next release']);
            return allow();
          },
        })
        .mutating<ConfigMap>({
          name: 'mutate.admission-test.kubeloop.dev',
          path: '/mutate',
          ...onLabel('mutate'),
          handler: (req) => {
            seen.push(req);
            const cm = req.object!;
            cm.metadata!.labels = { ...cm.metadata!.labels, 'kubeloop.test/mutated': 'yes' };
            cm.data = { defaulted: 'true', ...cm.data };
            return mutate(cm);
          },
        })
        .validating<ConfigMap>({
          name: 'throw.admission-test.kubeloop.dev',
          path: '/throw',
          ...onLabel('throw'),
          handler: () => {
            throw new Error('cannot reach postgres://app:hunter2@db:5432');
          },
        }),
    );
    managed = new ManagedWebhookConfiguration(t.client, hooks.server, { name: 'admission-test', endpoint: { url: hooks.url } });
    await managed.start();
    // The API server picks configurations up from a watch: wait until the validating one is in force.
    const probe = Api.namespaced(t.client, ConfigMaps, 'default');
    await until('the webhook configuration in force', async () => {
      try {
        await probe.create({ metadata: { name: 'probe', labels: { [LABEL]: 'validate' } }, data: { forbidden: 'x' } }, { dryRun: true });
        return false;
      } catch (e) {
        return isApiError(e, 422);
      }
    });
  });
  after(async () => {
    managed?.stop();
    await hooks?.stop();
  });

  test('the managed configuration carries the rules, failure policy, timeout, review versions and the CA of the serving certificate', async () => {
    const config = await Api.all(t.client, ValidatingWebhookConfigurations).get('admission-test');
    const entry = config.webhooks!.find((w) => w.name === 'validate.admission-test.kubeloop.dev')!;
    assert.equal(entry.clientConfig.url, `${hooks.url}/validate`);
    assert.equal(Buffer.from(entry.clientConfig.caBundle!, 'base64').toString(), hooks.files.caPem);
    assert.equal(entry.failurePolicy, 'Ignore');
    assert.equal(entry.sideEffects, 'None');
    assert.equal(entry.timeoutSeconds, 10);
    assert.deepEqual(entry.admissionReviewVersions, ['v1', 'v1beta1']);
    assert.deepEqual(entry.objectSelector, { matchLabels: { [LABEL]: 'validate' } });
    assert.equal(config.webhooks!.length, 2, 'the two validating webhooks, the mutating one is in the other configuration');
  });

  test("a create the validating handler refuses fails with the handler's message and code, and nothing is stored", async () => {
    const ns = await t.namespace('deny');
    const cms = Api.namespaced(t.client, ConfigMaps, ns);
    await assert.rejects(cms.create({ metadata: { name: 'bad', labels: { [LABEL]: 'validate' } }, data: { forbidden: 'x' } }), (e: unknown) => {
      assert.ok(isApiError(e, 422), String(e));
      assert.match((e as Error).message, /the key "forbidden" is not allowed in ConfigMap bad/);
      return true;
    });
    assert.equal(await cms.getOpt('bad'), undefined);
    const good = await cms.create({ metadata: { name: 'good', labels: { [LABEL]: 'validate' } }, data: { fine: 'x' } });
    assert.equal(good.metadata!.name, 'good');
  });

  test("a handler's warnings reach the client in the Warning header of the API server's answer (read by a layer of the client's own)", async () => {
    const ns = await t.namespace('warn');
    // client-go's warning handler, as a kubeloop layer: the typed Api returns objects, the layer sees the headers.
    const warnings: string[] = [];
    const warningLayer: Layer = (next) => async (req) => {
      const res = await next(req);
      if (res.headers.warning) warnings.push(String(res.headers.warning));
      return res;
    };
    const client = new Client({ ...t.client.config }, { layers: [warningLayer] });
    try {
      await Api.namespaced(client, ConfigMaps, ns).create({ metadata: { name: 'old', labels: { [LABEL]: 'validate' } }, data: { deprecated: 'x' } });
      await Api.namespaced(client, ConfigMaps, ns).create({ metadata: { name: 'new', labels: { [LABEL]: 'validate' } }, data: { current: 'x' } });
    } finally {
      await client.close();
    }
    assert.deepEqual(warnings, ['299 - "the key \\"deprecated\\" will stop working in the next release"']);
  });

  test('a mutating handler returns the changed object and what is stored is that object (kubeloop sent the JSON patch)', async () => {
    const ns = await t.namespace('mutate');
    const cms = Api.namespaced(t.client, ConfigMaps, ns);
    const created = await cms.create({ metadata: { name: 'm', labels: { [LABEL]: 'mutate' } }, data: { own: 'v' } });
    assert.equal(created.metadata!.labels!['kubeloop.test/mutated'], 'yes');
    assert.deepEqual(created.data, { defaulted: 'true', own: 'v' });
    const stored = await cms.get('m');
    assert.deepEqual(stored.data, { defaulted: 'true', own: 'v' });
    // A value the user set is not overwritten by the default.
    const explicit = await cms.create({ metadata: { name: 'm2', labels: { [LABEL]: 'mutate' } }, data: { defaulted: 'false' } });
    assert.deepEqual(explicit.data, { defaulted: 'false' });
  });

  test('a dry-run create is flagged to the handler, and the object is not stored', async () => {
    const ns = await t.namespace('dry');
    const cms = Api.namespaced(t.client, ConfigMaps, ns);
    const before = seen.length;
    const answered = await cms.create({ metadata: { name: 'dry', labels: { [LABEL]: 'mutate' } } }, { dryRun: true });
    assert.equal(answered.data?.defaulted, 'true', 'the mutation applies to the dry-run answer too');
    const mine = seen.slice(before).filter((r) => r.namespace === ns);
    assert.equal(mine.length, 1);
    assert.equal(mine[0]!.dryRun, true);
    assert.equal(mine[0]!.operation, 'CREATE');
    assert.equal(await cms.getOpt('dry'), undefined);
    await cms.create({ metadata: { name: 'wet', labels: { [LABEL]: 'mutate' } } });
    assert.equal(seen.filter((r) => r.namespace === ns && r.name === 'wet')[0]!.dryRun, false);
  });

  test('UPDATE carries the old object, DELETE the old object and no object, and userInfo names the writer', async () => {
    const ns = await t.namespace('ops');
    const cms = Api.namespaced(t.client, ConfigMaps, ns);
    await cms.create({ metadata: { name: 'c', labels: { [LABEL]: 'validate' } }, data: { v: '1' } });
    const current = await cms.get('c');
    await cms.replace('c', { ...current, data: { v: '2' } });
    await cms.delete('c');
    const mine = seen.filter((r) => r.namespace === ns);
    assert.deepEqual(mine.map((r) => r.operation), ['CREATE', 'UPDATE', 'DELETE']);
    const [create, update, del] = mine as [AdmissionRequest<ConfigMap>, AdmissionRequest<ConfigMap>, AdmissionRequest<ConfigMap>];
    assert.equal(create.oldObject, undefined);
    assert.deepEqual(update.oldObject!.data, { v: '1' });
    assert.deepEqual(update.object!.data, { v: '2' });
    assert.equal(del.object, undefined);
    assert.deepEqual(del.oldObject!.data, { v: '2' });
    for (const r of mine) {
      assert.equal(r.userInfo.username, 'admin');
      assert.ok(r.userInfo.groups!.includes('system:masters'));
    }
  });

  test('a handler that throws denies the write with a generic message; the details are logged, never sent', async () => {
    const logs = captureLogs('kubeloop::webhook=error');
    try {
      const ns = await t.namespace('throw');
      const cms = Api.namespaced(t.client, ConfigMaps, ns);
      await assert.rejects(cms.create({ metadata: { name: 'x', labels: { [LABEL]: 'throw' } } }), (e: unknown) => {
        assert.ok(isApiError(e, 500), String(e));
        assert.match((e as Error).message, /admission webhook throw\.admission-test\.kubeloop\.dev failed to review the request \(its logs say why\)/);
        assert.doesNotMatch((e as Error).message, /hunter2|postgres/);
        return true;
      });
      assert.equal(await cms.getOpt('x'), undefined);
      const line = logs.lines.find((l) => l.msg === 'admission handler threw; the write is denied');
      assert.ok(line, 'the error is logged');
      assert.match(String(line.error), /cannot reach postgres/);
      assert.equal(line.webhook, 'throw.admission-test.kubeloop.dev', 'the log line carries the review span fields');
      assert.equal(line['admission.operation'], 'CREATE');
      assert.equal(line['object.ref'], `ConfigMap.v1./x.${ns}`);
    } finally {
      captureLogs(process.env.KUBELOOP_LOG ?? 'error');
    }
  });
});
