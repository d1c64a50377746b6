import { Agent } from 'undici';
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
 * keep-alive pool; watches get their own pool so a hundred open watches never
 * starve a reconciler's GET.
 */
export class Transport {
  readonly requests: Agent;
  readonly watches: Agent;
  private readonly requestTimeoutMs: number;

  constructor(config: ConnectionConfig, options: TransportOptions = {}) {
    const connect = {
      ca: config.tls.ca,
      cert: config.tls.cert,
      key: config.tls.key,
      rejectUnauthorized: config.tls.rejectUnauthorized,
      servername: config.tls.servername,
      timeout: options.connectTimeoutMs ?? 10_000,
    };
    this.requestTimeoutMs = options.requestTimeoutMs ?? 60_000;
    this.requests = new Agent({ connect, keepAliveTimeout: 30_000, keepAliveMaxTimeout: 600_000 });
    this.watches = new Agent({ connect, keepAliveTimeout: 1_000 });
  }

  readonly service: Service = async (req: KubeRequest): Promise<KubeResponse> => {
    const origin = req.origin!;
    const agent = req.streaming ? this.watches : this.requests;
    try {
      const res = await agent.request({
        origin,
        path: req.target!,
        method: req.method,
        headers: req.headers,
        body: req.body,
        signal: req.signal,
        headersTimeout: req.streaming ? (req.idleTimeoutMs ?? 0) : this.requestTimeoutMs,
        bodyTimeout: req.streaming ? (req.idleTimeoutMs ?? 0) : this.requestTimeoutMs,
      });
      if (req.streaming) return { status: res.statusCode, headers: res.headers, body: res.body };
      return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
    } catch (e) {
      if (req.signal?.aborted) throw req.signal.reason;
      throw new TransportError(origin, describeTransportFailure(e), { cause: e });
    }
  };

  async close(): Promise<void> {
    await Promise.all([this.requests.close(), this.watches.close()]);
  }

  /** Open connections per pool (for tests and diagnostics). */
  connections(): { requests: number; watches: number } {
    const count = (a: Agent) => Object.values(a.stats).reduce((n, s) => n + ((s as { connected?: number }).connected ?? 0), 0);
    return { requests: count(this.requests), watches: count(this.watches) };
  }
}
