/**
 * Credentials that change under a running client, and the kubeconfig fields that
 * say where a credential or trust comes from: an exec plugin's token refreshed
 * after a 401, `tokenFile`, the in-cluster token re-read on a timer, and
 * `insecure-skip-tls-verify`. Against the real API server.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { Api, ApiError, Client, Namespaces, TransportError, inClusterConfig } from '../../src/index.js';
import { useCluster } from '../support/cluster.js';

const t = useCluster({ users: [{ name: 'reader' }] });
const dir = mkdtempSync(join(tmpdir(), 'kubeloop-credentials-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const WRONG_TOKEN = 'kubeloop-wrong-token-5c1f0a9e2b';
const execPlugin = fileURLToPath(new URL('../../../test/fixtures/exec-credential.mjs', import.meta.url));

let seq = 0;
/** A kubeconfig in a directory of its own; `cluster` and `user` are merged over a working cluster entry and an empty user. */
function kubeconfig(user: Record<string, unknown>, cluster: Record<string, unknown> = { 'certificate-authority-data': Buffer.from(t.cluster.caPem).toString('base64') }): { path: string; dir: string } {
  const home = join(dir, `kc-${++seq}`);
  mkdirSync(home);
  const path = join(home, 'config.yaml');
  writeFileSync(path, stringify({
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': 'local',
    clusters: [{ name: 'local', cluster: { server: t.cluster.server, ...cluster } }],
    users: [{ name: 'someone', user }],
    contexts: [{ name: 'local', context: { cluster: 'local', user: 'someone' } }],
  }), { mode: 0o600 });
  return { path, dir: home };
}

async function withClient<T>(client: Client, fn: (client: Client) => Promise<T>): Promise<T> {
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

async function errorOf(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  assert.fail('expected an error, but the call succeeded');
}

/** Lists namespaces: only the admin may. */
const listNamespaces = (client: Client) => Api.all(client, Namespaces).list();

describe('credentials that rotate', () => {
  test('an exec plugin\'s cached token that gets a 401 is dropped: the plugin runs again and the same call succeeds', async () => {
    chmodSync(execPlugin, 0o755);
    const count = join(dir, 'exec-401.count');
    writeFileSync(count, '');
    // The first run hands out a token the server rejects, valid for an hour by its own word; later runs the admin's.
    const { path } = kubeconfig({
      exec: {
        apiVersion: 'client.authentication.k8s.io/v1',
        command: process.execPath,
        args: [execPlugin],
        env: [{ name: 'EXEC_TOKENS', value: `${WRONG_TOKEN},${t.cluster.token}` }, { name: 'EXEC_COUNTER', value: count }, { name: 'EXEC_EXPIRES_IN_SECONDS', value: '3600' }],
        interactiveMode: 'Never',
      },
    });
    const runs = () => readFileSync(count, 'utf8').split('\n').filter(Boolean).length;
    await withClient(Client.fromKubeconfig({ paths: [path] }), async (client) => {
      const list = await listNamespaces(client);
      assert.ok(list.items.some((n) => n.metadata?.name === 'default'), 'the call that met the 401 succeeded');
      assert.equal(runs(), 2, 'the plugin ran again after the 401');
      await listNamespaces(client);
      assert.equal(runs(), 2, 'the fresh token is cached');
    });
  });

  test('in-cluster, the token file is re-read on a timer (60 s by default), without waiting for a 401', async () => {
    const sa = join(dir, 'sa');
    mkdirSync(sa);
    writeFileSync(join(sa, 'token'), t.cluster.token);
    writeFileSync(join(sa, 'ca.crt'), t.cluster.caPem);
    const config = inClusterConfig({ env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: new URL(t.cluster.server).port }, dir: sa });
    assert.deepEqual(config.auth, { type: 'tokenFile', path: join(sa, 'token'), refreshMs: 60_000 }, 'the default: re-read every minute');
    const refreshMs = 1000;
    await withClient(new Client({ ...config, auth: { type: 'tokenFile', path: join(sa, 'token'), refreshMs } }), async (client) => {
      const readAt = performance.now(); // the file is read after this, at the first request
      await listNamespaces(client);
      // The token rotates to one of another user, who may not list namespaces: a 403, not a 401.
      writeFileSync(join(sa, 'token'), t.cluster.user('reader').token);
      await listNamespaces(client); // within refreshMs: the token read before is still used
      let forbiddenAt: number | undefined;
      // Time passing is the trigger here: poll until the new token shows.
      while (forbiddenAt === undefined && performance.now() - readAt < refreshMs + 3000) {
        const e = await listNamespaces(client).then(() => undefined, (x: unknown) => x);
        if (e !== undefined) {
          assert.ok(e instanceof ApiError && e.code === 403, `expected a 403 for the reader, got ${String(e)}`);
          assert.match(e.message, /User "reader"/);
          forbiddenAt = performance.now();
        } else await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(forbiddenAt !== undefined, `the rotated token was not used within ${refreshMs + 3000} ms`);
      const after = forbiddenAt - readAt;
      assert.ok(after >= refreshMs - 20 && after <= refreshMs + 500, `the new token was used ${Math.round(after)} ms after the first read (refreshMs ${refreshMs})`);
    });
  });
});

describe('kubeconfig credential and trust fields', () => {
  test('tokenFile (relative to the kubeconfig) is the credential: the server sees the user whose token the file holds', async () => {
    const { path, dir: home } = kubeconfig({ tokenFile: 'reader.token' });
    writeFileSync(join(home, 'reader.token'), `${t.cluster.user('reader').token}\n`);
    const client = Client.fromKubeconfig({ paths: [path] });
    assert.deepEqual(client.config.auth, { type: 'tokenFile', path: join(home, 'reader.token') });
    await withClient(client, async () => {
      const e = await errorOf(() => listNamespaces(client));
      assert.ok(e instanceof ApiError && e.code === 403, `expected a 403 for the reader, got ${String(e)}`);
      assert.match(e.message, /User "reader" cannot list resource "namespaces"/);
    });
    const { path: adminPath, dir: adminHome } = kubeconfig({ tokenFile: 'admin.token' });
    writeFileSync(join(adminHome, 'admin.token'), t.cluster.token);
    await withClient(Client.fromKubeconfig({ paths: [adminPath] }), async (admin) => {
      assert.ok((await listNamespaces(admin)).items.length > 0, 'with the admin\'s token in the file, the same call succeeds');
    });
  });

  test('insecure-skip-tls-verify: true reaches a server no configured CA vouches for; without it the same config fails TLS verification', async () => {
    const insecure = kubeconfig({ token: t.cluster.token }, { 'insecure-skip-tls-verify': true });
    const client = Client.fromKubeconfig({ paths: [insecure.path] });
    assert.equal(client.config.tls.rejectUnauthorized, false);
    assert.equal(client.config.tls.ca, undefined);
    await withClient(client, async () => {
      assert.ok((await listNamespaces(client)).items.length > 0);
    });
    const verifying = kubeconfig({ token: t.cluster.token }, {});
    await withClient(Client.fromKubeconfig({ paths: [verifying.path] }), async (strict) => {
      assert.equal(strict.config.tls.rejectUnauthorized, true, 'verification is on by default');
      const e = await errorOf(() => listNamespaces(strict));
      assert.ok(e instanceof TransportError, `expected a TransportError, got ${String(e)}`);
      assert.match(e.message, /TLS certificate verification failed/);
    });
  });
});
