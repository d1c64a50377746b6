/**
 * The demo: a real operator reconciling real objects, and where to look.
 *
 * Uses your cluster when KUBECONFIG is set (or ~/.kube/config exists), else
 * starts a local control plane. Installs the Document CRD, runs the operator
 * (examples/document-controller/operator.ts) as a child process, then creates,
 * changes and deletes sample Documents so every path runs — including one the
 * operator refuses, and (on the local control plane, which can reach a webhook on
 * 127.0.0.1) one its validating webhook refuses for a title already in use.
 * Ctrl+C stops everything it started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import type { CustomResourceDefinition } from 'kubernetes-types/apiextensions/v1.js';
import { Api, Client, ConfigMaps, CustomResourceDefinitions, Events, Namespaces, Patch, isApiError, watcher, withSpan, type KubeObject } from 'kubeloop';
import { setupTracing } from 'kubeloop/telemetry';
import { LocalCluster, createWebhookCertificates } from 'kubeloop/testing';
import { Documents, type Document } from './document.js';

const say = (line: string) => console.log(`[demo] ${line}`);
const root = fileURLToPath(new URL('../../../', import.meta.url));
const NAMESPACE = 'kubeloop-demo';

async function freePort(preferred: number): Promise<number> {
  const tryPort = (port: number) =>
    new Promise<number>((resolve, reject) => {
      const srv = createServer().once('error', reject);
      srv.listen(port, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
  return tryPort(preferred).catch(() => tryPort(0));
}

/** Resolves with the object once `done(obj)` holds, or with undefined once it is gone (`gone: true`). */
async function waitFor<K extends KubeObject>(api: Api<K>, name: string, what: string, done: (obj: K) => boolean, options: { gone?: boolean } = {}): Promise<K | undefined> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 120_000);
  let exists = false;
  try {
    for await (const e of watcher(api, { fieldSelector: `metadata.name=${name}`, signal: abort.signal })) {
      if (e.type === 'initApply' || e.type === 'apply') {
        exists = true;
        if (!options.gone && done(e.object)) return e.object;
      }
      if (options.gone && (e.type === 'delete' || (e.type === 'initDone' && !exists))) return undefined;
    }
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function main(): Promise<void> {
  const children: ChildProcess[] = [];
  let cluster: LocalCluster | undefined;
  let stopping = false;
  process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));

  const useExisting = !process.argv.includes('--local') && (process.env.KUBECONFIG || existsSync(join(homedir(), '.kube', 'config')));
  let kubeconfig = process.env.KUBECONFIG ?? join(homedir(), '.kube', 'config');
  if (useExisting) say(`using your cluster (KUBECONFIG=${kubeconfig}); pass --local for a local control plane instead`);
  else {
    say('starting a local control plane (etcd, kube-apiserver, kube-controller-manager)…');
    cluster = await LocalCluster.start({ controllerManager: true });
    kubeconfig = cluster.kubeconfigPath;
    say(`local control plane up at ${cluster.server}`);
  }
  say(`KUBECONFIG=${kubeconfig}`);
  const client = Client.fromKubeconfig({ paths: [kubeconfig] });

  const stop = async (why: string) => {
    if (stopping) return;
    stopping = true;
    say(`${why}: stopping the operator and everything the demo started…`);
    const operator = children[0];
    if (operator && operator.exitCode === null && operator.signalCode === null) {
      operator.kill('SIGTERM');
      const forced = setTimeout(() => operator.kill('SIGKILL'), 10_000);
      await once(operator, 'exit');
      clearTimeout(forced);
    }
    await client.close();
    await cluster?.stop();
    say('stopped. Bye.');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('Ctrl+C'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  const crd = parse(readFileSync(join(root, 'deploy', 'crd.yaml'), 'utf8')) as CustomResourceDefinition;
  const crds = Api.all(client, CustomResourceDefinitions);
  await crds.patch(crd.metadata!.name!, Patch.apply(crd), { fieldManager: 'kubeloop-demo', force: true });
  await waitFor(crds, crd.metadata!.name!, 'the CRD to be established', (c) => !!c.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True'));
  say('Document CRD installed (deploy/crd.yaml)');
  try {
    await Api.all(client, Namespaces).create({ metadata: { name: NAMESPACE } });
  } catch (e) {
    if (!isApiError(e, 409)) throw e;
  }

  const port = await freePort(Number(process.env.PROBE_PORT ?? 8080));
  // The webhook on the local control plane only: your cluster's API server cannot reach 127.0.0.1 here.
  const webhookEnv: Record<string, string> = {};
  if (cluster) {
    const webhookPort = await freePort(9443);
    const tls = await createWebhookCertificates(join(cluster.dir, 'webhook-tls'));
    Object.assign(webhookEnv, { WEBHOOK_CERT_DIR: join(cluster.dir, 'webhook-tls'), WEBHOOK_PORT: String(webhookPort), WEBHOOK_URL: `https://127.0.0.1:${webhookPort}` });
    say(`webhook certificates (a development CA) in ${tls.caFile.replace(/\/ca\.crt$/, '')}; the operator serves the webhook on port ${webhookPort}`);
  }
  const operator = spawn(process.execPath, [join(root, 'dist', 'examples', 'document-controller', 'operator.js')], {
    env: {
      ...process.env,
      KUBECONFIG: kubeconfig,
      PROBE_PORT: String(port),
      // The demo's operator shows its diagnostics page; a deployed one does not unless asked.
      DEBUG_PAGE: process.env.DEBUG_PAGE ?? 'true',
      KUBELOOP_LOG: process.env.KUBELOOP_LOG ?? 'info',
      KUBELOOP_LOG_FORMAT: process.env.KUBELOOP_LOG_FORMAT ?? (process.stdout.isTTY ? 'pretty' : 'json'),
      ...webhookEnv,
    },
    stdio: 'inherit',
    // Its own process group: Ctrl+C reaches the demo, which asks the operator to stop once, gracefully.
    detached: true,
  });
  children.push(operator);
  say(`operator started (pid ${operator.pid}); its logs follow, one JSON line each (KUBELOOP_LOG=${process.env.KUBELOOP_LOG ?? 'info'})`);
  operator.once('exit', (code, signal) => {
    if (!stopping) {
      say(`the operator exited unexpectedly (${code ?? signal})`);
      void stop('operator exit');
    }
  });
  const base = `http://127.0.0.1:${port}`;
  for (let ready = false; !ready; ) {
    ready = await fetch(`${base}/readyz`).then((r) => r.ok, () => false);
    if (!ready) await new Promise((r) => setTimeout(r, 200));
  }
  say(`operator ready: ${base}/readyz answers 200`);

  const docs = Api.namespaced(client, Documents, NAMESPACE);
  const cms = Api.namespaced(client, ConfigMaps, NAMESPACE);
  // With OTEL_* set, the demo's own writes are traced too: each stamps its Document
  // (tracing.k8s.io/traceparent) and the operator's reconcile links back to it.
  const tracing = await setupTracing({ serviceName: 'kubeloop-demo' });
  const create = (name: string, spec: Document['spec']) =>
    withSpan('demo: write document', { document: name }, () =>
      docs.patch(name, Patch.apply({ apiVersion: 'example.com/v1', kind: 'Document', metadata: { name }, spec }), { fieldManager: 'kubeloop-demo', force: true }),
    );
  await create('hello', { title: 'Hello', body: 'kubeloop renders this document into a ConfigMap.' });
  await create('notes', { title: 'Notes', body: 'first draft', format: 'text' });
  await create('refused', { title: 'Report', body: 'binary', format: 'pdf' });
  await create('temporary', { title: 'Temporary', body: 'deleted in a moment' });
  say('created Documents hello, notes, refused (format pdf) and temporary in namespace kubeloop-demo');

  for (const name of ['hello', 'notes', 'temporary']) {
    await waitFor(docs, name, `${name} to be Ready`, (d) => d.status?.phase === 'Ready');
    const cm = await waitFor<ConfigMap>(cms, `${name}-doc`, `ConfigMap ${name}-doc`, () => true);
    say(`✓ ${name}: Ready, ConfigMap ${name}-doc holds ${Object.keys(cm?.data ?? {}).join(', ')}`);
  }
  const refused = await waitFor(docs, 'refused', 'refused to be Refused', (d) => d.status?.phase === 'Refused');
  say(`✓ refused: Refused — ${refused?.status?.message}`);
  const warnings = (await Api.namespaced(client, Events, NAMESPACE).list()).items.filter((e) => e.type === 'Warning' && e.regarding?.name === 'refused');
  say(`✓ refused: Warning event ${warnings[0]?.reason ?? '(not yet)'} recorded`);

  await create('notes', { title: 'Notes', body: 'second draft, changed by the demo', format: 'text' });
  await waitFor(docs, 'notes', 'notes generation 2', (d) => d.status?.observedGeneration === 2);
  await waitFor<ConfigMap>(cms, 'notes-doc', 'the new notes content', (cm) => !!cm.data?.['document.txt']?.includes('second draft'));
  say('✓ notes: changed; status.observedGeneration is 2 and ConfigMap notes-doc has the new text');

  await docs.delete('temporary');
  await waitFor(docs, 'temporary', 'temporary to be gone', () => false, { gone: true });
  await waitFor(cms, 'temporary-doc', 'temporary-doc to be gone', () => false, { gone: true });
  say('✓ temporary: deleted through the finalizer, after its ConfigMap was removed');

  if (cluster) {
    // The API server picks the webhook configuration up from a watch: a dry run shows when it is in force.
    const duplicate: Document = { apiVersion: 'example.com/v1', kind: 'Document', metadata: { name: 'hello-again' }, spec: { title: 'Hello', body: 'same title as hello' } };
    for (let tries = 0; ; tries++) {
      const refusal = await docs.create(duplicate, { dryRun: true }).then(() => undefined, (e: Error) => e);
      if (refusal) break;
      if (tries > 100) throw new Error('the unique-title webhook did not come into force within 20 s');
      await new Promise((r) => setTimeout(r, 200));
    }
    const refusal = await docs.create(duplicate).then(() => undefined, (e: Error) => e);
    if (!refusal) throw new Error('the webhook let a Document with a duplicate title through');
    say(`✓ hello-again: refused by the validating webhook: ${refusal.message}`);
  }

  await tracing.flush().catch(() => undefined);
  say('all sample paths ran. Where to look:');
  say(`  logs:     above (filter with KUBELOOP_LOG, e.g. KUBELOOP_LOG=info,kubeloop::client=debug npm run demo)`);
  say(`  metrics:  ${base}/metrics`);
  say(`  probes:   ${base}/readyz  ${base}/livez   (log filter: ${base}/log-level)`);
  say(`  debug:    ${base}/debug   (what the operator is doing now; JSON at ${base}/debug.json)`);
  say(`  objects:  KUBECONFIG=${kubeconfig} kubectl get documents,configmaps,events -n ${NAMESPACE}`);
  say('  traces:   run with OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 (http/protobuf) or');
  say('            OTEL_EXPORTER_OTLP_PROTOCOL=grpc OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 to send spans to your collector');
  say('the operator keeps running (it rechecks every Document each minute). Press Ctrl+C to stop.');
}

main().catch((e: Error) => {
  console.error(`[demo] failed: ${e.message}`);
  process.exit(1);
});
