/**
 * A real Prometheus server for tests: started on loopback with a temporary config
 * and TSDB directory, queried through its HTTP API, killed by `stop()`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolvePrometheus } from '../../src/testing/index.js';
import { until } from './cluster.js';

export interface PrometheusOptions {
  /** host:port targets scraped by one job every second. */
  targets: string[];
  /** Extra command-line flags, e.g. `--enable-feature=exemplar-storage`. */
  flags?: string[];
  /** The scrape job's name, the `job` label of every series. Default `kubeloop`. */
  job?: string;
  /** Rule files (absolute paths) evaluated every second. */
  ruleFiles?: string[];
}

/** One sample of an instant query: the series' labels and its value (NaN and ±Inf kept). */
export interface Sample {
  metric: Record<string, string>;
  value: number;
}

export interface Exemplar {
  labels: Record<string, string>;
  value: number;
  timestamp: number;
}

export interface PrometheusServer {
  readonly url: string;
  /** Everything the server wrote to stderr so far (its log). */
  readonly log: () => string;
  /** An instant query at the current time. */
  query(expr: string): Promise<Sample[]>;
  /** Exemplars of the series `expr` selects between `start` and `end` (Unix seconds). */
  queryExemplars(expr: string, start: number, end: number): Promise<{ seriesLabels: Record<string, string>; exemplars: Exemplar[] }[]>;
  /** The scrape targets' health as the server sees it. */
  targets(): Promise<{ scrapeUrl: string; health: string; lastError: string }[]>;
  /** Kills the server (SIGTERM, then SIGKILL after 10 s) and removes its files. Idempotent. */
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function api<T>(base: string, path: string, params: Record<string, string>): Promise<T> {
  const res = await fetch(`${base}${path}?${new URLSearchParams(params)}`);
  const body = (await res.json()) as { status: string; data: T; error?: string; errorType?: string };
  if (body.status !== 'success') throw new Error(`Prometheus ${path} ${JSON.stringify(params)}: ${body.errorType}: ${body.error}`);
  return body.data;
}

/** Starts Prometheus and resolves once its `/-/ready` answers 200. */
export async function startPrometheus(options: PrometheusOptions): Promise<PrometheusServer> {
  const { prometheus } = await resolvePrometheus({ install: false });
  const dir = await mkdtemp(join(tmpdir(), 'kubeloop-prometheus-'));
  const config = [
    'global:',
    '  scrape_interval: 1s',
    '  scrape_timeout: 1s',
    '  evaluation_interval: 1s',
    ...(options.ruleFiles?.length ? ['rule_files:', ...options.ruleFiles.map((f) => `  - '${f}'`)] : []),
    'scrape_configs:',
    `  - job_name: ${options.job ?? 'kubeloop'}`,
    '    static_configs:',
    `      - targets: [${options.targets.map((t) => `'${t}'`).join(', ')}]`,
    '',
  ].join('\n');
  await writeFile(join(dir, 'prometheus.yml'), config);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let stderr = '';
  const child = spawn(
    prometheus,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      ...(options.flags ?? []),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], cwd: dir },
  );
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  // Should the test process die without running its after hooks, do not leave the server behind.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited(child);
        clearTimeout(timer);
      }
      process.off('exit', killOnExit);
      await rm(dir, { recursive: true, force: true });
    })());

  const spawnError = new Promise<never>((_, reject) => child.once('error', reject));
  spawnError.catch(() => {});
  try {
    await Promise.race([
      spawnError,
      until('Prometheus to be ready', async () => {
        if (child.exitCode !== null) throw new Error(`prometheus exited with code ${child.exitCode}:\n${stderr}`);
        try {
          return (await fetch(`${url}/-/ready`)).status === 200;
        } catch {
          return false; // not listening yet
        }
      }, 30_000, 100),
    ]);
  } catch (e) {
    await stop();
    throw e;
  }

  return {
    url,
    log: () => stderr,
    async query(expr) {
      const data = await api<{ resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] }>(url, '/api/v1/query', { query: expr });
      if (data.resultType !== 'vector') throw new Error(`expected a vector from ${expr}, got ${data.resultType}`);
      return data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
    },
    async queryExemplars(expr, start, end) {
      const data = await api<{ seriesLabels: Record<string, string>; exemplars: { labels: Record<string, string>; value: string; timestamp: number }[] }[]>(
        url,
        '/api/v1/query_exemplars',
        { query: expr, start: String(start), end: String(end) },
      );
      return data.map((d) => ({ seriesLabels: d.seriesLabels, exemplars: d.exemplars.map((x) => ({ labels: x.labels, value: Number(x.value), timestamp: x.timestamp })) }));
    },
    async targets() {
      const data = await api<{ activeTargets: { scrapeUrl: string; health: string; lastError: string }[] }>(url, '/api/v1/targets', {});
      return data.activeTargets.map((t) => ({ scrapeUrl: t.scrapeUrl, health: t.health, lastError: t.lastError }));
    },
    stop,
  };
}
