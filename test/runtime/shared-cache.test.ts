// Shared caches against a real API server (its watch cache off, so a real
// 410 Gone can be forced): one watch per key, late subscribers, relists that
// reach every subscriber, transforms, managedFields, indexes.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import {
  Action, Api, ApiError, CacheSet, Client, ConfigMaps, Controller, ObjectRef, Patch, Secrets, SharedCache, UnknownIndexError, stripManagedFields,
  type Layer, type ReflectedEvent,
} from '../../src/index.js';
import { useCluster } from '../support/cluster.js';
import { currentReason, runInBackground, Waiter } from '../support/controller.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { fastBackoff } from '../support/watch-harness.js';

const t = useCluster({ apiserverArgs: ['--watch-cache=false'] });

/** A client (optionally through `server`, a proxy) that counts the watch requests it sends, per resource path. */
function countingClient(server = t.cluster.server): { client: Client; watches: string[] } {
  const watches: string[] = [];
  const count: Layer = (next) => (req) => {
    if (req.verb === 'watch') watches.push(req.path);
    return next(req);
  };
  const client = new Client({
    server, namespace: 'default', tls: { ca: t.cluster.caPem, rejectUnauthorized: true }, auth: { type: 'token', token: t.cluster.token }, source: 'test',
  }, { layers: [count] });
  return { client, watches };
}

/** Collects one subscription's events in the background. */
function subscribe<K extends ConfigMap>(cache: SharedCache<K>, onEvent?: (e: ReflectedEvent<K>) => void) {
  const abort = new AbortController();
  const events: ReflectedEvent<K>[] = [];
  const waiter = new Waiter();
  const done = (async () => {
    for await (const e of cache.subscribe(abort.signal)) {
      onEvent?.(e);
      events.push(e);
      waiter.notify();
    }
  })();
  return { events, waiter, stop: async () => (abort.abort(), await done) };
}

const names = (objs: ConfigMap[]) => objs.map((o) => o.metadata!.name!).sort();
const clients: Client[] = [];
const proxies: TcpProxy[] = [];
after(async () => {
  for (const c of clients) await c.close();
  for (const p of proxies) await p.close();
});

