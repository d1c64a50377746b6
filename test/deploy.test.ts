import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { stringify } from 'yaml';
import {
  Api, ClusterRoleBindings, ClusterRoles, ConfigMaps, CustomResourceDefinitions, Deployments, Events, Namespaces, Patch, RoleBindings, Roles,
  ServiceAccounts, Services, defineResource, type KubeObject, type Resource,
} from '../src/index.js';
import { Documents } from '../examples/document-controller/document.js';
import { until, useCluster } from './support/cluster.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const t = useCluster({ users: [{ name: 'document-controller' }] });
const ServiceMonitors = defineResource({ group: 'monitoring.coreos.com', version: 'v1', kind: 'ServiceMonitor', plural: 'servicemonitors', namespaced: true });
const KINDS: Record<string, Resource<any>> = {
  Namespace: Namespaces, CustomResourceDefinition: CustomResourceDefinitions, ServiceAccount: ServiceAccounts, ClusterRole: ClusterRoles,
  ClusterRoleBinding: ClusterRoleBindings, Role: Roles, RoleBinding: RoleBindings, Deployment: Deployments, Service: Services, ServiceMonitor: ServiceMonitors,
};

function manifests(file: string): KubeObject[] {
  return parseAllDocuments(readFileSync(join(root, file), 'utf8')).map((d) => d.toJSON() as KubeObject).filter(Boolean);
}

async function apply(obj: KubeObject, dryRun = false): Promise<KubeObject> {
  const r = KINDS[obj.kind!];
  assert.ok(r, `a resource descriptor for ${obj.kind}`);
  const api = r.namespaced ? Api.namespaced(t.client, r, obj.metadata!.namespace!) : Api.all(t.client, r);
  return api.patch(obj.metadata!.name!, Patch.apply(obj), { fieldManager: 'kubeloop-test', force: true, dryRun });
}

/** The resource (with its subresource) a request path names: `/apis/example.com/v1/namespaces/ns/documents/ok/status` → `documents/status`. */
function resourceOf(path: string): string {
  const parts = path.split('?')[0]!.split('/').filter(Boolean);
  let i = parts[0] === 'api' ? 2 : 3;
  if (parts[i] === 'namespaces' && parts.length > i + 2) i += 2;
  return parts[i + 2] ? `${parts[i]}/${parts[i + 2]}` : parts[i]!;
}

