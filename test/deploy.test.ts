import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { stringify } from 'yaml';
import {
  Api, ClusterRoleBindings, ClusterRoles, ConfigMaps, CustomResourceDefinitions, Deployments, Events, Namespaces, Patch, RoleBindings, Roles,
  ServiceAccounts, Services, ValidatingWebhookConfigurations, defineResource, type KubeObject, type Resource,
} from '../src/index.js';
import { Documents } from '../examples/document-controller/document.js';
import { createWebhookCertificates } from '../src/testing/index.js';
import { until, useCluster } from './support/cluster.js';
import { kustomize, only, root } from './deploy/render.js';

const t = useCluster({ users: [{ name: 'document-controller' }] });
const ServiceMonitors = defineResource({ group: 'monitoring.coreos.com', version: 'v1', kind: 'ServiceMonitor', plural: 'servicemonitors', namespaced: true });
const PrometheusRules = defineResource({ group: 'monitoring.coreos.com', version: 'v1', kind: 'PrometheusRule', plural: 'prometheusrules', namespaced: true });
const Certificates = defineResource({ group: 'cert-manager.io', version: 'v1', kind: 'Certificate', plural: 'certificates', namespaced: true });
const Issuers = defineResource({ group: 'cert-manager.io', version: 'v1', kind: 'Issuer', plural: 'issuers', namespaced: true });
const NetworkPolicies = defineResource({ group: 'networking.k8s.io', version: 'v1', kind: 'NetworkPolicy', plural: 'networkpolicies', namespaced: true });
// policy/v1 (what deploy/ ships: every Kubernetes still supported has it, and 1.25+ has nothing else) came with 1.21;
// the 1.20 test server serves the same object, with the same fields as used here, as policy/v1beta1.
const PodDisruptionBudgets = defineResource({ group: 'policy', version: 'v1beta1', kind: 'PodDisruptionBudget', plural: 'poddisruptionbudgets', namespaced: true });
const KINDS: Record<string, Resource<any>> = {
  Namespace: Namespaces, CustomResourceDefinition: CustomResourceDefinitions, ServiceAccount: ServiceAccounts, ClusterRole: ClusterRoles,
  ClusterRoleBinding: ClusterRoleBindings, Role: Roles, RoleBinding: RoleBindings, Deployment: Deployments, Service: Services, ServiceMonitor: ServiceMonitors,
  PrometheusRule: PrometheusRules, ConfigMap: ConfigMaps,
  NetworkPolicy: NetworkPolicies, PodDisruptionBudget: PodDisruptionBudgets, Certificate: Certificates, Issuer: Issuers,
};
const BASE_KINDS = ['Namespace', 'CustomResourceDefinition', 'ServiceAccount', 'Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding', 'Service', 'Deployment', 'PodDisruptionBudget', 'NetworkPolicy'];

function manifests(file: string): KubeObject[] {
  return parseAllDocuments(readFileSync(join(root, file), 'utf8')).map((d) => d.toJSON() as KubeObject).filter(Boolean);
}

async function apply(obj: KubeObject, dryRun = false): Promise<KubeObject> {
  const r = KINDS[obj.kind!];
  assert.ok(r, `a resource descriptor for ${obj.kind}`);
  if (obj.kind === 'PodDisruptionBudget') {
    assert.equal(obj.apiVersion, 'policy/v1');
    obj = { ...obj, apiVersion: 'policy/v1beta1' };
  }
  const api = r.namespaced ? Api.namespaced(t.client, r, obj.metadata!.namespace!) : Api.all(t.client, r);
  return api.patch(obj.metadata!.name!, Patch.apply(obj), { fieldManager: 'kubeloop-test', force: true, dryRun });
}

