#!/usr/bin/env node
// Runs the compiled test files one at a time (each file starts its own local
// control plane; two cores do not fit two), then checks that no control-plane
// process started by the suite is still alive.
import { spawnSync, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const testDir = join(root, 'dist', 'test');
const only = process.argv.slice(2);

function find(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === 'support' || name === 'fixtures' ? [] : find(p);
    return name.endsWith('.test.js') ? [p] : [];
  });
}

let files = find(testDir).sort();
if (only.length > 0) files = files.filter((f) => only.some((o) => relative(testDir, f).includes(o)));
if (files.length === 0) {
  console.error(`no test files found under ${testDir} (did the build run?)`);
  process.exit(1);
}

// Every process the suite starts inherits this marker, so leftovers are told
// apart from servers other programs on the machine run.
const runId = randomBytes(8).toString('hex');
const marker = `KUBELOOP_TEST_RUN=${runId}`;
const leftovers = () => {
  let lines = [];
  try {
    lines = execFileSync('pgrep', ['-a', '-f', 'etcd|kube-apiserver|kube-controller-manager|prometheus'], { encoding: 'utf8' }).split('\n');
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
  return lines.filter((l) => {
    if (!l) return false;
    try {
      return readFileSync(`/proc/${l.split(' ')[0]}/environ`, 'utf8').split('\0').includes(marker);
    } catch {
      return false; // gone meanwhile
    }
  });
};

const args = ['--test', '--test-concurrency=1', `--test-reporter=${process.env.TEST_REPORTER ?? 'spec'}`, ...files];
const result = spawnSync(process.execPath, args, { stdio: 'inherit', env: { KUBELOOP_LOG: 'error', ...process.env, KUBELOOP_TEST_RUN: runId } });

const leaked = leftovers();
if (leaked.length > 0) {
  console.error(`\nFAIL: the suite left control-plane processes running:\n${leaked.join('\n')}`);
  process.exit(1);
}
console.log('\nno control-plane process left behind by the suite');
process.exit(result.status ?? 1);
