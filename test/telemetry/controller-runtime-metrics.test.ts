/**
 * controller-runtime's metric names (`enableControllerRuntimeMetrics()`), by
 * value: controllers over ConfigMaps on the real API server, with outcomes the
 * test chooses, and the registry read as `/metrics` renders it. Each test's
 * controller has a name of its own, so its series count only what it did.
 *
 * The switch is process-wide and this file turns it on; the default (off) is
 * shown in a child process (fixtures/controller-runtime-metrics-child.ts).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { setTimeout as elapse } from 'node:timers/promises';
import { Action, Api, ConfigMaps, Controller, enableControllerRuntimeMetrics, renderMetrics } from '../../src/index.js';
import { useCluster, until } from '../support/cluster.js';
import { runInBackground, signal, Waiter } from '../support/controller.js';

const t = useCluster();
enableControllerRuntimeMetrics();

/** Every name `enableControllerRuntimeMetrics()` adds, with the labels controller-runtime gives it (besides `le`). */
const FAMILIES: Record<string, string[]> = {
  controller_runtime_reconcile_total: ['controller', 'result'],
  controller_runtime_reconcile_errors_total: ['controller'],
  controller_runtime_terminal_reconcile_errors_total: ['controller'],
  controller_runtime_reconcile_panics_total: ['controller'],
  controller_runtime_reconcile_time_seconds: ['controller'],
  controller_runtime_max_concurrent_reconciles: ['controller'],
  controller_runtime_active_workers: ['controller'],
  workqueue_depth: ['controller', 'name', 'priority'],
  workqueue_adds_total: ['controller', 'name'],
  workqueue_queue_duration_seconds: ['controller', 'name'],
  workqueue_work_duration_seconds: ['controller', 'name'],
  workqueue_unfinished_work_seconds: ['controller', 'name'],
  workqueue_longest_running_processor_seconds: ['controller', 'name'],
  workqueue_retries_total: ['controller', 'name'],
};

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of the classic text format, each with its name, labels and value (`+Inf` read as Infinity). */
async function scrape(): Promise<Sample[]> {
  const { body } = await renderMetrics(false);
  return body.split('\n').filter((l) => l && !l.startsWith('#')).map((line) => {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)/.exec(line)!;
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1]!, x[2]!]));
    return { name: m[1]!, labels, value: parseValue(m[3]!) };
  });
}

function parseValue(s: string): number {
  if (s === '+Inf') return Number.POSITIVE_INFINITY;
  if (s === '-Inf') return Number.NEGATIVE_INFINITY;
  return Number(s);
}

