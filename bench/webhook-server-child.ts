/**
 * The webhook benchmark's server, in a process of its own so that the load
 * generator does not share its event loop: a no-op validating webhook and a
 * small mutating one (adds a label) on ConfigMaps carrying the bench label,
 * configured in the API server by the managed configuration. Writes one JSON
 * line `{ port }` once the configuration is written; answers each `cpu` line on
 * stdin with its CPU time and the connections it accepted so far; stops
 * (draining) on SIGTERM.
 */
import { createInterface } from 'node:readline';
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import { allow, Client, configureLogging, deny, ManagedWebhookConfiguration, mutate, WebhookServer } from 'kubeloop';

export const BENCH_LABEL = 'bench.kubeloop.dev/webhook';
const dir = process.env.WEBHOOK_CERT_DIR!;
// Logs to stderr: stdout carries the answers to the parent.
configureLogging({ filter: 'warn', destination: process.stderr });
const rules = [{ operations: ['CREATE' as const], apiGroups: [''], apiVersions: ['v1'], resources: ['configmaps'] }];
const server = new WebhookServer({ certFile: `${dir}/tls.crt`, keyFile: `${dir}/tls.key`, caFile: `${dir}/ca.crt`, port: 0, host: '127.0.0.1' })
  .validating<ConfigMap>({
    name: 'noop.bench.kubeloop.dev',
    path: '/validate',
    rules,
    objectSelector: { matchLabels: { [BENCH_LABEL]: 'validate' } },
    // The one check: lets the benchmark see when the configuration is in force (a dry run it refuses).
    handler: (req) => (req.object?.metadata?.annotations?.['bench.kubeloop.dev/refuse'] ? deny('refused on request') : allow()),
  })
  .mutating<ConfigMap>({
    name: 'label.bench.kubeloop.dev',
    path: '/mutate',
    rules,
    objectSelector: { matchLabels: { [BENCH_LABEL]: 'mutate' } },
    handler: (req) => {
      const cm = req.object!;
      cm.metadata!.labels = { ...cm.metadata!.labels, 'bench.kubeloop.dev/mutated': 'yes' };
      return mutate(cm);
    },
  });
const port = await server.listen();
const client = Client.infer();
const managed = new ManagedWebhookConfiguration(client, server, { name: 'kubeloop-bench', endpoint: { url: `https://127.0.0.1:${port}` } });
await managed.apply();
process.stdout.write(`${JSON.stringify({ port })}\n`);
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === 'cpu') {
    const { user, system } = process.cpuUsage();
    process.stdout.write(`${JSON.stringify({ cpuMs: (user + system) / 1000, connections: server.connections().accepted })}\n`);
  }
});
process.once('SIGTERM', () => {
  void server.close().then(() => client.close()).then(() => process.exit(0));
});
