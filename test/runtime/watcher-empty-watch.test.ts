/**
 * A watch that ends at once without bringing anything — something between the
 * watcher and the API server answers every watch with an empty 200, or with lines
 * that are not watch events — is re-issued after the watcher's backoff, not in a
 * tight loop; once the watches are real again the watcher resumes from its
 * resourceVersion, without a relist.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { Api, ConfigMaps, setLogFilter, type Client } from '../../src/index.js';
import { AnsweringProxy } from '../support/answering-proxy.js';
import { useCluster } from '../support/cluster.js';
import { WatchedStore, clientVia } from '../support/watch-harness.js';

if (!process.env.KUBELOOP_LOG) setLogFilter('info,kubeloop::watcher=error');

const t = useCluster();
let proxy: AnsweringProxy;
let viaProxy: Client;
after(async () => {
  await viaProxy?.close();
  await proxy?.close();
});

const isWatch = (url: string | undefined) => new URL(url ?? '/', 'https://x').searchParams.get('watch') === 'true';

const answers = [
  { what: 'an empty stream', body: '', errorsPerWatch: 0 },
  { what: 'lines that are not watch events', body: '{not json\n{"kind":"NotAWatchEvent"}\n', errorsPerWatch: 2 },
];

describe('a watch that ends at once without events', () => {
  // Inside the suite: the file-level hook of useCluster has finished by then.
  before(async () => {
    proxy = await AnsweringProxy.start(t.cluster);
    viaProxy = clientVia(t.cluster, proxy.url, proxy.caPem);
  });

  for (const { what, body, errorsPerWatch } of answers) {
    test(`a watch answered at once with ${what} is re-issued after the default backoff (0.8 s, 1.6 s, ±25%), and resumes without a relist once watches are real`, { timeout: 60_000 }, async (ctx) => {
      const ns = await t.namespace('empty-watch');
      const direct = Api.namespaced(t.client, ConfigMaps, ns);
      await direct.create({ metadata: { name: 'listed' } });
      const watches = () => proxy.seen.filter((s) => isWatch(s.url) && s.url.includes(`/namespaces/${ns}/`));
      proxy.tamper = (req) => (isWatch(req.url) ? { instead: { status: 200, body } } : undefined);
      // The watcher's own default backoff (the harness would use a fast one).
      const watched = new WatchedStore(Api.namespaced(viaProxy, ConfigMaps, ns), { backoff: undefined }, ctx.signal);
      try {
        await watched.store.waitUntilReady();
        await proxy.waitFor('the first watch request', () => watches().length >= 1, 10_000);
        // A measuring window: what arrives in 3 s after the first watch request.
        const start = watches()[0]!.at;
        await sleep(3000 - (performance.now() - start));
        const inWindow = watches().filter((s) => s.at - start <= 3000).length;
        assert.ok(inWindow <= 3, `${inWindow} watch requests in 3 s; the backoff allows 3 (at 0, 0.6–1.0 s and 1.8–3.0 s)`);
        await proxy.waitFor('three watch requests', () => watches().length >= 3, 10_000);
        const intercepted = watches();
        assert.ok(intercepted.every((s) => s.answered === 200 && s.upstreamStatus === undefined), 'every watch so far was answered by the proxy, not the API server');
        const at = intercepted.map((s) => s.at);
        for (let k = 0; k < 2; k++) {
          const gap = at[k + 1]! - at[k]!;
          const [low, high] = [600 * 2 ** k, 1000 * 2 ** k];
          assert.ok(gap >= low - 5 && gap <= high + 250, `wait ${k} before the watch was re-issued: ${gap.toFixed(0)} ms, expected ${low}–${high} ms`);
        }
        if (errorsPerWatch > 0) assert.ok(watched.counts.error >= errorsPerWatch * 2, `each bad line was an error event (${watched.counts.error})`);

        // The interference stops: the next watch (after the current wait) is real.
        proxy.tamper = () => undefined;
        const before = watched.counts.apply;
        await direct.create({ metadata: { name: 'after' } });
        await watched.waitFor('the object created once watches were real', () => watched.store.get({ name: 'after', namespace: ns }) !== undefined, 15_000);
        assert.equal(watched.counts.apply - before, 1, 'it came as an apply event of a watch');
        assert.equal(watched.counts.init, 1, 'no relist: the watch resumed from its resourceVersion');
        assert.equal(watches().at(-1)!.upstreamStatus, 200, 'the watch that brought it reached the API server');
      } finally {
        proxy.tamper = () => undefined;
        await watched.stop();
      }
    });
  }
});
