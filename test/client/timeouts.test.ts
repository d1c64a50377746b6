/**
 * The client's timeouts, against loopback fakes: a server that accepts a TCP
 * connection and never answers the TLS handshake, and an HTTPS server that
 * answers as slowly as each test needs. A real API server cannot be made to
 * stall on cue, and these are the client's own behaviour.
 *
 * The README: 10 s to connect; ordinary requests fail after 60 s without a
 * byte; watches have no whole-request timeout, only an idle timeout.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Api, Client, ConfigMaps, TransportError, type ClientOptions, type WatchEvent } from '../../src/index.js';
import { selfSignedCert } from '../support/injecting-proxy.js';

let cert: { certPem: string; keyPem: string };
before(async () => {
  cert = await selfSignedCert();
});

/** A TCP server that accepts connections and never sends a byte: a TLS handshake with it never completes. */
async function silentTcpServer(): Promise<{ url: string; accepted: () => number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: TcpServer = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  let accepted = 0;
  server.on('connection', () => accepted++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as { port: number }).port}`,
    accepted: () => accepted,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** An HTTPS server on loopback whose every request is handled by `handler`; open responses are destroyed on close. */
async function httpsServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; close: () => Promise<void> }> {
  const server: HttpsServer = createHttpsServer({ cert: cert.certPem, key: cert.keyPem }, handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as { port: number }).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function clientFor(server: string, options: ClientOptions = {}): Client {
  return new Client({ server, namespace: 'default', tls: { ca: cert.certPem, rejectUnauthorized: true }, auth: { type: 'none' }, source: 'test' }, options);
}

/** Runs `fn`, expecting it to fail; resolves with the error and how long it took. */
async function failureOf(fn: () => Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const start = performance.now();
  try {
    await fn();
  } catch (error) {
    return { error, ms: performance.now() - start };
  }
  assert.fail('expected the call to fail, but it succeeded');
}

/** Consumes a watch to its end; resolves with its events, or rejects with its error. */
async function drain<K>(watch: AsyncIterable<WatchEvent<K>>): Promise<WatchEvent<K>[]> {
  const events: WatchEvent<K>[] = [];
  for await (const e of watch) events.push(e);
  return events;
}

const ms = (n: number) => `${Math.round(n)} ms`;
const configMap = (name: string) => JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default', resourceVersion: '1' } });

describe('client timeouts (loopback fakes)', () => {
  const closers: (() => Promise<void>)[] = [];
  after(() => Promise.all(closers.map((c) => c())));

  test('connecting gives up after connectTimeoutMs when the TLS handshake never completes, for requests and watches', async () => {
    const silent = await silentTcpServer();
    closers.push(silent.close);
    const client = clientFor(silent.url, { connectTimeoutMs: 500 });
    closers.push(() => client.close());
    const api = Api.namespaced(client, ConfigMaps, 'default');
    for (const [what, call] of [['get', () => api.get('x')], ['watch', () => drain(api.watch())]] as const) {
      const { error, ms: took } = await failureOf(call);
      assert.ok(error instanceof TransportError, `${what}: expected a TransportError, got ${String(error)}`);
      assert.match(error.message, /connect timed out/, what);
      assert.ok(took >= 450 && took < 3000, `${what}: gave up after ${ms(took)} (connectTimeoutMs 500)`);
    }
    assert.ok(silent.accepted() >= 2, 'the TCP connections were accepted: only the handshake hung');
  });

  test('an ordinary request fails after requestTimeoutMs without response headers', async () => {
    const server = await httpsServer(() => {}); // reads the request, never answers
    closers.push(server.close);
    const client = clientFor(server.url, { requestTimeoutMs: 800 });
    closers.push(() => client.close());
    const { error, ms: took } = await failureOf(() => Api.namespaced(client, ConfigMaps, 'default').get('x'));
    assert.ok(error instanceof TransportError, String(error));
    assert.match(error.message, /no response headers in time/);
    assert.ok(took >= 750 && took < 3000, `gave up after ${ms(took)} (requestTimeoutMs 800)`);
  });

  test('an ordinary request fails when its body stops for requestTimeoutMs, but not while bytes keep coming', async () => {
    const body = configMap('slow');
    let stall = true;
    const server = await httpsServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.write(body.slice(0, 10));
      if (stall) return; // the rest never comes
      // The rest a few bytes at a time, 300 ms apart: 2.4 s in all, 3× the timeout, never 800 ms without a byte.
      let at = 10;
      const timer = setInterval(() => {
        const end = Math.min(body.length, at + Math.ceil((body.length - 10) / 8));
        res.write(body.slice(at, end));
        at = end;
        if (at >= body.length) {
          clearInterval(timer);
          res.end();
        }
      }, 300);
      res.on('close', () => clearInterval(timer));
    });
    closers.push(server.close);
    const client = clientFor(server.url, { requestTimeoutMs: 800 });
    closers.push(() => client.close());
    const api = Api.namespaced(client, ConfigMaps, 'default');
    const { error, ms: took } = await failureOf(() => api.get('slow'));
    assert.ok(error instanceof TransportError, String(error));
    assert.match(error.message, /went idle/);
    assert.ok(took >= 750 && took < 3000, `gave up after ${ms(took)} (requestTimeoutMs 800)`);
    stall = false;
    const start = performance.now();
    const cm = await api.get('slow');
    const took2 = performance.now() - start;
    assert.equal(cm.metadata?.name, 'slow');
    assert.ok(took2 >= 2000, `the slow answer took ${ms(took2)}: longer than the timeout, and it was not cut off`);
  });

  test('a watch has no whole-request timeout: it streams for longer than requestTimeoutMs while events keep coming', async () => {
    const server = await httpsServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      let n = 0;
      // Headers at once, then an event every 300 ms for 2.4 s.
      const timer = setInterval(() => {
        res.write(`${JSON.stringify({ type: 'ADDED', object: JSON.parse(configMap(`cm-${n}`)) })}\n`);
        if (++n === 8) {
          clearInterval(timer);
          res.end();
        }
      }, 300);
      res.on('close', () => clearInterval(timer));
    });
    closers.push(server.close);
    const client = clientFor(server.url, { requestTimeoutMs: 800 });
    closers.push(() => client.close());
    const start = performance.now();
    const events = await drain(Api.namespaced(client, ConfigMaps, 'default').watch({ idleTimeoutMs: 1000 }));
    const took = performance.now() - start;
    assert.equal(events.length, 8, 'every event arrived');
    assert.ok(took >= 2000, `the watch lasted ${ms(took)}, 3× the request timeout`);
  });

  test('a watch fails after its idle timeout without a byte; by default that is the server timeout + 5 s', async () => {
    const server = await httpsServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(`${JSON.stringify({ type: 'ADDED', object: JSON.parse(configMap('only')) })}\n`);
      // then silence
    });
    closers.push(server.close);
    const client = clientFor(server.url);
    closers.push(() => client.close());
    const api = Api.namespaced(client, ConfigMaps, 'default');
    const explicit = await failureOf(() => drain(api.watch({ idleTimeoutMs: 800 })));
    assert.ok(explicit.error instanceof TransportError, String(explicit.error));
    assert.match(explicit.error.message, /went idle/);
    assert.ok(explicit.ms >= 750 && explicit.ms < 3000, `idleTimeoutMs 800: gave up after ${ms(explicit.ms)}`);
    // timeoutSeconds 1: idle after 6 s. (undici checks timeouts over 1 s every half second.)
    const derived = await failureOf(() => drain(api.watch({ timeoutSeconds: 1 })));
    assert.ok(derived.error instanceof TransportError, String(derived.error));
    assert.match(derived.error.message, /went idle/);
    assert.ok(derived.ms >= 5500 && derived.ms < 8000, `timeoutSeconds 1: gave up after ${ms(derived.ms)} (expected 6 s)`);
  });

  // The defaults, measured: 10 s and 60 s of waiting (no CPU), both at once.
  test('by default: 10 s to connect, and 60 s without a byte for an ordinary request', { timeout: 120_000 }, async () => {
    const silent = await silentTcpServer();
    closers.push(silent.close);
    const body = configMap('never');
    const server = await httpsServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.write(body.slice(0, 10));
    });
    closers.push(server.close);
    const connecting = clientFor(silent.url);
    const idle = clientFor(server.url);
    closers.push(() => connecting.close(), () => idle.close());
    const [connect, body60] = await Promise.all([
      failureOf(() => Api.namespaced(connecting, ConfigMaps, 'default').get('x')),
      failureOf(() => Api.namespaced(idle, ConfigMaps, 'default').get('never')),
    ]);
    assert.match(String(connect.error), /connect timed out/);
    assert.ok(connect.ms >= 9900 && connect.ms < 12_000, `connect gave up after ${ms(connect.ms)}`);
    assert.match(String(body60.error), /went idle/);
    assert.ok(body60.ms >= 59_500 && body60.ms < 62_000, `the stalled body gave up after ${ms(body60.ms)}`);
  });
});
