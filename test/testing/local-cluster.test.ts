/**
 * `LocalCluster` leaves nothing behind: `stop()` escalates to SIGKILL for a process
 * that ignores SIGTERM, and a watchdog stops the control plane when the process
 * that started it dies without stopping it (kill -9).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { LocalCluster } from '../../src/testing/index.js';
import { until } from '../support/cluster.js';
import { alive } from '../support/processes.js';

const fixture = fileURLToPath(new URL('../fixtures/cluster-child.js', import.meta.url));

const commandOf = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] ?? '';

test('stop() sends SIGTERM, and SIGKILL 5 s later to a process that did not exit; then nothing runs and the directory is gone', { timeout: 60_000 }, async () => {
  const cluster = await LocalCluster.start();
  const pids = cluster.pids();
  try {
    const apiserver = pids.find((pid) => commandOf(pid).endsWith('kube-apiserver'));
    assert.ok(apiserver !== undefined, `no kube-apiserver among ${pids.map(commandOf).join(', ')}`);
    // A stopped process cannot act on SIGTERM: only SIGKILL ends it.
    process.kill(apiserver, 'SIGSTOP');
    const start = performance.now();
    await cluster.stop();
    const tookMs = performance.now() - start;
    console.log(`# stop() with a kube-apiserver that ignores SIGTERM took ${Math.round(tookMs)} ms`);
    assert.ok(tookMs >= 5000 && tookMs < 9000, `stop() took ${Math.round(tookMs)} ms`);
    assert.deepEqual(pids.filter(alive), [], 'every process of the cluster is gone');
    assert.equal(existsSync(cluster.dir), false, 'its directory is removed');
  } finally {
    cluster.killNow();
  }
});

test('when the process that started a cluster is killed with SIGKILL, the watchdog stops the cluster and removes its directory', { timeout: 120_000 }, async () => {
  const child = spawn(process.execPath, [fixture], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  let started: { pids: number[]; dir: string } | undefined;
  try {
    started = await new Promise<{ pids: number[]; dir: string }>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once('line', (line) => resolve(JSON.parse(line) as { pids: number[]; dir: string }));
      child.once('exit', (code) => reject(new Error(`the fixture exited with ${code} before starting its cluster`)));
    });
    assert.equal(started.pids.length, 2, 'etcd and kube-apiserver');
    assert.deepEqual(started.pids.filter(alive), started.pids);
    const killedAt = performance.now();
    child.kill('SIGKILL'); // no exit hook runs: only the watchdog can clean up
    await exited;
    // Nothing signals another process's exit to us: poll. The watchdog checks every second, then TERM, 3 s, KILL.
    await until('every process of the orphaned cluster to be gone', () => started!.pids.every((pid) => !alive(pid)), 15_000, 100);
    await until('its directory to be removed', () => !existsSync(started!.dir), 10_000, 100);
    console.log(`# the watchdog cleaned up ${Math.round(performance.now() - killedAt)} ms after the parent was killed`);
  } finally {
    child.kill('SIGKILL');
    for (const pid of started?.pids ?? []) if (alive(pid)) process.kill(pid, 'SIGKILL');
  }
});
