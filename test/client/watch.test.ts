import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import { Api, ConfigMaps, Patch, reflector, Store, watcher, type WatchEvent } from '../../src/index.js';
import { until, useCluster } from '../support/cluster.js';

const t = useCluster();

/**
 * Consumes a watch in the background: every event lands in `events`, and
 * `next(predicate)` resolves with the first event (seen or future) that matches.
 */
function collect<K>(watch: AsyncIterable<WatchEvent<K>>) {
  const events: WatchEvent<K>[] = [];
  const waiters: { match: (e: WatchEvent<K>) => boolean; resolve: (e: WatchEvent<K>) => void }[] = [];
  const done = (async () => {
    for await (const ev of watch) {
      events.push(ev);
      for (const w of [...waiters]) {
        if (w.match(ev)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(ev);
        }
      }
    }
  })();
  return {
    events,
    /** Resolves when the iteration ends (the server closed the watch, or it was aborted). */
    done,
    next(match: (e: WatchEvent<K>) => boolean): Promise<WatchEvent<K>> {
      const seen = events.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.push({ match, resolve });
        // If the stream ends without the event, fail instead of hanging.
        done.then(() => reject(new Error('the watch ended before the expected event arrived')), reject);
      });
    },
  };
}

/** The object an event carries (a Status for ERROR), or undefined for an INVALID line. */
const objectOf = (e: WatchEvent<ConfigMap>): ConfigMap | undefined => ('object' in e ? (e.object as ConfigMap) : undefined);

const named = (name: string) => (type: WatchEvent<ConfigMap>['type']) => (e: WatchEvent<ConfigMap>) =>
  e.type === type && objectOf(e)?.metadata?.name === name;

test('a watch sees ADDED, MODIFIED, DELETED and a BOOKMARK, in order', async () => {
  const ns = await t.namespace('watch');
  const api = Api.namespaced(t.client, ConfigMaps, ns);
  const start = await api.list();
  const ac = new AbortController();
  // A short server timeout makes the API server send a bookmark before it ends the watch.
  const w = collect(api.watch({ resourceVersion: start.metadata.resourceVersion, timeoutSeconds: 4, signal: ac.signal }));
  try {
    const is = named('watched');
    await api.create({ metadata: { name: 'watched' }, data: { v: '1' } });
    const added = await w.next(is('ADDED'));
    await api.patch('watched', Patch.merge({ data: { v: '2' } }));
    const modified = await w.next(is('MODIFIED'));
    await api.delete('watched');
    const deleted = await w.next(is('DELETED'));
    const bookmark = await w.next((e) => e.type === 'BOOKMARK');

    assert.deepEqual(objectOf(added)?.data, { v: '1' });
    assert.deepEqual(objectOf(modified)?.data, { v: '2' });
    assert.equal(objectOf(deleted)?.metadata?.name, 'watched');
    const order = w.events.filter((e) => e.type !== 'BOOKMARK').map((e) => e.type);
    assert.deepEqual(order, ['ADDED', 'MODIFIED', 'DELETED']);
    // A bookmark carries only a resourceVersion, at least as new as the last event's.
    const bookmarkRv = Number(objectOf(bookmark)?.metadata?.resourceVersion);
    assert.ok(bookmarkRv >= Number(objectOf(deleted)?.metadata?.resourceVersion), 'the bookmark is not older than the delete');
    assert.ok(w.events.every((e) => e.type !== 'INVALID' && e.type !== 'ERROR'), 'no invalid or error events');
  } finally {
    ac.abort();
    await w.done;
  }
});

test('aborting the signal ends the iteration promptly and releases the watch connection', async () => {
  const ns = await t.namespace('abort');
  const api = Api.namespaced(t.client, ConfigMaps, ns);
  const ac = new AbortController();
  // Default server timeout (290 s): only the abort can end this watch quickly.
  const w = collect(api.watch({ signal: ac.signal }));
  await api.create({ metadata: { name: 'first' } });
  await w.next(named('first')('ADDED'));
  assert.equal(t.client.connections().watches, 1, 'the watch holds one connection of the watch pool');

  const abortedAt = performance.now();
  ac.abort();
  await w.done;
  const tookMs = performance.now() - abortedAt;
  assert.ok(tookMs < 500, `the for-await ended ${Math.round(tookMs)} ms after abort`);

  // The socket is destroyed, not parked for reuse; its close event may need a tick or two.
  await until('the watch pool to have no connection', () => t.client.connections().watches === 0, 500, 10);

  // Events after the abort are not delivered: a second watch, opened after it, sees the next
  // object arrive; by then the aborted one would have had it too.
  const count = w.events.length;
  const control = new AbortController();
  const c = collect(api.watch({ resourceVersion: objectOf(w.events.at(-1)!)?.metadata?.resourceVersion, signal: control.signal }));
  try {
    await api.create({ metadata: { name: 'second' } });
    await c.next(named('second')('ADDED'));
    assert.equal(w.events.length, count, 'the aborted watch got nothing more');
    assert.equal(t.client.connections().watches, 1, 'only the second watch holds a connection: nothing reconnected for the aborted one');
  } finally {
    control.abort();
    await c.done;
  }
});

