import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { stringify } from 'yaml';
import {
  Api, ApiError, Client, ConfigError, ConfigMaps, Namespaces, inClusterConfig, inferConfig, loadKubeconfig, type ConnectionConfig,
} from '../../src/index.js';
import { useCluster } from '../support/cluster.js';
import { assertNoSecrets } from '../support/secrets.js';

const t = useCluster();
const dir = mkdtempSync(join(tmpdir(), 'kubeloop-kubeconfig-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const BOGUS_SERVER = 'https://127.0.0.1:1';
const WRONG_TOKEN = 'kubeloop-wrong-token-0b9e44d1c7';

const port = () => new URL(t.cluster.server).port;
/** The variables a pod gets for the API server's service, pointing at the local cluster. */
const env = () => ({ KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: port() });

/** A service-account directory like the one mounted into pods, holding `files`. */
function serviceAccountDir(name: string, files: Record<string, string>): string {
  const sa = join(dir, name);
  mkdirSync(sa, { recursive: true });
  for (const [file, text] of Object.entries(files)) writeFileSync(join(sa, file), text);
  return sa;
}

/** An existing directory without a .kube/config. */
function emptyHome(): string {
  const home = join(dir, 'empty-home');
  mkdirSync(home, { recursive: true });
  return home;
}

function write(name: string, doc: Record<string, unknown>): string {
  const path = join(dir, name);
  writeFileSync(path, stringify(doc), { mode: 0o600 });
  return path;
}

async function withClient<T>(config: ConnectionConfig | Client, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = config instanceof Client ? config : new Client(config);
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

/** It reaches the local cluster as admin: listing namespaces needs a working server, CA and credential. */
async function worksAgainstCluster(client: Client): Promise<void> {
  const names = (await Api.all(client, Namespaces).list()).items.map((n) => n.metadata?.name);
  assert.ok(names.includes('default'), 'the cluster answered the list');
}

/**
 * Two files that disagree on everything: the first is right, the second would
 * send requests to a closed port with a wrong token. The second also defines
 * entries the first lacks.
 */
function twoFiles(): { first: string; second: string } {
  const ca = Buffer.from(t.cluster.caPem).toString('base64');
  const first = write(`first-${Math.random().toString(36).slice(2)}.yaml`, {
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': 'primary',
    clusters: [{ name: 'local', cluster: { server: t.cluster.server, 'certificate-authority-data': ca } }],
    users: [{ name: 'admin', user: { token: t.cluster.token } }],
    contexts: [{ name: 'primary', context: { cluster: 'local', user: 'admin', namespace: 'team-a' } }],
  });
  const second = write(`second-${Math.random().toString(36).slice(2)}.yaml`, {
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': 'secondary',
    clusters: [
      { name: 'local', cluster: { server: BOGUS_SERVER, 'certificate-authority-data': ca } },
      { name: 'elsewhere', cluster: { server: BOGUS_SERVER } },
    ],
    users: [
      { name: 'admin', user: { token: WRONG_TOKEN } },
      { name: 'only-in-second', user: { token: t.cluster.token } },
    ],
    contexts: [
      { name: 'primary', context: { cluster: 'elsewhere', user: 'admin', namespace: 'team-z' } },
      { name: 'secondary', context: { cluster: 'local', user: 'admin', namespace: 'team-b' } },
      { name: 'from-second', context: { cluster: 'local', user: 'only-in-second' } },
    ],
  });
  return { first, second };
}

describe('kubeconfig merging', () => {
  test('with two files in a paths list, the first file\'s current-context and entries win', async () => {
    const { first, second } = twoFiles();
    await withClient(Client.fromKubeconfig({ paths: [first, second] }), async (client) => {
      assert.equal(client.config.server, t.cluster.server, 'cluster "local" comes from the first file');
      assert.equal(client.defaultNamespace, 'team-a', 'context "primary" comes from the first file');
      assert.match(client.config.source, /context primary/);
      await worksAgainstCluster(client);
    });

    // Reversed, the other file wins everything.
    const reversed = loadKubeconfig({ paths: [second, first] });
    assert.equal(reversed.server, BOGUS_SERVER);
    assert.equal(reversed.namespace, 'team-b');
    assert.deepEqual(reversed.auth, { type: 'token', token: WRONG_TOKEN });
  });

  test('the KUBECONFIG variable is a path list merged the same way', async () => {
    const { first, second } = twoFiles();
    const env = { KUBECONFIG: `${first}${delimiter}${second}` };
    const config = inferConfig({ env });
    assert.equal(config.server, t.cluster.server);
    assert.equal(config.namespace, 'team-a');
    await withClient(config, worksAgainstCluster);

    // Client.infer() reads the process environment.
    const saved = process.env.KUBECONFIG;
    process.env.KUBECONFIG = env.KUBECONFIG;
    try {
      await withClient(Client.infer(), async (client) => {
        assert.equal(client.defaultNamespace, 'team-a');
        await worksAgainstCluster(client);
      });
    } finally {
      if (saved === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = saved;
    }
  });

  test('entries only the second file defines are found, mixed with the first file\'s', async () => {
    const { first, second } = twoFiles();
    // Context and user from the second file, cluster "local" from the first.
    await withClient(Client.fromKubeconfig({ paths: [first, second], context: 'from-second' }), async (client) => {
      assert.equal(client.config.server, t.cluster.server);
      assert.equal(client.defaultNamespace, 'default', 'a context without a namespace means "default"');
      await worksAgainstCluster(client);
    });
  });

  test('a file of the list that does not exist is skipped', async () => {
    const { first } = twoFiles();
    await withClient(loadKubeconfig({ env: { KUBECONFIG: `${join(dir, 'absent.yaml')}${delimiter}${first}` } }), worksAgainstCluster);
  });
});

describe('default namespace', () => {
  test('the context namespace is the client\'s default namespace, used by Api.defaultNamespaced', async () => {
    const ns = await t.namespace('ctx');
    const file = write('with-namespace.yaml', { ...t.cluster.kubeconfig(), contexts: [{ name: 'kubeloop', context: { cluster: 'kubeloop', user: 'kubeloop', namespace: ns } }] });
    await withClient(Client.fromKubeconfig({ paths: [file] }), async (client) => {
      assert.equal(client.defaultNamespace, ns);
      const created = await Api.defaultNamespaced(client, ConfigMaps).create({ metadata: { name: 'here' } });
      assert.equal(created.metadata?.namespace, ns);
    });
    // Read back through the admin client, in that namespace.
    assert.ok(await Api.namespaced(t.client, ConfigMaps, ns).get('here'));
  });

  test('without a context namespace the default namespace is "default"', async () => {
    const file = write('no-namespace.yaml', { ...t.cluster.kubeconfig(), contexts: [{ name: 'kubeloop', context: { cluster: 'kubeloop', user: 'kubeloop' } }] });
    await withClient(Client.fromKubeconfig({ paths: [file] }), async (client) => {
      assert.equal(client.defaultNamespace, 'default');
      const created = await Api.defaultNamespaced(client, ConfigMaps).create({ metadata: { name: `no-ns-${Date.now()}` } });
      assert.equal(created.metadata?.namespace, 'default');
    });
  });
});

describe('in-cluster config', () => {
  test('reads host and port from the environment and token, CA and namespace from the service-account directory', async () => {
    const ns = await t.namespace('sa');
    const sa = serviceAccountDir('sa-full', { token: `${t.cluster.token}\n`, 'ca.crt': t.cluster.caPem, namespace: ns });
    const config = inClusterConfig({ env: env(), dir: sa });
    assert.equal(config.server, t.cluster.server);
    await withClient(config, async (client) => {
      assert.equal(client.defaultNamespace, ns);
      const created = await Api.defaultNamespaced(client, ConfigMaps).create({ metadata: { name: 'in-cluster' } });
      assert.equal(created.metadata?.namespace, ns);
    });
  });

  test('without a namespace file the default namespace is "default"', () => {
    const sa = serviceAccountDir('sa-no-ns', { token: t.cluster.token, 'ca.crt': t.cluster.caPem });
    assert.equal(inClusterConfig({ env: env(), dir: sa }).namespace, 'default');
  });

  test('the token file is read again after a 401, so a rotated token is picked up', async () => {
    const sa = serviceAccountDir('sa-rotate', { token: WRONG_TOKEN, 'ca.crt': t.cluster.caPem });
    await withClient(inClusterConfig({ env: env(), dir: sa }), async (client) => {
      const e = await Api.all(client, Namespaces).list().catch((x: unknown) => x);
      assert.ok(e instanceof ApiError && e.code === 401, `expected a 401 with the old token, got ${String(e)}`);
      assert.match(e.message, /in-cluster service account/, 'the 401 says where the credentials came from');
      assertNoSecrets(e, [WRONG_TOKEN]);
      writeFileSync(join(sa, 'token'), t.cluster.token);
      await worksAgainstCluster(client);
    });
  });
});

describe('inferring a config', () => {
  test('when neither kubeconfig nor in-cluster config is usable, the error gives the reason for both', () => {
    const missing = join(dir, 'missing-kubeconfig.yaml');
    const e = (() => {
      try {
        inferConfig({ env: { KUBECONFIG: missing } });
      } catch (x) {
        return x;
      }
      assert.fail('inferConfig succeeded');
    })();
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    assert.ok(e.message.includes(missing), `the kubeconfig reason names the file: ${e.message}`);
    assert.match(e.message, /ENOENT/);
    assert.match(e.message, /KUBERNETES_SERVICE_HOST/, 'the in-cluster reason names the variables');
  });

  test('with no KUBECONFIG it tries ~/.kube/config, and an incomplete service-account directory is named', () => {
    const home = emptyHome();
    const sa = serviceAccountDir('sa-empty', {});
    let e: unknown;
    try {
      inferConfig({ env: { HOME: home, ...env() }, serviceAccountDir: sa });
    } catch (x) {
      e = x;
    }
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    assert.ok(e.message.includes(join(home, '.kube', 'config')), `the kubeconfig reason names ~/.kube/config: ${e.message}`);
    assert.ok(e.message.includes(join(sa, 'ca.crt')), `the in-cluster reason names the missing CA file: ${e.message}`);
  });

  test('a usable in-cluster config is used when there is no kubeconfig', async () => {
    const sa = serviceAccountDir('sa-infer', { token: t.cluster.token, 'ca.crt': t.cluster.caPem, namespace: 'from-sa' });
    const config = inferConfig({ env: { HOME: emptyHome(), ...env() }, serviceAccountDir: sa });
    assert.equal(config.namespace, 'from-sa');
    assert.match(config.source, /in-cluster/);
    await withClient(config, worksAgainstCluster);
  });
});
