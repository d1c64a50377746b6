import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import { Action, Api, ApiError, ConfigMaps, Controller, Events, Recorder, finalizer, objectReference } from '../../src/index.js';
import { until, useCluster } from '../support/cluster.js';
import { runInBackground, Waiter } from '../support/controller.js';

const t = useCluster();
const FINALIZER = 'kubeloop.test/cleanup';

describe('finalizer and recorder against a real API server', () => {
  test('the finalizer is added on the first reconcile, cleanup runs on delete, and the object goes only after cleanup succeeded', async () => {
    const ns = await t.namespace();
    const api = Api.namespaced(t.client, ConfigMaps, ns);
    await api.create({ metadata: { name: 'guarded' } });
    const log: string[] = [];
    let cleanupFailuresLeft = 2;
    const waiter = new Waiter();
    const running = runInBackground(new Controller(api), (cm: ConfigMap) =>
      finalizer(api, FINALIZER, cm, {
        apply: async () => {
          log.push('apply');
          waiter.notify();
          return Action.awaitChange();
        },
        cleanup: async () => {
          if (cleanupFailuresLeft-- > 0) {
            log.push('cleanup failed');
            waiter.notify();
            throw new Error('the external resource is still busy');
          }
          log.push('cleanup');
          waiter.notify();
          return Action.awaitChange();
        },
      }), () => Action.requeue(50), {});
    await waiter.until('apply after the finalizer was added', () => log.includes('apply'));
    assert.deepEqual((await api.get('guarded')).metadata?.finalizers, [FINALIZER]);
    await api.delete('guarded');
    await waiter.until('two failed cleanups', () => log.filter((l) => l === 'cleanup failed').length === 2);
    const held = await api.get('guarded');
    assert.ok(held.metadata?.deletionTimestamp, 'deletion started');
    assert.deepEqual(held.metadata?.finalizers, [FINALIZER], 'a failing cleanup keeps the finalizer');
    await waiter.until('the successful cleanup', () => log.includes('cleanup'));
    await until('the object to be gone', async () => (await api.getOpt('guarded')) === undefined);
    await running.stop();
    assert.deepEqual(log, ['apply', 'cleanup failed', 'cleanup failed', 'cleanup']);
  });

  test('the finalizer keeps other finalizers and does not run cleanup for an object that never carried it', async () => {
    const ns = await t.namespace();
    const api = Api.namespaced(t.client, ConfigMaps, ns);
    const cm = await api.create({ metadata: { name: 'shared', finalizers: ['other.io/keep'] } });
    let cleanups = 0;
    const first = await finalizer(api, FINALIZER, cm, { apply: () => Action.awaitChange(), cleanup: () => (cleanups++, Action.awaitChange()) });
    assert.equal(first.requeueAfterMs, undefined);
    assert.deepEqual((await api.get('shared')).metadata?.finalizers, ['other.io/keep', FINALIZER]);
    // A stale copy (without our finalizer) is refused by the guard instead of clobbering the list.
    const refused = await finalizer(api, FINALIZER, cm, { apply: () => Action.awaitChange(), cleanup: () => Action.awaitChange() }).then(() => undefined, (e: unknown) => e);
    assert.ok(refused instanceof ApiError && refused.code === 422 && refused.reason === 'Invalid', `expected the server to refuse the patch whose test failed (422 Invalid), got ${String(refused)}`);
    assert.deepEqual((await api.get('shared')).metadata?.finalizers, ['other.io/keep', FINALIZER], 'the list the stale copy saw was not written back');
    await api.patch('shared', { type: 'json', ops: [{ op: 'remove', path: '/metadata/finalizers/1' }] });
    await api.delete('shared');
    const deleting = await api.get('shared');
    await finalizer(api, FINALIZER, deleting, { apply: () => Action.awaitChange(), cleanup: () => (cleanups++, Action.awaitChange()) });
    assert.equal(cleanups, 0);
    assert.deepEqual((await api.get('shared')).metadata?.finalizers, ['other.io/keep']);
  });

  test('the recorder folds the same event twice into one Event with a series count of 2', async () => {
    const ns = await t.namespace();
    const api = Api.namespaced(t.client, ConfigMaps, ns);
    const cm = await api.create({ metadata: { name: 'observed' } });
    const recorder = new Recorder(t.client, { controller: 'kubeloop.test/recorder', instance: 'test-1' });
    const ref = objectReference(ConfigMaps, cm);
    const spec = { type: 'Warning' as const, reason: 'Refused', action: 'Reconciling', note: 'the title is empty' };
    await recorder.publish(spec, ref);
    await recorder.publish(spec, ref);
    await recorder.publish({ ...spec, note: 'another problem' }, ref);
    const events = (await Api.namespaced(t.client, Events, ns).list()).items;
    const same = events.filter((e) => e.note === 'the title is empty');
    assert.equal(same.length, 1, 'one Event for the repeated event');
    assert.equal(same[0]!.series?.count, 2);
    assert.equal(same[0]!.regarding?.uid, cm.metadata!.uid);
    assert.equal(same[0]!.reportingController, 'kubeloop.test/recorder');
    assert.equal(events.length, 2, 'a different note is a different event');
    await recorder.publish(spec, ref);
    const again = await Api.namespaced(t.client, Events, ns).get(same[0]!.metadata!.name!);
    assert.equal(again.series?.count, 3);
  });
});
