import { spawn } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Paths of the control-plane binaries the local cluster runs. */
export interface ControlPlaneAssets {
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
}

const K8S_VERSION = '1.20.2';

async function executable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Where `scripts/install-control-plane.sh` caches what it builds. */
export function cacheAssetsDir(): string {
  const root = process.env.KUBELOOP_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'kubeloop');
  return join(root, `assets-${K8S_VERSION}`);
}

const installScript = resolve(fileURLToPath(import.meta.url), '../../../../scripts/install-control-plane.sh');

/**
 * Finds the binaries, in this order: `KUBELOOP_ETCD` / `KUBELOOP_KUBE_APISERVER` /
 * `KUBELOOP_KUBE_CONTROLLER_MANAGER`, then a directory in `KUBELOOP_ASSETS` or
 * `KUBEBUILDER_ASSETS` (envtest's variable), then the install cache. When none
 * has them and `install` is true, runs the install script (it prints progress).
 */
export async function resolveAssets(options: { install?: boolean } = {}): Promise<ControlPlaneAssets> {
  const dirs = [process.env.KUBELOOP_ASSETS, process.env.KUBEBUILDER_ASSETS, cacheAssetsDir()].filter((d): d is string => !!d);
  const find = async (envName: string, file: string): Promise<string | undefined> => {
    const fromEnv = process.env[envName];
    if (fromEnv) {
      if (!(await executable(fromEnv))) throw new Error(`${envName} points at ${fromEnv}, which is not an executable file.`);
      return fromEnv;
    }
    for (const dir of dirs) if (await executable(join(dir, file))) return join(dir, file);
    return undefined;
  };
  const lookup = async () => ({
    etcd: await find('KUBELOOP_ETCD', 'etcd'),
    kubeApiserver: await find('KUBELOOP_KUBE_APISERVER', 'kube-apiserver'),
    kubeControllerManager: await find('KUBELOOP_KUBE_CONTROLLER_MANAGER', 'kube-controller-manager'),
  });
  let found = await lookup();
  if ((!found.etcd || !found.kubeApiserver || !found.kubeControllerManager) && options.install !== false) {
    await runInstallScript();
    found = await lookup();
  }
  const missing = Object.entries(found).filter(([, v]) => !v).map(([k]) => k);
  if (missing.length > 0) {
    throw new Error(`no ${missing.join(', ')} binary found: run \`npx kubeloop-dev install\` or set KUBELOOP_ASSETS to a directory holding them.`);
  }
  return found as ControlPlaneAssets;
}

/** Paths of `prometheus` and `promtool` (installed beside the control plane). */
export async function resolvePrometheus(options: { install?: boolean } = {}): Promise<{ prometheus: string; promtool: string }> {
  const dir = process.env.KUBELOOP_PROMETHEUS_DIR ?? cacheAssetsDir();
  const paths = { prometheus: join(dir, 'prometheus'), promtool: join(dir, 'promtool') };
  if (!(await executable(paths.prometheus)) && options.install !== false) await runInstallScript();
  if (!(await executable(paths.prometheus))) throw new Error(`no prometheus binary in ${dir}: run \`npx kubeloop-dev install\`.`);
  return paths;
}

/** Runs the install script, streaming its progress to stderr. */
export function runInstallScript(): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('bash', [installScript], { stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolvePromise() : reject(new Error(`the control-plane install script (${installScript}) exited with code ${code}.`)),
    );
  });
}
