import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, test } from 'node:test';
import { request } from 'undici';
import { ProbeServer, type HealthSource } from '../../src/index.js';
import { formatDuration, renderDebugPage, type DebugView } from '../../src/telemetry/debug-page.js';
import type { ControllerDiagnostics, DiagnosticsSource } from '../../src/telemetry/diagnostics.js';
import { prefersJson } from '../../src/telemetry/probe-server.js';

const AT = '2026-01-02T03:04:05.000Z';
const ago = (ms: number) => new Date(Date.parse(AT) - ms).toISOString();

/** A controller that has a bit of everything: queued, running, failed, a cache with an error. */
function sample(name = 'documents'): ControllerDiagnostics {
  return {
    name,
    leadership: { mode: 'following', lease: 'kube-system/documents', holder: 'pod-b_1234' },
    ready: true,
    live: { live: false, detail: 'work has been due or running for 312 s with no reconcile finishing' },
    concurrency: 4,
    reconcileTimeoutMs: 30_000,
    queue: {
      depth: 7,
      dueNow: 2,
      oldestWaitMs: 4200,
      next: [
        { object: 'ConfigMap.v1./waiting.default', reason: 'object updated', dueInMs: -4200 },
        { object: 'ConfigMap.v1./later.default', reason: 'reconciler requested retry', dueInMs: 65_000 },
      ],
    },
    running: [
      { object: 'ConfigMap.v1./stuck.default', reason: 'bulk reconcile requested', startedAt: ago(312_000), runningForMs: 312_000, traceId: '4bf92f3577b34da6a3ce929d0e0e4736', deadlineInMs: -282_000 },
    ],
    recent: [
      { object: 'ConfigMap.v1./broken.default', reason: 'object updated', finishedAt: ago(2000), durationMs: 12, result: 'error', error: 'spec.size must be positive', action: 'requeue after 5000 ms', traceId: '00f067aa0ba902b700f067aa0ba902b7' },
      { object: 'ConfigMap.v1./fine.default', reason: 'object updated', finishedAt: ago(9000), durationMs: 3, result: 'success', action: 'await change' },
    ],
    caches: [{ name: 'documents/ConfigMap', resource: 'configmaps', objects: 1234, ready: true, connectedSince: ago(600_000), lastEventAt: ago(1500), restarts: 2, relists: 1, lastError: { message: 'watch ended: 410 Gone', at: ago(610_000) } }],
  };
}

/** A hand-built source that counts how often it was asked. */
function source(d: ControllerDiagnostics): HealthSource & DiagnosticsSource & { calls: number[] } {
  const calls: number[] = [];
  return {
    name: d.name,
    calls,
    readiness: () => [{ name: d.name, ready: true }],
    liveness: () => ({ live: true, detail: 'idle' }),
    diagnostics: (limit: number) => {
      calls.push(limit);
      return d;
    },
  };
}

/** The text of the section headed `title` (up to the next heading of that level or above), tags stripped. */
function sectionText(html: string, title: string): string {
  const start = html.search(new RegExp(`<h3[^>]*>${title}`));
  assert.ok(start >= 0, `a section headed ${title}`);
  const rest = html.slice(start);
  const end = rest.slice(1).search(/<h[23][ >]/);
  return (end < 0 ? rest : rest.slice(0, end + 1)).replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');
}

async function http(port: number, path: string, init: { method?: string; headers?: Record<string, string> } = {}) {
  const res = await request(`http://127.0.0.1:${port}${path}`, { method: (init.method ?? 'GET') as 'GET', headers: init.headers });
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
}

/** Sends raw bytes and returns the status line the server answers with. */
function rawStatus(port: number, raw: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let out = '';
    socket.on('data', (d) => {
      out += d.toString('latin1');
      const eol = out.indexOf('\r\n');
      if (eol >= 0) {
        resolve(out.slice(0, eol));
        socket.destroy();
      }
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error(`closed without a status line (got ${JSON.stringify(out.slice(0, 80))})`)));
    socket.write(raw);
  });
}