/** Dry-runs every object (after creating its Namespace for real: a namespaced dry run needs one) and checks that nothing was stored. */
async function dryRunAll(objects: KubeObject[]): Promise<void> {
  await apply(only(objects, 'Namespace'));
  for (const obj of objects) {
    const result = await apply(obj, true);
    assert.equal(result.metadata?.name, obj.metadata?.name, `${obj.kind} ${obj.metadata?.name} dry-run`);
    if (obj.kind === 'Deployment') assert.deepEqual((result as any).spec.template.spec.securityContext, (obj as any).spec.template.spec.securityContext, 'the server kept the pod security context as written');
  }
  const deployment = only(objects, 'Deployment');
  assert.equal(await Api.namespaced(t.client, Deployments, deployment.metadata.namespace).getOpt(deployment.metadata.name), undefined, 'a dry run persists nothing');
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
  test('the kustomize base (kubectl apply -k deploy) renders every object into kubeloop-system, and the API server accepts each (server-side dry-run apply)', async () => {
    const base = kustomize('deploy');
    assert.deepEqual(base.map((o) => o.kind).sort(), [...BASE_KINDS].sort());
    for (const o of base.filter((o) => !['Namespace', 'CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind!))) assert.equal(o.metadata?.namespace, 'kubeloop-system', `${o.kind} namespace`);
    assert.equal(only(base, 'Namespace').metadata.name, 'kubeloop-system');
    assert.equal(only(base, 'Deployment').spec.template.spec.containers[0].image, 'ghcr.io/kubeloop/document-controller:0.1.0');
    await dryRunAll(base);
  });

  test('an overlay sets image, namespace, replicas, the ServiceMonitor and PrometheusRule label and the monitoring namespace, adds the Grafana dashboard; the RBAC subjects follow the namespace; all of it is accepted', async () => {
    await apply(manifests('test/fixtures/servicemonitor-crd.yaml')[0]!);
    await apply(manifests('test/fixtures/prometheusrule-crd.yaml')[0]!);
    await established('servicemonitors.monitoring.coreos.com');
    await established('prometheusrules.monitoring.coreos.com');
    const objects = kustomize('test/deploy/fixtures/overlay');
    assert.deepEqual(objects.map((o) => o.kind).sort(), [...BASE_KINDS, 'ServiceMonitor', 'PrometheusRule', 'ConfigMap'].sort());
    const deployment = only(objects, 'Deployment');
    assert.equal(deployment.metadata.namespace, 'team-a');
    assert.equal(deployment.spec.replicas, 3);
    assert.equal(deployment.spec.template.spec.containers[0].image, 'registry.example.com/platform/document-controller:1.2.3');
    assert.equal(only(objects, 'Namespace').metadata.name, 'team-a');
    for (const binding of objects.filter((o) => o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding')) {
      assert.deepEqual((binding as any).subjects, [{ kind: 'ServiceAccount', name: 'document-controller', namespace: 'team-a' }], `${binding.kind} subjects`);
    }
    assert.equal(only(objects, 'ServiceMonitor').metadata.labels.release, 'prometheus');
    assert.equal(only(objects, 'PrometheusRule').metadata.labels.release, 'prometheus');
    assert.equal(only(objects, 'ConfigMap').metadata.namespace, 'team-a');
    assert.deepEqual(only(objects, 'NetworkPolicy').spec.ingress[0].from[0].namespaceSelector.matchLabels, { 'kubernetes.io/metadata.name': 'observability' });
    await dryRunAll(objects);
  });

  test('the pod template has every field Pod Security "restricted" asks for (checked here field by field: PodSecurity admission does not exist on the 1.20 test server)', () => {
    const pod = only(kustomize('deploy'), 'Deployment').spec.template.spec;
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(pod.securityContext.seccompProfile?.type, 'RuntimeDefault');
    assert.equal(pod.securityContext.runAsUser, undefined, 'no pinned UID: platforms that assign one (OpenShift) pick their own');
    for (const f of ['hostNetwork', 'hostPID', 'hostIPC', 'volumes', 'initContainers', 'ephemeralContainers']) assert.equal(pod[f], undefined, `pod ${f}`);
    assert.equal(pod.containers.length, 1);
    for (const c of pod.containers) {
      const sc = c.securityContext;
      assert.equal(sc.allowPrivilegeEscalation, false, 'allowPrivilegeEscalation');
      assert.deepEqual(sc.capabilities, { drop: ['ALL'] }, 'capabilities');
      assert.equal(sc.runAsNonRoot, true, 'runAsNonRoot');
      assert.equal(sc.seccompProfile?.type, 'RuntimeDefault', 'seccompProfile');
      assert.equal(sc.readOnlyRootFilesystem, true, 'readOnlyRootFilesystem (beyond restricted)');
      for (const f of ['privileged', 'runAsUser', 'procMount', 'windowsOptions', 'seLinuxOptions']) assert.equal(sc[f], undefined, `container ${f}`);
      assert.ok(c.ports.every((p: { hostPort?: number }) => p.hostPort === undefined), 'no hostPort');
    }
  });

  test('availability: two replicas spread over nodes, a PDB that lets one go at a time, a grace period longer than the graceful-shutdown deadline', () => {
    const objects = kustomize('deploy');
    const deployment = only(objects, 'Deployment');
    const pod = deployment.spec.template.spec;
    assert.equal(deployment.spec.replicas, 2);
    const spread = pod.topologySpreadConstraints.find((c: { topologyKey: string }) => c.topologyKey === 'kubernetes.io/hostname');
    assert.deepEqual(spread, { maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'DoNotSchedule', labelSelector: deployment.spec.selector });
    const pdb = only(objects, 'PodDisruptionBudget');
    assert.deepEqual(pdb.spec, { maxUnavailable: 1, selector: deployment.spec.selector });
    // The controller's default shutdownDeadlineMs (src/runtime/controller.ts) is 30 s; the demo operator keeps it.
    const shutdownDeadlineSeconds = 30;
    assert.ok(pod.terminationGracePeriodSeconds >= shutdownDeadlineSeconds + 5, `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} leaves time after the ${shutdownDeadlineSeconds} s deadline`);
  });

  test('one port, named http-metrics, for the probes, the Service, the ServiceMonitor and the NetworkPolicy, which admits only the monitoring namespace', () => {
    const objects = kustomize('test/deploy/fixtures/overlay');
    const container = only(objects, 'Deployment').spec.template.spec.containers[0];
    assert.deepEqual(container.ports, [{ name: 'http-metrics', containerPort: 8080, protocol: 'TCP' }]);
    assert.equal(container.readinessProbe.httpGet.port, 'http-metrics');
    assert.equal(container.livenessProbe.httpGet.port, 'http-metrics');
    assert.deepEqual(only(objects, 'Service').spec.ports, [{ name: 'http-metrics', port: 8080, targetPort: 'http-metrics', protocol: 'TCP' }]);
    assert.equal(only(objects, 'ServiceMonitor').spec.endpoints[0].port, 'http-metrics');
    const policy = only(objects, 'NetworkPolicy').spec;
    assert.deepEqual(policy.podSelector, only(objects, 'Deployment').spec.selector);
    assert.deepEqual(policy.policyTypes, ['Ingress']);
    assert.deepEqual(policy.ingress, [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'observability' } } }], ports: [{ port: 'http-metrics', protocol: 'TCP' }] }]);
  });

  test('the RBAC grants exactly the verbs the operator uses: it reconciles every path without a 403, and uses every verb granted; PUT /log-level stays off', { timeout: 120_000 }, async () => {
    // The CRD and the operator's ClusterRole for real, bound to a token user standing in for the ServiceAccount.
    const operatorManifests = kustomize('deploy');
    await apply(only(operatorManifests, 'CustomResourceDefinition'));
    await established('documents.example.com');
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
      // The deployed operator leaves PUT /log-level off (its port is open to the cluster): refused, and the filter unchanged.
      const port = (JSON.parse(lines.find((l) => l.includes('"probe server listening"'))!) as { port: number }).port;
      assert.equal((await fetch(`http://127.0.0.1:${port}/log-level`, { method: 'PUT', body: 'trace' })).status, 403, 'PUT /log-level');
      assert.doesNotMatch(await (await fetch(`http://127.0.0.1:${port}/log-level`)).text(), /^trace/);
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
  test('the webhook component: a cert-manager CA and serving certificate for the Service in the overlay\'s namespace, its Secret mounted where the operator reads it, port 9443 behind a Service on 443 and open in the NetworkPolicy; all of it is accepted', async () => {
    for (const crd of manifests('test/fixtures/cert-manager-crds.yaml')) await apply(crd);
    await established('certificates.cert-manager.io');
    await established('issuers.cert-manager.io');
    const objects = kustomize('test/deploy/fixtures/webhook');
    assert.deepEqual(objects.map((o) => o.kind).sort(), [...BASE_KINDS, 'Service', 'ClusterRole', 'ClusterRoleBinding', 'Certificate', 'Certificate', 'Issuer', 'Issuer'].sort());
    const deployment = only(objects, 'Deployment');
    const container = deployment.spec.template.spec.containers[0];
    assert.deepEqual([...container.ports].sort((a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name)), [{ name: 'http-metrics', containerPort: 8080, protocol: 'TCP' }, { name: 'webhook', containerPort: 9443, protocol: 'TCP' }]);
    const env = Object.fromEntries(container.env.map((e: { name: string; value?: string }) => [e.name, e.value]));
    assert.equal(env.WEBHOOK_CERT_DIR, '/tls');
    assert.equal(env.WEBHOOK_PORT, '9443');
    // A bare Service name: the operator takes the namespace from POD_NAMESPACE (a $(POD_NAMESPACE) reference would
    // not expand: the patch puts its variables before the base's).
    assert.equal(env.WEBHOOK_SERVICE, 'document-controller-webhook');
    assert.ok(container.env.some((e: { name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }) => e.name === 'POD_NAMESPACE' && e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace'));
    assert.deepEqual(container.volumeMounts, [{ name: 'webhook-tls', mountPath: '/tls', readOnly: true }]);
    const serving = objects.find((o) => o.kind === 'Certificate' && o.metadata!.name === 'document-controller-webhook') as any;
    assert.deepEqual(deployment.spec.template.spec.volumes, [{ name: 'webhook-tls', secret: { secretName: serving.spec.secretName } }]);
    const service = objects.find((o) => o.kind === 'Service' && o.metadata!.name === 'document-controller-webhook') as any;
    assert.deepEqual(service.spec.ports, [{ name: 'webhook', port: 443, targetPort: 'webhook', protocol: 'TCP' }]);
    assert.deepEqual(service.spec.selector, deployment.spec.selector.matchLabels);
    assert.deepEqual(serving.spec.dnsNames, [`document-controller-webhook.${service.metadata.namespace}.svc`], 'the name the API server checks');
    assert.equal(serving.spec.issuerRef.name, 'document-controller-webhook-ca');
    // The base's own namespace is the one the component's certificate names before any overlay patch.
    const unpatched = manifests('deploy/webhook/certificate.yaml').find((o) => o.metadata!.name === 'document-controller-webhook') as any;
    assert.deepEqual(unpatched.spec.dnsNames, ['document-controller-webhook.kubeloop-system.svc']);
    assert.deepEqual(only(objects, 'NetworkPolicy').spec.ingress[1], { ports: [{ port: 'webhook', protocol: 'TCP' }] });
    await dryRunAll(objects);
  });

  test('the webhook component\'s RBAC lets the operator write its ValidatingWebhookConfiguration (pointing at the Service, with the CA of ca.crt) without a 403, and both grants are used', { timeout: 120_000 }, async () => {
    const objects = kustomize('test/deploy/fixtures/webhook');
    const baseRole = objects.find((o) => o.kind === 'ClusterRole' && o.metadata!.name === 'document-controller')!;
    const webhookRole = objects.find((o) => o.kind === 'ClusterRole' && o.metadata!.name === 'document-controller-webhook')!;
    await apply(only(objects, 'CustomResourceDefinition'));
    await established('documents.example.com');
    for (const role of [baseRole, webhookRole]) {
      await apply(role);
      await Api.all(t.client, ClusterRoleBindings).create({
        metadata: { name: `${role.metadata!.name}-webhook-test` },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.metadata!.name! },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'document-controller' }],
      });
    }
    const tls = await createWebhookCertificates(join(t.cluster.dir, 'webhook-rbac-tls'));
    const kubeconfig = join(t.cluster.dir, 'document-controller-webhook.kubeconfig');
    writeFileSync(kubeconfig, stringify(t.cluster.kubeconfig({ token: t.cluster.user('document-controller').token })));
    const operator = spawn(process.execPath, [join(root, 'dist/examples/document-controller/operator.js')], {
      env: {
        ...process.env, KUBECONFIG: kubeconfig, PROBE_PORT: '0', KUBELOOP_LOG: 'info,kubeloop::client=debug', KUBELOOP_LOG_FORMAT: 'json',
        WEBHOOK_CERT_DIR: join(t.cluster.dir, 'webhook-rbac-tls'), WEBHOOK_PORT: '0', WEBHOOK_SERVICE: 'document-controller-webhook', POD_NAMESPACE: 'team-b',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines: string[] = [];
    createInterface({ input: operator.stdout! }).on('line', (l) => lines.push(l));
    const exited = once(operator, 'exit');
    try {
      const config = await until('the operator\'s ValidatingWebhookConfiguration', () => Api.all(t.client, ValidatingWebhookConfigurations).getOpt('document-controller'));
      const webhook = config.webhooks![0]!;
      assert.equal(webhook.name, 'unique-title.documents.example.com');
      assert.deepEqual(webhook.clientConfig.service, { namespace: 'team-b', name: 'document-controller-webhook', port: 443, path: '/validate-documents' });
      assert.equal(Buffer.from(webhook.clientConfig.caBundle!, 'base64').toString(), tls.caPem);
      assert.equal(webhook.failurePolicy, 'Fail');
      await until('the operator listening', () => lines.some((l) => l.includes('"probe server listening"')));
    } finally {
      operator.kill('SIGTERM');
      await exited;
    }
    const writes = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'request' && String(l['url.path']).includes('validatingwebhookconfigurations'));
    assert.deepEqual(writes.map((l) => [l['kube.verb'], l['http.response.status_code']]), [['patch', 201]], 'one server-side apply that created the configuration (create and patch both used)');
  });
});
