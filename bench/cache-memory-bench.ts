/**
 * Scenario 7b and 7c: one shared cache of ConfigMaps that two server-side-apply
 * field managers wrote (so each carries two `managedFields` entries).
 *
 * - `stripManagedFields`: `caches.for(api)`, the default transform;
 * - `transform-null`: `caches.for(api, { transform: null })`, objects as the
 *   API server sends them;
 * - `stripped+indexes`: the default with two indexes declared (`ref`, a label
 *   four objects share; `shard`, a label 1/16 of them share), then lookups
 *   timed: `store.byIndex` against the scans a user writes without an index
 *   (`store.list().filter(…)` for every match, `store.find(…)` for the first).
 */
import { Api, CacheSet, Client, ConfigMaps } from 'kubeloop';
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import { cpuMs, fullGc, heapUsed, markWindow, monoMs } from './child-io.js';
import type { ChildTask } from './protocol.js';

const refOf = (cm: ConfigMap) => cm.metadata?.labels?.ref;
const shardOf = (cm: ConfigMap) => cm.metadata?.labels?.shard;

export async function cacheMemoryBench(task: ChildTask): Promise<Record<string, number>> {
  const objects = Number(task.params.objects);
  const client = Client.fromKubeconfig({ paths: [task.target.kubeconfigPath] });
  const api = Api.namespaced(client, ConfigMaps, task.namespace);
  const stop = new AbortController();

  await fullGc();
  const heap0 = heapUsed();
  const cpu0 = cpuMs();
  const t0 = monoMs();
  const caches = new CacheSet();
  const cache = task.contender === 'transform-null' ? caches.for(api, { transform: null }) : caches.for(api);
  if (task.contender === 'stripped+indexes') cache.index('ref', refOf).index('shard', shardOf);
  cache.start(stop.signal);
  await cache.store.waitUntilReady();
  const readyMs = monoMs() - t0;
  const cpu = cpuMs() - cpu0;
  markWindow(t0, t0 + readyMs);
  await fullGc();
  const heap = heapUsed() - heap0;
  if (cache.store.size !== objects) throw new Error(`the cache holds ${cache.store.size} objects, not ${objects}`);

  const result: Record<string, number> = { readyMs, cpuMs: cpu, heapBytesPerObject: heap / objects, heapMB: heap / 2 ** 20 };
  const sample = cache.store.list();
  if (task.contender === 'transform-null') {
    // What the transform takes away, as JSON (measured after the heap).
    const entries = sample.map((o) => o.metadata?.managedFields?.length ?? 0);
    if (entries.some((n) => n !== 2)) throw new Error(`expected two managedFields entries on every object, found ${Math.min(...entries)}–${Math.max(...entries)}`);
    result.jsonBytesPerObject = sample.reduce((n, o) => n + JSON.stringify(o).length, 0) / objects;
    result.managedFieldsJsonBytes = sample.reduce((n, o) => n + JSON.stringify(o.metadata!.managedFields).length, 0) / objects;
  } else if (sample.some((o) => o.metadata?.managedFields !== undefined)) throw new Error('managedFields were not stripped');
  if (task.contender === 'stripped+indexes') Object.assign(result, lookups(cache.store, objects));

  stop.abort();
  await client.close();
  return result;
}

type Reader = { byIndex(name: string, value: string): ConfigMap[]; list(): ConfigMap[]; find(p: (o: ConfigMap) => boolean): ConfigMap | undefined };

/** µs per call of `fn(i)` over i = 0, 1, …, for at least `minMs` (after half as long a warm-up); checks every answer against `expect`. */
function timeCalls(fn: (i: number) => number, expect: (i: number) => number, minMs = 300): number {
  for (const t = monoMs(); monoMs() - t < minMs / 2; ) for (let i = 0; i < 16; i++) if (fn(i) !== expect(i)) throw new Error(`lookup ${i} answered ${fn(i)}, not ${expect(i)}`);
  let calls = 0;
  let sink = 0;
  const t = monoMs();
  let elapsed = 0;
  do {
    for (let k = 0; k < 16; k++) sink += fn(calls++);
    elapsed = monoMs() - t;
  } while (elapsed < minMs);
  if (sink < 0) throw new Error('unreachable');
  return (elapsed * 1000) / calls;
}

function lookups(store: Reader, objects: number): Record<string, number> {
  const refs = Math.ceil(objects / 4);
  // Values in a fixed pseudo-random order, so consecutive lookups do not walk the map in order.
  const ref = (i: number) => `doc-${(i * 7919) % refs}`;
  const shard = (i: number) => String((i * 7) % 16);
  const refCount = (i: number) => {
    const r = (i * 7919) % refs;
    return Math.min(4, objects - r * 4);
  };
  const shardCount = (i: number) => {
    const s = (i * 7) % 16;
    return Math.floor(objects / 16) + (s < objects % 16 ? 1 : 0);
  };
  return {
    byIndexRefUs: timeCalls((i) => store.byIndex('ref', ref(i)).length, refCount),
    filterRefUs: timeCalls((i) => { const v = ref(i); return store.list().filter((o) => refOf(o) === v).length; }, refCount),
    findRefUs: timeCalls((i) => { const v = ref(i); return store.find((o) => refOf(o) === v) ? 1 : 0; }, () => 1),
    byIndexShardUs: timeCalls((i) => store.byIndex('shard', shard(i)).length, shardCount),
    filterShardUs: timeCalls((i) => { const v = shard(i); return store.list().filter((o) => shardOf(o) === v).length; }, shardCount),
  };
}
