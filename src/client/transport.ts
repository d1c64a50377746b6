import { Agent, Client as HttpClient } from 'undici';
import { TransportError } from '../core/errors.js';
import type { ConnectionConfig } from './config.js';
import type { KubeRequest, KubeResponse, Service } from './request.js';

export interface TransportOptions {
  /** TCP+TLS connect timeout. Default 10 s. */
  connectTimeoutMs?: number;
  /** For ordinary requests: the longest wait for headers and between body bytes. Default 60 s. */
  requestTimeoutMs?: number;
}

const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_HAS_EXPIRED', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT', 'CERT_SIGNATURE_FAILURE', 'CERT_UNTRUSTED',
]);

/** Says in a few words why a request got no HTTP answer. */
export function describeTransportFailure(e: unknown): string {
  const err = e as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const code = err.code ?? err.cause?.code;
  const cause = err.cause ?? err;
  if (code && TLS_CODES.has(code)) return `TLS certificate verification failed (${cause.message})`;
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
      return 'host not found';
    case 'ECONNRESET':
      return 'connection reset by peer';
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'connect timed out';
    case 'UND_ERR_HEADERS_TIMEOUT':
      return 'no response headers in time';
    case 'UND_ERR_BODY_TIMEOUT':
      return 'the connection went idle (no bytes within the idle timeout)';
    case 'UND_ERR_SOCKET':
      return `connection closed (${cause.message})`;
    default:
      if (/certificate|ssl|tls/i.test(cause.message ?? '')) return `TLS failed (${cause.message})`;
      return cause.message || String(e);
  }
}

/**
 * The bottom of the chain: sends requests with undici. Ordinary requests share a
 * keep-alive pool; each watch gets a connection of its own, so a hundred open
 * watches never starve a reconciler's GET.
 *
 * A watch's connection is destroyed when the watch ends (aborted, broken off by
 * the consumer, or closed by the server) rather than parked in a shared pool:
 * undici re-queues an in-flight request whose response was aborted and opens a
 * new connection just to drop it (nodejs/undici#5845), which in a pool leaves an
 * idle socket behind and confuses the Agent's per-origin bookkeeping.
 */
export class Transport {
  readonly requests: Agent;
  private readonly watchDispatchers = new Set<HttpClient>();
  private readonly connect: Agent.Options['connect'] & object;
  private readonly requestTimeoutMs: number;
  // Counted from connect/disconnect events: Agent.stats forgets a pool's sockets
  // once the Agent has dropped that pool from its map, while they are still open.
  private readonly open = { requests: 0, watches: 0 };

  constructor(config: ConnectionConfig, options: TransportOptions = {}) {
    this.connect = {
      ca: config.tls.ca,
      cert: config.tls.cert,
      key: config.tls.key,
      rejectUnauthorized: config.tls.rejectUnauthorized,
      servername: config.tls.servername,
      timeout: options.connectTimeoutMs ?? 10_000,
    };
    this.requestTimeoutMs = options.requestTimeoutMs ?? 60_000;
    this.requests = new Agent({ connect: this.connect, keepAliveTimeout: 30_000, keepAliveMaxTimeout: 600_000 })
      .on('connect', () => this.open.requests++)
      .on('disconnect', () => this.open.requests--);
  }

  readonly service: Service = async (req: KubeRequest): Promise<KubeResponse> => {
    if (req.streaming) return this.stream(req);
    const origin = req.origin!;
    try {
      const answer = this.requests
        .request({
          origin,
          path: req.target!,
          method: req.method,
          headers: req.headers,
          body: req.body,
          signal: req.signal,
          headersTimeout: this.requestTimeoutMs,
          bodyTimeout: this.requestTimeoutMs,
        })
        .then(async (res) => ({ status: res.statusCode, headers: res.headers, text: await res.body.text() }));
      return await (req.signal ? untilAborted(answer, req.signal) : answer);
    } catch (e) {
      if (req.signal?.aborted) throw req.signal.reason;
      throw new TransportError(origin, describeTransportFailure(e), { cause: e });
    }
  };

  /** A streaming request on a connection of its own, destroyed when the body closes or the signal aborts. */
  private async stream(req: KubeRequest): Promise<KubeResponse> {
    const origin = req.origin!;
    const { signal } = req;
    if (signal?.aborted) throw signal.reason;
    const dispatcher = new HttpClient(origin, { connect: this.connect })
      .on('connect', () => this.open.watches++)
      .on('disconnect', () => this.open.watches--);
    this.watchDispatchers.add(dispatcher);
    // Destroying the dispatcher (not aborting the request) is what keeps undici from reconnecting.
    const release = (reason?: unknown) => {
      signal?.removeEventListener('abort', onAbort);
      if (!this.watchDispatchers.delete(dispatcher)) return;
      dispatcher.destroy(reason instanceof Error ? reason : null).catch(() => {});
    };
    const onAbort = () => release(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const res = await dispatcher.request({
        path: req.target!,
        method: req.method,
        headers: req.headers,
        body: req.body,
        headersTimeout: req.idleTimeoutMs ?? 0,
        bodyTimeout: req.idleTimeoutMs ?? 0,
      });
      res.body.once('close', () => release());
      if (signal?.aborted) res.body.destroy();
      return { status: res.statusCode, headers: res.headers, body: res.body };
    } catch (e) {
      release();
      if (signal?.aborted) throw signal.reason;
      throw new TransportError(origin, describeTransportFailure(e), { cause: e });
    }
  }

  /** Closes the request pool (letting requests in flight finish) and ends every watch. */
  async close(): Promise<void> {
    const watches = [...this.watchDispatchers];
    this.watchDispatchers.clear();
    await Promise.all([this.requests.close(), ...watches.map((d) => d.destroy().catch(() => {}))]);
  }

  /** Open connections: the request pool's and the watches' (for tests and diagnostics). */
  connections(): { requests: number; watches: number } {
    return { ...this.open };
  }
}

/**
 * `work`, or the signal's reason as soon as it aborts. undici defers an abort
 * until the request has a connection, so a request waiting for one (a TLS
 * handshake that never completes) would otherwise outlive its signal by the
 * whole connect timeout; undici still ends that request itself later.
 */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    work.catch(() => {});
    return Promise.reject(signal.reason as Error);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      work.catch(() => {});
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
