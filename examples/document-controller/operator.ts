/**
 * The document controller: a real operator built on kubeloop.
 *
 * For each Document it keeps an owned ConfigMap `<name>-doc` holding the
 * rendered document (server-side apply), reports progress in `status` and as
 * Events, refuses formats it does not know (status `Refused` + a Warning event),
 * rechecks every minute, and on deletion removes the ConfigMap before letting
 * the Document go (a finalizer). Logs, traces, metrics and probes come with it.
 *
 * Configuration (environment): PROBE_PORT (default 8080), KUBELOOP_LOG,
 * KUBELOOP_LOG_FORMAT, OTEL_EXPORTER_OTLP_ENDPOINT and the other OTEL_* variables;
 * SHARD_RING=<name> shares the Documents among the replicas instead (docs/sharding.md), or
 * LEADER_ELECTION=true to run several replicas of which one reconciles (the Lease
 * `document-controller` in POD_NAMESPACE, default `default`; identity POD_NAME,
 * default the hostname plus a random suffix). WEBHOOK_CERT_DIR (tls.crt, tls.key, ca.crt)
 * turns on the validating webhook that keeps titles unique per namespace (unique-title.ts),
 * served on WEBHOOK_PORT (default 9443) by every replica; with WEBHOOK_SERVICE
 * (`name` in POD_NAMESPACE or `namespace/name`, port 443) or WEBHOOK_URL (`https://host:port`) the operator also
 * writes its ValidatingWebhookConfiguration and keeps its caBundle in step with ca.crt.
 */
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import {
  Action, Api, CacheSet, Client, ConfigMaps, Controller, LeaderElector, ShardRing, enableControllerRuntimeMetrics, ObjectNotFoundError, Patch, ProbeServer, Recorder, backoffErrorPolicy, finalizer, instrument, isApiError,
  logger, ManagedWebhookConfiguration, objectReference, WebhookServer, type Store, type WebhookEndpoint,
} from 'kubeloop';
import { setupTracing } from 'kubeloop/telemetry';
import { Documents, type Document } from './document.js';
import { uniqueTitleWebhook, webhookServerOptions } from './unique-title.js';

const log = logger('document_controller');
const FINALIZER = 'documents.example.com/cleanup';
const MANAGER = 'document-controller';
const FORMATS = ['markdown', 'text'];

interface Context {
  documents: Api<Document>;
  configMaps: Api<ConfigMap>;
  /** The rendered ConfigMaps, from the cache the controller's owns() shares. */
  renderedConfigMaps: Store<ConfigMap>;
  recorder: Recorder;
}

/** A spec the operator will not render; reported in status and as a Warning event. */
class RefusedError extends Error {}

const render = instrument(
  (doc: Document): { key: string; content: string } => {
    const { title, body = '', format = 'markdown' } = doc.spec;
    if (!FORMATS.includes(format)) throw new RefusedError(`format ${format} is not supported (use ${FORMATS.join(' or ')})`);
    return format === 'markdown'
      ? { key: 'document.md', content: `# ${title}\n\n${body}\n` }
      : { key: 'document.txt', content: `${title}\n${'='.repeat(title.length)}\n\n${body}\n` };
  },
  { name: 'render document', fields: (doc) => ({ format: doc.spec.format ?? 'markdown' }) },
);

