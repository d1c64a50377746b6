/**
 * Scenario 8 — admission webhooks (issue 12): requests per second and latency of a
 * no-op validating webhook and a small mutating one (adds a label; kubeloop
 * computes the JSON patch), served by kubeloop's WebhookServer in a child process,
 *
 * - directly: AdmissionReviews POSTed to the webhook server by `webhookConcurrency`
 *   callers on kept-alive connections (`direct-validate`, `direct-mutate`), and
 * - through the API server: ConfigMaps created by as many callers, with the label
 *   that sends them through one webhook (`apiserver-validate`, `apiserver-mutate`),
 *   against creates that match no webhook (`apiserver-none`, the baseline).
 *
 * Latency is per request as the caller saw it (the direct figures are the webhook
 * server's whole cost including TLS and JSON; the API server's add its own work and
 * its call to the webhook). CPU per review is the webhook process's CPU time over
 * the reviews it answered.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { createWebhookCertificates } from 'kubeloop/testing';
import type { Admin } from '../admin.js';
import type { Contender } from '../protocol.js';
import { info, type ScenarioResult } from '../report.js';
import { percentile } from '../stats.js';
import { log, med, mono, NS, repeat, rows, spread, type Ctx, type Scenario } from './scenario.js';

const LABEL = 'bench.kubeloop.dev/webhook';
const CHILD = fileURLToPath(new URL('../webhook-server-child.js', import.meta.url));
const CONTENDERS = ['direct-validate', 'direct-mutate', 'apiserver-none', 'apiserver-validate', 'apiserver-mutate'] as unknown as Contender[];

interface WebhookChild {
  port: number;
  /** CPU time (ms) and connections accepted (TLS handshakes) so far. */
  usage(): Promise<{ cpuMs: number; connections: number }>;
  stop(): Promise<void>;
}

async function startChild(ctx: Ctx, certDir: string): Promise<WebhookChild> {
  const child: ChildProcess = spawn(process.execPath, [CHILD], {
    env: { ...process.env, KUBECONFIG: ctx.target.kubeconfigPath, WEBHOOK_CERT_DIR: certDir },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines: Interface = createInterface({ input: child.stdout! });
  const next = () => new Promise<Record<string, number>>((resolve, reject) => {
    const onExit = () => reject(new Error('the webhook server child exited'));
    child.once('exit', onExit);
    lines.once('line', (l) => {
      child.off('exit', onExit);
      resolve(JSON.parse(l) as Record<string, number>);
    });
  });
  const { port } = await next();
  return {
    port: port!,
    async usage() {
      const answer = next();
      child.stdin!.write('cpu\n');
      const { cpuMs, connections } = await answer;
      return { cpuMs: cpuMs!, connections: connections! };
    },
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Runs `total` calls of `call` with `concurrency` callers; answers req/s and latency percentiles (ms). */
async function drive(total: number, concurrency: number, call: (i: number) => Promise<void>): Promise<Record<string, number>> {
  const latencies: number[] = new Array(total);
  let nextIndex = 0;
  const started = mono();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = nextIndex++; i < total; i = nextIndex++) {
        const t = mono();
        await call(i);
        latencies[i] = mono() - t;
      }
    }),
  );
  const seconds = (mono() - started) / 1000;
  return { reqPerSec: total / seconds, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99) };
}

function review(i: number): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `bench-${i}`,
      kind: { group: '', version: 'v1', kind: 'ConfigMap' },
      resource: { group: '', version: 'v1', resource: 'configmaps' },
      name: `cm-${i}`,
      namespace: NS.webhooks,
      operation: 'CREATE',
      userInfo: { username: 'bench', groups: ['system:authenticated'] },
      object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `cm-${i}`, namespace: NS.webhooks, labels: { app: 'bench' } }, data: { key: 'value'.repeat(20) } },
      dryRun: false,
    },
  });
}

