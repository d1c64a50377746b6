// Writes that meet a 504 after the real API server committed them: the proxy in
// front forwards the request, waits for the server's answer, then tells the client
// the request timed out, as a load balancer or the API server's own timeout does.
// Later requests pass through untouched, so a replay would meet the real server.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Api, ApiError, Client, ConfigMaps, Patch } from '../../src/index.js';
import { AnsweringProxy, statusBody } from '../support/answering-proxy.js';
import { useCluster } from '../support/cluster.js';

const t = useCluster();
let proxy: AnsweringProxy;
let client: Client;

// Inside the suite: the file-level hook of useCluster has finished by then.
const connect = async () => {
  proxy = await AnsweringProxy.start(t.cluster);
  client = new Client({
    server: proxy.url,
    namespace: 'default',
    tls: { ca: proxy.caPem, rejectUnauthorized: true },
    auth: { type: 'token', token: t.cluster.token },
    source: 'test',
  });
};

after(async () => {
  await client?.close();
  await proxy?.close();
});

const timedOut = { status: 504, body: statusBody(504, 'Timeout', 'the proxy gave up waiting') };

/** The first request of `method` gets a 504 once the server has answered it; later ones pass through untouched. */
function timeOutFirst(method: string): void {
  let done = false;
  proxy.tamper = (req) => {
    if (req.method !== method || done) return undefined;
    done = true;
    return { after: timedOut };
  };
}

async function errorOf(call: Promise<unknown>): Promise<ApiError> {
  const e = await call.then(() => undefined, (x: unknown) => x);
  assert.ok(e instanceof ApiError, `expected an ApiError, got ${String(e)}`);
  return e;
}

/** The requests of one method that reached the proxy since `from`, with what the server and the client got. */
const requests = (method: string, from: number) => proxy.seen.slice(from).filter((s) => s.method === method);

describe('a write that meets a 504 after it was committed is not replayed', () => {
  before(connect);

  test('a create: the client gets the 504 (not a 409), one POST reached the server, and the object exists once', async () => {
    const ns = await t.namespace('retry');
    const from = proxy.seen.length;
    timeOutFirst('POST');
    try {
      const e = await errorOf(Api.namespaced(client, ConfigMaps, ns).create({ metadata: { name: 'once' }, data: { v: '1' } }));
      assert.equal(e.code, 504, `the 504 comes back, not a 409 from a replay: ${e.message}`);
    } finally {
      proxy.tamper = () => undefined;
    }
    assert.deepEqual(requests('POST', from).map((s) => [s.upstreamStatus, s.answered]), [[201, 504]], 'one POST: the server created it, the client was told 504');
    const items = (await Api.namespaced(t.client, ConfigMaps, ns).list()).items.filter((c) => c.metadata?.name !== 'kube-root-ca.crt');
    assert.deepEqual(items.map((c) => [c.metadata?.name, c.data]), [['once', { v: '1' }]]);
  });

  test('a create with generateName leaves one object, not one per attempt', async () => {
    const ns = await t.namespace('retry');
    const from = proxy.seen.length;
    timeOutFirst('POST');
    const outcome = Api.namespaced(client, ConfigMaps, ns).create({ metadata: { generateName: 'made-' } });
    await outcome.catch(() => undefined).finally(() => (proxy.tamper = () => undefined));
    const made = (await Api.namespaced(t.client, ConfigMaps, ns).list()).items.filter((c) => c.metadata?.name?.startsWith('made-'));
    assert.equal(made.length, 1, `objects made: ${made.map((c) => c.metadata?.name).join(', ')}`);
    assert.deepEqual(requests('POST', from).map((s) => s.upstreamStatus), [201], 'one POST reached the server');
    assert.equal((await errorOf(outcome)).code, 504, 'the client was told 504');
  });

  test('an unguarded JSON-patch add to a list is applied once', async () => {
    const ns = await t.namespace('retry');
    await Api.namespaced(t.client, ConfigMaps, ns).create({ metadata: { name: 'listed', finalizers: ['example.com/first'] } });
    const from = proxy.seen.length;
    timeOutFirst('PATCH');
    const add = Patch.json([{ op: 'add', path: '/metadata/finalizers/-', value: 'example.com/added' }]);
    const outcome = Api.namespaced(client, ConfigMaps, ns).patch('listed', add);
    await outcome.catch(() => undefined).finally(() => (proxy.tamper = () => undefined));
    const cm = await Api.namespaced(t.client, ConfigMaps, ns).get('listed');
    assert.deepEqual(cm.metadata?.finalizers, ['example.com/first', 'example.com/added']);
    assert.deepEqual(requests('PATCH', from).map((s) => s.upstreamStatus), [200], 'one PATCH reached the server');
    assert.equal((await errorOf(outcome)).code, 504, 'the client was told 504');
    await Api.namespaced(t.client, ConfigMaps, ns).patch('listed', Patch.merge({ metadata: { finalizers: null } }));
  });

  test('a create the server turned away with a 429 is retried and made once', async () => {
    const ns = await t.namespace('retry');
    const from = proxy.seen.length;
    let turnedAway = 0;
    proxy.tamper = (req) => (req.method === 'POST' && turnedAway++ === 0 ? { instead: { status: 429, body: statusBody(429, 'TooManyRequests', 'slow down') } } : undefined);
    try {
      const cm = await Api.namespaced(client, ConfigMaps, ns).create({ metadata: { name: 'later' } });
      assert.equal(cm.metadata?.name, 'later');
    } finally {
      proxy.tamper = () => undefined;
    }
    assert.deepEqual(requests('POST', from).map((s) => [s.upstreamStatus, s.answered]), [[undefined, 429], [201, 201]], 'the first never reached the server, the retry made it');
  });
});