async function established(name: string): Promise<void> {
  await until(`CRD ${name} established`, async () => (await Api.all(t.client, CustomResourceDefinitions).get(name)).status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True'));
}

describe('deployment files', () => {
  test('every manifest is accepted by the API server (server-side dry-run apply)', async () => {
    await apply(manifests('test/fixtures/servicemonitor-crd.yaml')[0]!);
    await established('servicemonitors.monitoring.coreos.com');
    const all = [...manifests('deploy/crd.yaml'), ...manifests('deploy/operator.yaml'), ...manifests('deploy/servicemonitor.yaml')];
    assert.deepEqual(all.map((o) => o.kind), ['CustomResourceDefinition', 'Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'Deployment', 'Service', 'ServiceMonitor']);
    // Namespaced objects can only be dry-run into a namespace that exists.
    await apply(all.find((o) => o.kind === 'Namespace')!);
    for (const obj of all) {
      const result = await apply(obj, true);
      assert.equal(result.metadata?.name, obj.metadata?.name, `${obj.kind} ${obj.metadata?.name} dry-run`);
    }
    assert.equal(await Api.namespaced(t.client, Deployments, 'kubeloop-system').getOpt('document-controller'), undefined, 'a dry run persists nothing');
  });

  test('the RBAC grants exactly the verbs the operator uses: it reconciles every path without a 403, and uses every verb granted', { timeout: 120_000 }, async () => {
    // The CRD and the operator's ClusterRole for real, bound to a token user standing in for the ServiceAccount.
    await apply(manifests('deploy/crd.yaml')[0]!);
    await established('documents.example.com');
    const operatorManifests = manifests('deploy/operator.yaml');
    const role = operatorManifests.find((o) => o.kind === 'ClusterRole')!;
    await apply(role);
    await Api.all(t.client, ClusterRoleBindings).create({
      metadata: { name: 'document-controller-test' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.metadata!.name! },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'document-controller' }],
    });
    // The leader-election Role, in the operator's namespace, bound the same way.
    const leaseRole = operatorManifests.find((o) => o.kind === 'Role')!;
    const leaseNs = leaseRole.metadata!.namespace!;
    await apply(operatorManifests.find((o) => o.kind === 'Namespace')!);
    await apply(leaseRole);
    await Api.namespaced(t.client, RoleBindings, leaseNs).create({
      metadata: { name: 'document-controller-test' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: leaseRole.metadata!.name! },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'document-controller' }],
    });
    const kubeconfig = join(t.cluster.dir, 'document-controller.kubeconfig');
    writeFileSync(kubeconfig, stringify(t.cluster.kubeconfig({ token: t.cluster.user('document-controller').token })));
    const ns = await t.namespace('rbac');
    const operator = spawn(process.execPath, [join(root, 'dist/examples/document-controller/operator.js')], {
      env: {
        ...process.env, KUBECONFIG: kubeconfig, PROBE_PORT: '0', KUBELOOP_LOG: 'info,kubeloop::client=debug', KUBELOOP_LOG_FORMAT: 'json',
        LEADER_ELECTION: 'true', POD_NAMESPACE: leaseNs, POD_NAME: 'document-controller-0',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines: string[] = [];
    createInterface({ input: operator.stdout! }).on('line', (l) => lines.push(l));
    const exited = once(operator, 'exit');
    let failure: unknown;
    try {
      const docs = Api.namespaced(t.client, Documents, ns);
      const cms = Api.namespaced(t.client, ConfigMaps, ns);
      await docs.create({ metadata: { name: 'ok' }, spec: { title: 'Fine' } });
      await docs.create({ metadata: { name: 'bad' }, spec: { title: 'Nope', format: 'pdf' } });
      await docs.create({ metadata: { name: 'gone' }, spec: { title: 'Bye' } });
      await until('ok to be Ready', async () => (await docs.get('ok')).status?.phase === 'Ready');
      await until('bad to be Refused', async () => (await docs.get('bad')).status?.phase === 'Refused');
      await until('gone to be Ready', async () => (await docs.get('gone')).status?.phase === 'Ready');
      await until('a repeated Warning folded into a series', async () => (await Api.namespaced(t.client, Events, ns).list()).items.some((e) => e.reason === 'Refused' && (e.series?.count ?? 0) >= 2));
      await docs.patch('ok', Patch.merge({ spec: { body: 'changed' } }));
      await until('the change rendered', async () => (await cms.get('ok-doc')).data?.['document.md']?.includes('changed'));
      await docs.delete('gone');
      await until('gone to be deleted through the finalizer', async () => (await docs.getOpt('gone')) === undefined);
      assert.equal(await cms.getOpt('gone-doc'), undefined);
    } catch (e) {
      failure = e;
    } finally {
      operator.kill('SIGTERM');
      await exited;
    }
    const requests = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'request');
    const verbs = new Set(requests.map((l) => `${l['kube.verb']} ${String(l['url.path']).split('/').slice(-2).join('/')}`));
    assert.ok(requests.length > 10, `saw ${requests.length} requests`);
    const forbidden = requests.filter((l) => l['http.response.status_code'] === 403);
    assert.deepEqual(forbidden.map((l) => `${l['kube.verb']} ${l['url.path']}`), [], 'no request was forbidden');
    if (failure) throw failure;
    assert.ok([...verbs].some((v) => v.startsWith('delete ')), `the cleanup path ran: ${[...verbs].join(', ')}`);
    assert.ok([...verbs].some((v) => v === 'update leases/document-controller'), `the lease was taken and renewed: ${[...verbs].join(', ')}`);
    // And no more than it uses: every verb granted, on every resource, was used by a request that was allowed.
    // (A server-side apply that made its object, answered 201, needed create as well as patch.)
    const used = new Set(requests.filter((l) => l['http.response.status_code'] !== 403).flatMap((l) => {
      const resource = resourceOf(String(l['url.path']));
      const verb = String(l['kube.verb']).replace(/_status$/, '');
      return verb === 'patch' && l['http.response.status_code'] === 201 ? [`${resource} patch`, `${resource} create`] : [`${resource} ${verb}`];
    }));
    const granted = [role, leaseRole].flatMap((r) => (r as unknown as { rules: { resources: string[]; verbs: string[] }[] }).rules
      .flatMap((rule) => rule.resources.flatMap((res) => rule.verbs.map((v) => `${res} ${v}`))));
    assert.ok(granted.length >= 10, `${granted.length} grants read from the manifests`);
    assert.deepEqual(granted.filter((g) => !used.has(g)), [], `granted but never used (used: ${[...used].sort().join(', ')})`);
  });
});