test('once the signal aborted, no event is delivered, not even one the connection already brought in', async () => {
  const ns = await t.namespace('abort-burst');
  const api = Api.namespaced(t.client, ConfigMaps, ns);
  const from = (await api.list()).metadata.resourceVersion;
  const names = Array.from({ length: 20 }, (_, i) => `burst-${i}`);
  const ac = new AbortController();
  const watch = api.watch({ resourceVersion: from, signal: ac.signal });
  // A second watch tells when the server has sent all twenty events, while nobody reads the first.
  const control = new AbortController();
  const c = collect(api.watch({ resourceVersion: from, signal: control.signal }));
  let delivered = 0;
  let afterAbort = 0;
  try {
    await Promise.all(names.map((name) => api.create({ metadata: { name } })));
    await c.next(named(names.at(-1)!)('ADDED'));
    await until('the control watch to have all twenty', () => c.events.length >= 20, 5000, 10);
    for await (const _ of watch) {
      if (ac.signal.aborted) afterAbort++;
      delivered++;
      ac.abort(); // at the first event, with the other nineteen already on their way
    }
  } finally {
    ac.abort();
    control.abort();
    await c.done;
  }
  assert.equal(afterAbort, 0, `${afterAbort} events were delivered after the abort`);
  assert.equal(delivered, 1);
});

// The same promise one layer up: the watcher and the reflector read the stream a batch at a time.
for (const via of ['watcher', 'reflector'] as const) {
  test(`once the signal aborted, the ${via} hands out no further event, not even one of a batch already read`, async () => {
    const ns = await t.namespace(`abort-${via}`);
    const api = Api.namespaced(t.client, ConfigMaps, ns);
    const names = Array.from({ length: 20 }, (_, i) => `burst-${i}`);
    const ac = new AbortController();
    const source = watcher(api, { signal: ac.signal });
    const events = via === 'watcher' ? source : reflector(new Store(ConfigMaps), source);
    let applied = 0;
    let afterAbort = 0;
    for await (const event of events) {
      if (ac.signal.aborted) afterAbort++;
      // The watch starts when the next event is asked for: the twenty are created first, so the
      // server replays them back to back from its list's version and they arrive together.
      if (event.type === 'initDone') await Promise.all(names.map((name) => api.create({ metadata: { name } })));
      if (event.type === 'apply') {
        applied++;
        ac.abort(); // at the first, with the other nineteen on their way or already read
      }
    }
    assert.equal(afterAbort, 0, `${afterAbort} events were handed out after the abort`);
    assert.equal(applied, 1);
  });
}

test('each open watch holds a connection of its own, outside the request pool: with 30 watches open, GETs still answer at once', async () => {
  const ns = await t.namespace('many');
  const api = Api.namespaced(t.client, ConfigMaps, ns);
  await api.create({ metadata: { name: 'present' } });
  await api.get('present'); // the request pool has its connection
  const pool = t.client.connections().requests;
  const aborts = Array.from({ length: 30 }, () => new AbortController());
  // Without a resourceVersion each watch starts with an ADDED for the object: then it is open.
  const watches = aborts.map((ac) => collect(api.watch({ signal: ac.signal })));
  try {
    await Promise.all(watches.map((w) => w.next(named('present')('ADDED'))));
    assert.deepEqual(t.client.connections(), { requests: pool, watches: 30 }, 'one connection per watch; the pool untouched');
    const start = performance.now();
    for (let i = 0; i < 20; i++) await api.get('present');
    const tookMs = performance.now() - start;
    assert.ok(tookMs < 2000, `20 GETs took ${Math.round(tookMs)} ms with 30 watches open`);
    assert.equal(t.client.connections().requests, pool, 'the GETs used the pool\'s connection');
  } finally {
    aborts.forEach((ac) => ac.abort());
    await Promise.all(watches.map((w) => w.done));
  }
  await until('every watch connection to close', () => t.client.connections().watches === 0, 1000, 10);
});

test('breaking out of the for-await also releases the watch connection', async () => {
  const ns = await t.namespace('break');
  const api = Api.namespaced(t.client, ConfigMaps, ns);
  await api.create({ metadata: { name: 'present' } });
  let seen: string | undefined;
  // Without a resourceVersion the watch starts with an ADDED per existing object.
  for await (const ev of api.watch()) {
    if (ev.type === 'ADDED') {
      seen = (ev.object as ConfigMap).metadata?.name;
      break;
    }
  }
  assert.equal(seen, 'present');
  await until('the watch pool to have no connection', () => t.client.connections().watches === 0, 500, 10);
});
