import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { Api, ApiError, Client, ConfigError, ConfigMaps, Namespaces, TransportError } from '../../src/index.js';
import { useCluster } from '../support/cluster.js';
import { assertNoSecrets, assertOneSentence } from '../support/secrets.js';

const t = useCluster();
const dir = mkdtempSync(join(tmpdir(), 'kubeloop-errors-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// Recognisable secrets planted in configs: none may show up in any error.
const TOKEN = 'kubeloop-planted-token-7f3a9c1e5b';
const KEY_TEXT = 'kubeloop-planted-key-text-4d2e8b6a';
const KEY_DATA = Buffer.from(`-----BEGIN PRIVATE KEY-----\n${KEY_TEXT}\n-----END PRIVATE KEY-----\n`).toString('base64');
const SECRETS = [TOKEN, KEY_TEXT, KEY_DATA];

/** The error `fn` throws (sync or async). */
async function errorOf(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  assert.fail('expected an error, but the call succeeded');
}

function writeConfig(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text, { mode: 0o600 });
  return path;
}

/** A well-formed kubeconfig with a token user and a client-key-data, to be broken in one place. */
function kubeconfig(overrides: { currentContext?: string | null; user?: Record<string, unknown> } = {}): string {
  const doc: Record<string, unknown> = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'local', cluster: { server: t.cluster.server, 'certificate-authority-data': Buffer.from(t.cluster.caPem).toString('base64') } }],
    users: [{ name: 'planted', user: overrides.user ?? { token: TOKEN } }],
    contexts: [{ name: 'local', context: { cluster: 'local', user: 'planted' } }],
  };
  if (overrides.currentContext !== null) doc['current-context'] = overrides.currentContext ?? 'local';
  return stringify(doc);
}

describe('API errors', () => {
  test('a missing object is an ApiError with code 404 and reason NotFound', async () => {
    const api = Api.namespaced(t.client, ConfigMaps, 'default');
    const e = await errorOf(() => api.get('does-not-exist'));
    assert.ok(e instanceof ApiError, `expected an ApiError, got ${String(e)}`);
    assert.equal(e.code, 404);
    assert.equal(e.reason, 'NotFound');
    assert.equal(e.status.details?.name, 'does-not-exist');
    assert.equal(e.request.method, 'GET');
    assert.match(e.message, /does-not-exist/);
    assert.match(e.message, /404 NotFound/);
  });

  test('a wrong token is a 401 ApiError that says the credentials were rejected and where they came from', async () => {
    const file = writeConfig('wrong-token.yaml', kubeconfig());
    const client = Client.fromKubeconfig({ paths: [file] });
    try {
      const e = await errorOf(() => Api.all(client, Namespaces).list());
      assert.ok(e instanceof ApiError, `expected an ApiError, got ${String(e)}`);
      assert.equal(e.code, 401);
      assert.equal(e.reason, 'Unauthorized');
      assert.match(e.message, /rejected the credentials/);
      assert.ok(e.message.includes(file), `the message names the kubeconfig: ${e.message}`);
      assertNoSecrets(e, SECRETS);
    } finally {
      await client.close();
    }
  });
});

describe('TLS errors', () => {
  test('a CA that did not sign the server certificate is a TransportError naming the server and saying TLS verification failed', async () => {
    // The client CA is a real CA, but not the one that signed the serving certificate.
    const wrongCa = readFileSync(join(t.cluster.dir, 'client-ca.crt'), 'utf8');
    const client = new Client({
      server: t.cluster.server,
      namespace: 'default',
      tls: { ca: wrongCa, rejectUnauthorized: true },
      auth: { type: 'token', token: TOKEN },
      source: 'test',
    });
    try {
      const e = await errorOf(() => Api.all(client, Namespaces).list());
      assert.ok(e instanceof TransportError, `expected a TransportError, got ${String(e)}`);
      assert.equal(e.server, t.cluster.server);
      assert.ok(e.message.includes(t.cluster.server), `the message names the server: ${e.message}`);
      assert.match(e.message, /TLS certificate verification failed/);
      assertNoSecrets(e, SECRETS);
    } finally {
      await client.close();
    }
  });

  test('the same server with the right CA answers (the failure above is the CA, nothing else)', async () => {
    const client = new Client({
      server: t.cluster.server,
      namespace: 'default',
      tls: { ca: t.cluster.caPem, rejectUnauthorized: true },
      auth: { type: 'token', token: t.cluster.token },
      source: 'test',
    });
    try {
      assert.ok((await Api.all(client, Namespaces).list()).items.length > 0);
    } finally {
      await client.close();
    }
  });
});

describe('malformed kubeconfig', () => {
  /** Loading `file` fails with a one-sentence ConfigError naming the file and matching `field`. */
  async function assertConfigError(file: string, field: RegExp, paths: string[] = [file]): Promise<ConfigError> {
    const e = await errorOf(() => Client.fromKubeconfig({ paths: [file] }));
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    assert.equal(e.code, 'ERR_KUBE_CONFIG');
    assert.ok(e.message.includes(file), `the message names the file: ${e.message}`);
    assert.match(e.message, field);
    assertOneSentence(e.message, paths);
    assertNoSecrets(e, SECRETS);
    return e;
  }

  test('bad YAML: names the file and the position, without quoting the line (which holds a token)', async () => {
    const file = writeConfig('bad-yaml.yaml', [
      'apiVersion: v1',
      'kind: Config',
      'current-context: local',
      'users:',
      '- name: planted',
      '  user:',
      `    client-key-data: ${KEY_DATA}`,
      `    token: "${TOKEN}`,
      `    password: [${KEY_TEXT}`,
      '',
    ].join('\n'));
    const e = await assertConfigError(file, /is not valid YAML at line \d+, column \d+/);
    assert.equal(e.cause, undefined, 'the parser error (which quotes the line) is not kept as the cause');
  });

  test('no current-context: names the file and the field', async () => {
    const file = writeConfig('no-context.yaml', kubeconfig({ currentContext: null }));
    await assertConfigError(file, /current-context/);
  });

  test('a current-context that names no context: names the file, the field and the missing name', async () => {
    const file = writeConfig('unknown-context.yaml', kubeconfig({ currentContext: 'nowhere' }));
    await assertConfigError(file, /current-context "nowhere" names no entry in contexts/);
  });

  test('a client-certificate file that does not exist: names the file, the field and the missing path', async () => {
    const file = writeConfig('missing-cert.yaml', kubeconfig({ user: { 'client-certificate': 'certs/absent.crt', 'client-key-data': KEY_DATA, token: TOKEN } }));
    const missing = join(dir, 'certs', 'absent.crt');
    const e = await assertConfigError(file, /users\[name=planted\]\.user\.client-certificate points at/, [file, missing]);
    assert.ok(e.message.includes(missing), `the message names the missing path, resolved against the kubeconfig's directory: ${e.message}`);
    assert.match(e.message, /ENOENT/);
  });

  test('a kubeconfig file that does not exist: names the file', async () => {
    const file = join(dir, 'never-written.yaml');
    await assertConfigError(file, /cannot be read \(ENOENT\)/);
  });
});
