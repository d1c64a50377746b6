import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { parse, stringify } from 'yaml';
import { Api, CustomResourceDefinitions, Leases, Patch, type KubeObject } from '../../src/index.js';
import { createWebhookCertificates } from '../../src/testing/index.js';
import { Documents } from '../../examples/document-controller/document.js';
import { until, useCluster } from '../support/cluster.js';

const t = useCluster();
const root = fileURLToPath(new URL('../../../', import.meta.url));

interface Replica {
  name: string;
  proc: ChildProcess;
  lines: Record<string, unknown>[];
  exited: Promise<unknown>;
}

describe('the webhook on every replica', () => {
  const replicas: Replica[] = [];
  after(async () => {
    for (const r of replicas) r.proc.kill('SIGTERM');
    await Promise.all(replicas.map((r) => r.exited));
  });

  test("two operator replicas with leader election: the follower answers the unique-title webhook from its own cache, as the leader does", { timeout: 90_000 }, async () => {
    const crd = parse(readFileSync(join(root, 'deploy/crd.yaml'), 'utf8')) as KubeObject;
    await Api.all(t.client, CustomResourceDefinitions).patch(crd.metadata!.name!, Patch.apply(crd), { fieldManager: 'kubeloop-test', force: true });
    await until('the CRD established', async () => (await Api.all(t.client, CustomResourceDefinitions).get(crd.metadata!.name!)).status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True'));
    const ns = await t.namespace('replicas');
    await Api.namespaced(t.client, Documents, ns).create({ apiVersion: 'example.com/v1', kind: 'Document', metadata: { name: 'first' }, spec: { title: 'Taken' } });
    const tlsDir = join(t.cluster.dir, 'replicas-tls');
    const tls = await createWebhookCertificates(tlsDir);
    const kubeconfig = join(t.cluster.dir, 'replicas.kubeconfig');
    writeFileSync(kubeconfig, stringify(t.cluster.kubeconfig()));
    for (const name of ['replica-0', 'replica-1']) {
      const proc = spawn(process.execPath, [join(root, 'dist/examples/document-controller/operator.js')], {
        env: {
          ...process.env, KUBECONFIG: kubeconfig, PROBE_PORT: '0', KUBELOOP_LOG: 'info', KUBELOOP_LOG_FORMAT: 'json',
          LEADER_ELECTION: 'true', POD_NAMESPACE: ns, POD_NAME: name, WEBHOOK_CERT_DIR: tlsDir, WEBHOOK_PORT: '0',
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const lines: Record<string, unknown>[] = [];
      createInterface({ input: proc.stdout! }).on('line', (l) => lines.push(JSON.parse(l) as Record<string, unknown>));
      replicas.push({ name, proc, lines, exited: once(proc, 'exit') });
    }
    const portOf = (r: Replica, msg: string) => r.lines.find((l) => l.msg === msg)?.port as number | undefined;
    await until('both replicas listening', () => replicas.every((r) => portOf(r, 'webhook server listening') && portOf(r, 'probe server listening')));
    await until('both replicas ready (their caches listed)', async () => {
      const answers = await Promise.all(replicas.map((r) => fetch(`http://127.0.0.1:${portOf(r, 'probe server listening')}/readyz`).then((res) => res.status)));
      return answers.every((s) => s === 200);
    });
    const lease = await until('a leader', async () => (await Api.namespaced(t.client, Leases, ns).getOpt('document-controller'))?.spec?.holderIdentity);
    const follower = replicas.find((r) => r.name !== lease)!;
    assert.ok(follower && replicas.some((r) => r.name === lease), `leader ${lease}`);

    const agent = new Agent({ connect: { ca: tls.caPem } });
    const review = async (r: Replica, title: string) => {
      const res = await request(`https://127.0.0.1:${portOf(r, 'webhook server listening')}/validate-documents`, {
        method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview',
          request: {
            uid: `${r.name}-${title}`, operation: 'CREATE', name: 'second', namespace: ns, userInfo: { username: 'test' },
            kind: { group: 'example.com', version: 'v1', kind: 'Document' }, resource: { group: 'example.com', version: 'v1', resource: 'documents' },
            object: { apiVersion: 'example.com/v1', kind: 'Document', metadata: { name: 'second', namespace: ns }, spec: { title } },
          },
        }),
      });
      return ((await res.body.json()) as { response: { allowed: boolean; status?: { code: number; message: string } } }).response;
    };
    try {
      for (const r of replicas) {
        const taken = await review(r, 'Taken');
        assert.equal(taken.allowed, false, `${r.name} (${r.name === lease ? 'leader' : 'follower'})`);
        assert.equal(taken.status?.code, 409);
        assert.equal(taken.status?.message, `title "Taken" is already used by Document first in namespace ${ns}`);
        assert.equal((await review(r, 'Free')).allowed, true);
      }
    } finally {
      await agent.close();
    }
  });
});
