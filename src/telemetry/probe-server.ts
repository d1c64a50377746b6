/**
 * The probe and metrics server (node:http, no framework), run beside controllers:
 *
 *   GET /metrics      Prometheus text, or OpenMetrics (with exemplars) when the scraper asks for it
 *   GET /readyz       200 once every registered store finished its first list (`?verbose` lists them);
 *                     with leader election, followers are ready too: readiness is about the caches, not the lease
 *   GET /livez        503 when a controller's work has been due or running too long with nothing finishing
 *   GET /log-level    the log filter in force
 *   PUT /log-level    replaces it (body: directives, or JSON `{"filter": "…"}`), only when
 *                     `logLevelChanges: true`: this port is open to the cluster for the
 *                     kubelet and Prometheus, and nothing that changes behaviour should be
 *                     open there unless its owner asked for it
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry, RegistryContentType } from 'prom-client';
import { LogFilterError } from './filter.js';
import { logFilter, logger, setLogFilter } from './log.js';
import { metricsRegistry, renderMetrics } from './metrics.js';

const log = logger('kubeloop::probes');

/** Anything with stores to wait for and a loop to watch: a Controller, typically. */
export interface HealthSource {
  readonly name: string;
  readiness(): { name: string; ready: boolean }[];
  liveness(now?: number): { live: boolean; detail: string };
}

export interface ProbeServerOptions {
  /** Default 8080. 0 picks a free port. */
  port?: number;
  /**
   * Default: every address, IPv6 and IPv4 (`::` dual-stack; `0.0.0.0` on a host
   * without IPv6), since the kubelet probes the pod's IP, which is IPv6 on IPv6 and
   * IPv6-first clusters. Use `127.0.0.1` locally.
   */
  host?: string;
  /** Default: kubeloop's `metricsRegistry`. */
  registry?: Registry<RegistryContentType>;
  /**
   * Accept `PUT /log-level`, which changes the log filter of the whole process. Default
   * false: anyone who can reach the port could turn on trace logging (and its volume).
   * `GET /log-level` answers either way.
   */
  logLevelChanges?: boolean;
}

/**
 * @example
 * const probes = new ProbeServer({ port: 8080 }).add(controller);
 * await probes.listen();
 * // ... run the controller ...
 * await probes.close();
 */
export class ProbeServer {
  private readonly sources: HealthSource[] = [];
  private readonly readinessChecks: { name: string; ready: () => boolean }[] = [];
  private server?: Server;

  constructor(private readonly options: ProbeServerOptions = {}) {}

  /** Adds a controller's stores to `/readyz` and its loop to `/livez`. */
  add(source: HealthSource): this {
    this.sources.push(source);
    return this;
  }

  /** Adds one readiness check, e.g. `() => store.isReady()` for a store you feed yourself. */
  addReadiness(name: string, ready: () => boolean): this {
    this.readinessChecks.push({ name, ready });
    return this;
  }

  /** Starts listening; resolves with the bound port. */
  async listen(): Promise<number> {
    if (this.server) return this.port;
    const server = createServer((req, res) => {
      this.handle(req, res).catch((e: Error) => {
        log.error({ error: e.message, path: req.url }, 'probe request failed');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('internal error\n');
      });
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // No host: Node binds `::` with ipv6Only false, and falls back to 0.0.0.0 where IPv6 is unavailable.
      server.listen({ port: this.options.port ?? 8080, host: this.options.host, ipv6Only: false }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    log.info({ port: this.port }, 'probe server listening');
    return this.port;
  }

  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  /** Stops listening and closes open connections. */
  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private readiness(): { name: string; ready: boolean }[] {
    return [...this.sources.flatMap((s) => s.readiness()), ...this.readinessChecks.map((c) => ({ name: c.name, ready: c.ready() }))];
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://probe');
    const verbose = url.searchParams.has('verbose');
    const text = (code: number, body: string, headers: Record<string, string> = {}) => {
      res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers });
      res.end(body);
    };
    const route = `${req.method} ${url.pathname}`;
    switch (route) {
      case 'GET /metrics': {
        const accept = req.headers.accept ?? '';
        const { contentType, body } = await renderMetrics(/application\/openmetrics-text/.test(accept), this.options.registry ?? metricsRegistry);
        res.writeHead(200, { 'content-type': contentType });
        res.end(body);
        return;
      }
      case 'GET /readyz':
      case 'GET /livez': {
        const checks =
          url.pathname === '/readyz'
            ? this.readiness().map((c) => ({ name: c.name, ok: c.ready, detail: c.ready ? 'ok' : 'not ready: first list not finished' }))
            : this.sources.map((s) => {
                const l = s.liveness();
                return { name: s.name, ok: l.live, detail: l.detail };
              });
        const ok = checks.every((c) => c.ok);
        const what = url.pathname.slice(1);
        const body = verbose ? `${checks.map((c) => `[${c.ok ? '+' : '-'}]${c.name} ${c.detail}`).join('\n')}${checks.length ? '\n' : ''}${what} check ${ok ? 'passed' : 'failed'}\n` : ok ? 'ok\n' : `${checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`).join('\n')}\n`;
        return text(ok ? 200 : 503, body);
      }
      case 'GET /log-level':
        return text(200, `${logFilter()}\n`);
      case 'PUT /log-level':
      case 'POST /log-level': {
        if (this.options.logLevelChanges !== true) {
          req.resume();
          return text(403, 'changing the log filter is off on this server (start the probe server with logLevelChanges: true)\n');
        }
        const body = await readBody(req, LOG_LEVEL_BODY_LIMIT);
        if (body === undefined) return text(413, `the body is larger than ${LOG_LEVEL_BODY_LIMIT} bytes; send log filter directives\n`, { connection: 'close' });
        const directives = parseDirectivesBody(body);
        if (typeof directives !== 'string') return text(400, `${directives.error}\n`);
        try {
          setLogFilter(directives);
        } catch (e) {
          if (e instanceof LogFilterError) return text(400, `${e.message}\n`);
          throw e;
        }
        log.info({ filter: logFilter() }, 'log filter changed');
        return text(200, `${logFilter()}\n`);
      }
      default:
        return text(404, 'not found: try /metrics, /readyz, /livez or /log-level\n');
    }
  }
}

/** Longest `PUT /log-level` body: directives are a line, not a document. */
const LOG_LEVEL_BODY_LIMIT = 4096;

/**
 * The body as text, or `undefined` as soon as it is longer than `limit` bytes; the rest
 * is discarded unread (not destroyed: the 413 must still reach the client).
 */
function readBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  if (Number(req.headers['content-length'] ?? 0) > limit) {
    req.resume();
    return Promise.resolve(undefined);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      req.off('data', onData);
      req.off('end', onEnd);
      req.resume();
      resolve(undefined);
    };
    const onEnd = () => resolve(Buffer.concat(chunks).toString('utf8'));
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', reject);
  });
}

/** The directives of a `PUT /log-level` body (plain text, or JSON `{"filter": "…"}`), or why there are none. */
function parseDirectivesBody(raw: string): string | { error: string } {
  const body = raw.trim();
  if (!body.startsWith('{')) return body || { error: 'the body is empty; send log filter directives, e.g. info,kubeloop::client=debug' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { error: 'the body starts with { but is not valid JSON; send {"filter": "<directives>"} or the directives as plain text' };
  }
  const filter = (parsed as { filter?: unknown }).filter;
  if (typeof filter !== 'string' || !filter.trim()) return { error: 'the JSON body needs a non-empty string field "filter"' };
  return filter;
}
