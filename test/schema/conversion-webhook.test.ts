/**
 * A schema-first resource whose two versions differ, served with Webhook conversion
 * against a real API server: the converters are typed by the inferred version types,
 * and each version's generated schema prunes and validates what is written in it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Api, ApiError, CustomResourceDefinitions, defineCustomResource, ManagedWebhookConfiguration, type ObjectOf } from '../../src/index.js';
import { until, useCluster } from '../support/cluster.js';
import { startWebhookServer, type TestWebhookServer } from '../support/webhooks.js';

const GROUP = 'schemaconv.kubeloop.test';
const Gadgets = defineCustomResource({
  group: GROUP,
  names: { kind: 'Gadget', plural: 'gadgets' },
  scope: 'Namespaced',
  versions: {
    v1: { storage: true, spec: { type: 'object', required: ['size'], properties: { size: { type: 'integer', minimum: 1 } } } },
    v2: {
      spec: {
        type: 'object',
        required: ['dimensions'],
        properties: { dimensions: { type: 'object', required: ['size'], properties: { size: { type: 'integer', minimum: 1 }, unit: { type: 'string', enum: ['cm', 'in'], default: 'cm' } } } },
      },
    },
  },
});
type GadgetV1 = ObjectOf<typeof Gadgets.resources.v1>;
type GadgetV2 = ObjectOf<typeof Gadgets.resources.v2>;

const t = useCluster();

describe('a schema-first resource with two different versions and Webhook conversion', () => {
  let hooks: TestWebhookServer;
  let managed: ManagedWebhookConfiguration;
  let ns: string;

  before(async () => {
    const crds = Api.all(t.client, CustomResourceDefinitions);
    await crds.create(Gadgets.crd);
    hooks = await startWebhookServer((server) =>
      server.conversion({
        name: Gadgets.crd.metadata!.name!,
        path: '/convert-gadgets',
        group: GROUP,
        hub: 'v1',
        spokes: {
          v2: {
            // Typed by the schemas: a wrong field, or the other version's apiVersion, does not compile.
            toHub: (g: GadgetV2): GadgetV1 => ({ ...g, apiVersion: `${GROUP}/v1`, spec: { size: g.spec.dimensions.size } }),
            // `extra` is not in v2's schema: the server prunes it from the converted object.
            fromHub: (g: GadgetV1): GadgetV2 => ({ ...g, apiVersion: `${GROUP}/v2`, spec: { dimensions: { size: g.spec.size }, extra: true } as GadgetV2['spec'] }),
          },
        },
      }),
    );
    await until('the CRD established', async () => (await crds.get(Gadgets.crd.metadata!.name!)).status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True'));
    managed = new ManagedWebhookConfiguration(t.client, hooks.server, { name: 'schema-conversion-test', endpoint: { url: hooks.url } });
    await managed.start();
    ns = await t.namespace('gadgets');
    await Api.namespaced(t.client, Gadgets.resources.v1, ns).create({ metadata: { name: 'probe' }, spec: { size: 1 } });
    await until('the conversion webhook in force', async () => {
      try {
        return (await Api.namespaced(t.client, Gadgets.resources.v2, ns).get('probe')).spec.dimensions?.size === 1;
      } catch {
        return false;
      }
    });
  });
  after(async () => {
    managed?.stop();
    await hooks?.stop();
    await Api.all(t.client, CustomResourceDefinitions).delete(Gadgets.crd.metadata!.name!).catch(() => undefined);
  });

  test('the CRD now converts through the webhook', async () => {
    const crd = await Api.all(t.client, CustomResourceDefinitions).get(Gadgets.crd.metadata!.name!);
    assert.equal(crd.spec.conversion?.strategy, 'Webhook');
  });

  // Kubernetes defaults a request in its own version and an object read from etcd in the
  // storage version, never a conversion's output: v2's default unit is not filled in here.
  test('written as v1, read as v2: converted and pruned of what v2 does not declare, without v2\'s defaults', async () => {
    await Api.namespaced(t.client, Gadgets.resources.v1, ns).create({ metadata: { name: 'small' }, spec: { size: 3 } });
    const v2 = await Api.namespaced(t.client, Gadgets.resources.v2, ns).get('small');
    assert.equal(v2.apiVersion, `${GROUP}/v2`);
    assert.deepEqual(v2.spec, { dimensions: { size: 3 } });
  });

  test('written as v2: validated by the v2 schema, stored and read as v1', async () => {
    const v2 = Api.namespaced(t.client, Gadgets.resources.v2, ns);
    await v2.create({ metadata: { name: 'big' }, spec: { dimensions: { size: 40, unit: 'in' } } });
    assert.deepEqual((await Api.namespaced(t.client, Gadgets.resources.v1, ns).get('big')).spec, { size: 40 });
    const refused = await v2.create({ metadata: { name: 'bad' }, spec: { dimensions: { size: 0, unit: 'mm' as 'cm' } } }).then(() => undefined, (e: unknown) => e);
    assert.ok(refused instanceof ApiError && refused.code === 422, String(refused));
    assert.deepEqual((refused.status.details?.causes ?? []).map((c) => c.field).sort(), ['spec.dimensions.size', 'spec.dimensions.unit']);
  });
});
