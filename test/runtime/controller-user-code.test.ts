// User code around the controller (predicates, watches() mappers, reconcileAllOn
// triggers) can never take it down, and never silently; the result stream is
// bounded; one name, one running controller.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { describe, test } from 'node:test';
import {
  Action, Api, ConfigMaps, Controller, ControllerError, ObjectNotFoundError, ObjectRef, Secrets, type ReconcileResult,
} from '../../src/index.js';
import { until, useCluster } from '../support/cluster.js';
import { runInBackground, signal, Waiter } from '../support/controller.js';
import { metricValue } from '../support/metric-value.js';

const t = useCluster();

const triggerErrors = (r: ReconcileResult[]) => r.filter((x) => !x.ok && x.error.code === 'ERR_TRIGGER');
const stoppedTriggers = (r: ReconcileResult[]) => r.filter((x) => !x.ok && x.error.code === 'ERR_TRIGGER_STOPPED');

describe('user code that throws never takes the controller down', () => {
  test('a predicate that throws costs one error result for that event; later events still reconcile', async () => {
    const ns = await t.namespace();
    const cms = Api.namespaced(t.client, ConfigMaps, ns);
    const reconciled: string[] = [];
    const waiter = new Waiter();
    const name = `pred-${ns}`;
    const controller = new Controller(cms, {
      predicate: (cm) => {
        if (cm.metadata?.labels?.bad === 'yes') throw new Error('predicate exploded');
        return cm.metadata?.resourceVersion;
      },
    }).withConfig({ name });
    const running = runInBackground(controller, (cm) => {
      reconciled.push(cm.metadata!.name!);
      waiter.notify();
      return Action.awaitChange();
    }, () => Action.awaitChange(), {}, waiter);
    await cms.create({ metadata: { name: 'bad', labels: { bad: 'yes' } } });
    await waiter.until('the trigger error result', () => triggerErrors(running.results).length === 1);
    await cms.create({ metadata: { name: 'good' } });
    await waiter.until('the object created after the throw to be reconciled', () => reconciled.includes('good'));
    await running.stop();
    const [failure] = triggerErrors(running.results);
    assert.ok(failure && !failure.ok && failure.error instanceof ControllerError);
    assert.match(failure.error.message, /configmaps trigger threw on one event, which was skipped: predicate exploded/);
    assert.deepEqual(reconciled, ['good'], 'the object whose predicate threw was reconciled anyway');
    assert.equal(await metricValue('trigger_errors_total', { controller: name, source: 'configmaps', kind: 'threw' }), 1);
  });

  test('a watches() mapper that throws skips that event; the source keeps mapping later ones', async () => {
    const ns = await t.namespace();
    const cms = Api.namespaced(t.client, ConfigMaps, ns);
    const secrets = Api.namespaced(t.client, Secrets, ns);
    await cms.create({ metadata: { name: 'target' } });
    const reasons: string[] = [];
    const waiter = new Waiter();
    const controller = new Controller(cms).withConfig({ name: `mapper-${ns}` }).watches(secrets, (s) => {
      if (s.metadata?.name === 'boom') throw new Error('mapper exploded');
      return [ObjectRef.of(ConfigMaps, 'target', ns)];
    });
    const running = runInBackground(controller, (cm) => {
      reasons.push(`${cm.metadata!.name}`);
      waiter.notify();
      return Action.awaitChange();
    }, () => Action.awaitChange(), {}, waiter);
    await waiter.until('the first reconcile of target', () => reasons.length === 1);
    await secrets.create({ metadata: { name: 'boom' }, stringData: { k: 'v' } });
    await waiter.until('the mapper error result', () => triggerErrors(running.results).length === 1);
    await secrets.create({ metadata: { name: 'fine' }, stringData: { k: 'v' } });
    await waiter.until('target reconciled for the secret created after the throw', () => reasons.length === 2);
    await running.stop();
    const [failure] = triggerErrors(running.results);
    assert.match(failure!.ok ? '' : failure!.error.message, /secrets \(watched\) trigger threw on one event.*mapper exploded/);
    assert.equal(stoppedTriggers(running.results).length, 0);
  });

  test('a reconcileAllOn trigger that throws is reported as stopped and fails /livez', async () => {
    const ns = await t.namespace();
    const cms = Api.namespaced(t.client, ConfigMaps, ns);
    await cms.create({ metadata: { name: 'one' } });
    const fired = signal();
    async function* trigger() {
      yield 'tick';
      await fired.promise;
      throw new Error('trigger exploded');
    }
    const waiter = new Waiter();
    const bulk: string[] = [];
    const controller = new Controller(cms).withConfig({ name: `bulk-${ns}` }).reconcileAllOn(trigger()).serveProbes({ port: 0, host: '127.0.0.1' });
    const running = runInBackground(controller, (cm) => {
      bulk.push(cm.metadata!.name!);
      waiter.notify();
      return Action.awaitChange();
    }, () => Action.awaitChange(), {}, waiter);
    await waiter.until('a reconcile', () => bulk.length >= 1);
    const livez = async () => {
      const res = await fetch(`http://127.0.0.1:${controller.probes!.port}/livez`);
      return { status: res.status, body: await res.text() };
    };
    assert.equal((await livez()).status, 200, '/livez failed before the trigger stopped');
    fired.resolve();
    await waiter.until('the stopped-trigger result', () => stoppedTriggers(running.results).length === 1);
    const after = await livez();
    await running.stop();
    assert.equal(after.status, 503);
    assert.match(after.body, /reconcileAllOn #1 trigger stopped for good: trigger exploded/);
  });

  test('a plain trigger iterator that never answers again is closed when the run ends, and does not hold the stream open', async () => {
    const ns = await t.namespace();
    const cms = Api.namespaced(t.client, ConfigMaps, ns);
    let closed = false;
    const pulled = signal();
    const silent: AsyncIterable<unknown> = {
      [Symbol.asyncIterator]: () => ({
        next: () => {
          pulled.resolve();
          return new Promise<IteratorResult<unknown>>(() => {});
        },
        return: () => {
          closed = true;
          return Promise.resolve({ done: true, value: undefined });
        },
      }),
    };
    const controller = new Controller(cms).withConfig({ name: `silent-${ns}` }).reconcileAllOn(silent);
    const running = runInBackground(controller, () => Action.awaitChange(), () => Action.awaitChange(), {});
    await pulled.promise; // the controller waits on the trigger now
    await running.stop();
    assert.equal(closed, true, "the trigger's return() was not called");
  });

  test('a reconcileAllOn trigger on a timer does not keep the process alive after run() ends', { timeout: 60_000 }, async () => {
    const ns = await t.namespace();
    await Api.namespaced(t.client, ConfigMaps, ns).create({ metadata: { name: 'one' } });
    const child = spawn(process.execPath, [new URL('../fixtures/trigger-child.js', import.meta.url).pathname, ns], {
      env: { ...process.env, KUBECONFIG: t.cluster.kubeconfigPath },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines: string[] = [];
    createInterface({ input: child.stdout! }).on('line', (l) => lines.push(l));
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    const deadline = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const [code, sig] = await exited;
    clearTimeout(deadline);
    assert.ok(lines.includes('reconcile bulk reconcile requested'), `the trigger never fired: ${lines.join(' | ')}`);
    assert.ok(lines.includes('stream ended'), `the child's stream did not end: ${lines.join(' | ')}`);
    assert.equal(sig, null, 'the child had to be killed: something kept it alive after run() ended');
    assert.equal(code, 0);
  });
});

describe('the result stream and controller identity', () => {
  test('a consumer that stops reading holds back new reconciles at resultBufferSize, and they resume when it reads', async () => {
    const ns = await t.namespace();
    const cms = Api.namespaced(t.client, ConfigMaps, ns);
    await cms.create({ metadata: { name: 'busy' } });
    let reconciles = 0;
    const waiter = new Waiter();
    const controller = new Controller(cms).withConfig({ name: `bounded-${ns}`, resultBufferSize: 20 });
    const abort = new AbortController();
    controller.gracefulShutdownOn(abort.signal);
    const stream = controller.run(() => {
      reconciles++;
      waiter.notify();
      return Action.requeue(1);
    }, () => Action.awaitChange(), {});
    await stream.next(); // the first result; then the consumer stops reading
    // One result taken and 20 waiting: the 21st reconcile is the last to start.
    await waiter.until('the buffer to fill', () => reconciles >= 21);
    // Unbounded, requeue(1) would reconcile hundreds of times in this window.
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(reconciles, 21, 'reconciles went on while nobody read the results');
    for (let i = 0; i < 60; i++) await stream.next();
    assert.ok(reconciles >= 61, `reconciles did not resume once the consumer read: ${reconciles}`);
    abort.abort();
    for await (const _ of stream) { /* drain to the end */ }
  });

  test('a second controller with a name already running is refused at start with one clear sentence', async () => {
    const ns = await t.namespace();
    const cms = Api.namespaced(t.client, ConfigMaps, ns);
    const name = `dup-${ns}`;
    const first = runInBackground(new Controller(cms).withConfig({ name }), () => Action.awaitChange(), () => Action.awaitChange(), {});
    const second = new Controller(cms).withConfig({ name }).run(() => Action.awaitChange(), () => Action.awaitChange(), {});
    await assert.rejects(second.next(), {
      code: 'ERR_DUPLICATE_CONTROLLER',
      message: `a controller named ${name} is already running in this process; give each one its own name with withConfig({ name }).`,
    });
    await first.stop();
    // Once the first has ended, the name is free again.
    const third = runInBackground(new Controller(cms).withConfig({ name }), () => Action.awaitChange(), () => Action.awaitChange(), {});
    await third.stop();
    assert.equal(third.results.filter((r) => !r.ok).length, 0);
  });

  test('an object deleted while queued is an object_not_found error but not a failed reconcile', async () => {
    const ns = await t.namespace();
    const cms = Api.namespaced(t.client, ConfigMaps, ns);
    await cms.create({ metadata: { name: 'blocker' } });
    const name = `miss-${ns}`;
    const release = signal();
    const waiter = new Waiter();
    const started: string[] = [];
    const controller = new Controller(cms).withConfig({ name, concurrency: 1 });
    const running = runInBackground(controller, async (cm) => {
      started.push(cm.metadata!.name!);
      waiter.notify();
      if (cm.metadata!.name === 'blocker') await release.promise;
      return Action.awaitChange();
    }, () => Action.awaitChange(), {}, waiter);
    await waiter.until('the blocker to start', () => started.includes('blocker'));
    await cms.create({ metadata: { name: 'fleeting' } });
    await until('fleeting to be queued behind the blocker', () => controller.queue().depth === 1, 10_000, 10);
    await cms.delete('fleeting');
    await until('the delete to reach the store', () => controller.store.get({ name: 'fleeting', namespace: ns }) === undefined, 10_000, 10);
    release.resolve();
    await waiter.until('the ObjectNotFound result', () => running.results.some((r) => !r.ok && r.error instanceof ObjectNotFoundError));
    await running.stop();
    assert.deepEqual(started, ['blocker'], 'the deleted object was reconciled');
    assert.equal(await metricValue('reconcile_errors_total', { controller: name, error: 'object_not_found' }), 1);
    assert.equal(await metricValue('reconcile_total', { controller: name, result: 'error' }), 0, 'a store miss was counted as a failed reconcile');
    assert.equal(await metricValue('reconcile_total', { controller: name, result: 'success' }), 1);
  });
});
