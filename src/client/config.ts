import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../core/errors.js';
import { loadKubeconfig } from './kubeconfig.js';

/** An exec credential plugin, as a kubeconfig user's `exec` section describes it. */
export interface ExecConfig {
  apiVersion: 'client.authentication.k8s.io/v1' | 'client.authentication.k8s.io/v1beta1';
  command: string;
  args: string[];
  env: Record<string, string>;
  provideClusterInfo: boolean;
  /** Where it came from, for error messages. */
  source: string;
}

/** How requests authenticate. Secrets live only here and in the auth layer. */
export type AuthConfig =
  | { type: 'none' }
  | { type: 'token'; token: string }
  | { type: 'tokenFile'; path: string; refreshMs?: number }
  | { type: 'basic'; username: string; password: string }
  | { type: 'exec'; exec: ExecConfig; server: string };

/** Everything needed to talk to one API server. */
export interface ConnectionConfig {
  /** Base URL without a trailing slash, e.g. `https://127.0.0.1:6443`. */
  server: string;
  /** The default namespace (context namespace, service-account namespace, or `default`). */
  namespace: string;
  tls: {
    ca?: Buffer | string;
    cert?: Buffer | string;
    key?: Buffer | string;
    rejectUnauthorized: boolean;
    servername?: string;
  };
  auth: AuthConfig;
  /** Where this configuration came from, for messages. */
  source: string;
}

/** The in-cluster service-account directory. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * The configuration of a pod's service account: `KUBERNETES_SERVICE_HOST`/`_PORT`,
 * the token (re-read about once a minute because it rotates), the CA and the namespace.
 */
export function inClusterConfig(options: { env?: NodeJS.ProcessEnv; dir?: string } = {}): ConnectionConfig {
  const env = options.env ?? process.env;
  const dir = options.dir ?? SERVICE_ACCOUNT_DIR;
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) throw new ConfigError('in-cluster config needs KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT, and they are not set.');
  const read = (file: string, what: string) => {
    try {
      return readFileSync(join(dir, file));
    } catch (e) {
      throw new ConfigError(`in-cluster ${what} ${join(dir, file)} cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'}).`);
    }
  };
  const ca = read('ca.crt', 'CA file');
  read('token', 'token file');
  let namespace = 'default';
  try {
    namespace = readFileSync(join(dir, 'namespace'), 'utf8').trim() || 'default';
  } catch {
    // No namespace file: the default namespace, as client-go does.
  }
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return {
    server: `https://${hostPart}:${port}`,
    namespace,
    tls: { ca, rejectUnauthorized: true },
    auth: { type: 'tokenFile', path: join(dir, 'token'), refreshMs: 60_000 },
    source: `in-cluster service account (${dir})`,
  };
}

/**
 * Kubeconfig first (`KUBECONFIG`, else `~/.kube/config`), then in-cluster.
 * When both fail, the error says why for each.
 */
export function inferConfig(options: { env?: NodeJS.ProcessEnv; context?: string; serviceAccountDir?: string } = {}): ConnectionConfig {
  let kubeconfigProblem: string;
  try {
    return loadKubeconfig({ env: options.env, context: options.context });
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    kubeconfigProblem = e.message;
  }
  try {
    return inClusterConfig({ env: options.env, dir: options.serviceAccountDir });
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    throw new ConfigError(`no Kubernetes configuration found: ${kubeconfigProblem.replace(/\.$/, '')}; and ${e.message}`);
  }
}
