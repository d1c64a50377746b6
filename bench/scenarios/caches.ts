/**
 * Scenario 7: shared caches, the default transform, and indexes.
 *
 * 7a. Three controllers over one kind, each owning one child kind, sharing
 *     their caches — against one controller, and against three with caches of
 *     their own: watches opened, heap retained, CPU per update.
 * 7b. Heap per cached object with `stripManagedFields` (the default) against
 *     `transform: null`, on ConfigMaps two SSA field managers wrote.
 * 7c. `store.byIndex` against linear scans of the same store.
 *
 * Run alone (`BENCH_ONLY=caches`), the results go to bench/results/caches.*.
 */
import { parallel } from '../admin.js';
import { appliedConfigMaps, cmName, cmPath, ownedSecrets } from '../data.js';
import { withChild } from '../harness.js';
import type { Contender } from '../protocol.js';
import { info, target, type ScenarioResult } from '../report.js';
import { percentile, ratio } from '../stats.js';
import { med, mono, NS, repeat, rows, simpleChild, spread, task, type Ctx, type Scenario } from './scenario.js';

async function sharing(ctx: Ctx): Promise<ScenarioResult> {
  const contenders: Contender[] = ['one-controller', 'three-shared', 'three-private'];
  const { cacheShareObjects: objects, cacheShareUpdates: updates } = ctx.scale;
  const writeSeconds: number[] = [];
  const runs = await repeat(ctx, 'cache sharing', contenders, (c) =>
    withChild(task(ctx, 'cache-sharing', c, NS.cacheShare, { objects, updates }), ctx.childOptions, async (child) => {
      await child.next('ready');
      const base = (ctx.seq += updates);
      child.send({ type: 'go', base });
      await child.next('going');
      const t = mono();
      await parallel(updates, 64, (i) => ctx.admin.mergePatch(cmPath(NS.cacheShare, cmName(i % objects)), { data: { v: String(base + i) } }));
      writeSeconds.push((mono() - t) / 1000);
      return (await child.next('result')).result as Record<string, number>;
    }),
  );
  const rs = rows(runs);
  const r = (a: string, b: string, key: string) => ratio(med(rs, a, key), med(rs, b, key));
  return {
    id: 'caches-sharing',
    title: `7a. Shared caches: three controllers over ${objects.toLocaleString('en')} ConfigMaps, each owning a Secret, ${updates.toLocaleString('en')} updates`,
    metrics: [
      { key: 'watches', label: 'watches opened' },
      { key: 'lists', label: 'lists' },
      { key: 'heapMB', label: 'heap retained (MiB)' },
      { key: 'cpuPerUpdateUs', label: 'CPU per update (µs)' },
      { key: 'reconcilesPerUpdate', label: 'reconciles per update' },
      { key: 'cpuPerReconcileUs', label: 'CPU per reconcile (µs)' },
      { key: 'readyMs', label: 'time to ready (ms)' },
      { key: 'startCpuMs', label: 'CPU to ready and first reconciles (ms)' },
    ],
    rows: rs,
    ratios: [
      target('three-shared: watches opened for 2 kinds', med(rs, 'three-shared', 'watches'), 2, ''),
      info('three-private: watches opened for 2 kinds', med(rs, 'three-private', 'watches'), ''),
      target('three-shared / one-controller, heap retained', r('three-shared', 'one-controller', 'heapMB'), 1.15),
      target('three-shared / one-controller, CPU per update', r('three-shared', 'one-controller', 'cpuPerUpdateUs'), 1.2),
      info('three-shared: CPU per update for each controller beyond the first', (med(rs, 'three-shared', 'cpuPerUpdateUs') - med(rs, 'one-controller', 'cpuPerUpdateUs')) / 2, ' µs'),
      info('three-private / one-controller, heap retained', r('three-private', 'one-controller', 'heapMB')),
      info('three-private / one-controller, CPU per update', r('three-private', 'one-controller', 'cpuPerUpdateUs')),
      info('three-shared / three-private, heap retained', r('three-shared', 'three-private', 'heapMB')),
      info('three-shared / three-private, CPU per update', r('three-shared', 'three-private', 'cpuPerUpdateUs')),
      info('three-shared / three-private, CPU to ready and first reconciles', r('three-shared', 'three-private', 'startCpuMs')),
    ],
    notes: [
      'one-controller: `new Controller(caches.for(configMaps)).owns(caches.for(secrets, { metadataOnly: true }))` over a `CacheSet`. ' +
        'three-shared: three such controllers over the same `CacheSet` (one watch and one store per kind). ' +
        'three-private: `new Controller(configMaps).owns(secrets)` three times, each with caches of its own — what every controller got before shared caches. ' +
        'Every reconciler is a no-op that notes the value it saw.',
      "Watches and lists: kubeloop's `rest_client_requests_total{verb=\"watch\"}` (and `list`) in the child, read once every cache is ready. " +
        'Heap: `heapUsed` after two forced GCs, once every cache is ready and the first reconciles are done, minus the same before the controllers were made.',
      `CPU per update: the child's CPU time (process.cpuUsage) from the first update until every controller has reconciled every object's last value, divided by the updates the parent wrote (merge patches of one key, 64 in flight; median ${percentile(writeSeconds, 50).toFixed(1)} s per run). ` +
        'It includes the reconciles: three controllers reconcile each update three times (column "reconciles per update").',
      `Spread over the runs (min–max): CPU per update ${contenders.map((c) => `${c} ${spread(runs, c, 'cpuPerUpdateUs')} µs`).join(', ')}; ` +
        `heap retained ${contenders.map((c) => `${c} ${spread(runs, c, 'heapMB')} MiB`).join(', ')}.`,
    ],
  };
}

