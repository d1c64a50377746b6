/**
 * The webhook server: HTTPS (Node's `https`, HTTP/1.1) serving any number of
 * validating, mutating and conversion webhooks, one path each.
 *
 * Why `https` and not `http2`: the API server's calls are short, one-at-a-time
 * POSTs on kept-alive connections, where HTTP/2's multiplexing buys little, and
 * HTTP/2 brought the "rapid reset" flood (CVE-2023-44487) that made
 * controller-runtime turn it off in its webhook server; `https.Server` has
 * `setSecureContext`, so a new certificate applies to the next handshake while
 * requests on open connections finish on theirs.
 *
 * Every replica serves (admission does not wait for the leader); readiness is
 * "listening with a certificate", reported through the probe server
 * (`probes.add(webhookServer)`). `close()` drains: it stops accepting, answers
 * the reviews in flight, then closes the connections.
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { context, SpanKind } from '@opentelemetry/api';
import { logger } from '../telemetry/log.js';
import { detached, withSpan } from '../telemetry/span.js';
import type { HealthSource } from '../telemetry/probe-server.js';
import { matchesCoreKinds, type MutatingWebhook, type ValidatingWebhook } from './admission.js';
import { answerAdmission, parseAdmissionReview, reviewedRef, type AdmissionRoute } from './admission-review.js';
import { CertificateReloader, type CertificateFiles } from './certificate-reloader.js';
import type { ConversionWebhook } from './conversion.js';
import { answerConversion } from './conversion-review.js';
import { BadReviewError } from './errors.js';
import { controllerRuntimeWebhookMetrics, webhookMetrics, type WebhookResult } from './metrics.js';
import { readJsonBody } from './request-body.js';
import { remoteParent } from './trace-context.js';
import type { KubeObject } from '../core/resource.js';

const log = logger('kubeloop::webhook');

export interface WebhookServerOptions extends CertificateFiles {
  /** Default 9443 (controller-runtime's). 0 picks a free port. */
  port?: number;
  /** Default: every address, IPv6 and IPv4, like the probe server. */
  host?: string;
  /**
   * Largest review body accepted; larger ones are 413. Default 7 MiB: a review
   * carries the object and the old object, each up to the API server's 3 MiB
   * request limit, plus the envelope.
   */
  maxBodyBytes?: number;
  /** How long `close()` waits for reviews in flight before it cuts their connections. Default 10 s. */
  drainTimeoutMs?: number;
}

type Route = AdmissionRoute | { type: 'conversion'; webhook: ConversionWebhook };

const DEFAULT_MAX_BODY = 7 * 1024 * 1024;

/**
 * @example
 * const webhooks = new WebhookServer({ certFile: '/tls/tls.crt', keyFile: '/tls/tls.key', caFile: '/tls/ca.crt' })
 *   .validating({ name: 'unique-title.documents.example.com', path: '/validate-documents', rules: [...],
 *     handler: (req) => (titleTaken(req.object) ? deny('title already used') : allow()) });
 * await webhooks.listen();
 * probes.add(webhooks);
 */
export class WebhookServer implements HealthSource {
  readonly name = 'webhook-server';
  readonly certificates: CertificateReloader;
  private readonly routes = new Map<string, Route>();
  private server?: Server;
  private readonly inFlight = new Set<ServerResponse>();
  private readonly sockets = new Set<Socket>();
  private accepted = 0;
  private closing?: Promise<void>;
  private idle?: () => void;
  private removeExpiryGauge?: () => void;

  constructor(private readonly options: WebhookServerOptions) {
    this.certificates = new CertificateReloader(options);
    // The webhook families appear in /metrics from here on, before the first review.
    webhookMetrics();
  }

  /** Serves a validating webhook at `webhook.path`. */
  validating<K extends KubeObject>(webhook: ValidatingWebhook<K>): this {
    return this.route(webhook.path, { type: 'validating', webhook });
  }

