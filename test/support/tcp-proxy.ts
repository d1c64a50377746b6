import { createConnection, createServer, type Server, type Socket } from 'node:net';

/** One proxied connection: the client's socket and ours to the upstream. */
interface Link {
  client: Socket;
  upstream: Socket;
  stalled: boolean;
  cut: boolean;
  /** Bytes held back while stalled, client → upstream and upstream → client. */
  heldUp: (Buffer | null)[];
  heldDown: (Buffer | null)[];
}

/**
 * A loopback TCP proxy for fault injection: it forwards bytes untouched (TLS
 * passes through), and on demand cuts every connection, stalls the open ones
 * silently, or refuses new ones.
 */
export class TcpProxy {
  /** What happened so far. */
  readonly counts = { accepted: 0, cut: 0, stalled: 0, refused: 0, closedWhileStalled: 0 };
  /** When (performance.now()) the client first sent bytes into a stalled connection since the last `stall()`: a request that will get no answer. */
  firstHeldRequestAt?: number;
  private readonly links = new Set<Link>();
  private blocked = false;
  private stallOnNextRequest = false;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  /** Listens on a free loopback port and forwards to `target`. */
  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const proxy = new TcpProxy(server, (server.address() as { port: number }).port);
    server.on('connection', (client) => proxy.accept(client, target));
    return proxy;
  }

  /** `https://127.0.0.1:<port>` */
  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** Connections open now. */
  get open(): number {
    return this.links.size;
  }

  private accept(client: Socket, target: { host: string; port: number }): void {
    client.on('error', () => {});
    if (this.blocked) {
      this.counts.refused++;
      client.destroy();
      return;
    }
    this.counts.accepted++;
    const upstream = createConnection(target);
    upstream.on('error', () => {});
    const link: Link = { client, upstream, stalled: false, cut: false, heldUp: [], heldDown: [] };
    this.links.add(link);
    const forward = (from: Socket, to: Socket, held: (Buffer | null)[]) => {
      // A stalled link keeps reading (so it notices a close) but holds the bytes back.
      from.on('data', (chunk: Buffer) => {
        if (this.stallOnNextRequest && from === client && !link.stalled) {
          this.stallOnNextRequest = false;
          link.stalled = true;
          this.counts.stalled++;
        }
        if (link.stalled) {
          if (from === client) this.firstHeldRequestAt ??= performance.now();
          held.push(chunk);
        }
        else if (!to.write(chunk)) from.pause();
      });
      to.on('drain', () => from.resume());
      from.on('end', () => {
        if (link.stalled) held.push(null); // the end, too, waits for resume()
        else to.end();
      });
      from.on('close', () => {
        // A stalled connection that the client gave up on (its idle timeout noticed).
        if (link.stalled && !link.cut && from === client) this.counts.closedWhileStalled++;
        to.destroy();
        this.links.delete(link);
      });
    };
    forward(client, upstream, link.heldUp);
    forward(upstream, client, link.heldDown);
  }

  /** Destroys every open connection, with a TCP reset when `reset` (else a plain close). Returns how many. */
  cutAll(reset = false): number {
    const n = this.links.size;
    for (const link of this.links) {
      link.cut = true;
      if (reset) link.client.resetAndDestroy();
      else link.client.destroy();
      link.upstream.destroy();
    }
    this.counts.cut += n;
    return n;
  }

  /** Stops forwarding on every open connection in both directions, keeping the sockets open. New connections work. */
  stall(): number {
    this.firstHeldRequestAt = undefined;
    let n = 0;
    for (const link of this.links) {
      if (link.stalled) continue;
      link.stalled = true;
      n++;
    }
    this.counts.stalled += n;
    return n;
  }

  /**
   * Stalls (as `stall()` does) only the connection on which the client sends its next
   * bytes — its next request — from those bytes on: that request gets no answer,
   * while other connections, open or new, work.
   */
  stallNextRequest(): void {
    this.firstHeldRequestAt = undefined;
    this.stallOnNextRequest = true;
  }

  /** Forwards again on stalled connections (the bytes held meanwhile go first). */
  resume(): void {
    for (const link of this.links) {
      if (!link.stalled) continue;
      link.stalled = false;
      for (const chunk of link.heldUp.splice(0)) {
        if (chunk) link.upstream.write(chunk);
        else link.upstream.end();
      }
      for (const chunk of link.heldDown.splice(0)) {
        if (chunk) link.client.write(chunk);
        else link.client.end();
      }
    }
  }

  /** Cuts every connection and refuses new ones (accepted, then closed at once) until `unblock()`. */
  block(): number {
    this.blocked = true;
    return this.cutAll();
  }

  unblock(): void {
    this.blocked = false;
  }

  /** Stops listening and cuts whatever is still open. */
  async close(): Promise<void> {
    this.cutAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
