import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { createServer, request, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/** A self-signed certificate for 127.0.0.1, made with the openssl command line. */
export async function selfSignedCert(): Promise<{ certPem: string; keyPem: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'kubeloop-proxy-cert-'));
  try {
    await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1']);
    return { certPem: await readFile(join(dir, 'cert.pem'), 'utf8'), keyPem: await readFile(join(dir, 'key.pem'), 'utf8') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** An open watch response passing through the proxy. */
interface OpenWatch {
  res: ServerResponse;
  /** The bytes forwarded so far end a line (or there are none yet). */
  atLineStart: boolean;
  /** Lines to write at the next line boundary, and who waits for that. */
  pending: { text: string; written: () => void }[];
}

/** A response the proxy holds back: `answered` resolves once the server's answer is at the proxy; `release()` lets it through. */
export interface HeldResponse {
  answered: Promise<void>;
  release(): void;
}

interface Hold {
  match: (method: string, url: URL) => boolean;
  answered: () => void;
  released: Promise<void>;
}

/**
 * An HTTPS proxy that terminates TLS (its own self-signed certificate downstream,
 * the API server's trust chain upstream) so that it can write extra lines into
 * watch responses, between the server's own lines, or hold a response back.
 */
export class InjectingProxy {
  /** Watch requests forwarded so far. */
  watchRequests = 0;
  private readonly watches = new Set<OpenWatch>();
  private readonly holds: Hold[] = [];

  private constructor(
    private readonly server: Server,
    readonly port: number,
    /** The certificate clients must trust. */
    readonly caPem: string,
  ) {}

  static async start(upstream: { server: string; caPem: string }): Promise<InjectingProxy> {
    const { certPem, keyPem } = await selfSignedCert();
    const target = new URL(upstream.server);
    const server = createServer({ cert: certPem, key: keyPem });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const proxy = new InjectingProxy(server, (server.address() as { port: number }).port, certPem);
    server.on('request', (req, res) => {
      const url = new URL(req.url ?? '/', 'https://x');
      const isWatch = url.searchParams.get('watch') === 'true';
      if (isWatch) proxy.watchRequests++;
      const hold = proxy.takeHold(req.method ?? 'GET', url);
      const headers = { ...req.headers, host: target.host };
      delete headers.connection;
      const up = request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers, ca: upstream.caPem, agent: false }, async (upRes) => {
        if (hold) {
          hold.answered();
          await hold.released;
        }
        const out = { ...upRes.headers };
        delete out['transfer-encoding'];
        delete out.connection;
        res.writeHead(upRes.statusCode ?? 502, out);
        if (!isWatch) {
          upRes.pipe(res);
          return;
        }
        const watch: OpenWatch = { res, atLineStart: true, pending: [] };
        proxy.watches.add(watch);
        upRes.on('data', (chunk: Buffer) => {
          res.write(chunk);
          watch.atLineStart = chunk.at(-1) === 0x0a;
          if (watch.atLineStart) proxy.flush(watch);
        });
        upRes.on('end', () => res.end());
        res.on('close', () => proxy.watches.delete(watch));
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

  /**
   * Holds back the answer to the next request `match` accepts: it goes to the server at
   * once, and its answer waits at the proxy until `release()`.
   */
  holdNext(match: (method: string, url: URL) => boolean): HeldResponse {
    let answered!: () => void;
    let release!: () => void;
    const hold: Hold = { match, answered: () => answered(), released: new Promise<void>((r) => (release = r)) };
    this.holds.push(hold);
    return { answered: new Promise<void>((r) => (answered = r)), release: () => release() };
  }

  private takeHold(method: string, url: URL): Hold | undefined {
    const i = this.holds.findIndex((h) => h.match(method, url));
    return i === -1 ? undefined : this.holds.splice(i, 1)[0];
  }

  /**
   * Writes `text` (whole lines) into every open watch response at its next line
   * boundary; resolves with the number of responses once written to all of them.
   */
  async inject(text: string): Promise<number> {
    const open = [...this.watches];
    await Promise.all(open.map((watch) => new Promise<void>((written) => {
      watch.pending.push({ text, written });
      if (watch.atLineStart) this.flush(watch);
    })));
    return open.length;
  }

  private flush(watch: OpenWatch): void {
    for (const { text, written } of watch.pending.splice(0)) {
      watch.res.write(text);
      written();
    }
  }

  async close(): Promise<void> {
    for (const watch of this.watches) watch.res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