/** Waits until the API server calls both webhooks: a refused dry run, then a mutated one. */
async function inForce(admin: Admin): Promise<void> {
  const path = `/api/v1/namespaces/${NS.webhooks}/configmaps?dryRun=All`;
  for (let i = 0; ; i++) {
    const refused = await admin.call('POST', path, { metadata: { name: 'probe', labels: { [LABEL]: 'validate' }, annotations: { 'bench.kubeloop.dev/refuse': 'yes' } } }).then(() => false, () => true);
    const mutated = await admin.call('POST', path, { metadata: { name: 'probe', labels: { [LABEL]: 'mutate' } } }).then((cm: { metadata: { labels?: Record<string, string> } }) => cm.metadata.labels?.['bench.kubeloop.dev/mutated'] === 'yes');
    if (refused && mutated) return;
    if (i > 300) throw new Error('the webhook configuration did not come into force within 30 s');
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const webhooksScenario: Scenario = {
  needsCluster: true,
  ownResults: 'webhooks',
  async load(admin) {
    await admin.call('POST', '/api/v1/namespaces', { metadata: { name: NS.webhooks } });
  },
  async run(ctx: Ctx): Promise<ScenarioResult[]> {
    const { webhookDirect: direct, webhookCreates: creates, webhookConcurrency: concurrency } = ctx.scale;
    const certDir = await mkdtemp(join(tmpdir(), 'kubeloop-bench-webhook-'));
    const tls = await createWebhookCertificates(certDir);
    const child = await startChild(ctx, certDir);
    const agent = new Agent({ connect: { ca: tls.caPem }, connections: concurrency });
    try {
      await inForce(ctx.admin);
      log(`webhooks: server on port ${child.port}, configuration in force`);
      const post = (path: string) => async (i: number) => {
        const res = await request(`https://127.0.0.1:${child.port}${path}`, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' }, body: review(i) });
        const text = await res.body.text();
        if (res.statusCode !== 200 || !text.includes('"allowed":true')) throw new Error(`webhook answered ${res.statusCode}: ${text.slice(0, 200)}`);
      };
      const create = (label: string | undefined) => async (i: number) => {
        await ctx.admin.call('POST', `/api/v1/namespaces/${NS.webhooks}/configmaps`, {
          metadata: { name: `cm-${ctx.seq}-${i}`, labels: label ? { [LABEL]: label } : {} },
          data: { key: 'value'.repeat(20) },
        });
      };
      // Warm both paths (TLS sessions, JIT) before measuring.
      await drive(500, concurrency, post('/validate'));
      await drive(500, concurrency, post('/mutate'));
      const runs = await repeat(ctx, 'webhooks', CONTENDERS, async (contender) => {
        ctx.seq++;
        const name = contender as unknown as string;
        const [via, kind] = name.split('-') as ['direct' | 'apiserver', string];
        const before = await child.usage();
        const result = via === 'direct' ? await drive(direct, concurrency, post(`/${kind}`)) : await drive(creates, concurrency, create(kind === 'none' ? undefined : kind));
        const reviews = kind === 'none' ? 0 : via === 'direct' ? direct : creates;
        const usage = await child.usage();
        const cpuMs = usage.cpuMs - before.cpuMs;
        return { ...result, ...(reviews > 0 ? { cpuUsPerReview: (cpuMs * 1000) / reviews, connections: usage.connections - before.connections } : {}) };
      });
      const rs = rows(runs);
      return [
        {
          id: 'webhooks',
          title: `Admission webhooks: ${direct} reviews sent directly, ${creates} creates through the API server, ${concurrency} callers`,
          metrics: [
            { key: 'reqPerSec', label: 'requests/s' },
            { key: 'p50Ms', label: 'p50 ms' },
            { key: 'p99Ms', label: 'p99 ms' },
            { key: 'cpuUsPerReview', label: 'webhook CPU µs/review' },
            { key: 'connections', label: 'TLS connections accepted' },
          ],
          rows: rs,
          ratios: [
            info('create p99 with the validating webhook / without', med(rs, 'apiserver-validate', 'p99Ms') / med(rs, 'apiserver-none', 'p99Ms')),
            info('create p99 with the mutating webhook / without', med(rs, 'apiserver-mutate', 'p99Ms') / med(rs, 'apiserver-none', 'p99Ms')),
            info('direct mutate / validate requests/s', med(rs, 'direct-mutate', 'reqPerSec') / med(rs, 'direct-validate', 'reqPerSec')),
          ],
          notes: [
            'The webhook server is kubeloop\'s WebhookServer (HTTPS, Node\'s https) in a child process of its own; the callers and the API server share the machine with it.',
            'direct-*: AdmissionReview POSTs for a small ConfigMap (about 0.5 KiB) on kept-alive connections; apiserver-*: ConfigMap creates, each reviewed by the webhook its label selects (apiserver-none: by none).',
            `Spread of requests/s over the runs: ${CONTENDERS.map((c) => `${c as unknown as string} ${spread(runs, c, 'reqPerSec')}`).join('; ')}.`,
          ],
        },
      ];
    } finally {
      await agent.close();
      await child.stop();
      await rm(certDir, { recursive: true, force: true });
    }
  },
};
