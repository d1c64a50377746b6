#!/usr/bin/env node
/**
 * kubeloop-dev: the local control plane from the command line.
 *
 *   kubeloop-dev install              build or fetch etcd, kube-apiserver, kube-controller-manager (cached)
 *   kubeloop-dev cluster up [--gc]    start one, print its KUBECONFIG, stop it on Ctrl+C
 *   kubeloop-dev crd <module>         print the CRD YAML of every custom resource a module exports
 *   kubeloop-dev types <crd.yaml | -> print TypeScript types and a descriptor for existing CRDs
 */
import { LocalCluster } from './local-cluster.js';
import { resolveAssets, runInstallScript } from './assets.js';
import { crdCommand, readInput, typesCommand } from './cli-schema.js';

const usage = 'usage: kubeloop-dev install | kubeloop-dev cluster up [--gc] | kubeloop-dev crd <module> | kubeloop-dev types <crd.yaml | ->';

async function main(argv: string[]): Promise<number> {
  const [cmd, sub, ...rest] = argv;
  if (cmd === 'install') {
    await runInstallScript();
    const assets = await resolveAssets({ install: false });
    console.log(Object.entries(assets).map(([k, v]) => `${k}: ${v}`).join('\n'));
    return 0;
  }
  if ((cmd === 'crd' || cmd === 'types') && sub !== undefined && rest.length === 0) {
    const out = cmd === 'crd' ? await crdCommand(sub) : typesCommand(readInput(sub), sub === '-' ? 'standard input' : sub);
    process.stderr.write(out.stderr);
    // Write, then exit only when stdout has drained: a large module piped to a file must arrive whole.
    await new Promise<void>((done) => process.stdout.write(out.stdout, () => done()));
    return 0;
  }
  if (cmd === 'cluster' && sub === 'up') {
    const unknown = rest.filter((a) => a !== '--gc');
    if (unknown.length > 0) {
      console.error(`kubeloop-dev: unknown option ${unknown[0]}; ${usage}`);
      return 2;
    }
    // Signal listeners do not keep Node's event loop alive, and LocalCluster's children
    // are unref'd (so that they never keep a program alive by accident): this timer is
    // what keeps the process, and so the cluster, up until Ctrl+C. A signal during
    // start-up stops the cluster as soon as it is up.
    const keepAlive = setInterval(() => {}, 1 << 30);
    const stopRequested = new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    const cluster = await LocalCluster.start({ controllerManager: rest.includes('--gc') });
    console.log(`API server: ${cluster.server}`);
    console.log(`export KUBECONFIG=${cluster.kubeconfigPath}`);
    console.log('Press Ctrl+C to stop the cluster.');
    await stopRequested;
    // A second Ctrl+C does not wait for a graceful stop.
    const now = () => {
      cluster.killNow();
      process.exit(130);
    };
    process.once('SIGINT', now);
    process.once('SIGTERM', now);
    console.log('stopping');
    await cluster.stop();
    clearInterval(keepAlive);
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