async function apply(doc: Document, ctx: Context): Promise<Action> {
  const { name, namespace, uid, generation } = doc.metadata!;
  const documents = ctx.documents.inNamespace(namespace!);
  const ref = objectReference(Documents, doc);
  let rendered: { key: string; content: string };
  try {
    rendered = await render(doc);
  } catch (e) {
    if (!(e instanceof RefusedError)) throw e;
    await documents.patchStatus(name!, Patch.apply({ apiVersion: 'example.com/v1', kind: 'Document', status: { phase: 'Refused', message: e.message, observedGeneration: generation } }), { fieldManager: MANAGER, force: true });
    await ctx.recorder.publish({ type: 'Warning', reason: 'Refused', action: 'Rendering', note: e.message }, ref);
    throw e; // counted as a failed reconcile; the error policy retries with backoff
  }
  const configMap = `${name}-doc`;
  // The periodic check reads the shared cache and writes only when the ConfigMap is not right.
  const current = ctx.renderedConfigMaps.get({ name: configMap, namespace: namespace! });
  const upToDate = current?.data?.[rendered.key] === rendered.content && Object.keys(current.data ?? {}).length === 1
    && current.metadata?.ownerReferences?.some((o) => o.uid === uid && o.controller);
  if (!upToDate) await ctx.configMaps.inNamespace(namespace!).patch(
    configMap,
    Patch.apply({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: configMap, labels: { 'app.kubernetes.io/managed-by': MANAGER }, ownerReferences: [{ apiVersion: 'example.com/v1', kind: 'Document', name: name!, uid: uid!, controller: true }] },
      data: { [rendered.key]: rendered.content },
    }),
    { fieldManager: MANAGER, force: true },
  );
  if (doc.status?.observedGeneration !== generation || doc.status?.phase !== 'Ready') {
    await documents.patchStatus(name!, Patch.apply({ apiVersion: 'example.com/v1', kind: 'Document', status: { phase: 'Ready', message: `rendered into ConfigMap ${configMap}`, observedGeneration: generation, configMap } }), { fieldManager: MANAGER, force: true });
    await ctx.recorder.publish({ type: 'Normal', reason: 'Rendered', action: 'Rendering', note: `rendered generation ${generation} into ConfigMap ${configMap}` }, ref);
    log.info({ configMap }, 'document rendered');
  }
  return Action.requeue(60_000); // a periodic check that the ConfigMap is still right
}

async function cleanup(doc: Document, ctx: Context): Promise<Action> {
  const { name, namespace } = doc.metadata!;
  try {
    await ctx.configMaps.inNamespace(namespace!).delete(`${name}-doc`);
  } catch (e) {
    if (!isApiError(e, 404)) throw e;
  }
  await ctx.recorder.publish({ type: 'Normal', reason: 'Deleted', action: 'Deleting', note: `removed ConfigMap ${name}-doc` }, objectReference(Documents, doc));
  log.info('document cleaned up');
  return Action.awaitChange();
}

/** The reconciler: the finalizer decides between apply and cleanup. */
export function reconcile(doc: Document, ctx: Context): Promise<Action> {
  return finalizer(ctx.documents, FINALIZER, doc, { apply: (d) => apply(d, ctx), cleanup: (d) => cleanup(d, ctx) });
}

export interface OperatorOptions {
  /** Probe and metrics port. Default PROBE_PORT or 8080; 0 picks a free one. */
  port?: number;
  /** Called once the probe server listens, with its port. */
  onListening?: (port: number) => void;
  /** Graceful shutdown when it aborts, also before the controller started (the program's own SIGTERM handler). */
  signal?: AbortSignal;
}