  /** Serves a mutating webhook at `webhook.path`. */
  mutating<K extends KubeObject>(webhook: MutatingWebhook<K>): this {
    return this.route(webhook.path, { type: 'mutating', webhook });
  }

  /** Serves a CRD's conversion webhook at `webhook.path`. */
  conversion(webhook: ConversionWebhook): this {
    return this.route(webhook.path, { type: 'conversion', webhook });
  }

  /** The webhooks served, for the managed configuration. */
  webhooks(): { validating: ValidatingWebhook<any>[]; mutating: MutatingWebhook<any>[]; conversions: ConversionWebhook[] } {
    const routes = [...this.routes.values()];
    return {
      validating: routes.flatMap((r) => (r.type === 'validating' ? [r.webhook] : [])),
      mutating: routes.flatMap((r) => (r.type === 'mutating' ? [r.webhook] : [])),
      conversions: routes.flatMap((r) => (r.type === 'conversion' ? [r.webhook] : [])),
    };
  }

  private route(path: string, route: Route): this {
    if (!path.startsWith('/')) throw new TypeError(`a webhook path must start with /, not ${path}`);
    if (this.routes.has(path)) throw new TypeError(`two webhooks on path ${path}`);
    if (route.type !== 'conversion' && (route.webhook.failurePolicy ?? 'Fail') === 'Fail' && matchesCoreKinds(route.webhook)) {
      log.warn(
        { webhook: route.webhook.name },
        'WARNING: this webhook has failurePolicy Fail and its rules match core kinds: while no replica answers, every matching write in the cluster fails (kube-system included). Narrow it with a namespaceSelector or objectSelector, or use failurePolicy Ignore',
      );
    }
    this.routes.set(path, route);
    return this;
  }

