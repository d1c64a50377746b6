import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { Api, ApiError, Client, ConfigMaps, ExecCredentialError, Namespaces } from '../../src/index.js';
import { createCa, issueClientCert } from '../../src/testing/pki.js';
import { until, useCluster } from '../support/cluster.js';
import { assertNoSecrets } from '../support/secrets.js';

const t = useCluster();
const dir = mkdtempSync(join(tmpdir(), 'kubeloop-auth-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// The fixture is plain JavaScript, read from the source tree (tests run from dist/test/client).
const execPlugin = fileURLToPath(new URL('../../../test/fixtures/exec-credential.mjs', import.meta.url));
const gatedPlugin = fileURLToPath(new URL('../../../test/fixtures/gated-exec-credential.mjs', import.meta.url));

let seq = 0;
function writeKubeconfig(user: Record<string, unknown>, cluster: Record<string, unknown> = {}): string {
  const path = join(dir, `config-${++seq}.yaml`);
  writeFileSync(path, stringify({
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': 'local',
    clusters: [{ name: 'local', cluster: { server: t.cluster.server, 'certificate-authority-data': Buffer.from(t.cluster.caPem).toString('base64'), ...cluster } }],
    users: [{ name: 'someone', user }],
    contexts: [{ name: 'local', context: { cluster: 'local', user: 'someone' } }],
  }), { mode: 0o600 });
  return path;
}

async function withClient<T>(paths: string[], fn: (client: Client) => Promise<T>): Promise<T> {
  const client = Client.fromKubeconfig({ paths });
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

describe('client-certificate auth', () => {
  test('a certificate signed by the client CA authenticates, from client-certificate-data/client-key-data', async () => {
    const alice = await t.cluster.issueClientCert('alice', ['system:masters']);
    const file = join(dir, 'alice-data.yaml');
    writeFileSync(file, stringify(t.cluster.kubeconfig(alice)), { mode: 0o600 });
    await withClient([file], async (client) => {
      assert.equal(client.config.auth.type, 'none', 'no bearer token: the certificate alone authenticates');
      const names = (await Api.all(client, Namespaces).list()).items.map((n) => n.metadata?.name);
      assert.ok(names.includes('default'));
      const ns = await t.namespace('cert');
      const cm = await Api.namespaced(client, ConfigMaps, ns).create({ metadata: { name: 'by-alice' } });
      assert.equal(cm.metadata?.name, 'by-alice');
    });
  });

  test('the certificate carries the user: a user without groups is that user, and forbidden', async () => {
    const bob = await t.cluster.issueClientCert('bob', []);
    const file = join(dir, 'bob-data.yaml');
    writeFileSync(file, stringify(t.cluster.kubeconfig(bob)), { mode: 0o600 });
    await withClient([file], async (client) => {
      const e = await errorOf(() => Api.all(client, Namespaces).list());
      assert.ok(e instanceof ApiError, `expected an ApiError, got ${String(e)}`);
      assert.equal(e.code, 403);
      assert.match(e.message, /User "bob"/, 'the API server saw user bob, not anonymous');
      assertNoSecrets(e, [bob.keyPem.split('\n')[1]!]);
    });
  });

  test('client-certificate, client-key and certificate-authority as files relative to the kubeconfig directory', async () => {
    const alice = await t.cluster.issueClientCert('alice', ['system:masters']);
    const base = join(dir, 'relative');
    mkdirSync(join(base, 'pki'), { recursive: true });
    writeFileSync(join(base, 'pki', 'alice.crt'), alice.certPem);
    writeFileSync(join(base, 'pki', 'alice.key'), alice.keyPem, { mode: 0o600 });
    writeFileSync(join(base, 'pki', 'ca.crt'), t.cluster.caPem);
    const file = join(base, 'config');
    writeFileSync(file, stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'files',
      clusters: [{ name: 'local', cluster: { server: t.cluster.server, 'certificate-authority': 'pki/ca.crt' } }],
      users: [{ name: 'alice', user: { 'client-certificate': 'pki/alice.crt', 'client-key': 'pki/alice.key' } }],
      contexts: [{ name: 'files', context: { cluster: 'local', user: 'alice' } }],
    }));
    assert.notEqual(process.cwd(), base, 'the paths cannot resolve against the working directory by accident');
    await withClient([file], async (client) => {
      const names = (await Api.all(client, Namespaces).list()).items.map((n) => n.metadata?.name);
      assert.ok(names.includes('default'));
    });
  });

  test('a certificate from a CA the API server does not trust is rejected with 401', async () => {
    const otherDir = join(dir, 'other-ca');
    mkdirSync(otherDir, { recursive: true });
    const otherCa = await createCa(otherDir, 'untrusted-ca');
    const mallory = await issueClientCert(otherDir, otherCa, 'mallory', ['system:masters']);
    const file = join(dir, 'mallory.yaml');
    writeFileSync(file, stringify(t.cluster.kubeconfig(mallory)), { mode: 0o600 });
    await withClient([file], async (client) => {
      const e = await errorOf(() => Api.all(client, Namespaces).list());
      assert.ok(e instanceof ApiError, `expected an ApiError, got ${String(e)}`);
      assert.equal(e.code, 401);
    });
  });
});

describe('exec credential plugins', () => {
  chmodSync(execPlugin, 0o755);
  const counter = (name: string) => join(dir, `${name}.count`);
  const runs = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean);

  function execUser(opts: { apiVersion: string; command?: string; args?: string[]; env: Record<string, string> }) {
    return {
      exec: {
        apiVersion: opts.apiVersion,
        command: opts.command ?? process.execPath,
        args: opts.args ?? [execPlugin],
        env: Object.entries(opts.env).map(([name, value]) => ({ name, value })),
        interactiveMode: 'Never',
      },
    };
  }

  for (const apiVersion of ['client.authentication.k8s.io/v1', 'client.authentication.k8s.io/v1beta1']) {
    test(`a ${apiVersion.split('/')[1]} plugin supplies the token, and runs once while its token has not expired`, async () => {
      const count = counter(apiVersion.split('/')[1]!);
      writeFileSync(count, '');
      const file = writeKubeconfig(execUser({ apiVersion, env: { EXEC_TOKEN: t.cluster.token, EXEC_COUNTER: count, EXEC_EXPIRES_IN_SECONDS: '3600' } }));
      await withClient([file], async (client) => {
        assert.equal(client.config.auth.type, 'exec');
        const api = Api.all(client, Namespaces);
        // Three at once on a cold cache share one run; three more after it reuse the token.
        await Promise.all([api.get('default'), api.get('default'), api.get('default')]);
        for (let i = 0; i < 3; i++) assert.ok((await api.list()).items.length > 0);
      });
      assert.deepEqual(runs(count), [apiVersion], 'one run for six requests, told the apiVersion through KUBERNETES_EXEC_INFO');
    });
  }

  test('a caller that aborts while the plugin runs stops waiting, and the run goes on for the others: it runs once and their request succeeds', async () => {
    const count = counter('gated');
    const started = join(dir, 'gated.started');
    const release = join(dir, 'gated.release');
    writeFileSync(count, '');
    writeFileSync(started, '');
    const file = writeKubeconfig(execUser({
      apiVersion: 'client.authentication.k8s.io/v1',
      args: [gatedPlugin],
      env: { EXEC_TOKEN: t.cluster.token, EXEC_COUNTER: count, EXEC_STARTED: started, EXEC_RELEASE: release },
    }));
    await withClient([file], async (client) => {
      const api = Api.all(client, Namespaces);
      const ac = new AbortController();
      const first = api.get('default', { signal: ac.signal }).then(() => assert.fail('the aborted request succeeded'), (e: unknown) => e);
      const second = api.get('default');
      second.catch(() => {});
      // Both wait for the one run; it is under way and held back until released.
      await until('the plugin to start', () => runs(started).length > 0);
      ac.abort();
      const e = await first;
      assert.equal((e as Error).name, 'AbortError', `the first caller sees its own abort, not ${String(e)}`);
      assert.equal(runs(count).length, 0, 'the plugin has not answered yet: the abort came during the run');
      writeFileSync(release, '');
      assert.equal((await second).metadata?.name, 'default', 'the second request got its token from the same run');
      assert.equal((await api.get('default')).metadata?.name, 'default', 'and a later one from the cache');
    });
    assert.equal(runs(started).length, 1, 'the plugin started once');
    assert.deepEqual(runs(count), ['client.authentication.k8s.io/v1'], 'and that run finished');
  });

  test('a token about to expire is not cached: the plugin runs for each request', async () => {
    const count = counter('expiring');
    writeFileSync(count, '');
    // Expires in 5 s, inside the client's 10 s early-refresh margin.
    const file = writeKubeconfig(execUser({ apiVersion: 'client.authentication.k8s.io/v1', env: { EXEC_TOKEN: t.cluster.token, EXEC_COUNTER: count, EXEC_EXPIRES_IN_SECONDS: '5' } }));
    await withClient([file], async (client) => {
      const api = Api.all(client, Namespaces);
      for (let i = 0; i < 3; i++) await api.get('default');
    });
    assert.equal(runs(count).length, 3);
  });

  test('the plugin can be the script itself, run through its shebang', async () => {
    const count = counter('shebang');
    writeFileSync(count, '');
    const file = writeKubeconfig(execUser({ apiVersion: 'client.authentication.k8s.io/v1', command: execPlugin, args: [], env: { EXEC_TOKEN: t.cluster.token, EXEC_COUNTER: count } }));
    await withClient([file], async (client) => {
      assert.equal((await Api.all(client, Namespaces).get('default')).metadata?.name, 'default');
    });
    assert.equal(runs(count).length, 1);
  });

  test('a plugin that exits non-zero is an ExecCredentialError naming the command and saying why', async () => {
    const file = writeKubeconfig(execUser({
      apiVersion: 'client.authentication.k8s.io/v1',
      command: execPlugin,
      args: [],
      env: { EXEC_TOKEN: t.cluster.token, EXEC_FAIL: 'plugin refused: no credentials for this cluster' },
    }));
    await withClient([file], async (client) => {
      const e = await errorOf(() => Api.all(client, Namespaces).list());
      assert.ok(e instanceof ExecCredentialError, `expected an ExecCredentialError, got ${String(e)}`);
      assert.equal(e.code, 'ERR_EXEC_CREDENTIAL');
      assert.ok(e.message.includes(execPlugin), `the message names the command: ${e.message}`);
      assert.match(e.message, /plugin refused: no credentials for this cluster/, 'the message carries the first line of stderr');
      assert.ok(e.message.includes(file), 'the message names the kubeconfig');
      assertNoSecrets(e, [t.cluster.token]);
    });
  });

  test('a plugin command that does not exist is an ExecCredentialError saying so', async () => {
    const missing = join(dir, 'no-such-plugin');
    const file = writeKubeconfig(execUser({ apiVersion: 'client.authentication.k8s.io/v1', command: missing, args: [], env: { EXEC_TOKEN: t.cluster.token } }));
    await withClient([file], async (client) => {
      const e = await errorOf(() => Api.all(client, Namespaces).list());
      assert.ok(e instanceof ExecCredentialError, `expected an ExecCredentialError, got ${String(e)}`);
      assert.ok(e.message.includes(missing));
      assert.match(e.message, /was not found/);
      assertNoSecrets(e, [t.cluster.token]);
    });
  });
});