async function serve(options: ConstructorParameters<typeof ProbeServer>[0], ...sources: HealthSource[]): Promise<{ probes: ProbeServer; port: number }> {
  const probes = new ProbeServer({ port: 0, host: '127.0.0.1', ...options });
  for (const s of sources) probes.add(s);
  return { probes, port: await probes.listen() };
}

describe('debug page renderer', () => {
  test('shows per controller its state, queue, running reconciles, recent results and caches', () => {
    const html = renderDebugPage({ generatedAt: AT, controllers: [sample()] });
    const text = html.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');
    assert.match(text, /documents following ready stalled/, 'the badges beside the name');
    assert.match(text, /following on lease kube-system\/documents , held by pod-b_1234/);
    assert.match(text, /stalled : work has been due or running for 312 s with no reconcile finishing/);
    assert.match(text, /at most 4/);
    const queue = sectionText(html, 'Queue');
    assert.match(queue, /7 queued · 2 due now · oldest waiting 4\.2 s/);
    assert.match(queue, /ConfigMap\.v1\.\/waiting\.default now \(waiting 4\.2 s\) object updated/);
    assert.match(queue, /ConfigMap\.v1\.\/later\.default in 1 m 05 s reconciler requested retry/);
    assert.match(queue, /The next 2 of 7/);
    const running = sectionText(html, 'Running now');
    assert.match(running, /ConfigMap\.v1\.\/stuck\.default 5 m 12 s bulk reconcile requested passed 4 m 42 s ago/);
    assert.match(html, /<tr class="suspect"><td><code>ConfigMap\.v1\.\/stuck\.default/, 'the stuck reconcile is highlighted');
    const recent = sectionText(html, 'Recently finished');
    assert.match(recent, /last 2, 1 failed/);
    assert.match(recent, /ConfigMap\.v1\.\/broken\.default error 2\.0 s ago 12 ms object updated 00f067aa0ba902b700f067aa0ba902b7 requeue after 5000 ms spec\.size must be positive/);
    assert.match(recent, /ConfigMap\.v1\.\/fine\.default success 9\.0 s ago 3 ms object updated await change/);
    const caches = sectionText(html, 'Caches');
    assert.match(caches, /documents\/ConfigMap configmaps 1234 yes 10 m 00 s ago 1\.5 s ago 2 1 watch ended: 410 Gone \( 10 m 10 s ago \)/);
    assert.doesNotMatch(html, /<a [^>]*trace/i, 'no trace links without a template');
    assert.doesNotMatch(html, /href="#c0"/, 'no summary for one controller');
  });

  test('says so when there is nothing: no controllers, an idle controller', () => {
    assert.match(renderDebugPage({ generatedAt: AT, controllers: [] }), /No controller is registered with this probe server/);
    const idle: ControllerDiagnostics = { ...sample(), leadership: { mode: 'none' }, live: { live: true, detail: 'idle' }, queue: { depth: 0, dueNow: 0, next: [] }, running: [], recent: [], caches: [] };
    const html = renderDebugPage({ generatedAt: AT, controllers: [idle] });
    assert.match(sectionText(html, 'Queue'), /Nothing queued/);
    assert.match(sectionText(html, 'Running now'), /Nothing running/);
    assert.match(sectionText(html, 'Recently finished'), /No reconcile has finished yet/);
    assert.doesNotMatch(html, /lease/, 'no leadership line without leader election');
  });

  test('escapes every string from the source: a name with <script> and hostile refs, messages and trace ids are shown inert', () => {
    const evil = '<script>alert("x")</script>';
    const d = sample(evil);
    d.live = { live: false, detail: `<img src=x onerror=alert(1)>` };
    d.leadership = { mode: 'leading', lease: `ns/"><b>lease`, holder: `'><i>holder` };
    d.queue.next = [{ object: `ConfigMap.v1./<b>q</b>.default`, reason: `<u>why</u>`, dueInMs: 0 }];
    d.running = [{ object: `ConfigMap.v1./"onmouseover="x.default`, reason: 'object updated', startedAt: AT, runningForMs: 1, traceId: `"><script>t()</script>` }];
    d.recent = [{ ...d.recent[0]!, error: `failed: <iframe src="javascript:alert(1)"> & more`, traceId: `abc"def` }];
    d.caches = [{ ...d.caches[0]!, name: '<svg onload=x>', lastError: { message: '<style>body{display:none}</style>', at: AT } }];
    const html = renderDebugPage({ generatedAt: AT, controllers: [d] }, { traceUrl: 'http://jaeger.local/trace/{traceId}' });
    for (const tag of ['<script', '<img', '<b>', '<i>', '<u>', '<iframe', '<svg']) assert.ok(!html.includes(tag), `no ${tag} tag in the page`);
    assert.equal(html.match(/<style/g)?.length, 1, 'only the page\'s own style element');
    assert.ok(!/ onmouseover=/.test(html), 'no attribute injected');
    assert.ok(html.includes('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;'), 'the name is shown as text');
    assert.ok(html.includes('failed: &lt;iframe src=&quot;javascript:alert(1)&quot;&gt; &amp; more'), 'the message is shown as text');
    assert.ok(html.includes('href="http://jaeger.local/trace/abc%22def"'), 'a trace id is URL-encoded into the link');
    assert.ok(html.includes('href="http://jaeger.local/trace/%22%3E%3Cscript%3Et()%3C%2Fscript%3E"'));
  });

  test('trace ids link to the trace UI when a template is configured', () => {
    const html = renderDebugPage({ generatedAt: AT, controllers: [sample()] }, { traceUrl: 'http://localhost:16686/trace/{traceId}' });
    assert.ok(html.includes('<a href="http://localhost:16686/trace/00f067aa0ba902b700f067aa0ba902b7" rel="noreferrer">'), 'the failed reconcile\'s trace');
    assert.ok(html.includes('<a href="http://localhost:16686/trace/4bf92f3577b34da6a3ce929d0e0e4736" rel="noreferrer">'), 'the running reconcile\'s trace');
  });

  test('reloads itself every 5 s by default; refreshSeconds sets the interval, 0 stops it and offers to start again', () => {
    const view: DebugView = { generatedAt: AT, controllers: [] };
    assert.match(renderDebugPage(view), /<meta http-equiv="refresh" content="5">/);
    assert.match(renderDebugPage(view), /<a href="\?refresh=0">stop reloading<\/a>/);
    assert.match(renderDebugPage(view, { refreshSeconds: 30 }), /<meta http-equiv="refresh" content="30">/);
    const off = renderDebugPage(view, { refreshSeconds: 0 });
    assert.doesNotMatch(off, /http-equiv="refresh"/);
    assert.match(off, /<a href="\?refresh=5">reload every 5 s<\/a>/);
    assert.doesNotMatch(off, /<script/, 'no JavaScript on the page');
  });

  test('durations read as people say them', () => {
    assert.deepEqual([0, 850, 1000, 12_345, 65_000, 3_600_000 + 180_000, -4200].map(formatDuration), ['0 ms', '850 ms', '1.0 s', '12.3 s', '1 m 05 s', '1 h 03 m', '4.2 s']);
  });
});