/** The one sample of `name` whose labels include `labels`, from `samples`; fails if there is none or more than one. */
function one(samples: Sample[], name: string, labels: Record<string, string>): number {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.equal(found.length, 1, `${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]!.value;
}

/** The labels of a workqueue series of `controller`, as controller-runtime names them. */
const queue = (controller: string) => ({ name: controller, controller });

/**
 * A `reconcileAllOn` trigger fired by hand. The bulk source schedules every
 * object for a tick and then asks for the next one, so once `pulls` has grown
 * past a tick, every object of that tick has been scheduled.
 */
function handTrigger(waiter: Waiter) {
  let pulls = 0;
  let pending: ((r: IteratorResult<unknown>) => void) | undefined;
  const iterable: AsyncIterable<unknown> = {
    [Symbol.asyncIterator]: () => ({
      next: () => {
        pulls++;
        waiter.notify();
        return new Promise<IteratorResult<unknown>>((resolve) => (pending = resolve));
      },
      return: () => {
        pending?.({ done: true, value: undefined });
        return Promise.resolve({ done: true, value: undefined });
      },
    }),
  };
  return {
    iterable,
    get pulls() {
      return pulls;
    },
    /** Fires one tick; resolves once all its objects are scheduled. */
    async tick(): Promise<void> {
      const fire = pending;
      assert.ok(fire, 'the source is not waiting for a tick');
      pending = undefined;
      const after = pulls + 1;
      fire({ done: false, value: 'tick' });
      await waiter.until('the tick to be scheduled', () => pulls >= after, 5_000);
    },
  };
}

describe("controller-runtime's metric names", () => {
  test('without enableControllerRuntimeMetrics() no controller_runtime_* or workqueue_* name is served; with it, every one is', async () => {
    const ns = await t.namespace('crm');
    await Api.namespaced(t.client, ConfigMaps, ns).create({ metadata: { name: 'one' } });
    const child = async (mode: 'default' | 'enabled') => {
      const proc = spawn(process.execPath, [new URL('../fixtures/controller-runtime-metrics-child.js', import.meta.url).pathname, ns, mode], {
        env: { ...process.env, KUBECONFIG: t.cluster.kubeconfigPath },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      const deadline = setTimeout(() => proc.kill('SIGKILL'), 20_000);
      const [code] = (await once(proc, 'exit')) as [number | null];
      clearTimeout(deadline);
      assert.equal(code, 0, `the ${mode} child failed: ${out}`);
      return JSON.parse(out) as { reconciled: number; families: string[]; samples: string[] };
    };
    const off = await child('default');
    assert.equal(off.reconciled, 1, 'the child reconciled its object');
    assert.ok(off.samples.includes('reconcile_total'), "kubeloop's own reconcile_total is served");
    const compat = (n: string) => n.startsWith('controller_runtime_') || n.startsWith('workqueue_');
    assert.deepEqual(off.families.filter(compat), [], 'no family is registered');
    assert.deepEqual(off.samples.filter(compat), [], 'no sample is served');

    const on = await child('enabled');
    assert.equal(on.reconciled, 1);
    assert.deepEqual(on.families.filter(compat).sort(), Object.keys(FAMILIES).sort(), 'every name is registered, and no other');
  });

  test('a success, a requeue and an error are counted as controller-runtime counts them, under its label sets', async () => {
    const ns = await t.namespace('crm');
    const api = Api.namespaced(t.client, ConfigMaps, ns);
    for (const n of ['ok', 'again', 'fail']) await api.create({ metadata: { name: n } });
    const name = 'crm-outcomes';
    const runs = new Map<string, number>();
    const waiter = new Waiter();
    // ok: a success. again: requeue_after, then a success. fail: an error the policy requeues (a retry), then a success.
    const running = runInBackground(new Controller(api).withConfig({ name, concurrency: 2 }), (cm) => {
      const n = cm.metadata!.name!;
      const k = (runs.get(n) ?? 0) + 1;
      runs.set(n, k);
      if (n === 'again' && k === 1) return Action.requeue(20);
      if (n === 'fail' && k === 1) throw new Error('the first attempt fails');
      return Action.awaitChange();
    }, () => Action.requeue(20), {}, waiter);
    let s: Sample[];
    try {
      await waiter.until('five results', () => running.results.length === 5);
      s = await scrape(); // while it runs: the gauges exist only then
    } finally {
      await running.stop();
    }
    assert.deepEqual(Object.fromEntries(runs), { ok: 1, again: 2, fail: 2 });
    assert.equal(running.results.filter((r) => !r.ok).length, 1, 'one failed result');

    const total = (result: string) => one(s, 'controller_runtime_reconcile_total', { controller: name, result });
    assert.deepEqual([total('success'), total('requeue_after'), total('error')], [3, 1, 1], 'success ×3 (ok, again and fail the second time), requeue_after ×1, error ×1');
    assert.equal(one(s, 'controller_runtime_reconcile_errors_total', { controller: name }), 1);
    assert.equal(one(s, 'controller_runtime_terminal_reconcile_errors_total', { controller: name }), 0);
    assert.equal(one(s, 'controller_runtime_reconcile_panics_total', { controller: name }), 0);
    assert.equal(one(s, 'controller_runtime_reconcile_time_seconds_count', { controller: name }), 5, 'one observation per reconcile');
    assert.equal(one(s, 'controller_runtime_max_concurrent_reconciles', { controller: name }), 2, 'the configured concurrency');
    assert.equal(one(s, 'workqueue_adds_total', queue(name)), 5, 'three objects listed, then two requeues (the one asked for and the retry)');
    assert.equal(one(s, 'workqueue_retries_total', queue(name)), 2, "the requeue the reconciler asked for and the retry the error policy asked for (client-go counts every delayed add)");
    assert.equal(one(s, 'workqueue_work_duration_seconds_count', queue(name)), 5);
    assert.equal(one(s, 'workqueue_queue_duration_seconds_count', queue(name)), 5);
    // kubeloop's own family says the same: its success is controller-runtime's success + requeue_after.
    assert.equal(one(s, 'reconcile_total', { controller: name, result: 'success' }), 4);
    assert.equal(one(s, 'reconcile_total', { controller: name, result: 'error' }), 1);

    // Label sets: exactly controller-runtime's (plus `le` on buckets); the queue's `name` is the controller's name.
    const mine = s.filter((x) => x.labels.controller === name);
    for (const [family, labels] of Object.entries(FAMILIES)) {
      const series = mine.filter((x) => x.name === family || x.name.startsWith(`${family}_`));
      assert.ok(series.length > 0, `no series of ${family} for ${name}`);
      for (const x of series) {
        const keys = Object.keys(x.labels).filter((k) => !(k === 'le' && x.name.endsWith('_bucket'))).sort();
        assert.deepEqual(keys, labels, `labels of ${x.name}`);
        if (labels.includes('name')) assert.equal(x.labels.name, name, `name of ${x.name}`);
        if (labels.includes('priority')) assert.equal(x.labels.priority, '', `priority of ${x.name}`);
      }
    }
    // Buckets: client-go's workqueue buckets (10 ns × 10^k, k = 0…11) and controller-runtime's reconcile-time buckets.
    const les = (family: string, labels: Record<string, string>) =>
      s.filter((x) => x.name === `${family}_bucket` && Object.entries(labels).every(([k, v]) => x.labels[k] === v)).map((x) => parseValue(x.labels.le!));
    const workqueueBuckets = [1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10, 100, 1000, Number.POSITIVE_INFINITY];
    assert.deepEqual(les('workqueue_work_duration_seconds', queue(name)), workqueueBuckets);
    assert.deepEqual(les('workqueue_queue_duration_seconds', queue(name)), workqueueBuckets);
    const reconcileBuckets = les('controller_runtime_reconcile_time_seconds', { controller: name });
    assert.equal(reconcileBuckets.length, 41);
    assert.deepEqual([reconcileBuckets[0], reconcileBuckets[17], reconcileBuckets[39], reconcileBuckets[40]], [0.005, 1, 60, Number.POSITIVE_INFINITY]);
  });

  test('controller_runtime_max_concurrent_reconciles is the configured concurrency, and +Inf when unbounded', async () => {
    const ns = await t.namespace('crm');
    const api = Api.namespaced(t.client, ConfigMaps, ns);
    await api.create({ metadata: { name: 'one' } });
    const waiter = new Waiter();
    const bounded = runInBackground(new Controller(api).withConfig({ name: 'crm-bounded', concurrency: 7 }), () => Action.awaitChange(), () => Action.awaitChange(), {}, waiter);
    const unbounded = runInBackground(new Controller(api).withConfig({ name: 'crm-unbounded' }), () => Action.awaitChange(), () => Action.awaitChange(), {}, waiter);
    let s: Sample[];
    try {
      await waiter.until('a result from each', () => bounded.results.length === 1 && unbounded.results.length === 1);
      s = await scrape();
    } finally {
      await Promise.all([bounded.stop(), unbounded.stop()]);
    }
    assert.equal(one(s, 'controller_runtime_max_concurrent_reconciles', { controller: 'crm-bounded' }), 7);
    assert.equal(one(s, 'controller_runtime_max_concurrent_reconciles', { controller: 'crm-unbounded' }), Number.POSITIVE_INFINITY);
    // A stopped controller's gauges go with it.
    const after = await scrape();
    assert.equal(after.filter((x) => x.name === 'controller_runtime_max_concurrent_reconciles' && x.labels.controller?.startsWith('crm-')).length, 0);
  });

  test('a stuck reconcile shows in workqueue_longest_running_processor_seconds and workqueue_unfinished_work_seconds, growing, and they return to 0 when it finishes; workqueue_depth counts due entries, workqueue_adds_total new ones', async () => {
    const ns = await t.namespace('crm');
    const api = Api.namespaced(t.client, ConfigMaps, ns);
    await api.create({ metadata: { name: 'stuck' } });
    const name = 'crm-stuck';
    const waiter = new Waiter();
    const trigger = handTrigger(waiter);
    const release = signal();
    const runs: string[] = [];
    const controller = new Controller(api).withConfig({ name, concurrency: 1 }).reconcileAllOn(trigger.iterable);
    const running = runInBackground(controller, async (cm) => {
      const n = cm.metadata!.name!;
      runs.push(n);
      waiter.notify();
      if (runs.length === 1) await release.promise; // the first reconcile (of `stuck`) hangs until the test lets it go
      return Action.awaitChange();
    }, () => Action.awaitChange(), {}, waiter);
    const stuckGauges = (s: Sample[]) => ({
      longest: one(s, 'workqueue_longest_running_processor_seconds', queue(name)),
      unfinished: one(s, 'workqueue_unfinished_work_seconds', queue(name)),
      ours: one(s, 'reconcile_longest_running_seconds', { controller: name }),
      active: one(s, 'controller_runtime_active_workers', { controller: name }),
    });
    try {
      await waiter.until('stuck to start', () => runs.length === 1);
      await waiter.until('the trigger to wait for its first tick', () => trigger.pulls === 1);
      const first = stuckGauges(await scrape());
      assert.equal(first.active, 1, 'one worker busy');
      for (const k of ['longest', 'unfinished', 'ours'] as const) assert.ok(first[k] > 0, `${k} is ${first[k]} while a reconcile runs`);
      // One reconcile runs: the longest is all the unfinished work, and kubeloop's gauge reads the same. Each gauge reads
      // the clock when the render collects it (microseconds apart; 0.1 s leaves room for a loaded machine).
      assert.ok(Math.abs(first.unfinished - first.longest) < 0.1, `unfinished ${first.unfinished} vs longest ${first.longest}`);
      assert.ok(Math.abs(first.ours - first.longest) < 0.1, `reconcile_longest_running_seconds ${first.ours} vs ${first.longest}`);
      await elapse(200); // time passing is what the gauges show
      const second = stuckGauges(await scrape());
      assert.equal(second.active, 1);
      for (const k of ['longest', 'unfinished', 'ours'] as const) {
        assert.ok(second[k] - first[k] >= 0.19, `${k} grew from ${first[k]} to ${second[k]} over 200 ms`);
      }

      // A new object is due and waits for the only worker: depth 1.
      await api.create({ metadata: { name: 'waiting' } });
      await until('waiting to be queued', async () => one(await scrape(), 'workqueue_depth', { ...queue(name), priority: '' }) === 1);
      // Two ticks schedule both objects twice: stuck's first request is held behind its running reconcile (a new entry:
      // an add, but not due, so not in the depth); every other request folds into an entry already there.
      await trigger.tick();
      await trigger.tick();
      const held = await scrape();
      assert.equal(one(held, 'workqueue_depth', { ...queue(name), priority: '' }), 1, 'waiting is due; stuck is held, not due');
      assert.equal(one(held, 'reconcile_queue_depth', { controller: name }), 2, "kubeloop's own depth counts the held entry too");
      assert.equal(one(held, 'workqueue_adds_total', queue(name)), 3, 'stuck listed, waiting added, stuck held; the three other requests folded');
      assert.equal(one(held, 'controller_runtime_reconcile_total', { controller: name, result: 'success' }), 0, 'nothing finished yet');

      release.resolve();
      await waiter.until('waiting and stuck again to run', () => running.results.length === 3);
      assert.deepEqual(runs, ['stuck', 'waiting', 'stuck']);
      // The last result comes before its worker is counted free: the gauges are read until they settle.
      await until('the gauges to return to 0', async () => {
        const g = stuckGauges(await scrape());
        return g.active === 0 && g.longest === 0 && g.unfinished === 0 && g.ours === 0;
      });
      const s = await scrape();
      assert.equal(one(s, 'workqueue_depth', { ...queue(name), priority: '' }), 0);
      assert.equal(one(s, 'controller_runtime_reconcile_total', { controller: name, result: 'success' }), 3);
      assert.equal(one(s, 'controller_runtime_reconcile_time_seconds_count', { controller: name }), 3);
      assert.equal(one(s, 'workqueue_work_duration_seconds_count', queue(name)), 3);
      assert.equal(one(s, 'workqueue_queue_duration_seconds_count', queue(name)), 3);
      assert.equal(one(s, 'workqueue_adds_total', queue(name)), 3, 'no add since');
      // stuck's first run took at least the 200 ms the test waited: its work duration says so.
      assert.ok(one(s, 'workqueue_work_duration_seconds_sum', queue(name)) >= 0.2);
    } finally {
      // Also when an assertion failed while stuck still hung: a controller left running would keep the file from ending.
      release.resolve();
      await running.stop();
    }
  });
});
