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
 *   GET /debug        the diagnostics page (HTML; JSON with `Accept: application/json`), and
 *   GET /debug.json   its JSON form, only when `debugPage` is set: they show object names and
 *                     error messages, which are sensitive in some clusters
 *
 * HEAD works wherever GET does. A known path asked with another method is 405 with `Allow`,
 * an unknown path 404, a request target over 8 KiB 414 (also when Node's own limit on the
 * request head, `maxHeaderSize`, is what the URL overflowed; other heads over it are 431).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Registry, RegistryContentType } from 'prom-client';
import { checkTraceUrl, DEFAULT_REFRESH_SECONDS, renderDebugPage, type DebugView } from './debug-page.js';
import type { DiagnosticsSource } from './diagnostics.js';
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
  /**
   * Serve the diagnostics page, `GET /debug` (HTML) and `GET /debug.json`, from the
   * sources that describe themselves (controllers do). Default off, for the same reason
   * as `logLevelChanges`: it shows object references and error messages to anyone who
   * can reach the port. `traceUrl` turns trace ids into links (a template with
   * `{traceId}`, e.g. `http://localhost:16686/trace/{traceId}`); `limit` bounds the
   * queued entries listed per controller (default 50). Nothing is gathered or rendered
   * until someone asks.
   */
  debugPage?: boolean | DebugPageConfig;
}

export interface DebugPageConfig {
  traceUrl?: string;
  /** Queued entries listed per controller. Default 50. */
  limit?: number;
}

/** Longest request target answered; longer ones are 414. */
export const MAX_URL_BYTES = 8192;
const DEFAULT_DEBUG_LIMIT = 50;

/**
 * @example
 * const probes = new ProbeServer({ port: 8080 }).add(controller);
 * await probes.listen();
 * // ... run the controller ...
 * await probes.close();
 */
export class ProbeServer {
  private readonly sources: (HealthSource & Partial<DiagnosticsSource>)[] = [];
  private readonly readinessChecks: { name: string; ready: () => boolean }[] = [];
  private readonly debug?: { traceUrl?: string; limit: number };
  private server?: Server;

  constructor(private readonly options: ProbeServerOptions = {}) {
    const debug = options.debugPage;
    if (debug) {
      const config = debug === true ? {} : debug;
      if (config.traceUrl !== undefined) checkTraceUrl(config.traceUrl);
      const limit = config.limit ?? DEFAULT_DEBUG_LIMIT;
      if (!Number.isInteger(limit) || limit < 0) throw new Error(`the debug page's limit must be a whole number of entries, not ${limit}`);
      this.debug = { traceUrl: config.traceUrl, limit };
    }
  }

  /**
   * Adds a controller's stores to `/readyz` and its loop to `/livez`, and, when it can
   * describe itself (`diagnostics`), to the diagnostics page.
   */
  add(source: HealthSource & Partial<DiagnosticsSource>): this {
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
    server.on('clientError', (e: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Socket) => answerClientError(e, socket));
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

  /** What `/debug` and `/debug.json` show: each source that can describe itself, now. */
  diagnostics(limit = this.debug?.limit ?? DEFAULT_DEBUG_LIMIT): DebugView {
    const controllers = [];
    for (const s of this.sources) if (typeof s.diagnostics === 'function') controllers.push(s.diagnostics(limit));
    return { generatedAt: new Date().toISOString(), controllers };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const text = (code: number, body: string, headers: Record<string, string> = {}) => {
      res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers });
      res.end(body);
    };
    const target = req.url ?? '/';
    if (Buffer.byteLength(target) > MAX_URL_BYTES) {
      req.resume();
      return text(414, `the request target is longer than ${MAX_URL_BYTES} bytes\n`, { connection: 'close' });
    }
    let url: URL;
    try {
      url = new URL(target, 'http://probe');
    } catch {
      req.resume();
      return text(400, 'the request target is not a valid URL\n');
    }
    const path = url.pathname;
    const methods = this.methods(path);
    if (!methods) {
      req.resume();
      if (path === '/debug' || path === '/debug.json') return text(404, 'the diagnostics page is off on this server (start the probe server with debugPage: true; it shows object names and error messages to anyone who can reach this port)\n');
      return text(404, `not found: try /metrics, /readyz, /livez, /log-level${this.debug ? ' or /debug' : ''}\n`);
    }
    const method = req.method === 'HEAD' && methods.includes('GET') ? 'GET' : (req.method ?? '');
    if (!methods.includes(method)) {
      req.resume();
      const allow = (methods.includes('GET') ? ['GET', 'HEAD', ...methods.filter((m) => m !== 'GET')] : methods).join(', ');
      return text(405, `${req.method} is not allowed on ${path}; use ${allow}\n`, { allow });
    }
    switch (`${method} ${path}`) {
      case 'GET /metrics': {
        const accept = req.headers.accept ?? '';
        const { contentType, body } = await renderMetrics(/application\/openmetrics-text/.test(accept), this.options.registry ?? metricsRegistry);
        res.writeHead(200, { 'content-type': contentType });
        res.end(body);
        return;
      }
      case 'GET /readyz':
      case 'GET /livez': {
        const verbose = url.searchParams.has('verbose');
        const checks =
          path === '/readyz'
            ? this.readiness().map((c) => ({ name: c.name, ok: c.ready, detail: c.ready ? 'ok' : 'not ready: first list not finished' }))
            : this.sources.map((s) => {
                const l = s.liveness();
                return { name: s.name, ok: l.live, detail: l.detail };
              });
        const ok = checks.every((c) => c.ok);
        const what = path.slice(1);
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
      case 'GET /debug':
      case 'GET /debug.json': {
        const debug = this.debug!;
        const json = path === '/debug.json' || prefersJson(req.headers.accept);
        const headers = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...(path === '/debug' ? { vary: 'Accept' } : {}) };
        const view = this.diagnostics();
        if (json) {
          const body = Buffer.from(JSON.stringify(view));
          res.writeHead(200, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': String(body.length) });
          res.end(body);
          return;
        }
        const refresh = url.searchParams.get('refresh');
        const seconds = refresh === null || !/^\d+$/.test(refresh) ? DEFAULT_REFRESH_SECONDS : Math.min(Number(refresh), 3600);
        const body = Buffer.from(renderDebugPage(view, { traceUrl: debug.traceUrl, refreshSeconds: seconds }));
        res.writeHead(200, {
          ...headers,
          'content-type': 'text/html; charset=utf-8',
          'content-length': String(body.length),
          // No script may run on this page, whatever an object name or message holds.
          'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
          'referrer-policy': 'no-referrer',
        });
        res.end(body);
        return;
      }
      default:
        throw new Error(`no handler for ${method} ${path}`);
    }
  }

