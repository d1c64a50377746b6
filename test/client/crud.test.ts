import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import type { CustomResourceDefinition } from 'kubernetes-types/apiextensions/v1.js';
import { Api, ApiError, ConfigMaps, CustomResourceDefinitions, Patch, defineResource, type KubeObject } from '../../src/index.js';
import { useCluster } from '../support/cluster.js';

const t = useCluster();

/** Rejects with the ApiError `fn` throws, or fails when it does not throw one. */
async function apiErrorOf(fn: () => Promise<unknown>): Promise<ApiError> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof ApiError) return e;
    throw e;
  }
  assert.fail('expected an ApiError, but the call succeeded');
}

describe('ConfigMap CRUD round-trip', () => {
  test('create, get, list, replace, three patch types and delete all reach the server', async () => {
    const ns = await t.namespace('crud');
    const api = Api.namespaced(t.client, ConfigMaps, ns);

    const created = await api.create({ metadata: { name: 'settings', labels: { app: 'crud' } }, data: { a: '1' } });
    assert.equal(created.metadata?.namespace, ns);
    assert.ok(created.metadata?.uid, 'the server assigns a uid');
    assert.ok(created.metadata?.resourceVersion, 'the server assigns a resourceVersion');

    const got = await api.get('settings');
    assert.equal(got.metadata?.uid, created.metadata?.uid);
    assert.deepEqual(got.data, { a: '1' });

    await api.create({ metadata: { name: 'other' }, data: {} });
    const all = await api.list();
    assert.deepEqual(all.items.map((c) => c.metadata?.name).sort(), ['other', 'settings']);
    const labelled = await api.list({ labelSelector: 'app=crud' });
    assert.deepEqual(labelled.items.map((c) => c.metadata?.name), ['settings']);

    // replace: a whole-object update, conditional on the resourceVersion it carries.
    const replaced = await api.replace('settings', { ...got, data: { a: '1', b: '2' } });
    assert.deepEqual(replaced.data, { a: '1', b: '2' });
    assert.notEqual(replaced.metadata?.resourceVersion, got.metadata?.resourceVersion);
    const stale = await apiErrorOf(() => api.replace('settings', { ...got, data: { stale: 'yes' } }));
    assert.equal(stale.code, 409);
    assert.equal(stale.reason, 'Conflict');

    // merge patch: set fields replace, null deletes.
    const merged = await api.patch('settings', Patch.merge({ data: { a: null, c: '3' } }));
    assert.deepEqual(merged.data, { b: '2', c: '3' });

    // JSON patch: a guarded change applies only when its test holds.
    const jsonPatched = await api.patch('settings', Patch.json([
      { op: 'test', path: '/data/b', value: '2' },
      { op: 'replace', path: '/data/b', value: '20' },
    ]));
    assert.deepEqual(jsonPatched.data, { b: '20', c: '3' });
    const failedTest = await apiErrorOf(() => api.patch('settings', Patch.json([
      { op: 'test', path: '/data/b', value: 'not-the-value' },
      { op: 'remove', path: '/data/b' },
    ])));
    assert.ok(failedTest.code >= 400 && failedTest.code < 500, `a failed JSON patch test answers 4xx, got ${failedTest.code}`);
    assert.deepEqual((await api.get('settings')).data, { b: '20', c: '3' }, 'a failed test op changes nothing');

    // strategic merge patch: lists with a merge key (ownerReferences by uid) merge
    // item by item instead of being replaced, unlike a merge patch.
    const owner = (name: string, uid: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', name, uid });
    await api.patch('settings', Patch.merge({ metadata: { ownerReferences: [owner('first', '11111111-1111-1111-1111-111111111111')] } }));
    const strategic = await api.patch('settings', Patch.strategic({
      metadata: { ownerReferences: [owner('second', '22222222-2222-2222-2222-222222222222')] },
      data: { d: '4' },
    }));
    assert.deepEqual(strategic.metadata?.ownerReferences?.map((o) => o.name).sort(), ['first', 'second']);
    assert.deepEqual(strategic.data, { b: '20', c: '3', d: '4' });
    const mergeReplacesList = await api.patch('settings', Patch.merge({ metadata: { ownerReferences: [owner('third', '33333333-3333-3333-3333-333333333333')] } }));
    assert.deepEqual(mergeReplacesList.metadata?.ownerReferences?.map((o) => o.name), ['third']);

    await api.delete('settings');
    const gone = await apiErrorOf(() => api.get('settings'));
    assert.equal(gone.code, 404);
    assert.equal(await api.getOpt('settings'), undefined);
    assert.deepEqual((await api.list()).items.map((c) => c.metadata?.name), ['other']);
  });
});

describe('server-side apply', () => {
  test('creates, then updates with a field manager; another manager gets a 409 Conflict unless it forces', async () => {
    const ns = await t.namespace('ssa');
    const api = Api.namespaced(t.client, ConfigMaps, ns);
    const applied = (data: Record<string, string>): ConfigMap => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'applied' }, data });

    const created = await api.patch('applied', Patch.apply(applied({ owner: 'alpha', mode: 'fast' })), { fieldManager: 'alpha' });
    assert.deepEqual(created.data, { owner: 'alpha', mode: 'fast' });
    const alphaEntry = created.metadata?.managedFields?.find((m) => m.manager === 'alpha');
    assert.equal(alphaEntry?.operation, 'Apply');

    const updated = await api.patch('applied', Patch.apply(applied({ owner: 'alpha', mode: 'safe' })), { fieldManager: 'alpha' });
    assert.deepEqual(updated.data, { owner: 'alpha', mode: 'safe' });
    assert.equal(updated.metadata?.uid, created.metadata?.uid, 'the second apply updated the same object');

    const conflict = await apiErrorOf(() => api.patch('applied', Patch.apply(applied({ owner: 'beta' })), { fieldManager: 'beta' }));
    assert.equal(conflict.code, 409);
    assert.equal(conflict.reason, 'Conflict');
    assert.match(conflict.message, /alpha/, 'the conflict names the manager that owns the field');
    assert.equal((await api.get('applied')).data?.owner, 'alpha', 'the conflicting apply changed nothing');

    const forced = await api.patch('applied', Patch.apply(applied({ owner: 'beta' })), { fieldManager: 'beta', force: true });
    assert.equal(forced.data?.owner, 'beta');
    assert.equal(forced.data?.mode, 'safe', 'fields beta does not apply stay with alpha');
    const betaFields = JSON.stringify(forced.metadata?.managedFields?.find((m) => m.manager === 'beta')?.fieldsV1);
    assert.match(betaFields, /f:owner/, 'beta now owns data.owner');
  });

  test('apply without a field manager is refused before any request', async () => {
    const api = Api.namespaced(t.client, ConfigMaps, 'default');
    assert.throws(() => api.patch('x', Patch.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } })), TypeError);
  });
});

