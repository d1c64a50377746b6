#!/usr/bin/env node
// Runs the compiled test files one at a time (each file starts its own local
// control plane; two cores do not fit two), then checks that no control-plane
// process started by the suite is still alive.
import { spawnSync, execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
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

const leftovers = () => {
  try {
    return execFileSync('pgrep', ['-a', '-f', 'kubeloop-cluster-'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l && /etcd|kube-apiserver|kube-controller-manager|prometheus/.test(l));
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
};
const before = new Set(leftovers().map((l) => l.split(' ')[0]));

const args = ['--test', '--test-concurrency=1', `--test-reporter=${process.env.TEST_REPORTER ?? 'spec'}`, ...files];
const result = spawnSync(process.execPath, args, { stdio: 'inherit', env: { ...process.env, KUBELOOP_TEST: '1' } });

const leaked = leftovers().filter((l) => !before.has(l.split(' ')[0]));
if (leaked.length > 0) {
  console.error(`\nFAIL: the suite left control-plane processes running:\n${leaked.join('\n')}`);
  process.exit(1);
}
console.log('\nno control-plane process left behind by the suite');
process.exit(result.status ?? 1);