  /** The methods a path answers, or undefined for a path this server does not serve. */
  private methods(path: string): string[] | undefined {
    switch (path) {
      case '/metrics':
      case '/readyz':
      case '/livez':
        return ['GET'];
      case '/log-level':
        return ['GET', 'PUT', 'POST'];
      case '/debug':
      case '/debug.json':
        return this.debug ? ['GET'] : undefined;
      default:
        return undefined;
    }
  }
}

/** Whether an `Accept` header ranks JSON above HTML (a browser's does not mention JSON). */
export function prefersJson(accept: string | undefined): boolean {
  if (!accept) return false;
  const ranges = accept.split(',').map((part) => {
    const [type = '', ...params] = part.trim().toLowerCase().split(';');
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const quality = q === undefined ? 1 : Number(q.slice(2));
    return { type: type.trim(), q: Number.isFinite(quality) ? quality : 0 };
  });
  const quality = (type: string) => {
    const [major] = type.split('/');
    for (const candidate of [type, `${major}/*`, '*/*']) {
      const r = ranges.find((x) => x.type === candidate);
      if (r) return r.q;
    }
    return 0;
  };
  return quality('application/json') > quality('text/html');
}

/**
 * Answers a request Node's HTTP parser rejected, as Node would without a listener
 * (431 for an oversized head, 408 for a timeout, 400 otherwise), except that a head
 * overflowed by its request line is 414. Only the chunk the parser choked on is known:
 * the request line overflowed if that chunk starts a request line with no line end, or
 * holds the end of one (`… HTTP/1.1` before its first line end).
 */
function answerClientError(e: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Socket): void {
  // The parser reports each further chunk of a rejected request too: those are read and dropped
  // (destroying the socket with unread data would reset it, and the client might lose the answer).
  if (answeredSockets.has(socket)) return;
  if (e.code === 'ECONNRESET' || !socket.writable || (socket as Socket & { _httpMessage?: unknown })._httpMessage) {
    socket.destroy();
    return;
  }
  answeredSockets.add(socket);
  let status = e.code === 'HPE_HEADER_OVERFLOW' ? 431 : e.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW' ? 413 : e.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  if (status === 431 && e.rawPacket && requestLineOverflowed(e.rawPacket)) status = 414;
  const reason = { 400: 'Bad Request', 408: 'Request Timeout', 413: 'Payload Too Large', 414: 'URI Too Long', 431: 'Request Header Fields Too Large' }[status];
  const body = status === 414 ? `the request target is longer than ${MAX_URL_BYTES} bytes\n` : `${reason}\n`;
  socket.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  // A client that neither stops sending nor closes is cut off after a while.
  const timer = setTimeout(() => socket.destroy(), 10_000).unref();
  socket.once('close', () => clearTimeout(timer));
}
const answeredSockets = new WeakSet<Socket>();

function requestLineOverflowed(chunk: Buffer): boolean {
  const head = chunk.subarray(0, Math.min(chunk.length, 64 * 1024)).toString('latin1');
  const eol = head.indexOf('\r\n');
  const first = eol < 0 ? head : head.slice(0, eol);
  if (/^[A-Z]+ \S/.test(first)) return eol < 0 || first.length > MAX_URL_BYTES;
  return / HTTP\/\d\.\d$/.test(first);
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