describe('shared caches', () => {
  test('two controllers and their owns() over shared caches open one watch per kind, and asking twice gives the same cache', async () => {
    const ns = await t.namespace();
    const { client, watches } = countingClient();
    clients.push(client);
    const caches = new CacheSet();
    const cms = caches.for(Api.namespaced(client, ConfigMaps, ns));
    const secrets = caches.for(Api.namespaced(client, Secrets, ns));
    assert.equal(caches.for(Api.namespaced(client, ConfigMaps, ns)), cms, 'the same key gave another cache');
    assert.notEqual(caches.for(Api.namespaced(client, ConfigMaps, ns), { labelSelector: 'a=b' }), cms, 'another selector shared a cache');
    const owner = await Api.namespaced(t.client, ConfigMaps, ns).create({ metadata: { name: 'owner' } });
    const seen = { a: [] as string[], b: [] as string[] };
    const waiter = new Waiter();
    const reconciler = (who: 'a' | 'b') => (cm: ConfigMap) => {
      seen[who].push(cm.metadata!.name!);
      waiter.notify();
      return Action.awaitChange();
    };
    const a = new Controller(cms).withConfig({ name: `a-${ns}` }).owns(secrets);
    const b = new Controller(cms).withConfig({ name: `b-${ns}` }).owns(secrets);
    const runA = runInBackground(a, reconciler('a'), () => Action.awaitChange(), {}, waiter);
    const runB = runInBackground(b, reconciler('b'), () => Action.awaitChange(), {}, waiter);
    await waiter.until('both controllers to reconcile the owner', () => seen.a.includes('owner') && seen.b.includes('owner'));
    await Api.namespaced(t.client, Secrets, ns).create({
      metadata: { name: 'child', ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata!.uid!, controller: true }] },
      stringData: { k: 'v' },
    });
    await waiter.until('both controllers to reconcile the owner for its child', () => seen.a.length >= 2 && seen.b.length >= 2);
    assert.deepEqual(a.readiness().map((c) => c.name), [`configmaps@${ns}/ConfigMap`, `secrets@${ns}/Secret`]);
    await runA.stop();
    assert.equal(cms.running, true, 'the cache stopped while controller b still used it');
    await runB.stop();
    assert.equal(cms.ended, true, 'the cache outlived its last consumer');
    assert.deepEqual(watches.sort(), [`/api/v1/namespaces/${ns}/configmaps`, `/api/v1/namespaces/${ns}/secrets`], 'not one watch per kind');
  });

  test('a late subscriber first gets the current objects as one list, then the live events', async () => {
    const ns = await t.namespace();
    const api = Api.namespaced(t.client, ConfigMaps, ns);
    await api.create({ metadata: { name: 'early-1' } });
    await api.create({ metadata: { name: 'early-2' } });
    const cache = new CacheSet().for(api);
    const hold = new AbortController();
    cache.start(hold.signal);
    await cache.store.waitUntilReady();
    const late = subscribe(cache);
    await late.waiter.until('the snapshot', () => late.events.some((e) => e.type === 'initDone'));
    await api.create({ metadata: { name: 'live' } });
    await late.waiter.until('the live event', () => late.events.some((e) => e.type === 'apply' && e.object.metadata!.name === 'live'));
    await late.stop();
    hold.abort();
    const kinds = late.events.map((e) => e.type);
    assert.deepEqual(kinds, ['init', 'initApply', 'initApply', 'initDone', 'apply']);
    const done = late.events[3]!;
    assert.ok(done.type === 'initDone');
    assert.deepEqual(names(done.changed), ['early-1', 'early-2']);
    assert.deepEqual(done.removed, []);
  });

  test('a relist after a 410 reaches every subscriber as one initDone with its diff, the store already swapped, and indexes follow', { timeout: 60_000 }, async () => {
    const ns = await t.namespace();
    const direct = Api.namespaced(t.client, ConfigMaps, ns);
    const proxy = await TcpProxy.start({ host: '127.0.0.1', port: Number(new URL(t.cluster.server).port) });
    proxies.push(proxy);
    const { client } = countingClient(proxy.url);
    clients.push(client);
    for (const [name, color] of [['stays', 'red'], ['repainted', 'red'], ['doomed', 'blue']] as const) {
      await direct.create({ metadata: { name, labels: { color } } });
    }
    const cache = new CacheSet().for(Api.namespaced(client, ConfigMaps, ns), { backoff: fastBackoff })
      .index('color', (cm) => cm.metadata?.labels?.color);
    const storeSawIt: boolean[] = [];
    const checkStore = (e: ReflectedEvent<ConfigMap>) => {
      if (e.type === 'initDone' && e.changed.some((o) => o.metadata!.name === 'born')) storeSawIt.push(cache.store.get({ name: 'born', namespace: ns }) !== undefined);
    };
    const one = subscribe(cache, checkStore);
    const two = subscribe(cache, checkStore);
    await cache.store.waitUntilReady();
    assert.deepEqual(names(cache.store.byIndex('color', 'red')), ['repainted', 'stays']);
    // Cut off, the server moves on, etcd is compacted: the resumed watch is too old (410) and the cache relists.
    proxy.block();
    await one.waiter.until('the watch to fail', () => one.events.some((e) => e.type === 'error'));
    await direct.patch('repainted', Patch.merge({ metadata: { labels: { color: 'blue' } } }));
    await direct.delete('doomed');
    await direct.create({ metadata: { name: 'born', labels: { color: 'red' } } });
    await t.cluster.compactEtcd();
    proxy.unblock();
    const relisted = (s: typeof one) => s.events.filter((e) => e.type === 'initDone').length === 2;
    await one.waiter.until('subscriber one to get the relist', () => relisted(one), 30_000);
    await two.waiter.until('subscriber two to get the relist', () => relisted(two), 30_000);
    await one.stop();
    await two.stop();
    for (const s of [one, two]) {
      assert.ok(s.events.some((e) => e.type === 'error' && e.error instanceof ApiError && e.error.code === 410), 'no 410 Gone: the fault did not happen');
      const last = s.events.filter((e) => e.type === 'initDone').at(-1)!;
      assert.ok(last.type === 'initDone');
      assert.deepEqual(names(last.changed), ['born', 'repainted']);
      assert.deepEqual(names(last.removed), ['doomed']);
    }
    assert.deepEqual(storeSawIt, [true, true], 'a subscriber got the relist before the store had it');
    assert.deepEqual(names(cache.store.byIndex('color', 'red')), ['born', 'stays']);
    assert.deepEqual(names(cache.store.byIndex('color', 'blue')), ['repainted']);
  });

  test('indexes stay right across applies and deletes; an undeclared index, or one declared late, is a clear error', async () => {
    const ns = await t.namespace();
    const api = Api.namespaced(t.client, ConfigMaps, ns);
    const cache = new CacheSet().for(api).index('doc', (cm) => cm.metadata?.labels?.doc);
    const sub = subscribe(cache);
    await cache.store.waitUntilReady();
    const has = (doc: string, expected: string[]) => () => JSON.stringify(names(cache.store.byIndex('doc', doc))) === JSON.stringify(expected);
    await api.create({ metadata: { name: 'x', labels: { doc: 'one' } } });
    await api.create({ metadata: { name: 'y', labels: { doc: 'one' } } });
    await sub.waiter.until('x and y under one', has('one', ['x', 'y']));
    await api.patch('y', Patch.merge({ metadata: { labels: { doc: 'two' } } }));
    await sub.waiter.until('y moved to two', () => has('one', ['x'])() && has('two', ['y'])());
    await api.delete('x');
    await sub.waiter.until('x gone from one', has('one', []));
    assert.throws(() => cache.store.byIndex('owner', 'x'), (e: Error) => e instanceof UnknownIndexError
      && e.message === 'no index named "owner" on the ConfigMap cache (declared: doc); declare it with index("owner", fn) before the cache starts.');
    assert.throws(() => cache.index('late', () => undefined), /index "late" on the ConfigMap cache must be declared before the cache starts\./);
    await sub.stop();
  });

  test('stripManagedFields is on by default, copies instead of changing what it is given, and a replace of a stripped object keeps the server\'s managedFields', async () => {
    const ns = await t.namespace();
    const api = Api.namespaced(t.client, ConfigMaps, ns);
    // Two field managers own parts of the object.
    await api.patch('shared', Patch.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'shared' }, data: { a: '1' } }), { fieldManager: 'alice' });
    await api.patch('shared', Patch.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'shared' }, data: { b: '2' } }), { fieldManager: 'bob' });
    const caches = new CacheSet();
    const stripped = caches.for(api);
    const raw = caches.for(api, { transform: null });
    assert.notEqual(raw, stripped);
    const s1 = subscribe(stripped);
    const s2 = subscribe(raw);
    await stripped.store.waitUntilReady();
    await raw.store.waitUntilReady();
    const cached = stripped.store.get({ name: 'shared', namespace: ns })!;
    const unstripped = raw.store.get({ name: 'shared', namespace: ns })!;
    assert.equal(cached.metadata!.managedFields, undefined, 'the default cache kept managedFields');
    assert.deepEqual(unstripped.metadata!.managedFields!.map((f) => f.manager).sort(), ['alice', 'bob'], 'transform: null stripped anyway');
    const input = structuredClone(unstripped);
    const out = stripManagedFields(input);
    assert.notEqual(out, input);
    assert.equal(input.metadata!.managedFields!.length, 2, 'stripManagedFields changed the object it was given');
    // Writing back the stripped copy leaves the server's managedFields as they were (plus the updater's own entry).
    await api.replace('shared', { ...cached, data: { ...cached.data, c: '3' } });
    const after = await api.get('shared');
    const managers = after.metadata!.managedFields!.map((f) => f.manager);
    assert.ok(managers.includes('alice') && managers.includes('bob'), `the replace dropped managedFields: ${managers.join(', ')}`);
    assert.deepEqual(after.data, { a: '1', b: '2', c: '3' });
    await s1.stop();
    await s2.stop();
  });

  test('a transform shapes what enters the cache; one that throws leaves the object as it came and the cache going', async () => {
    const ns = await t.namespace();
    const api = Api.namespaced(t.client, ConfigMaps, ns);
    await api.create({ metadata: { name: 'big' }, data: { keep: 'k', drop: 'x'.repeat(1000) } });
    await api.create({ metadata: { name: 'bad' }, data: { keep: 'k', drop: 'z' } });
    const cache = new CacheSet().for(api, {
      transform: (cm: ConfigMap) => {
        if (cm.metadata?.name === 'bad') throw new Error('transform exploded');
        return { ...cm, data: { keep: cm.data?.keep ?? '' } };
      },
    });
    const sub = subscribe(cache);
    await cache.store.waitUntilReady();
    await api.create({ metadata: { name: 'after' }, data: { keep: 'k', drop: 'y' } });
    await sub.waiter.until('the object created after the throw', () => cache.store.get({ name: 'after', namespace: ns }) !== undefined);
    await sub.stop();
    assert.deepEqual(cache.store.get({ name: 'big', namespace: ns })!.data, { keep: 'k' });
    assert.deepEqual(cache.store.get({ name: 'after', namespace: ns })!.data, { keep: 'k' });
    assert.deepEqual(cache.store.get({ name: 'bad', namespace: ns })!.data, { keep: 'k', drop: 'z' }, 'the object whose transform threw is missing or changed');
  });

  test('the documented pattern: a watches() mapper finds the objects that mention a changed object through an index', async () => {
    const ns = await t.namespace();
    const cmApi = Api.namespaced(t.client, ConfigMaps, ns);
    const secretApi = Api.namespaced(t.client, Secrets, ns);
    await cmApi.create({ metadata: { name: 'uses-db', annotations: { secret: 'db' } } });
    await cmApi.create({ metadata: { name: 'uses-api', annotations: { secret: 'api' } } });
    const configMaps = new CacheSet().for(cmApi).index('secret', (cm) => cm.metadata?.annotations?.secret);
    const runs: string[] = [];
    const waiter = new Waiter();
    const controller = new Controller(configMaps).withConfig({ name: `mention-${ns}` })
      .watches(secretApi, (secret) => configMaps.store.byIndex('secret', secret.metadata!.name!).map((cm) => ObjectRef.from(ConfigMaps, cm)));
    const running = runInBackground(controller, (cm) => {
      runs.push(`${cm.metadata!.name} ${currentReason()}`);
      waiter.notify();
      return Action.awaitChange();
    }, () => Action.awaitChange(), {}, waiter);
    await waiter.until('the first reconciles', () => runs.length === 2);
    await secretApi.create({ metadata: { name: 'db' }, stringData: { password: 'x' } });
    await waiter.until('uses-db reconciled for its secret', () => runs.some((r) => r.startsWith('uses-db related object updated: Secret')));
    await running.stop();
    assert.deepEqual(runs.slice(2), [`uses-db related object updated: Secret.v1./db.${ns}`], 'the mapper reached objects that do not mention the secret');
  });

  test('a controller over a shared cache refuses watcher options, which belong to the cache', () => {
    const cache = new CacheSet().for(Api.all(t.client, ConfigMaps));
    assert.throws(() => new Controller(cache, { labelSelector: 'a=b' }), /a Controller over a shared cache takes only a predicate; labelSelector belong to the cache/);
  });
});
