import { after, before } from 'node:test';
import { randomBytes } from 'node:crypto';
import { Api, Client, Namespaces } from '../../src/index.js';
import { LocalCluster, type LocalClusterOptions } from '../../src/testing/index.js';

export interface TestCluster {
  cluster: LocalCluster;
  /** An admin client for the cluster. */
  client: Client;
  /** Creates a fresh namespace for one test. */
  namespace(prefix?: string): Promise<string>;
}

/**
 * Starts one local control plane for the whole test file (in `before`) and
 * stops it in `after`. Returns a holder whose fields are set once `before` ran.
 */
export function useCluster(options: LocalClusterOptions = {}): TestCluster {
  const holder = {} as TestCluster;
  before(async () => {
    holder.cluster = await LocalCluster.start(options);
    holder.client = clientFor(holder.cluster);
    holder.namespace = async (prefix = 'test') => {
      const name = `${prefix}-${randomBytes(3).toString('hex')}`;
      await Api.all(holder.client, Namespaces).create({ metadata: { name } });
      return name;
    };
  });
  after(async () => {
    await holder.client?.close();
    await holder.cluster?.stop();
  });
  return holder;
}

/** A client for the cluster's admin (or another token user). */
export function clientFor(cluster: LocalCluster, token = cluster.token): Client {
  return new Client({
    server: cluster.server,
    namespace: 'default',
    tls: { ca: cluster.caPem, rejectUnauthorized: true },
    auth: { type: 'token', token },
    source: 'test',
  });
}

/**
 * Polls server-side state that has no event to await (an object reaching a status,
 * a process exiting) until `check` returns something truthy; rejects at the deadline.
 */
export async function until<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
