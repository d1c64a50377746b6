// The one place a fake server is right: the issue asks for a loopback server that
// answers 503/429/500 on purpose, which a real API server does not do on demand.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Api, ApiError, Client, ConfigMaps } from '../../src/index.js';

interface Answer {
  status: number;
  headers?: Record<string, string>;
}

/** A loopback server that plays a script of answers, then answers 200 with a ConfigMap, recording when each request arrived. */
class ScriptedServer {
  private server!: Server;
  private script: Answer[] = [];
  arrivals: { at: number; method: string; url: string }[] = [];
  port = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => this.answer(req, res));
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Answers these, in order, to the next requests. */
  play(...answers: Answer[]): void {
    this.script = answers;
    this.arrivals = [];
  }

  private answer(req: IncomingMessage, res: ServerResponse): void {
    this.arrivals.push({ at: performance.now(), method: req.method ?? '', url: req.url ?? '' });
    req.resume();
    const next = this.script.shift();
    if (next) {
      const reason = next.status === 429 ? 'TooManyRequests' : next.status === 503 ? 'ServiceUnavailable' : 'InternalError';
      res.writeHead(next.status, { 'content-type': 'application/json', ...next.headers });
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: next.status, reason, message: `scripted ${next.status}` }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: 'default' }, data: { ok: 'yes' } }));
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

const server = new ScriptedServer();
let client: Client;

before(async () => {
  await server.start();
  client = new Client({
    server: `http://127.0.0.1:${server.port}`,
    namespace: 'default',
    tls: { rejectUnauthorized: true },
    auth: { type: 'none' },
    source: 'test',
  });
});

after(async () => {
  await client?.close();
  await server.stop();
});

const getSettings = () => Api.namespaced(client, ConfigMaps, 'default').get('settings');

describe('retry', () => {
  for (const status of [503, 429]) {
    test(`a ${status} with Retry-After: 1 is retried after about a second and then succeeds`, async () => {
      server.play({ status, headers: { 'retry-after': '1' } });
      const cm = await getSettings();
      assert.deepEqual(cm.data, { ok: 'yes' });
      assert.equal(server.arrivals.length, 2, 'two requests reached the server');
      const [first, second] = server.arrivals;
      assert.equal(second!.url, first!.url, 'the retry is the same request');
      const gap = second!.at - first!.at;
      assert.ok(gap >= 950, `the retry waited for Retry-After (${Math.round(gap)} ms)`);
      assert.ok(gap < 5000, `the retry did not wait much longer than Retry-After (${Math.round(gap)} ms)`);
    });
  }

  test('a 504 without Retry-After is retried after a short backoff', async () => {
    server.play({ status: 504 }, { status: 504 });
    const cm = await getSettings();
    assert.equal(cm.metadata?.name, 'settings');
    assert.equal(server.arrivals.length, 3);
  });

  test('a 500 is not retried: one request, and an ApiError carrying the Status', async () => {
    server.play({ status: 500 });
    const e = await getSettings().catch((x: unknown) => x);
    assert.ok(e instanceof ApiError, `expected an ApiError, got ${String(e)}`);
    assert.equal(e.code, 500);
    assert.equal(e.reason, 'InternalError');
    assert.equal(e.status.message, 'scripted 500');
    assert.equal(server.arrivals.length, 1, 'exactly one request reached the server');
  });

  test('retries give up after the limit and return the last answer', async () => {
    const limited = new Client(client.config, { retry: { maxRetries: 2, initialDelayMs: 10 } });
    try {
      server.play({ status: 503 }, { status: 503 }, { status: 503 }, { status: 503 });
      const e = await Api.namespaced(limited, ConfigMaps, 'default').get('settings').catch((x: unknown) => x);
      assert.ok(e instanceof ApiError, `expected an ApiError, got ${String(e)}`);
      assert.equal(e.code, 503);
      assert.equal(server.arrivals.length, 3, 'the first try and two retries');
    } finally {
      await limited.close();
    }
  });

  test('aborting the signal during the Retry-After wait ends the call promptly', async () => {
    server.play({ status: 503, headers: { 'retry-after': '5' } });
    const ac = new AbortController();
    const call = Api.namespaced(client, ConfigMaps, 'default').get('settings', { signal: ac.signal });
    const outcome = call.catch((x: unknown) => x);
    // Abort once the first answer has arrived and the client is waiting.
    while (server.arrivals.length === 0) await new Promise((r) => setImmediate(r));
    const abortedAt = performance.now();
    ac.abort();
    const e = await outcome;
    assert.equal((e as Error).name, 'AbortError');
    assert.ok(performance.now() - abortedAt < 1000, 'the wait did not run to its end');
    assert.equal(server.arrivals.length, 1, 'no retry after the abort');
  });
});
