import type { IncomingMessage } from 'node:http';
import { createServer, request, type Server } from 'node:https';
import { selfSignedCert } from './injecting-proxy.js';

/** An answer the proxy gives in the API server's place. */
export interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

/**
 * What to do with one request: `undefined` forwards it untouched; `instead`
 * answers without forwarding (the API server never sees it); `after` forwards it,
 * waits for the server's whole answer (the write is done), then answers this.
 */
export type Tamper = (req: IncomingMessage) => { instead: Answer } | { after: Answer } | undefined;

/** One request that reached the proxy. */
export interface Seen {
  method: string;
  url: string;
  at: number;
  /** The API server's status, when the request was forwarded and answered. */
  upstreamStatus?: number;
  /** What the client got from the proxy. */
  answered?: number;
}

/**
 * An HTTPS proxy in front of the real API server that terminates TLS (its own
 * self-signed certificate downstream) so that it can answer chosen requests
 * itself: before they reach the server, or after the server acted on them.
 */
export class AnsweringProxy {
  /** Every request, in order of arrival. */
  readonly seen: Seen[] = [];
  /** Decides per request; forward everything by default. */
  tamper: Tamper = () => undefined;
  private readonly waiters = new Set<() => void>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
    /** The certificate clients must trust. */
    readonly caPem: string,
  ) {}

  static async start(upstream: { server: string; caPem: string }): Promise<AnsweringProxy> {
    const { certPem, keyPem } = await selfSignedCert();
    const target = new URL(upstream.server);
    const server = createServer({ cert: certPem, key: keyPem });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const proxy = new AnsweringProxy(server, (server.address() as { port: number }).port, certPem);
    server.on('request', (req, res) => {
      const seen: Seen = { method: req.method ?? '', url: req.url ?? '', at: performance.now() };
      proxy.seen.push(seen);
      for (const check of [...proxy.waiters]) check();
      const plan = proxy.tamper(req);
      const answer = (a: Answer) => {
        seen.answered = a.status;
        res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers });
        res.end(a.body ?? '');
      };
      if (plan && 'instead' in plan) {
        req.resume();
        answer(plan.instead);
        return;
      }
      const headers = { ...req.headers, host: target.host };
      delete headers.connection;
      const up = request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers, ca: upstream.caPem, agent: false }, (upRes) => {
        seen.upstreamStatus = upRes.statusCode;
        if (plan) {
          // Read the server's answer to its end: by then the write is committed.
          upRes.resume();
          upRes.on('end', () => answer(plan.after));
          return;
        }
        const out = { ...upRes.headers };
        delete out['transfer-encoding'];
        delete out.connection;
        seen.answered = upRes.statusCode;
        res.writeHead(upRes.statusCode ?? 502, out);
        upRes.pipe(res);
      });
      up.on('error', () => res.destroy());
      res.on('close', () => up.destroy());
      req.pipe(up);
    });
    return proxy;
  }

  /** `https://127.0.0.1:<port>` */
  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** Resolves once `check(seen)` holds: tested now and at each request's arrival. Rejects after `timeoutMs`. */
  waitFor(what: string, check: (seen: Seen[]) => boolean, timeoutMs: number): Promise<void> {
    if (check(this.seen)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(test);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const test = () => {
        if (!check(this.seen)) return;
        clearTimeout(timer);
        this.waiters.delete(test);
        resolve();
      };
      this.waiters.add(test);
    });
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A `Status` body like the API server's, for answers given in its place. */
export function statusBody(code: number, reason: string, message: string): string {
  return JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
}