/** Runs the operator until SIGTERM/SIGINT. */
export async function runOperator(options: OperatorOptions = {}): Promise<void> {
  const tracing = await setupTracing({ serviceName: 'document-controller' });
  const client = Client.infer();
  const configMaps = Api.all(client, ConfigMaps);
  // One cache of the operator's ConfigMaps, read by two consumers: the controller's owns() trigger and the reconciler.
  const rendered = new CacheSet().for(configMaps, { labelSelector: 'app.kubernetes.io/managed-by=document-controller' });
  const ctx: Context = {
    documents: Api.all(client, Documents),
    configMaps,
    renderedConfigMaps: rendered.store,
    recorder: new Recorder(client, { controller: 'example.com/document-controller' }),
  };
  const controller = new Controller(ctx.documents)
    .owns(rendered)
    // Bounded: each running reconcile holds a connection to the API server. Unbounded, the first
    // reconcile of 1,000 cached Documents opened about as many TLS connections and tripled RSS (docs/deploy.md).
    // A reconcile that hangs (an API call on a dead connection) is aborted after 30 s and retried by the error policy.
    .withConfig({ name: 'document-controller', concurrency: 16, reconcileTimeoutMs: 30_000 })
    .shutdownOnSignal();
  if (options.signal) controller.gracefulShutdownOn(options.signal);
  if (process.env.SHARD_RING) {
    // Sharded: every replica reconciles its own share of the Documents (and caches only that share).
    const namespace = process.env.POD_NAMESPACE || 'default';
    controller.withSharding(new ShardRing(client, { name: process.env.SHARD_RING, namespace, identity: process.env.POD_NAME || undefined }));
  } else if (process.env.LEADER_ELECTION === 'true') {
    const namespace = process.env.POD_NAMESPACE || 'default';
    controller.withLeaderElection(new LeaderElector(client, { name: 'document-controller', namespace, identity: process.env.POD_NAME || undefined }));
  }
  // controller-runtime's metric names beside kubeloop's, for dashboards made for Go operators.
  enableControllerRuntimeMetrics();
  // The probe server runs beside the controller: /metrics, /readyz, /livez, /log-level, and with
  // DEBUG_PAGE=true the diagnostics page /debug (off by default: it shows object names and errors).
  const probes = new ProbeServer({
    port: options.port ?? Number(process.env.PROBE_PORT ?? 8080),
    debugPage: process.env.DEBUG_PAGE === 'true' ? { traceUrl: process.env.TRACE_URL || undefined } : false,
  }).add(controller);
  // The webhook answers on every replica, leader or not: followers keep the same cache of Documents.
  const webhookOptions = webhookServerOptions(process.env);
  const webhooks = webhookOptions && new WebhookServer(webhookOptions).validating(uniqueTitleWebhook(controller.store));
  let managed: ManagedWebhookConfiguration | undefined;
  if (webhooks) {
    await webhooks.listen();
    probes.add(webhooks);
    const endpoint = webhookEndpoint();
    if (endpoint) {
      managed = new ManagedWebhookConfiguration(client, webhooks, { name: 'document-controller', endpoint, fieldManager: MANAGER });
      await managed.start();
    }
  }
  const port = await probes.listen();
  options.onListening?.(port);
  log.info({ tracing: tracing.enabled ? tracing.protocol : 'off', port }, 'starting');
  for await (const result of controller.run(reconcile, backoffErrorPolicy(Documents, { initialMs: 500, maxMs: 60_000 }), ctx)) {
    // An object deleted while queued is normal; everything else deserves a warning.
    if (!result.ok) log[result.error instanceof ObjectNotFoundError ? 'debug' : 'warn']({ ref: result.ref?.key, error: result.error.message }, 'reconcile failed');
  }
  managed?.stop();
  await webhooks?.close();
  await probes.close();
  log.info('stopped');
  // A collector that is down must not turn a clean stop into a crash (exit 1) on the way out.
  await tracing.shutdown().catch((e: Error) => log.warn({ error: e.message }, 'flushing traces failed'));
  await client.close();
}

/** Where the API server reaches the webhook, from WEBHOOK_SERVICE or WEBHOOK_URL; undefined leaves the configuration to you. */
function webhookEndpoint(): WebhookEndpoint | undefined {
  const service = process.env.WEBHOOK_SERVICE;
  if (service) {
    // A bare name is a Service in the operator's own namespace.
    const [namespace, name] = service.includes('/') ? service.split('/') : [process.env.POD_NAMESPACE || 'default', service];
    if (!namespace || !name) throw new Error(`WEBHOOK_SERVICE must be name or namespace/name, not "${service}"`);
    return { service: { namespace, name } };
  }
  return process.env.WEBHOOK_URL ? { url: process.env.WEBHOOK_URL } : undefined;
}

// Run directly: `node dist/examples/document-controller/operator.js`
if (import.meta.url === `file://${process.argv[1]}`) {
  // In a container this is PID 1, and PID 1 ignores a SIGTERM it has no handler for: the pod would
  // wait out its whole grace period. So the handler comes first, before the slow start (the OTel SDK
  // import, the first lists); the controller's own handlers take over once it runs (a second signal: forceful).
  const stop = new AbortController();
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => stop.abort());
  await runOperator({ signal: stop.signal });
}
