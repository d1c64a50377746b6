/**
 * Measures the demo operator's memory with 0 (idle), 1k, 10k and 50k Documents
 * (each with its ConfigMap) in its caches, and derives the sizing rule of
 * docs/deploy.md: baseline + bytes per Document.
 *
 *   node dist/bench/memory/measure.js [counts…]      default: 0 1000 10000 50000
 *
 * One local control plane; the Documents are created once, cumulatively. For each
 * count a fresh operator (default Node heap settings, so nothing constrains it)
 * starts over them, lists, reconciles every Document once (a no-op apply: they are
 * already in the state it would leave them in), and is then sampled: heap used
 * and RSS after two forced collections, and the peak RSS since its start (the
 * first lists and the first reconcile of each Document, the figure a limit must
 * hold). Writes bench/memory/results.json and prints a Markdown table.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { Api, Client, CustomResourceDefinitions, Namespaces } from '../../src/index.js';
import { LocalCluster } from '../../src/testing/index.js';
import { createDocuments } from './documents.js';
import { OperatorProcess, type HeapSample } from './operator-process.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const MiB = 2 ** 20;

export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check().catch(() => undefined);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The CRD from deploy/, created and established. */
export async function installCrd(client: Client): Promise<void> {
  const crds = Api.all(client, CustomResourceDefinitions);
  const crd = parseAllDocuments(readFileSync(join(root, 'deploy/crd.yaml'), 'utf8'))[0]!.toJSON() as Parameters<typeof crds.create>[0];
  await crds.create(crd);
  await waitFor('the Document CRD established', async () => (await crds.get(crd.metadata!.name!)).status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True'), 30_000);
}

export function adminClient(cluster: LocalCluster): Client {
  return new Client({ server: cluster.server, namespace: 'default', tls: { ca: cluster.caPem, rejectUnauthorized: true }, auth: { type: 'token', token: cluster.token }, source: 'memory bench' });
}

export interface Row {
  documents: number;
  readyMs: number;
  reconciledMs: number;
  sample: HeapSample;
}

/** Starts the operator over `count` existing Documents, waits until it reconciled each once, samples it and stops it. */
export async function measureOnce(kubeconfig: string, count: number): Promise<Row> {
  const started = Date.now();
  const operator = new OperatorProcess({ kubeconfig });
  try {
    await operator.listening();
    await waitFor('/readyz', async () => (await fetch(`http://127.0.0.1:${operator.port}/readyz`)).ok, 600_000);
    const readyMs = Date.now() - started;
    await waitFor(`${count} reconciles`, async () => (await operator.metric('reconcile_total', 'result="success"')) >= count && (await operator.metric('reconcile_active')) === 0, 1_800_000);
    const reconciledMs = Date.now() - started;
    return { documents: count, readyMs, reconciledMs, sample: await operator.sample() };
  } finally {
    await operator.stop();
  }
}

async function main(): Promise<void> {
  const counts = process.argv.slice(2).map(Number);
  if (counts.length === 0) counts.push(0, 1000, 10_000, 50_000);
  const cluster = await LocalCluster.start();
  const client = adminClient(cluster);
  const rows: Row[] = [];
  try {
    await installCrd(client);
    await Api.all(client, Namespaces).create({ metadata: { name: 'memory' } });
    let created = 0;
    for (const count of counts.sort((a, b) => a - b)) {
      const t0 = Date.now();
      await createDocuments(client, 'memory', created, count);
      if (count > created) console.error(`[memory] created Documents ${created}…${count - 1} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
      created = Math.max(created, count);
      const row = await measureOnce(cluster.kubeconfigPath, count);
      rows.push(row);
      console.error(`[memory] ${count}: heap ${(row.sample.heapUsed / MiB).toFixed(1)} MiB, rss ${(row.sample.rss / MiB).toFixed(1)} MiB, peak rss ${(row.sample.peakRss / MiB).toFixed(1)} MiB, ready in ${row.readyMs} ms, all reconciled in ${row.reconciledMs} ms`);
    }
  } finally {
    await client.close();
    await cluster.stop();
  }
  writeFileSync(join(root, 'bench/memory/results.json'), `${JSON.stringify({ node: process.version, date: new Date().toISOString(), rows }, null, 2)}\n`);
  console.log(table(rows));
}

export function table(rows: Row[]): string {
  const mib = (n: number) => (n / MiB).toFixed(1);
  const base = rows.find((r) => r.documents === 0);
  const per = (r: Row, f: (s: HeapSample) => number) => (base && r.documents > 0 ? `${((f(r.sample) - f(base.sample)) / r.documents / 1024).toFixed(2)}` : '');
  return [
    '| Documents (+ ConfigMaps) | heap used after GC, MiB | RSS after GC, MiB | peak RSS, MiB | heap per Document over idle, KiB | peak RSS per Document over idle, KiB | ready after, s | all reconciled after, s |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r.documents} | ${mib(r.sample.heapUsed)} | ${mib(r.sample.rss)} | ${mib(r.sample.peakRss)} | ${per(r, (s) => s.heapUsed)} | ${per(r, (s) => s.peakRss)} | ${(r.readyMs / 1000).toFixed(1)} | ${(r.reconciledMs / 1000).toFixed(1)} |`),
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
