import assert from 'node:assert/strict';
import { readFile, rename, writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import { allow, Api, ConfigMaps, isApiError, deny, ManagedWebhookConfiguration, ValidatingWebhookConfigurations } from '../../src/index.js';
import { createWebhookCertificates } from '../../src/testing/index.js';
import { until, useCluster } from '../support/cluster.js';
import { Waiter } from '../support/controller.js';
import { fingerprintOf, startWebhookServer, type TestWebhookServer } from '../support/webhooks.js';

const t = useCluster();
const LABEL = 'kubeloop.test/webhook';

/** Replaces `path` by a rename, as Kubernetes and cert-manager do: a reader never sees half a file. */
async function replace(path: string, content: string): Promise<void> {
  await writeFile(`${path}.tmp`, content);
  await rename(`${path}.tmp`, path);
}

describe('certificate rotation', () => {
  let hooks: TestWebhookServer;
  let managed: ManagedWebhookConfiguration;
  let reviews = 0;
  const waiter = new Waiter();

  before(async () => {
    hooks = await startWebhookServer((server) =>
      server.validating<ConfigMap>({
        name: 'rotation.kubeloop.dev',
        path: '/validate',
        rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['configmaps'] }],
        objectSelector: { matchLabels: { [LABEL]: 'rotation' } },
        // Fail: a call the API server cannot make (a certificate it does not trust) fails the write, so none can pass unseen.
        failurePolicy: 'Fail',
        handler: (req) => {
          reviews++;
          waiter.notify();
          return req.object?.data?.refuse ? deny('refused') : allow();
        },
      }),
    );
    managed = new ManagedWebhookConfiguration(t.client, hooks.server, { name: 'rotation-test', endpoint: { url: hooks.url } });
    await managed.start();
    await until('the webhook in force', async () => {
      try {
        await Api.namespaced(t.client, ConfigMaps, 'default').create({ metadata: { name: 'probe', labels: { [LABEL]: 'rotation' } }, data: { refuse: 'x' } }, { dryRun: true });
        return false;
      } catch (e) {
        return isApiError(e, 403);
      }
    });
  });
  after(async () => {
    managed?.stop();
    await hooks?.stop();
  });

  test("replaced certificate files: the next handshake gets the new certificate, the configuration's caBundle follows, and no write fails meanwhile", async () => {
    const ns = await t.namespace('rotate');
    const cms = Api.namespaced(t.client, ConfigMaps, ns);
    const caBundle = async () => Buffer.from((await Api.all(t.client, ValidatingWebhookConfigurations).get('rotation-test')).webhooks![0]!.clientConfig.caBundle!, 'base64').toString();
    const oldCa = hooks.files.caPem;
    const oldFingerprint = fingerprintOf(await readFile(hooks.files.certFile, 'utf8'));
    assert.equal(await hooks.servedFingerprint(), oldFingerprint);

    // Writes through the webhook, one after another, for the whole rotation.
    const failures: string[] = [];
    let written = 0;
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        try {
          await cms.create({ metadata: { name: `w-${i}`, labels: { [LABEL]: 'rotation' } } });
          written++;
        } catch (e) {
          failures.push((e as Error).message);
        }
        waiter.notify();
      }
    })();
    const moreReviews = (n: number, what: string) => {
      const target = reviews + n;
      return waiter.until(what, () => reviews >= target && failures.length === 0 || failures.length > 0);
    };
    const changed = () => new Promise<void>((resolve) => {
      const off = hooks.server.certificates.onChange(() => {
        off();
        resolve();
      });
    });

    try {
      await moreReviews(5, 'writes before the rotation');
      // A new CA and a serving certificate it signed, made aside.
      const next = await createWebhookCertificates(await mkdtemp(join(tmpdir(), 'kubeloop-next-')));
      const nextCert = await readFile(next.certFile, 'utf8');

      // 1. The new CA joins ca.crt: the configuration trusts both before any handshake shows the new certificate.
      let change = changed();
      await replace(hooks.files.caFile, oldCa + next.caPem);
      await change;
      await until('caBundle with both CAs', async () => (await caBundle()) === oldCa + next.caPem);
      await moreReviews(5, 'writes after the CA was added');

      // 2. The new key and certificate replace the old ones.
      change = changed();
      await replace(hooks.files.keyFile, await readFile(next.keyFile, 'utf8'));
      await replace(hooks.files.certFile, nextCert);
      await change;
      assert.equal(await hooks.servedFingerprint(), fingerprintOf(nextCert), 'the next TLS handshake gets the new certificate');
      assert.notEqual(fingerprintOf(nextCert), oldFingerprint);
      await moreReviews(5, 'writes after the certificate changed');

      // 3. The old CA leaves: the API server now trusts only the new CA, so its next calls can only succeed over the new certificate.
      change = changed();
      await replace(hooks.files.caFile, next.caPem);
      await change;
      await until('caBundle with the new CA only', async () => (await caBundle()) === next.caPem);
      const before = reviews;
      await moreReviews(10, 'writes trusting only the new CA');
      assert.ok(reviews >= before + 10);
    } finally {
      writing = false;
      await writer;
    }
    assert.deepEqual(failures, [], 'no write failed during the rotation');
    assert.ok(written >= 25, `writes went through the webhook during the rotation (${written})`);
    assert.equal(hooks.server.certificates.current!.fingerprint, fingerprintOf(await readFile(hooks.files.certFile, 'utf8')));
  });

  test('a certificate that does not match its key is not taken: the server keeps serving the one in use', async () => {
    const inUse = await hooks.servedFingerprint();
    const other = await createWebhookCertificates(await mkdtemp(join(tmpdir(), 'kubeloop-other-')));
    // Only the certificate changes: its key is not the one on disk.
    await replace(hooks.files.certFile, await readFile(other.certFile, 'utf8'));
    await hooks.server.certificates.reload();
    assert.equal(await hooks.servedFingerprint(), inUse);
    assert.equal(hooks.server.certificates.current!.fingerprint, inUse);
    assert.equal(hooks.server.readiness()[0]!.ready, true);
  });
});