interface Widget extends KubeObject {
  spec?: { size?: number; color?: string };
  status?: { phase?: string; observed?: number };
}

const Widgets = defineResource<Widget>({ group: 'kubeloop.test', version: 'v1', kind: 'Widget', plural: 'widgets', namespaced: true });

const widgetCrd: CustomResourceDefinition = {
  metadata: { name: 'widgets.kubeloop.test' },
  spec: {
    group: 'kubeloop.test',
    scope: 'Namespaced',
    names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
    versions: [{
      name: 'v1',
      served: true,
      storage: true,
      subresources: { status: {} },
      schema: {
        openAPIV3Schema: {
          type: 'object',
          properties: {
            spec: { type: 'object', properties: { size: { type: 'integer' }, color: { type: 'string' } } },
            status: { type: 'object', properties: { phase: { type: 'string' }, observed: { type: 'integer' } } },
          },
        },
      },
    }],
  },
};

const established = (crd: CustomResourceDefinition) => crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false;

/** Creates the CRD and waits, on a watch, for its Established condition. */
async function installCrd(crd: CustomResourceDefinition): Promise<void> {
  const api = Api.all(t.client, CustomResourceDefinitions);
  const created = await api.create(crd);
  if (established(created)) return;
  const signal = AbortSignal.timeout(30_000);
  for await (const ev of api.watch({ fieldSelector: `metadata.name=${crd.metadata!.name}`, resourceVersion: created.metadata!.resourceVersion, signal })) {
    if ((ev.type === 'ADDED' || ev.type === 'MODIFIED') && established(ev.object)) return;
  }
  throw new Error(`CRD ${crd.metadata!.name} was not Established within 30 s`);
}

describe('custom resources', () => {
  test('a CRD with a status subresource: create, get, patchStatus, replaceStatus, getStatus, delete', async () => {
    await installCrd(widgetCrd);
    const ns = await t.namespace('crd');
    const api = Api.namespaced(t.client, Widgets, ns);

    const created = await api.create({ metadata: { name: 'w1' }, spec: { size: 3, color: 'red' }, status: { phase: 'ignored' } });
    assert.equal(created.apiVersion, 'kubeloop.test/v1');
    assert.equal(created.kind, 'Widget');
    assert.deepEqual(created.spec, { size: 3, color: 'red' });
    assert.equal(created.status, undefined, 'with a status subresource, create ignores status');

    assert.deepEqual((await api.get('w1')).spec, { size: 3, color: 'red' });

    const patched = await api.patchStatus('w1', Patch.merge({ status: { phase: 'Ready', observed: 1 } }));
    assert.deepEqual(patched.status, { phase: 'Ready', observed: 1 });
    assert.deepEqual(patched.spec, { size: 3, color: 'red' });

    // The main resource ignores status, the status subresource ignores spec.
    const mainPatch = await api.patch('w1', Patch.merge({ spec: { size: 4 }, status: { phase: 'FromMain' } }));
    assert.equal(mainPatch.spec?.size, 4);
    assert.equal(mainPatch.status?.phase, 'Ready');

    const current = await api.getStatus('w1');
    assert.deepEqual(current.status, { phase: 'Ready', observed: 1 });
    const replaced = await api.replaceStatus('w1', { ...current, spec: { size: 99 }, status: { phase: 'Done', observed: 2 } });
    assert.deepEqual(replaced.status, { phase: 'Done', observed: 2 });
    assert.equal(replaced.spec?.size, 4, 'replaceStatus does not change spec');
    assert.deepEqual((await api.getStatus('w1')).status, { phase: 'Done', observed: 2 });

    const staleStatus = await apiErrorOf(() => api.replaceStatus('w1', { ...current, status: { phase: 'Stale' } }));
    assert.equal(staleStatus.code, 409, 'replaceStatus is conditional on resourceVersion');

    const inAll = await Api.all(t.client, Widgets).list();
    assert.ok(inAll.items.some((w) => w.metadata?.name === 'w1' && w.metadata.namespace === ns), 'the all-namespaces list finds it');

    await api.delete('w1');
    const gone = await apiErrorOf(() => api.get('w1'));
    assert.equal(gone.code, 404);
    assert.equal(gone.reason, 'NotFound');
  });
});
