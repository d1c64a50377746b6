/**
 * The sharding component of deploy/: it renders (sharding on, leader election
 * off, the replicas the overlay asks for), and two operators run under exactly
 * the rules the base and the component grant share the Documents between them
 * without a 403, using every verb the component grants.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { Api, ClusterRoleBindings, ClusterRoles, CustomResourceDefinitions, Namespaces, RoleBindings, Roles, shardLabel, type KubeObject } from '../../src/index.js';
import { Documents } from '../../examples/document-controller/document.js';
import { until, useCluster } from '../support/cluster.js';
import { kustomize, only, root } from './render.js';

const t = useCluster({ users: [{ name: 'document-controller' }] });

test('the sharding component renders sharding on, leader election off, the overlay\'s replicas, and a Role for the ring\'s Leases in the overlay\'s namespace', () => {
  const objects = kustomize('test/deploy/fixtures/sharding');
  const deployment = only(objects, 'Deployment');
  assert.equal(deployment.spec.replicas, 4);
  const env = Object.fromEntries(deployment.spec.template.spec.containers[0].env.map((e: { name: string; value?: string }) => [e.name, e.value]));
  assert.equal(env.SHARD_RING, 'documents');
  assert.equal(env.LEADER_ELECTION, 'false');
  const role = objects.find((o) => o.kind === 'Role' && o.metadata!.name === 'document-controller-sharding') as unknown as { rules: unknown[]; metadata: { namespace: string } };
  assert.deepEqual(role.rules, [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'list', 'watch', 'create', 'update'] }]);
  assert.equal(role.metadata.namespace, deployment.metadata.namespace, "the ring's Leases live in the operator's namespace");
  const binding = objects.find((o) => o.kind === 'RoleBinding' && o.metadata!.name === 'document-controller-sharding') as unknown as { subjects: { namespace: string }[] };
  assert.deepEqual(binding.subjects.map((s) => s.namespace), ['team-s'], "the ServiceAccount subject follows the overlay's namespace");
});

test('two sharded operators under the granted rules share the Documents without a 403, and use every verb the component grants', { timeout: 180_000 }, async () => {
  const objects = kustomize('test/deploy/fixtures/sharding');
  const crd = only(objects, 'CustomResourceDefinition');
  await Api.all(t.client, CustomResourceDefinitions).patch(crd.metadata.name, { type: 'apply', body: crd }, { fieldManager: 'test', force: true });
  await until('the CRD established', async () => (await Api.all(t.client, CustomResourceDefinitions).get(crd.metadata.name)).status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True'));
  const clusterRole = only<KubeObject>(objects, 'ClusterRole');
  await Api.all(t.client, ClusterRoles).create(clusterRole as never);
  const user = [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'document-controller' }];
  await Api.all(t.client, ClusterRoleBindings).create({ metadata: { name: 'document-controller-sharding-test' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: clusterRole.metadata!.name! }, subjects: user });
  const role = objects.find((o) => o.kind === 'Role' && o.metadata!.name === 'document-controller-sharding')!;
  const leaseNs = role.metadata!.namespace!;
  await Api.all(t.client, Namespaces).create({ metadata: { name: leaseNs } }).catch(() => undefined);
  await Api.namespaced(t.client, Roles, leaseNs).create({ ...role, metadata: { name: role.metadata!.name } } as never);
  await Api.namespaced(t.client, RoleBindings, leaseNs).create({ metadata: { name: 'document-controller-sharding-test' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata!.name! }, subjects: user });
  const kubeconfig = join(t.cluster.dir, 'document-controller-sharded.kubeconfig');
  writeFileSync(kubeconfig, stringify(t.cluster.kubeconfig({ token: t.cluster.user('document-controller').token })));

  const lines: string[] = [];
  const operators = ['document-controller-0', 'document-controller-1'].map((pod) => {
    const proc = spawn(process.execPath, [join(root, 'dist/examples/document-controller/operator.js')], {
      env: { ...process.env, KUBECONFIG: kubeconfig, PROBE_PORT: '0', KUBELOOP_LOG: 'info,kubeloop::client=debug', KUBELOOP_LOG_FORMAT: 'json', SHARD_RING: 'documents', POD_NAMESPACE: leaseNs, POD_NAME: pod },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    createInterface({ input: proc.stdout! }).on('line', (l) => lines.push(l));
    return { proc, exited: once(proc, 'exit') };
  });
  const ns = await t.namespace('sharded');
  const docs = Api.namespaced(t.client, Documents, ns);
  const L = shardLabel('documents');
  let failure: unknown;
  try {
    const names = Array.from({ length: 12 }, (_, i) => `doc-${i}`);
    for (const name of names) await docs.create({ metadata: { name }, spec: { title: `Title ${name}` } });
    await until('every Document Ready', async () => (await docs.list()).items.filter((d) => d.status?.phase === 'Ready').length === names.length, 60_000, 250);
    // While the second member joins, objects move (a drained one is unlabelled for a moment): wait for the settled ring.
    await until('every Document labelled, both replicas owning a share', async () => {
      const owners = (await docs.list()).items.map((d) => d.metadata?.labels?.[L]);
      return owners.every((o) => o !== undefined) && new Set(owners).size === 2;
    }, 60_000, 250);
    const owners = new Set((await docs.list()).items.map((d) => d.metadata?.labels?.[L]));
    assert.deepEqual([...owners].sort(), ['document-controller-0', 'document-controller-1'], 'both replicas own a share');
  } catch (e) {
    failure = e;
  } finally {
    for (const o of operators) o.proc.kill('SIGTERM');
    await Promise.all(operators.map((o) => o.exited));
  }
  const requests = lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'request');
  const forbidden = requests.filter((l) => l['http.response.status_code'] === 403);
  assert.deepEqual(forbidden.map((l) => `${l['kube.verb']} ${l['url.path']}`), [], 'no request was forbidden');
  if (failure) throw failure;
  const leaseVerbs = new Set(requests.filter((l) => String(l['url.path']).includes('/leases')).map((l) => String(l['kube.verb'])));
  for (const verb of ['get', 'list', 'watch', 'create', 'update']) assert.ok(leaseVerbs.has(verb), `the ${verb} grant on leases was used (used: ${[...leaseVerbs].join(', ')})`);
});