async function memory(ctx: Ctx): Promise<ScenarioResult[]> {
  const contenders: Contender[] = ['stripManagedFields', 'transform-null', 'stripped+indexes'];
  const objects = ctx.scale.cacheSsaObjects;
  const runs = await repeat(ctx, 'cache memory', contenders, (c) => simpleChild(ctx, task(ctx, 'cache-memory', c, NS.cacheSsa, { objects })), ctx.scale.quickReps);
  const rs = rows(runs);
  const r = (a: string, b: string, key: string) => ratio(med(rs, a, key), med(rs, b, key));
  const jsonBytes = med(rs, 'transform-null', 'jsonBytesPerObject');
  const managedBytes = med(rs, 'transform-null', 'managedFieldsJsonBytes');
  const transform: ScenarioResult = {
    id: 'caches-transform',
    title: `7b. Heap per cached object, stripManagedFields against transform: null, ${objects.toLocaleString('en')} ConfigMaps applied by two field managers`,
    metrics: [
      { key: 'heapBytesPerObject', label: 'heap retained per object (bytes)' },
      { key: 'heapMB', label: 'heap retained (MiB)' },
      { key: 'readyMs', label: 'time to ready (ms)' },
      { key: 'cpuMs', label: 'CPU time to ready (ms)' },
    ],
    rows: rs,
    ratios: [
      target('stripManagedFields / transform: null, heap per object', r('stripManagedFields', 'transform-null', 'heapBytesPerObject'), 0.75),
      info('stripManagedFields / transform: null, CPU time to ready', r('stripManagedFields', 'transform-null', 'cpuMs')),
      info('stripped+indexes / stripManagedFields, heap per object (two indexes)', r('stripped+indexes', 'stripManagedFields', 'heapBytesPerObject')),
    ],
    notes: [
      'Every ConfigMap (about 400 bytes of data) was written with server-side apply by two field managers: `bench-settings` (data, two labels) and `bench-indexer` (a label and an annotation), so `metadata.managedFields` has two entries. ' +
        `As JSON an object is ${Math.round(jsonBytes)} bytes, ${Math.round(managedBytes)} of them (${Math.round((100 * managedBytes) / jsonBytes)} %) its managedFields.`,
      'stripManagedFields: `caches.for(api)` (the default transform). transform-null: `caches.for(api, { transform: null })`. stripped+indexes: the default with two indexes declared (see 7c). ' +
        'Heap: `heapUsed` after two forced GCs once the cache is ready, minus the same before it was made, divided by the objects.',
      `Spread over the runs (min–max) of heap per object: ${contenders.map((c) => `${c} ${spread(runs, c, 'heapBytesPerObject')} bytes`).join(', ')}.`,
    ],
  };
  const ix = rs.filter((row) => row.contender === 'stripped+indexes');
  const m = (key: string) => med(ix, 'stripped+indexes', key);
  const index: ScenarioResult = {
    id: 'caches-index',
    title: `7c. Index lookups against linear scans, ${objects.toLocaleString('en')} cached ConfigMaps`,
    metrics: [
      { key: 'byIndexRefUs', label: 'byIndex, 4 matches (µs)' },
      { key: 'filterRefUs', label: 'list().filter, 4 matches (µs)' },
      { key: 'findRefUs', label: 'find, first match (µs)' },
      { key: 'byIndexShardUs', label: `byIndex, ${Math.round(objects / 16)} matches (µs)` },
      { key: 'filterShardUs', label: `list().filter, ${Math.round(objects / 16)} matches (µs)` },
    ],
    rows: ix,
    ratios: [
      info('byIndex / list().filter, 4 matches', ratio(m('byIndexRefUs'), m('filterRefUs'))),
      info('byIndex / find (first match only), 4 matches', ratio(m('byIndexRefUs'), m('findRefUs'))),
      info(`byIndex / list().filter, ${Math.round(objects / 16)} matches`, ratio(m('byIndexShardUs'), m('filterShardUs'))),
    ],
    notes: [
      '`cache.index("ref", (cm) => cm.metadata?.labels?.ref)` (four objects share each value, like "the ConfigMaps of one Document") and `index("shard", …)` (16 values). ' +
        'The scans are what one writes without an index: `store.list().filter(…)` for every match, `store.find(…)` for the first. ' +
        'Each figure is the mean over at least 300 ms of calls with values in a scattered order, after half as long a warm-up; every answer was checked. The issue sets no target here.',
      `Spread over the runs (min–max): byIndex ${spread(runs, 'stripped+indexes', 'byIndexRefUs')} µs, list().filter ${spread(runs, 'stripped+indexes', 'filterRefUs')} µs (4 matches).`,
    ],
  };
  return [transform, index];
}

export const cachesScenario: Scenario = {
  needsCluster: true,
  ownResults: 'caches',
  async load(admin, scale) {
    await ownedSecrets(admin, NS.cacheShare, scale.cacheShareObjects);
    await appliedConfigMaps(admin, NS.cacheSsa, scale.cacheSsaObjects);
  },
  run: async (ctx) => [await sharing(ctx), ...(await memory(ctx))],
};