describe('probe server /debug routes', () => {
  test('/debug and /debug.json are off by default: 404 saying how to turn them on, and the sources are never asked', async () => {
    const s = source(sample());
    const { probes, port } = await serve({}, s);
    try {
      for (const path of ['/debug', '/debug.json', '/debug?refresh=0']) {
        const res = await http(port, path);
        assert.equal(res.status, 404, path);
        assert.match(res.body, /the diagnostics page is off on this server \(start the probe server with debugPage: true/);
      }
      assert.equal((await http(port, '/debug', { method: 'POST' })).status, 404, 'off means absent, for every method');
      assert.equal((await http(port, '/readyz')).status, 200);
      assert.deepEqual(s.calls, []);
    } finally {
      await probes.close();
    }
  });

  test('/debug.json, and /debug asked for JSON, answer {generatedAt, controllers} from the sources that have diagnostics; nothing is gathered for other routes', async () => {
    const a = source(sample('a'));
    const b = source(sample('b'));
    const plain: HealthSource = { name: 'plain', readiness: () => [], liveness: () => ({ live: true, detail: 'idle' }) };
    const { probes, port } = await serve({ debugPage: { limit: 3 } }, a, plain, b);
    try {
      await http(port, '/metrics');
      await http(port, '/readyz?verbose');
      await http(port, '/livez');
      assert.deepEqual([a.calls, b.calls], [[], []], 'no route but /debug asks for diagnostics');
      const before = Date.now();
      for (const [path, headers] of [['/debug.json', {}], ['/debug', { accept: 'application/json' }], ['/debug', { accept: 'text/html;q=0.5, application/json' }]] as const) {
        const res = await http(port, path, { headers });
        assert.equal(res.status, 200, path);
        assert.equal(res.headers['content-type'], 'application/json; charset=utf-8', `${path} ${JSON.stringify(headers)}`);
        assert.equal(res.headers['cache-control'], 'no-store');
        const body = JSON.parse(res.body) as DebugView;
        assert.deepEqual(Object.keys(body), ['generatedAt', 'controllers']);
        assert.ok(Date.parse(body.generatedAt) >= before - 1000 && body.generatedAt.endsWith('Z'), `generatedAt ${body.generatedAt}`);
        assert.deepEqual(body.controllers, [sample('a'), sample('b')], 'the sources\' diagnostics as given, in the order added, without the plain source');
      }
      assert.deepEqual(a.calls, [3, 3, 3], 'the configured limit is passed to the source');
      const browser = await http(port, '/debug', { headers: { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' } });
      assert.equal(browser.headers['content-type'], 'text/html; charset=utf-8', 'a browser gets HTML');
      assert.equal(browser.headers.vary, 'Accept');
      assert.match(String(browser.headers['content-security-policy']), /default-src 'none'/);
      assert.match(browser.body, /<h2 id="c0-name">a /);
      assert.match(browser.body, /<h2 id="c1-name">b /);
      assert.match(browser.body, /<td><a href="#c0">a<\/a><\/td>.*\n<tr><td><a href="#c1">b<\/a><\/td>/, 'with two controllers, a summary links to each');
    } finally {
      await probes.close();
    }
  });

  test('/debug renders the page with the trace URL configured; ?refresh=0 stops the reload; HEAD answers without a body', async () => {
    const { probes, port } = await serve({ debugPage: { traceUrl: 'https://tempo.example/trace/{traceId}' } }, source(sample()));
    try {
      const page = await http(port, '/debug');
      assert.equal(page.status, 200);
      assert.match(page.body, /<meta http-equiv="refresh" content="5">/);
      assert.ok(page.body.includes('<a href="https://tempo.example/trace/00f067aa0ba902b700f067aa0ba902b7"'));
      const still = await http(port, '/debug?refresh=0');
      assert.doesNotMatch(still.body, /http-equiv="refresh"/);
      assert.match((await http(port, '/debug?refresh=20')).body, /content="20"/);
      assert.match((await http(port, '/debug?refresh=soon')).body, /content="5"/, 'a refresh that is not a number keeps the default');
      const head = await http(port, '/debug', { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.body, '');
    } finally {
      await probes.close();
    }
  });

  test('a bad traceUrl or limit is refused when the server is made, with a sentence', () => {
    assert.throws(() => new ProbeServer({ debugPage: { traceUrl: 'http://jaeger/trace/' } }), /has no \{traceId\} placeholder/);
    assert.throws(() => new ProbeServer({ debugPage: { traceUrl: 'javascript:alert({traceId})' } }), /must be an http or https URL/);
    assert.throws(() => new ProbeServer({ debugPage: { traceUrl: 'not a url {traceId}' } }), /is not a URL/);
    assert.throws(() => new ProbeServer({ debugPage: { limit: -1 } }), /whole number/);
  });

  test('unknown paths are 404; a known path with another method is 405 with Allow, on every route; PUT /log-level keeps its 403 when off', async () => {
    const { probes, port } = await serve({ debugPage: true }, source(sample()));
    try {
      const notFound = await http(port, '/nope');
      assert.equal(notFound.status, 404);
      assert.match(notFound.body, /try \/metrics, \/readyz, \/livez, \/log-level or \/debug/);
      const wrong: [string, string, string][] = [
        ['POST', '/metrics', 'GET, HEAD'],
        ['DELETE', '/readyz', 'GET, HEAD'],
        ['PUT', '/livez', 'GET, HEAD'],
        ['DELETE', '/log-level', 'GET, HEAD, PUT, POST'],
        ['POST', '/debug', 'GET, HEAD'],
        ['PUT', '/debug.json', 'GET, HEAD'],
        ['OPTIONS', '/debug', 'GET, HEAD'],
      ];
      for (const [method, path, allow] of wrong) {
        const res = await http(port, path, { method });
        assert.equal(res.status, 405, `${method} ${path}`);
        assert.equal(res.headers.allow, allow, `${method} ${path}`);
        assert.match(res.body, new RegExp(`${method} is not allowed on ${path.replace('.', '\\.')}`));
      }
      for (const path of ['/metrics', '/readyz', '/livez', '/log-level']) assert.equal((await http(port, path, { method: 'HEAD' })).status, 200, `HEAD ${path}`);
      assert.equal((await http(port, '/log-level', { method: 'PUT' })).status, 403);
    } finally {
      await probes.close();
    }
  });

  test('a request target over 8 KiB is 414, also far past Node\'s 16 KiB head limit; an oversized header is 431; the server keeps answering', async () => {
    const { probes, port } = await serve({ debugPage: true }, source(sample()));
    try {
      assert.equal((await http(port, `/debug?${'a'.repeat(8000)}`)).status, 200, 'under the limit');
      const over = await http(port, `/debug?${'a'.repeat(8200)}`);
      assert.equal(over.status, 414, 'over 8 KiB, within Node\'s head limit');
      assert.match(over.body, /longer than 8192 bytes/);
      for (const size of [20_000, 100_000, 1_000_000]) {
        assert.equal(await rawStatus(port, `GET /debug?${'a'.repeat(size)} HTTP/1.1\r\nhost: x\r\n\r\n`), 'HTTP/1.1 414 URI Too Long', `a ${size}-byte query`);
      }
      assert.equal(await rawStatus(port, `GET /debug HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`), 'HTTP/1.1 431 Request Header Fields Too Large');
      assert.equal(await rawStatus(port, `NOT\0HTTP\r\n\r\n`), 'HTTP/1.1 400 Bad Request');
      assert.equal(await rawStatus(port, `GET http://[::1 HTTP/1.1\r\nhost: x\r\n\r\n`), 'HTTP/1.1 400 Bad Request', 'a target that is not a URL');
      assert.equal((await http(port, '/debug.json')).status, 200, 'still serving');
    } finally {
      await probes.close();
    }
  });

  test('Accept negotiation: JSON only when it ranks above HTML', () => {
    assert.equal(prefersJson(undefined), false);
    assert.equal(prefersJson('application/json'), true);
    assert.equal(prefersJson('*/*'), false);
    assert.equal(prefersJson('text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'), false);
    assert.equal(prefersJson('application/json, text/html;q=0.9'), true);
    assert.equal(prefersJson('text/html, application/json;q=0.9'), false);
    assert.equal(prefersJson('application/*'), true);
  });
});
