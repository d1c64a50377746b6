/**
 * `kubeloop-dev cluster up` run as a user runs it: a process that prints its
 * KUBECONFIG, serves requests until Ctrl+C, then stops its control plane and exits 0.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { Api, Client, Namespaces } from '../../src/index.js';
import { alive } from '../support/processes.js';

// The compiled CLI, next to this compiled test (dist/test/testing → dist/src/testing).
const cli = fileURLToPath(new URL('../../src/testing/cli.js', import.meta.url));

test('cluster up serves requests until SIGINT, then stops its etcd and kube-apiserver and exits 0', { timeout: 180_000 }, async () => {
  const child = spawn(process.execPath, [cli, 'cluster', 'up'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += String(d)));
  const lines: string[] = [];
  let client: Client | undefined;
  try {
    const kubeconfig = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        lines.push(line);
        const m = /^export KUBECONFIG=(.+)$/.exec(line);
        if (m) resolve(m[1]!);
      });
      void exited.then((how) => reject(new Error(`cluster up exited (${how.code ?? how.signal}) before printing its KUBECONFIG: ${stderr}`)));
    });
    // The cluster's processes, as LocalCluster records them beside the kubeconfig.
    const pids = readFileSync(join(dirname(kubeconfig), 'pids'), 'utf8').split('\n').filter(Boolean).map(Number);
    assert.ok(pids.length >= 2, `etcd and kube-apiserver are recorded: ${pids.join(', ')}`);

    client = Client.fromKubeconfig({ paths: [kubeconfig] });
    const api = Api.all(client, Namespaces);
    const started = performance.now();
    let answered = 0;
    // As a user with kubectl would, seconds after the prompt: a request every 500 ms for 3 s.
    while (performance.now() - started < 3000) {
      assert.equal(child.exitCode, null, `cluster up still runs after ${((performance.now() - started) / 1000).toFixed(1)} s; its output: ${lines.join(' | ')}`);
      const names = (await api.list()).items.map((n) => n.metadata?.name);
      assert.ok(names.includes('default'), `request ${answered + 1} listed the namespaces`);
      answered++;
      await sleep(500);
    }
    assert.ok(answered >= 6, `${answered} requests answered over 3 s`);
    assert.equal(child.exitCode, null, 'cluster up still runs after the last request');
    assert.ok(lines.includes('Press Ctrl+C to stop the cluster.'), lines.join('\n'));

    child.kill('SIGINT');
    const how = await exited;
    assert.deepEqual(how, { code: 0, signal: null }, `exit after SIGINT; stderr: ${stderr}`);
    assert.equal(lines.at(-1), 'stopped');
    assert.deepEqual(pids.filter(alive), [], 'no process of the cluster is left');
    assert.ok(!existsSync(dirname(kubeconfig)), 'its directory is removed');
  } finally {
    await client?.close();
    if (child.exitCode === null && child.signalCode === null) {
      // Its watchdog stops the cluster once it is gone.
      child.kill('SIGKILL');
      await exited;
    }
  }
});
