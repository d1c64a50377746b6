/**
 * Generated CRDs against a real API server (v1.20): accepted and Established, and the
 * schema behaves as declared — refusals naming the field, pruning, defaults,
 * int-or-string, nullable, preserve-unknown-fields, embedded resources, list maps, and
 * two versions served with None conversion.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { z } from 'zod';
import type { CustomResourceDefinition } from 'kubernetes-types/apiextensions/v1.js';
import { Api, ApiError, Patch, CustomResourceDefinitions, defineCustomResource, defineCustomResourceOf, definitionOf, type ObjectOf } from '../../src/index.js';
import { DocumentResource } from '../../examples/document-controller/document.js';
import { until, useCluster } from '../support/cluster.js';

const t = useCluster();

const widgetSpec = {
  type: 'object',
  required: ['size'],
  properties: {
    size: { type: 'integer', minimum: 1 },
    replicas: { type: 'integer', default: 1 },
    mode: { type: 'string', enum: ['fast', 'safe'], default: 'safe' },
    port: { 'x-kubernetes-int-or-string': true },
    owner: { type: 'string', nullable: true },
    note: { type: 'string' },
    config: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
    template: { type: 'object', 'x-kubernetes-embedded-resource': true, 'x-kubernetes-preserve-unknown-fields': true },
    ports: {
      type: 'array',
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
      items: { type: 'object', required: ['name'], properties: { name: { type: 'string' }, port: { type: 'integer' } } },
    },
  },
} as const;
const widgetStatus = { type: 'object', properties: { replicas: { type: 'integer' } } } as const;

const WidgetResource = defineCustomResource({
  group: 'schema.kubeloop.test',
  names: { kind: 'Widget', plural: 'widgets', shortNames: ['wd'], categories: ['kubeloop'] },
  scope: 'Namespaced',
  versions: {
    v1: {
      storage: true, spec: widgetSpec, status: widgetStatus,
      subresources: { status: true, scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas' } },
      printerColumns: [{ name: 'Size', type: 'integer', jsonPath: '.spec.size' }],
    },
    v2: { spec: widgetSpec, status: widgetStatus, subresources: { status: true }, deprecated: true, deprecationWarning: 'schema.kubeloop.test/v2 Widget is deprecated; use v1' },
  },
  conversion: { strategy: 'None' },
});
type Widget = ObjectOf<typeof WidgetResource.resources.v1>;

const JobResource = defineCustomResource({
  group: 'schema.kubeloop.test',
  names: { kind: 'ZodJob', plural: 'zodjobs' },
  scope: 'Namespaced',
  versions: { v1: { spec: z.object({ image: z.string().min(1), port: z.union([z.int(), z.string()]), mode: z.enum(['a', 'b']).default('a'), note: z.string().nullable().optional() }) } },
});

// t.client exists once useCluster's before hook ran.
const crds = () => Api.all(t.client, CustomResourceDefinitions);
const created: string[] = [];

async function install(crd: CustomResourceDefinition): Promise<void> {
  await crds().create(crd);
  created.push(crd.metadata!.name!);
  await until(`CRD ${crd.metadata!.name} established`, async () => (await crds().get(crd.metadata!.name!)).status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True'));
}

async function refusal(p: Promise<unknown>): Promise<ApiError> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  assert.ok(e instanceof ApiError, `expected the server to refuse, got ${String(e)}`);
  return e;
}

describe('generated CRDs against a real API server', () => {
  before(async () => {
    await install(WidgetResource.crd);
    await install(JobResource.crd);
    await install(DocumentResource.crd);
  });
  after(async () => {
    for (const name of created) await crds().delete(name).catch(() => undefined);
  });

  test('the Widget, zod and Document CRDs are accepted and become Established, with their names, versions (one deprecated), columns and subresources', async () => {
    const w = await crds().get('widgets.schema.kubeloop.test');
    assert.deepEqual(w.spec.names.shortNames, ['wd']);
    assert.deepEqual(w.spec.names.categories, ['kubeloop']);
    assert.deepEqual(w.spec.versions.map((v) => [v.name, v.served, v.storage, v.deprecated, v.deprecationWarning]), [['v1', true, true, undefined, undefined], ['v2', true, false, true, 'schema.kubeloop.test/v2 Widget is deprecated; use v1']]);
    assert.deepEqual(w.spec.versions[0]!.subresources, { status: {}, scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas' } });
    assert.deepEqual(w.spec.versions[0]!.additionalPrinterColumns, [{ name: 'Size', type: 'integer', jsonPath: '.spec.size' }]);
    assert.equal(created.length, 3);
  });

  test('an object violating the schema is refused with a 422 naming each field, the same fields the validator names', async () => {
    const ns = await t.namespace();
    const bad = { apiVersion: 'schema.kubeloop.test/v1', kind: 'Widget', metadata: { name: 'bad' }, spec: { size: 0, mode: 'slow', port: 1.5, ports: [{ port: 80 }] } };
    const e = await refusal(Api.namespaced(t.client, WidgetResource.resources.v1, ns).create(bad as unknown as Widget));
    assert.equal(e.code, 422);
    const serverFields = (e.status.details?.causes ?? []).map((c) => c.field).sort();
    assert.deepEqual(serverFields, ['spec.mode', 'spec.port', 'spec.ports.name', 'spec.size']);
    // The 1.20 server leaves list indexes out of a missing field's path (spec.ports.name); the validator keeps them.
    const local = WidgetResource.validator('v1').validate(bad);
    assert.deepEqual(!local.ok && local.issues.map((i) => i.path).sort(), ['spec.mode', 'spec.port', 'spec.ports[0].name', 'spec.size']);
    assert.deepEqual(!local.ok && local.issues.map((i) => i.path.replace(/\[\d+\]/g, '')).sort(), serverFields);
    for (const f of serverFields) assert.ok(e.message.includes(f), `the message names ${f}: ${e.message}`);
  });

  test('unknown fields are pruned, defaults applied, null kept only where nullable, int-or-string takes both, preserve-unknown-fields keeps everything under it', async () => {
    const ns = await t.namespace();
    const api = Api.namespaced(t.client, WidgetResource.resources.v1, ns);
    const sent = {
      metadata: { name: 'w1' },
      spec: { size: 2, port: 'http', owner: null, note: null, config: { deep: { any: ['thing', 1] } }, unknownField: 'x' },
    };
    const w = await api.create(sent as unknown as Widget);
    assert.deepEqual(w.spec, { size: 2, replicas: 1, mode: 'safe', port: 'http', owner: null, config: { deep: { any: ['thing', 1] } } });
    const n = await api.create({ metadata: { name: 'w2' }, spec: { size: 1, port: 8080 } });
    assert.equal(n.spec.port, 8080);
  });

  test('an embedded resource must carry apiVersion and kind, and keeps its metadata', async () => {
    const ns = await t.namespace();
    const api = Api.namespaced(t.client, WidgetResource.resources.v1, ns);
    const e = await refusal(api.create({ metadata: { name: 'e1' }, spec: { size: 1, template: { metadata: { name: 'x' } } as never } }));
    assert.equal(e.code, 422);
    assert.deepEqual((e.status.details?.causes ?? []).map((c) => c.field).sort(), ['spec.template.apiVersion', 'spec.template.kind']);
    const ok = await api.create({ metadata: { name: 'e2' }, spec: { size: 1, template: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', labels: { a: 'b' } }, data: { k: 'v' } } } });
    assert.deepEqual(ok.spec.template, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', labels: { a: 'b' } }, data: { k: 'v' } });
  });

  test('a list map refuses two items with the same key', async () => {
    const ns = await t.namespace();
    const e = await refusal(Api.namespaced(t.client, WidgetResource.resources.v1, ns).create({ metadata: { name: 'dup' }, spec: { size: 1, ports: [{ name: 'a', port: 1 }, { name: 'a', port: 2 }] } }));
    assert.equal(e.code, 422);
    assert.match(e.message, /spec\.ports\[1\]: Duplicate value/);
  });

  test('two versions are served with None conversion: an object written as v1 reads as v2, and a status written through v2 reads through v1', async () => {
    const ns = await t.namespace();
    const v1 = Api.namespaced(t.client, WidgetResource.resources.v1, ns);
    const v2 = Api.namespaced(t.client, WidgetResource.resources.v2, ns);
    await v1.create({ metadata: { name: 'both' }, spec: { size: 3, replicas: 2 } });
    const read = await v2.get('both');
    assert.equal(read.apiVersion, 'schema.kubeloop.test/v2');
    assert.deepEqual(read.spec, { size: 3, replicas: 2, mode: 'safe' });
    await v2.patchStatus('both', Patch.merge({ status: { replicas: 2 } }));
    assert.equal((await v1.get('both')).status?.replicas, 2);
  });

  test('a zod-defined resource: int-or-string, the default and nullable as zod declared them', async () => {
    const ns = await t.namespace();
    const api = Api.namespaced(t.client, JobResource.resources.v1, ns);
    const j = await api.create({ metadata: { name: 'j' }, spec: { image: 'busybox', port: 'http', note: null } });
    assert.deepEqual(j.spec, { image: 'busybox', port: 'http', mode: 'a', note: null });
    const e = await refusal(api.create({ metadata: { name: 'k' }, spec: { image: '', port: 1 } }));
    assert.equal(e.code, 422);
    assert.deepEqual([...new Set((e.status.details?.causes ?? []).map((c) => c.field))], ['spec.image']);
  });
});

describe('the corpus, through defineCustomResourceOf (what a module from kubeloop-dev types does), against a real API server', () => {
  const dir = fileURLToPath(new URL('../../../test/fixtures/crds/', import.meta.url));
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();

  // Kubernetes 1.20 refuses `default: ""` (it reads the empty default as null), which
  // controller-gen writes for Kubernetes' own LocalObjectReference fields: those CRDs need
  // 1.21+ whoever generates them, so the claim is that the server answers the round-tripped
  // CRD as it answers the original.
  test('each round-tripped corpus CRD gets the answer its original gets: accepted and Established, or (on 1.20) refused for default: "" alone', async () => {
    assert.ok(files.length >= 8, `the corpus has ${files.length} CRDs`);
    const answers: string[] = [];
    for (const f of files) {
      const original = parse(readFileSync(dir + f, 'utf8')) as CustomResourceDefinition;
      const again = defineCustomResourceOf(definitionOf(original)).crd;
      const answer: string[] = [];
      for (const crd of [original, again]) {
        const refused = await crds().create(crd).then(() => undefined, (e: unknown) => e);
        if (refused === undefined) {
          await until(`CRD ${crd.metadata!.name} established`, async () => (await crds().get(crd.metadata!.name!)).status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True'));
          await crds().delete(crd.metadata!.name!);
          await until(`CRD ${crd.metadata!.name} gone`, async () => (await crds().getOpt(crd.metadata!.name!)) === undefined);
          answer.push('Established');
        } else {
          assert.ok(refused instanceof ApiError && refused.code === 422, String(refused));
          const causes = refused.status.details?.causes ?? [];
          assert.ok(causes.length > 0 && causes.every((c) => c.field?.endsWith('.default') && /must be of type string: "null"/.test(c.message ?? '')), `${f}: refused for something else than default "": ${refused.message.slice(0, 300)}`);
          answer.push('default "" refused');
        }
      }
      assert.equal(answer[1], answer[0], `${f}: the round trip changed the server's answer`);
      answers.push(`${f}: ${answer[0]}`);
    }
    assert.equal(answers.filter((a) => a.endsWith('Established')).length, 5, answers.join('\n'));
  });
});