  /** The bound port (after `listen`). */
  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  /**
   * Loads the certificate (a `CertificateLoadError` when it is missing or does not
   * match its key), starts watching its files, and listens. Resolves with the port.
   */
  async listen(): Promise<number> {
    if (this.server) return this.port;
    await this.certificates.load();
    // The server is created outside any span: each request's span is a root or the caller's child, never the starter's.
    const server = detached(() =>
      createServer({ ...this.certificates.secureContextOptions(), minVersion: 'TLSv1.2' }, (req, res) => {
        this.handle(req, res).catch((e: Error) => {
          log.error({ error: e.message }, 'webhook request failed');
          if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
          res.end();
        });
      }),
    );
    // Longer than the API server's idle-connection timeout (Go's 90 s): the client closes an idle connection
    // first, so it never sends a review on one the server is closing (Node's 5 s default races with it, and a
    // POST that meets a reset is not retried: the write fails under failurePolicy Fail).
    server.keepAliveTimeout = 120_000;
    server.headersTimeout = 125_000;
    server.on('connection', (socket: Socket) => {
      this.accepted++;
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    // Failed handshakes (a client that does not trust the CA yet) are the client's problem; log them quietly.
    server.on('tlsClientError', (e: Error) => log.debug({ error: e.message }, 'TLS handshake failed'));
    this.certificates.onChange(() => server.setSecureContext(this.certificates.secureContextOptions()));
    this.certificates.start();
    this.removeExpiryGauge = webhookMetrics().certificateExpiry.add({ cert_file: this.options.certFile }, () => (this.certificates.current?.notAfter.getTime() ?? 0) / 1000);
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: this.options.port ?? 9443, host: this.options.host, ipv6Only: false }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    log.info({ port: this.port, webhooks: [...this.routes.keys()] }, 'webhook server listening');
    return this.port;
  }

  /**
   * Connections accepted since `listen` and open now: each accepted connection is a
   * TLS handshake, so many per review mean the caller does not keep connections alive.
   */
  connections(): { accepted: number; open: number } {
    return { accepted: this.accepted, open: this.sockets.size };
  }

  /** For `/readyz`: listening with a certificate, and not draining. */
  readiness(): { name: string; ready: boolean }[] {
    return [{ name: 'webhook-server', ready: this.server?.listening === true && this.certificates.current !== undefined && !this.closing }];
  }

  /** The webhook server has no loop that can get stuck; the kubelet restarting it would not help. */
  liveness(): { live: boolean; detail: string } {
    return { live: true, detail: 'webhook server' };
  }

  /**
   * Stops accepting connections, lets the reviews in flight finish (up to
   * `drainTimeoutMs`), then closes every connection.
   */
  close(): Promise<void> {
    const server = this.server;
    if (!server) return Promise.resolve();
    this.closing ??= (async () => {
      this.certificates.stop();
      this.removeExpiryGauge?.();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      if (this.inFlight.size > 0) {
        log.info({ in_flight: this.inFlight.size }, 'webhook server draining');
        const drained = new Promise<void>((resolve) => (this.idle = resolve));
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), this.options.drainTimeoutMs ?? 10_000)));
        if (await Promise.race([drained.then(() => false), timedOut])) log.warn({ in_flight: this.inFlight.size }, 'webhook server drain timed out; closing connections');
        clearTimeout(timer);
      }
      server.closeAllConnections();
      for (const socket of this.sockets) socket.destroy();
      await closed;
      log.info('webhook server stopped');
    })();
    return this.closing;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    const route = this.routes.get(path);
    if (!route) return this.answer(res, 404, { message: `no webhook is served at ${path}` });
    if (req.method !== 'POST') return this.answer(res, 405, { message: 'a review is sent with POST' }, { allow: 'POST' });
    const name = route.webhook.name;
    const started = performance.now();
    this.inFlight.add(res);
    const metrics = webhookMetrics();
    metrics.inFlight.inc({ webhook: name });
    const cr = controllerRuntimeWebhookMetrics();
    cr?.inFlight.inc({ webhook: path });
    let operation = 'unknown';
    let result: WebhookResult = 'errored';
    try {
      await detached(() =>
        context.with(remoteParent(req.headers.traceparent), () =>
          withSpan(route.type === 'conversion' ? 'conversion review' : 'admission review', { webhook: name }, async (span) => {
            let body: unknown;
            try {
              body = await readJsonBody(req, this.options.maxBodyBytes ?? DEFAULT_MAX_BODY);
              if (route.type === 'conversion') {
                operation = 'CONVERT';
                const answered = await answerConversion(route.webhook, body, span);
                result = answered.result;
                return this.answer(res, 200, answered.review);
              }
              const review = parseAdmissionReview(body);
              operation = review.request.operation;
              span.record('admission.operation', operation);
              span.record('admission.uid', review.request.uid);
              span.record('object.ref', reviewedRef(review.request));
              span.record('admission.dry_run', review.request.dryRun === true);
              const answered = await answerAdmission(route, review, span);
              result = answered.result;
              return this.answer(res, 200, answered.review);
            } catch (e) {
              if (!(e instanceof BadReviewError)) throw e;
              span.fail(e);
              log.warn({ status: e.status, error: e.message }, 'bad review request');
              return this.answer(res, e.status, { message: e.message }, e.status === 413 ? { connection: 'close' } : {});
            }
          }, { kind: SpanKind.SERVER }),
        ),
      );
    } finally {
      metrics.requests.inc({ webhook: name, operation, result });
      metrics.duration.observe({ webhook: name }, (performance.now() - started) / 1000);
      metrics.inFlight.dec({ webhook: name });
      if (cr) {
        cr.inFlight.dec({ webhook: path });
        cr.requests.inc({ webhook: path, code: String(res.statusCode) });
        cr.latency.observe({ webhook: path }, (performance.now() - started) / 1000);
      }
      this.inFlight.delete(res);
      if (this.inFlight.size === 0) this.idle?.();
    }
  }

  private answer(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = JSON.stringify(body);
    // While draining, tell the caller not to send more on this connection.
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...(this.closing ? { connection: 'close' } : {}), ...headers });
    res.end(text);
  }
}
