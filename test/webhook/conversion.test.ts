import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Api, CustomResourceDefinitions, defineResource, ManagedWebhookConfiguration, type KubeObject } from '../../src/index.js';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { setupTracing, type Tracing } from '../../src/telemetry/tracing-setup.js';
import { until, useCluster } from '../support/cluster.js';
import { metricValue } from '../support/metric-value.js';
import { startWebhookServer, type TestWebhookServer } from '../support/webhooks.js';

/** v1 (the hub and storage version) keeps a flat size; v2 nests it and names its unit. */
interface WidgetV1 extends KubeObject {
  spec: { size: number };
}
interface WidgetV2 extends KubeObject {
  spec: { dimensions: { size: number; unit: string } };
}
const GROUP = 'conv.kubeloop.dev';
const CRD = `widgets.${GROUP}`;
const V1 = defineResource<WidgetV1>({ group: GROUP, version: 'v1', kind: 'Widget', plural: 'widgets', namespaced: true });
const V2 = defineResource<WidgetV2>({ group: GROUP, version: 'v2', kind: 'Widget', plural: 'widgets', namespaced: true });
const UNCONVERTIBLE = 13;

const t = useCluster();

describe('CRD conversion through the webhook', () => {
  let hooks: TestWebhookServer;
  let managed: ManagedWebhookConfiguration;
  let ns: string;
  const converted: string[] = [];
  const exporter = new InMemorySpanExporter();
  let tracing: Tracing;

  before(async () => {
    tracing = await setupTracing({ exporter, simple: true });
    const schema = { type: 'object', properties: { spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } };
    await Api.all(t.client, CustomResourceDefinitions).create({
      metadata: { name: CRD },
      spec: {
        group: GROUP,
        scope: 'Namespaced',
        names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
        versions: [
          { name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: schema } },
          { name: 'v2', served: true, storage: false, schema: { openAPIV3Schema: schema } },
        ],
      },
    });
    hooks = await startWebhookServer((server) =>
      server.conversion({
        name: CRD,
        path: '/convert-widgets',
        group: GROUP,
        hub: 'v1',
        spokes: {
          v2: {
            toHub: (w: WidgetV2): WidgetV1 => ({ ...w, spec: { size: w.spec.dimensions.size } }),
            fromHub: (w: WidgetV1): WidgetV2 => {
              converted.push(`${w.metadata!.name} v1->v2`);
              if (w.spec.size === UNCONVERTIBLE) throw new Error(`size ${UNCONVERTIBLE} has no v2 form`);
              return { ...w, spec: { dimensions: { size: w.spec.size, unit: 'cm' } } };
            },
          },
        },
      }),
    );
    managed = new ManagedWebhookConfiguration(t.client, hooks.server, { name: 'conversion-test', endpoint: { url: hooks.url } });
    await until('the CRD established', async () => {
      const crd = await Api.all(t.client, CustomResourceDefinitions).get(CRD);
      return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
    });
    await managed.start();
    ns = await t.namespace('conv');
    // The API server rebuilds its handler for the CRD after the conversion change: wait until a v2 read converts.
    await Api.namespaced(t.client, V1, ns).create({ apiVersion: `${GROUP}/v1`, kind: 'Widget', metadata: { name: 'probe' }, spec: { size: 1 } });
    await until('the conversion webhook in force', async () => {
      try {
        return (await Api.namespaced(t.client, V2, ns).get('probe')).spec.dimensions?.size === 1;
      } catch {
        return false;
      }
    });
  });
  after(async () => {
    managed?.stop();
    await hooks?.stop();
    await tracing?.shutdown();
  });

  test("the managed configuration points the CRD's spec.conversion at the server with the CA of its certificate", async () => {
    const crd = await Api.all(t.client, CustomResourceDefinitions).get(CRD);
    const conversion = crd.spec.conversion!;
    assert.equal(conversion.strategy, 'Webhook');
    assert.equal(conversion.webhook!.clientConfig!.url, `${hooks.url}/convert-widgets`);
    assert.equal(Buffer.from(conversion.webhook!.clientConfig!.caBundle!, 'base64').toString(), hooks.files.caPem);
    assert.deepEqual(conversion.webhook!.conversionReviewVersions, ['v1']);
  });

  test('an object written as v1 reads back as v2, converted by the webhook', async () => {
    const before = converted.length;
    await Api.namespaced(t.client, V1, ns).create({ apiVersion: `${GROUP}/v1`, kind: 'Widget', metadata: { name: 'small' }, spec: { size: 3 } });
    const asV2 = await Api.namespaced(t.client, V2, ns).get('small');
    assert.equal(asV2.apiVersion, `${GROUP}/v2`);
    assert.deepEqual(asV2.spec, { dimensions: { size: 3, unit: 'cm' } });
    assert.ok(converted.slice(before).includes('small v1->v2'), 'the webhook converted it');
  });

  test('an object written as v2 is stored as v1 and reads back as v1', async () => {
    await Api.namespaced(t.client, V2, ns).create({ apiVersion: `${GROUP}/v2`, kind: 'Widget', metadata: { name: 'big' }, spec: { dimensions: { size: 40, unit: 'cm' } } });
    const asV1 = await Api.namespaced(t.client, V1, ns).get('big');
    assert.equal(asV1.apiVersion, `${GROUP}/v1`);
    assert.deepEqual(asV1.spec, { size: 40 });
  });

  test("a converter that throws makes the read fail with the converter's message", async () => {
    await Api.namespaced(t.client, V1, ns).create({ apiVersion: `${GROUP}/v1`, kind: 'Widget', metadata: { name: 'unlucky' }, spec: { size: UNCONVERTIBLE } });
    await assert.rejects(Api.namespaced(t.client, V2, ns).get('unlucky'), (e: Error) => {
      assert.match(e.message, new RegExp(`converting ${ns}/unlucky from v1 to v2: size 13 has no v2 form`));
      return true;
    });
    // A list converts all or nothing: one object that fails fails the list.
    await assert.rejects(Api.namespaced(t.client, V2, ns).list(), /size 13 has no v2 form/);
    // The object itself is fine in its stored version.
    assert.equal((await Api.namespaced(t.client, V1, ns).get('unlucky')).spec.size, UNCONVERTIBLE);
  });

  test('each conversion request is a server span (desired version, object count; failed with the message when a converter threw) and is counted by result', async () => {
    const spans = exporter.getFinishedSpans().filter((s) => s.name === 'conversion review');
    assert.ok(spans.length >= 3, `${spans.length} conversion spans`);
    for (const s of spans) {
      assert.equal(s.kind, SpanKind.SERVER);
      assert.equal(s.attributes.webhook, CRD);
    }
    const failed = spans.filter((s) => s.status.code === SpanStatusCode.ERROR);
    assert.ok(failed.length >= 2, 'the get and the list of unlucky');
    for (const s of failed) assert.match(s.status.message ?? '', /size 13 has no v2 form/);
    assert.ok(spans.some((s) => s.attributes['conversion.desired_api_version'] === `${GROUP}/v2` && Number(s.attributes['conversion.objects']) >= 1 && s.status.code !== SpanStatusCode.ERROR));
    assert.ok(spans.some((s) => s.attributes['conversion.desired_api_version'] === `${GROUP}/v1`), 'the v2 write converted to the storage version');
    assert.equal(await metricValue('webhook_requests_total', { webhook: CRD, operation: 'CONVERT', result: 'errored' }), failed.length);
    assert.equal(await metricValue('webhook_requests_total', { webhook: CRD, operation: 'CONVERT', result: 'allowed' }), spans.length - failed.length);
  });
});
