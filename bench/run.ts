/**
 * `npm run bench`: starts a local control plane (etcd + kube-apiserver on
 * loopback), loads the data, runs every scenario (bench/scenarios/, one file
 * each) several times with the contenders alternating, each measurement in a
 * child process of its own, and writes bench/results/latest.json and latest.md
 * (or a scenario's own file when it runs alone, see `Scenario.ownResults`).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalCluster } from 'kubeloop/testing';
import { Admin } from './admin.js';
import { readScale, readScenarios } from './config.js';
import type { ChildOptions } from './harness.js';
import type { Target } from './protocol.js';
import { markdown, type ScenarioResult } from './report.js';
import { scenarios as table } from './scenarios/index.js';
import { log, mono, type Ctx } from './scenarios/scenario.js';

const RESULTS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'results');
const started = Date.now();

function otlpSink(): Promise<{ server: Server; endpoint: string; received: { requests: number; bytes: number } }> {
  const received = { requests: 0, bytes: 0 };
  const server = createServer((req, res) => {
    req.on('data', (c: Buffer) => (received.bytes += c.length));
    req.on('end', () => {
      received.requests++;
      res.writeHead(200, { 'content-type': 'application/x-protobuf' });
      res.end();
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received })));
}

async function main(): Promise<void> {
  const scale = readScale();
  const names = readScenarios();
  const chosen = names.map((name) => ({ name, ...table[name] }));
  const childOptions: ChildOptions = process.env.BENCH_PROFILE ? { profileDir: join(RESULTS, 'profiles') } : {};
  log(`scale ${scale.name}, ${scale.reps} repetitions, scenarios: ${names.join(', ')}${childOptions.profileDir ? `, CPU profiles in ${childOptions.profileDir}` : ''}`);
  let cluster: LocalCluster | undefined;
  let admin: Admin | undefined;
  const sink = await otlpSink();
  const results: ScenarioResult[] = [];
  let kubernetes = 'unknown';
  try {
    let t: Target = { kubeconfigPath: '', server: '', token: '', caPem: '' };
    if (chosen.some((s) => s.needsCluster)) {
      log('starting the local control plane (etcd + kube-apiserver)');
      cluster = await LocalCluster.start();
      t = { kubeconfigPath: cluster.kubeconfigPath, server: cluster.server, token: cluster.token, caPem: cluster.caPem };
      admin = new Admin(t);
      const version = (await admin.call('GET', '/version')) as { gitVersion: string; major?: string; minor?: string };
      kubernetes = version.major && version.minor ? `${version.major}.${version.minor} (${version.gitVersion})` : version.gitVersion;
      log(`control plane ${kubernetes} ready at ${cluster.server}`);
      const t0 = mono();
      for (const s of chosen) await s.load?.(admin, scale);
      log(`data loaded in ${((mono() - t0) / 1000).toFixed(1)} s`);
    }
    const ctx: Ctx = { scale, target: t, admin: admin!, childOptions, otlp: sink, seq: 1000 };
    for (const s of chosen) {
      log(`scenario ${s.name}`);
      results.push(...(await s.run(ctx)));
    }
  } finally {
    await admin?.close().catch(() => {});
    sink.server.close();
    if (cluster) {
      log('stopping the control plane');
      await cluster.stop();
    }
  }
  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    kubernetes,
    scale: scale.name,
    reps: scale.reps,
    quickReps: scale.quickReps,
    scenarios: names,
    totalSeconds: Math.round((Date.now() - started) / 1000),
    config: scale,
  };
  // A scenario with results of its own, run alone, leaves the full run's latest.* as they are.
  const own = new Set(chosen.map((s) => s.ownResults));
  const file = own.size === 1 ? ([...own][0] ?? 'latest') : 'latest';
  await mkdir(RESULTS, { recursive: true });
  await writeFile(join(RESULTS, `${file}.json`), JSON.stringify({ meta, scenarios: results }, null, 2) + '\n');
  const md = markdown(meta, results);
  await writeFile(join(RESULTS, `${file}.md`), md + '\n');
  console.log(md);
  log(`wrote ${join(RESULTS, `${file}.json`)} and ${file}.md`);
}

main().catch((e: Error) => {
  console.error(e.stack ?? e.message);
  process.exitCode = 1;
});
