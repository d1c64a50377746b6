import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigMaps, ObjectRef, Store, StoreWriterStoppedError, reflector, type WatcherEvent } from '../../src/index.js';
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import { writerOf } from '../../src/runtime/store.js';

const cm = (name: string, rv = '1'): ConfigMap => ({ metadata: { name, namespace: 'ns', resourceVersion: rv, uid: `uid-${name}` } });

async function* events(list: WatcherEvent<ConfigMap>[]): AsyncGenerator<WatcherEvent<ConfigMap>> {
  for (const e of list) yield e;
}

describe('Store and reflector', () => {
  test('a relist replaces the whole state at initDone: objects not seen since init are gone', async () => {
    const store = new Store(ConfigMaps);
    const seen: number[] = [];
    const stream = reflector(store, events([
      { type: 'init' }, { type: 'initApply', object: cm('a') }, { type: 'initApply', object: cm('b') }, { type: 'initDone' },
      { type: 'apply', object: cm('c') },
      { type: 'init' }, { type: 'initApply', object: cm('a', '2') },
    ]));
    for await (const e of stream) {
      seen.push(store.size);
      if (e.type === 'initApply' && e.object.metadata?.resourceVersion === '2') break;
    }
    assert.deepEqual(seen, [0, 0, 0, 2, 3, 3, 3], 'the buffer is invisible until initDone');
    writerOf(store).apply({ type: 'initDone' });
    assert.deepEqual(store.list().map((o) => o.metadata?.name), ['a']);
    assert.equal(store.get({ name: 'a', namespace: 'ns' })?.metadata?.resourceVersion, '2');
  });

  test('get, find and delete work by reference', async () => {
    const store = new Store(ConfigMaps);
    for await (const _ of reflector(store, events([{ type: 'init' }, { type: 'initApply', object: cm('a') }, { type: 'initApply', object: cm('b') }, { type: 'initDone' }, { type: 'delete', object: cm('a') }]))) {
      // drain
    }
    assert.equal(store.get(ObjectRef.of(ConfigMaps, 'a', 'ns')), undefined);
    assert.equal(store.get(ObjectRef.of(ConfigMaps, 'b', 'ns'))?.metadata?.name, 'b');
    assert.equal(store.find((o) => o.metadata?.uid === 'uid-b')?.metadata?.name, 'b');
    assert.equal(store.size, 1);
  });

  test('waitUntilReady resolves only at the first initDone and stays resolved through later relists', async () => {
    const store = new Store(ConfigMaps);
    let ready = false;
    const waiting = store.waitUntilReady().then(() => (ready = true));
    writerOf(store).apply({ type: 'init' });
    writerOf(store).apply({ type: 'initApply', object: cm('a') });
    await new Promise((r) => setImmediate(r));
    assert.equal(ready, false, 'not ready mid-list');
    writerOf(store).apply({ type: 'initDone' });
    await waiting;
    assert.equal(ready, true);
    writerOf(store).apply({ type: 'init' });
    assert.equal(store.isReady(), true, 'a relist does not make it unready');
    await store.waitUntilReady();
  });

  test('waitUntilReady rejects when the writer stops before the first full list', async () => {
    const store = new Store(ConfigMaps);
    const waiting = store.waitUntilReady();
    for await (const _ of reflector(store, events([{ type: 'init' }, { type: 'initApply', object: cm('a') }]))) {
      // the stream ends mid-list
    }
    await assert.rejects(waiting, StoreWriterStoppedError);
  });

  test("a relist's initDone carries what it changed: new or re-versioned objects, and those gone (a re-created one counts as both)", async () => {
    const store = new Store(ConfigMaps);
    const recreated: ConfigMap = { metadata: { ...cm('d', '9').metadata, uid: 'uid-d-2' } };
    const done: { changed: string[]; removed: string[] }[] = [];
    for await (const e of reflector(store, events([
      { type: 'init' }, { type: 'initApply', object: cm('a') }, { type: 'initApply', object: cm('b') }, { type: 'initApply', object: cm('d') }, { type: 'initDone' },
      { type: 'init' }, { type: 'initApply', object: cm('a') }, { type: 'initApply', object: cm('c') }, { type: 'initApply', object: recreated },
      { type: 'initApply', object: cm('b', '5') }, { type: 'initDone' },
    ]))) {
      if (e.type === 'initDone') {
        const names = (objs: ConfigMap[]) => objs.map((o) => `${o.metadata!.name}@${o.metadata!.uid}`).sort();
        done.push({ changed: names(e.changed), removed: names(e.removed) });
      }
    }
    assert.deepEqual(done, [
      { changed: ['a@uid-a', 'b@uid-b', 'd@uid-d'], removed: [] },
      // a is unchanged (same resourceVersion); b moved on; c is new; d was deleted and created again.
      { changed: ['b@uid-b', 'c@uid-c', 'd@uid-d-2'], removed: ['d@uid-d'] },
    ]);
  });
});
