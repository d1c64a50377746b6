/** Test data: namespaces, ConfigMaps and widgets, created with high concurrency. */
import { createHash } from 'node:crypto';
import { Admin, parallel } from './admin.js';
import { PLURAL, GROUP, VERSION, widgetCrd } from './widgets.js';

const MODES = ['fast', 'safe', 'balanced'];

/** A ConfigMap of about 400 bytes of data, a little like a real application's settings. */
export function configMap(name: string, i: number): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, labels: { app: 'bench', shard: String(i % 16) } },
    data: {
      v: '0',
      'settings.yaml': `replicas: ${(i % 7) + 1}\nmode: ${MODES[i % 3]}\nendpoint: https://svc-${i}.example.internal:8443/api\nretries: ${i % 5}\n`,
      owner: `team-${i % 13}`,
      checksum: createHash('sha1').update(name).digest('hex'),
      description: `Benchmark object number ${i}; its content never changes except for the key v.`,
    },
  };
}

export const cmName = (i: number) => `cm-${String(i).padStart(6, '0')}`;
export const widgetName = (i: number) => `widget-${String(i).padStart(4, '0')}`;
export const cmPath = (ns: string, name?: string) => `/api/v1/namespaces/${ns}/configmaps${name ? `/${name}` : ''}`;
export const widgetPath = (ns: string, name?: string, sub?: string) => `/apis/${GROUP}/${VERSION}/namespaces/${ns}/${PLURAL}${name ? `/${name}` : ''}${sub ? `/${sub}` : ''}`;

export async function namespace(admin: Admin, name: string): Promise<void> {
  await admin.call('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
}

export async function configMaps(admin: Admin, ns: string, n: number, progress?: (done: number) => void): Promise<void> {
  await namespace(admin, ns);
  let done = 0;
  await parallel(n, 96, async (i) => {
    await admin.call('POST', cmPath(ns), configMap(cmName(i), i));
    if (++done % 10_000 === 0) progress?.(done);
  });
}

export async function widgets(admin: Admin, ns: string, n: number): Promise<void> {
  await admin.call('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', widgetCrd);
  for (let attempt = 0; ; attempt++) {
    const crd = await admin.call('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${PLURAL}.${GROUP}`);
    const established = (crd.status?.conditions ?? []).some((c: { type: string; status: string }) => c.type === 'Established' && c.status === 'True');
    if (established) break;
    if (attempt > 300) throw new Error('the widget CRD was not established within 30 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  await namespace(admin, ns);
  // The CRD's REST endpoint may answer 404 for a moment after Established.
  for (let attempt = 0; ; attempt++) {
    try {
      await admin.call('GET', widgetPath(ns));
      break;
    } catch (e) {
      if (attempt > 100) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  await parallel(n, 64, async (i) => {
    await admin.call('POST', widgetPath(ns), { apiVersion: `${GROUP}/${VERSION}`, kind: 'Widget', metadata: { name: widgetName(i) }, spec: { value: 0 } });
    await admin.mergePatch(widgetPath(ns, widgetName(i), 'status'), { status: { observed: 0 } });
  });
}

/** `n` ConfigMaps, each owning a small Secret (`ownerReferences` to it), for the owns() of the cache-sharing scenario. */
export async function ownedSecrets(admin: Admin, ns: string, n: number): Promise<void> {
  await namespace(admin, ns);
  await parallel(n, 64, async (i) => {
    const name = cmName(i);
    const cm = await admin.call<{ metadata: { uid: string } }>('POST', cmPath(ns), configMap(name, i));
    await admin.call('POST', `/api/v1/namespaces/${ns}/secrets`, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: `secret-${String(i).padStart(6, '0')}`, ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name, uid: cm.metadata.uid, controller: true }] },
      data: { token: createHash('sha256').update(name).digest('base64') },
    });
  });
}

/**
 * `n` ConfigMaps written by two server-side-apply field managers, so each
 * carries two `managedFields` entries: `bench-settings` applies the data and
 * the `app`/`shard` labels, `bench-indexer` a `ref` label (four objects share
 * each value) and an annotation.
 */
export async function appliedConfigMaps(admin: Admin, ns: string, n: number): Promise<void> {
  await namespace(admin, ns);
  const apply = (name: string, manager: string, body: unknown) =>
    admin.call('PATCH', `${cmPath(ns, name)}?fieldManager=${manager}&force=true`, body, 'application/apply-patch+yaml');
  await parallel(n, 64, async (i) => {
    const name = cmName(i);
    await apply(name, 'bench-settings', configMap(name, i));
    await apply(name, 'bench-indexer', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name, labels: { ref: `doc-${i >> 2}` }, annotations: { 'bench.kubeloop.dev/reviewed-by': `team-${i % 13}` } },
    });
  });
  const first = await admin.call<{ metadata: { managedFields?: { manager: string }[] } }>('GET', cmPath(ns, cmName(0)));
  const managers = (first.metadata.managedFields ?? []).map((f) => f.manager);
  if (managers.length !== 2) throw new Error(`expected two managedFields entries, found ${JSON.stringify(managers)}`);
}
