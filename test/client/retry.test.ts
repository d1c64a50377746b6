// The one place a fake server is right: the retry rules are the client's own, and
// they need answers (503/429/504/500, with and without Retry-After) that a real API
// server does not give on demand. A write that meets a 504 after it was committed is
// shown against the real server in retry-writes.test.ts.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Api, ApiError, Client, ConfigMaps, Patch, type Layer } from '../../src/index.js';

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

async function errorOf(call: Promise<unknown>): Promise<ApiError> {
  const e = await call.then(() => undefined, (x: unknown) => x);
  assert.ok(e instanceof ApiError, `expected an ApiError, got ${String(e)}`);
  return e;
}

/** Gaps in ms between consecutive arrivals. */
const gaps = () => server.arrivals.slice(1).map((a, i) => a.at - server.arrivals[i]!.at);

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
    const e = await errorOf(getSettings());
    assert.equal(e.code, 500);
    assert.equal(e.reason, 'InternalError');
    assert.equal(e.status.message, 'scripted 500');
    assert.equal(server.arrivals.length, 1, 'exactly one request reached the server');
  });

  test('by default: at most 3 retries, 200 ms exponential backoff with jitter (wait k in [100·2^k, 200·2^k] ms), then the last answer', async () => {
    server.play({ status: 503 }, { status: 503 }, { status: 504 }, { status: 503 }, { status: 503 });
    const e = await errorOf(getSettings());
    assert.equal(e.code, 503, 'the fourth answer comes back');
    assert.equal(server.arrivals.length, 4, 'the first try and three retries, not the fifth the script had ready');
    // Each wait is initial·2^k halved plus up to as much again of jitter; the slack
    // above covers the request itself and timer scheduling on a busy machine.
    gaps().forEach((gap, k) => {
      const [low, high] = [100 * 2 ** k, 200 * 2 ** k];
      assert.ok(gap >= low - 2, `wait ${k} was ${gap.toFixed(0)} ms, at least ${low} ms`);
      assert.ok(gap <= high + 150, `wait ${k} was ${gap.toFixed(0)} ms, at most ${high} ms plus slack`);
    });
  });

  test('by default the first wait is jittered over [100, 200] ms, not a fixed 200 ms', async () => {
    const first: number[] = [];
    for (let i = 0; i < 8; i++) {
      server.play({ status: 503 });
      await getSettings();
      first.push(gaps()[0]!);
    }
    // Without jitter every wait is 200 ms; with it, eight draws all in the top 15 ms
    // happen about 3 times in 10 million runs.
    assert.ok(Math.min(...first) < 185, `first waits: ${first.map((g) => g.toFixed(0)).join(', ')} ms`);
    assert.ok(Math.min(...first) >= 98, `no wait was shorter than 100 ms: ${first.map((g) => g.toFixed(0)).join(', ')} ms`);
  });

  test('by default a Retry-After longer than 10 s is cut to 10 s', async () => {
    server.play({ status: 503, headers: { 'retry-after': '3600' } });
    const cm = await getSettings();
    assert.equal(cm.metadata?.name, 'settings');
    assert.equal(server.arrivals.length, 2);
    const [gap] = gaps();
    assert.ok(gap! >= 9_990 && gap! < 11_000, `the retry came after ${gap!.toFixed(0)} ms, about 10 s`);
  });

  test('retries give up after the limit and return the last answer', async () => {
    const limited = new Client(client.config, { retry: { maxRetries: 2, initialDelayMs: 10 } });
    try {
      server.play({ status: 503 }, { status: 503 }, { status: 503 }, { status: 503 });
      const e = await errorOf(Api.namespaced(limited, ConfigMaps, 'default').get('settings'));
      assert.equal(e.code, 503);
      assert.equal(server.arrivals.length, 3, 'the first try and two retries');
    } finally {
      await limited.close();
    }
  });

  test('aborting the signal during the Retry-After wait ends the call at once', async () => {
    // A layer above the transport sees the first answer reach the client.
    let answered!: () => void;
    const firstAnswer = new Promise<void>((resolve) => (answered = resolve));
    const seen: Layer = (next) => async (req) => {
      const res = await next(req);
      answered();
      return res;
    };
    const watched = new Client(client.config, { layers: [seen] });
    try {
      server.play({ status: 503, headers: { 'retry-after': '5' } });
      const ac = new AbortController();
      const outcome = Api.namespaced(watched, ConfigMaps, 'default').get('settings', { signal: ac.signal }).catch((x: unknown) => x);
      await firstAnswer;
      const answeredAt = performance.now();
      ac.abort();
      const e = await outcome;
      const ended = performance.now();
      assert.equal((e as Error).name, 'AbortError');
      assert.ok(ended - answeredAt < 1000, `the 5 s wait was cut short: the call ended ${(ended - answeredAt).toFixed(0)} ms after the 503 arrived`);
      assert.equal(server.arrivals.length, 1, 'no retry after the abort');
    } finally {
      await watched.close();
    }
  });
});

describe('retry of writes: only when the server says it did not process them', () => {
  const api = () => Api.namespaced(client, ConfigMaps, 'default');
  const writes = {
    POST: () => api().create({ metadata: { name: 'settings' } }),
    PATCH: () => api().patch('settings', Patch.json([{ op: 'add', path: '/metadata/finalizers/-', value: 'example.com/once' }])),
    DELETE: () => api().delete('settings'),
  };

  for (const [method, call] of Object.entries(writes)) {
    for (const status of [504, 503]) {
      test(`a ${method} that meets a ${status} without Retry-After is not retried: it may have been committed`, async () => {
        server.play({ status });
        const e = await errorOf(call());
        assert.equal(e.code, status);
        assert.deepEqual(server.arrivals.map((a) => a.method), [method], 'one request reached the server');
      });
    }

    test(`a ${method} that meets a 429 is retried: the server turned it away`, async () => {
      server.play({ status: 429 });
      await call();
      assert.deepEqual(server.arrivals.map((a) => a.method), [method, method]);
    });

    test(`a ${method} that meets a 503 with Retry-After is retried after that wait`, async () => {
      server.play({ status: 503, headers: { 'retry-after': '1' } });
      await call();
      assert.deepEqual(server.arrivals.map((a) => a.method), [method, method]);
      assert.ok(gaps()[0]! >= 950, `waited ${gaps()[0]!.toFixed(0)} ms for Retry-After: 1`);
    });
  }

  test('a PUT (a whole replacement) that meets a 504 is retried, as a GET is', async () => {
    server.play({ status: 504 });
    const cm = await api().replace('settings', { metadata: { name: 'settings', namespace: 'default' }, data: { ok: 'yes' } });
    assert.equal(cm.metadata?.name, 'settings');
    assert.deepEqual(server.arrivals.map((a) => a.method), ['PUT', 'PUT']);
  });
});
