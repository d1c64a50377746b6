#!/usr/bin/env node
/**
 * kubeloop-dev: the local control plane from the command line.
 *
 *   kubeloop-dev install              build or fetch etcd, kube-apiserver, kube-controller-manager (cached)
 *   kubeloop-dev cluster up [--gc]    start one, print its KUBECONFIG, stop it on Ctrl+C
 */
import { LocalCluster } from './local-cluster.js';
import { resolveAssets, runInstallScript } from './assets.js';

const usage = 'usage: kubeloop-dev install | kubeloop-dev cluster up [--gc]';

async function main(argv: string[]): Promise<number> {
  const [cmd, sub, ...rest] = argv;
  if (cmd === 'install') {
    await runInstallScript();
    const assets = await resolveAssets({ install: false });
    console.log(Object.entries(assets).map(([k, v]) => `${k}: ${v}`).join('\n'));
    return 0;
  }
  if (cmd === 'cluster' && sub === 'up') {
    const unknown = rest.filter((a) => a !== '--gc');
    if (unknown.length > 0) {
      console.error(`kubeloop-dev: unknown option ${unknown[0]}; ${usage}`);
      return 2;
    }
    const cluster = await LocalCluster.start({ controllerManager: rest.includes('--gc') });
    console.log(`API server: ${cluster.server}`);
    console.log(`export KUBECONFIG=${cluster.kubeconfigPath}`);
    console.log('Press Ctrl+C to stop the cluster.');
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await cluster.stop();
    console.log('stopped');
    return 0;
  }
  console.error(usage);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: Error) => {
    console.error(`kubeloop-dev: ${e.message}`);
    process.exit(1);
  },
);
