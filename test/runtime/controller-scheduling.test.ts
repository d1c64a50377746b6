import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import {
  Action, Api, ConfigMaps, Controller, ObjectNotFoundError, Patch, ReconcilerFailedError, Store, backoffErrorPolicy, predicates, reflector, watcher,
} from '../../src/index.js';
import { useCluster } from '../support/cluster.js';
import { currentReason, runInBackground, Waiter } from '../support/controller.js';

const t = useCluster();

async function createMany(api: Api<ConfigMap>, names: string[], data: (n: string) => Record<string, string> = () => ({})): Promise<void> {
  const queue = [...names];
  await Promise.all(Array.from({ length: 16 }, async () => {
    for (let n = queue.shift(); n !== undefined; n = queue.shift()) await api.create({ metadata: { name: n }, data: data(n) });
  }));
}

describe('controller scheduling against a real API server', () => {
  test('a store fed by a real watcher becomes ready only after the whole paged list is in', async () => {
    const ns = await t.namespace();
    const api = Api.namespaced(t.client, ConfigMaps, ns);
    await createMany(api, Array.from({ length: 600 }, (_, i) => `cm-${i}`));
    const store = new Store(ConfigMaps);
    const abort = new AbortController();
    let initApplies = 0;
    let sizeWhenReady = -1;
    void store.waitUntilReady().then(() => (sizeWhenReady = store.size));
    for await (const e of reflector(store, watcher(api, { pageSize: 250, signal: abort.signal }))) {
      if (e.type === 'initApply') {
        initApplies++;
        assert.equal(store.isReady(), false, 'not ready in the middle of the first list');
      }
      if (e.type === 'initDone') break;
    }
    abort.abort();
    await store.waitUntilReady();
    assert.equal(initApplies, 600);
    assert.equal(sizeWhenReady, 600, 'all 600 objects were in the store when readiness resolved');
  });

  const variants = [
    { concurrency: 1, debounceMs: 0, maxReconciles: 1000 },
    { concurrency: 4, debounceMs: 0, maxReconciles: 1000 },
    { concurrency: 0, debounceMs: 0, maxReconciles: 1000 },
    // With a debounce, a burst collapses to a few runs per object.
    { concurrency: 0, debounceMs: 300, maxReconciles: 50 },
  ];
  for (const { concurrency, debounceMs, maxReconciles } of variants) {
    const label = `concurrency ${concurrency || 'unbounded'}${debounceMs ? `, debounce ${debounceMs} ms` : ''}`;
    test(`1,000 rapid updates to 10 objects coalesce, the last state of each is reconciled, and no object runs twice at once (${label})`, async () => {
      const ns = await t.namespace();
      const api = Api.namespaced(t.client, ConfigMaps, ns);
      const names = Array.from({ length: 10 }, (_, i) => `obj-${i}`);
      await createMany(api, names, () => ({ seq: '0' }));
      const inFlight = new Set<string>();
      const lastSeen = new Map<string, string>();
      let reconciles = 0;
      let overlaps = 0;
      let maxParallel = 0;
      const waiter = new Waiter();
      const controller = new Controller(api).withConfig({ concurrency, debounceMs });
      const running = runInBackground(controller, async (cm) => {
        const name = cm.metadata!.name!;
        if (inFlight.has(name)) overlaps++;
        inFlight.add(name);
        maxParallel = Math.max(maxParallel, inFlight.size);
        reconciles++;
        await sleep(100); // stands in for the reconciler's own API calls; updates outpace it
        lastSeen.set(name, cm.metadata!.resourceVersion!);
        inFlight.delete(name);
        waiter.notify();
        return Action.awaitChange();
      }, () => Action.awaitChange(), {});
      await waiter.until('the initial reconciles', () => lastSeen.size === 10);
      const before = reconciles;
      // 1,000 merge patches, 50 in flight: as fast as the server accepts them.
      const burstStart = performance.now();
      const updates = Array.from({ length: 1000 }, (_, i) => ({ name: names[i % 10]!, seq: i }));
      await Promise.all(Array.from({ length: 50 }, async () => {
        for (let u = updates.shift(); u !== undefined; u = updates.shift()) await api.patch(u.name, Patch.merge({ data: { seq: String(u.seq) } }));
      }));
      const burstMs = performance.now() - burstStart;
      const final = new Map((await api.list()).items.map((cm) => [cm.metadata!.name!, cm.metadata!.resourceVersion!]));
      await waiter.until('every object reconciled at its last state', () => names.every((n) => lastSeen.get(n) === final.get(n)));
      await running.stop();
      const burstReconciles = reconciles - before;
      // Each object has at most one run going and one waiting, so its runs are bounded by
      // time (one per 100 ms reconcile, plus the one in progress and the last), not by updates.
      const timeBound = 10 * (Math.ceil(burstMs / 100) + 2);
      console.log(`${label}: 1000 updates in ${burstMs.toFixed(0)} ms -> ${burstReconciles} reconciles (time bound ${timeBound}), max parallel ${maxParallel}`);
      assert.equal(overlaps, 0, 'an object was reconciled concurrently with itself');
      assert.ok(burstReconciles < maxReconciles, `${burstReconciles} reconciles for 1000 updates`);
      assert.ok(burstReconciles <= timeBound, `${burstReconciles} reconciles exceed one per reconcile duration per object (${timeBound})`);
      // The initial list queues all ten at once: the limit is reached, never passed (unbounded: all ten run together).
      assert.equal(maxParallel, concurrency || names.length, `at most ${concurrency || 'unbounded'} at once`);
    });
  }

  for (const debounceMs of [0, 1000]) {
    test(`Action.requeue(200) reruns about 200 ms after the reconcile finished, with reason "reconciler requested retry"${debounceMs ? ' (a 1 s debounce does not stretch it)' : ''}`, async () => {
      const ns = await t.namespace();
      const api = Api.namespaced(t.client, ConfigMaps, ns);
      await api.create({ metadata: { name: 'requeue' } });
      const runs: { reason: string; start: number; end: number }[] = [];
      const waiter = new Waiter();
      const running = runInBackground(new Controller(api).withConfig({ debounceMs }), async () => {
        const start = performance.now();
        await sleep(50);
        runs.push({ reason: currentReason(), start, end: performance.now() });
        waiter.notify();
        return runs.length === 1 ? Action.requeue(200) : Action.awaitChange();
      }, () => Action.awaitChange(), {});
      await waiter.until('the second run', () => runs.length === 2);
      await running.stop();
      assert.equal(runs[0]!.reason, 'object updated');
      assert.equal(runs[1]!.reason, 'reconciler requested retry');
      const gap = runs[1]!.start - runs[0]!.end;
      assert.ok(gap >= 195 && gap < 700, `rerun ${gap.toFixed(0)} ms after the first finished`);
    });
  }

  test('an error runs the error policy and reruns with "error policy requested retry"; the backoff policy doubles and resets after a success', async () => {
    const ns = await t.namespace();
    const api = Api.namespaced(t.client, ConfigMaps, ns);
    await api.create({ metadata: { name: 'flaky' } });
    // Fail three times, succeed once (asking for a quick rerun), fail once more, then succeed.
    const plan = [false, false, false, true, false, true];
    const runs: { reason: string; start: number; end: number }[] = [];
    const policy = backoffErrorPolicy<ConfigMap>(ConfigMaps, { initialMs: 100 });
    // The reason of the span each error policy call ran in: checked after the run, as an
    // assertion thrown inside the policy would only be caught by the controller.
    const policyReasons: string[] = [];
    const waiter = new Waiter();
    const running = runInBackground(new Controller(api), async () => {
      const start = performance.now();
      const ok = plan[runs.length] ?? true;
      runs.push({ reason: currentReason(), start, end: performance.now() });
      waiter.notify();
      if (!ok) throw new Error(`planned failure ${runs.length}`);
      return runs.length === 4 ? Action.requeue(10) : Action.awaitChange();
    }, Object.assign((obj: ConfigMap, e: unknown, c: unknown) => {
      policyReasons.push(currentReason());
      return policy(obj, e, c);
    }, { onSuccess: policy.onSuccess }), {}, waiter);
    await waiter.until('six runs', () => runs.length === 6);
    await waiter.until('the sixth result', () => running.results.length >= 6);
    await running.stop();
    assert.deepEqual(runs.map((r) => r.reason), ['object updated', 'error policy requested retry', 'error policy requested retry', 'error policy requested retry', 'reconciler requested retry', 'error policy requested retry']);
    assert.deepEqual(policyReasons, ['object updated', 'error policy requested retry', 'error policy requested retry', 'reconciler requested retry'], 'the error policy ran once per failure, inside that reconcile\'s span');
    const gaps = runs.slice(1).map((r, i) => r.start - runs[i]!.end);
    const shown = gaps.map((g) => g.toFixed(0)).join(', ');
    assert.ok(gaps[0]! >= 95 && gaps[1]! >= 195 && gaps[2]! >= 395, `doubling gaps ${shown}`);
    assert.ok(gaps[1]! > gaps[0]! && gaps[2]! > gaps[1]!, `each gap longer than the one before: ${shown}`);
    // After the success the policy started over: the failure after it waited 100 ms again, not 800 ms.
    assert.ok(gaps[4]! >= 95 && gaps[4]! < 395, `after a success the delay starts over at 100 ms: gaps ${shown}`);
    assert.deepEqual(running.results.slice(0, 6).map((r) => r.ok), [false, false, false, true, false, true]);
    assert.ok(running.results.every((r) => r.ok || r.error instanceof ReconcilerFailedError));
  });

  test('an object deleted while queued yields an ObjectNotFound result and the stream goes on', async () => {
    const ns = await t.namespace();
    const api = Api.namespaced(t.client, ConfigMaps, ns);
    await api.create({ metadata: { name: 'stays' } });
    const waiter = new Waiter();
    const reconciled: string[] = [];
    const controller = new Controller(api).withConfig({ debounceMs: 1000 });
    const running = runInBackground(controller, async (cm) => {
      reconciled.push(cm.metadata!.name!);
      waiter.notify();
      return Action.awaitChange();
    }, () => Action.awaitChange(), {}, waiter);
    await waiter.until('the first object', () => reconciled.includes('stays'));
    // Queued with a 1 s debounce, then deleted before it is due.
    await api.create({ metadata: { name: 'goes' } });
    await api.delete('goes');
    await api.patch('stays', Patch.merge({ data: { after: 'yes' } }));
    const notFound = () => running.results.find((x) => !x.ok && x.error instanceof ObjectNotFoundError);
    await waiter.until('an ObjectNotFound result', () => notFound() !== undefined);
    await waiter.until('the stream went on', () => reconciled.filter((n) => n === 'stays').length === 2);
    await running.stop();
    assert.equal(notFound()!.ref?.name, 'goes');
    assert.ok(!reconciled.includes('goes'));
  });

  test('a predicate skips changes that do not touch what it watches', async () => {
    const ns = await t.namespace();
    const api = Api.namespaced(t.client, ConfigMaps, ns);
    await api.create({ metadata: { name: 'p', labels: { v: '1' } } });
    const seen: string[] = [];
    const waiter = new Waiter();
    const running = runInBackground(new Controller(api, { predicate: predicates.labels }), async (cm) => {
      seen.push(`${cm.metadata?.labels?.v}/${cm.data?.d ?? '-'}`);
      waiter.notify();
      return Action.awaitChange();
    }, () => Action.awaitChange(), {});
    await waiter.until('the first run', () => seen.length === 1);
    await api.patch('p', Patch.merge({ data: { d: 'x' } }));
    await api.patch('p', Patch.merge({ metadata: { labels: { v: '2' } } }));
    await waiter.until('the label change', () => seen.length >= 2);
    await running.stop();
    assert.deepEqual(seen, ['1/-', '2/x'], 'the data-only change did not trigger a reconcile of its own');
  });
});
