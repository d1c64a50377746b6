import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Api, ConfigMaps, watcherBatches, type WatcherConfig } from '../../src/index.js';
import { useCluster } from '../support/cluster.js';

const t = useCluster();
const COUNT = 1200;
const names = Array.from({ length: COUNT }, (_, i) => `cm-${String(i).padStart(4, '0')}`);

/** Runs `fn` over `items` with at most `limit` calls in flight. */
async function inPool<T>(items: T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: limit }, worker));
}

// Filled once, by whichever test runs first (a root-level before() would not wait for the cluster).
let filled: Promise<string> | undefined;
function filledNamespace(): Promise<string> {
  filled ??= (async () => {
    const ns = await t.namespace('paging');
    const api = Api.namespaced(t.client, ConfigMaps, ns);
    await inPool(names, 20, (name) => api.create({ metadata: { name, labels: { set: 'paging' } }, data: { name } }));
    return ns;
  })();
  return filled;
}

test('listAll with page size 500 returns all 1,200 objects exactly once', async () => {
  const ns = await filledNamespace();
  const api = Api.namespaced(t.client, ConfigMaps, ns);
  const { items, resourceVersion } = await api.listAll({ pageSize: 500 });
  assert.equal(items.length, COUNT);
  const seen = items.map((c) => c.metadata?.name ?? '');
  assert.equal(new Set(seen).size, COUNT, 'no object is returned twice');
  assert.deepEqual([...seen].sort(), names, 'every object created is returned');
  assert.ok(items.every((c) => c.data?.name === c.metadata?.name), 'items are whole objects');
  assert.match(resourceVersion, /^\d+$/, 'the list carries a resourceVersion to watch from');

  // The same through the all-namespaces scope, narrowed by a label selector.
  const across = await Api.all(t.client, ConfigMaps).listAll({ pageSize: 500, labelSelector: 'set=paging' });
  assert.equal(new Set(across.items.map((c) => `${c.metadata?.namespace}/${c.metadata?.name}`)).size, COUNT);
});

test('list with limit 500 answers pages of 500 linked by continue tokens', async () => {
  const ns = await filledNamespace();
  const api = Api.namespaced(t.client, ConfigMaps, ns);
  const sizes: number[] = [];
  const seen = new Set<string>();
  let cont: string | undefined;
  let first = true;
  do {
    const page = await api.list({ limit: 500, continue: cont });
    sizes.push(page.items.length);
    for (const c of page.items) seen.add(c.metadata!.name!);
    if (first) {
      assert.ok(page.metadata.continue, 'the first page has a continue token');
      assert.equal(page.metadata.remainingItemCount, COUNT - 500, 'the server says how many remain');
      first = false;
    }
    cont = page.metadata.continue || undefined;
  } while (cont);
  assert.deepEqual(sizes, [500, 500, 200]);
  assert.equal(seen.size, COUNT);

  const metadataOnly = await api.listMetadata({ limit: 500 });
  assert.equal(metadataOnly.items.length, 500);
  assert.equal(metadataOnly.kind, 'PartialObjectMetadataList');
  assert.equal((metadataOnly.items[0] as { data?: unknown }).data, undefined, 'a metadata-only page carries no data');
});

test("the watcher's first page is 500 objects and the next is sized by bytes (here: the rest at once); a fixed pageSize pages evenly", async () => {
  const ns = await filledNamespace();
  const api = Api.namespaced(t.client, ConfigMaps, ns);
  // A list page is one batch of initApply events.
  const pagesOf = async (config: WatcherConfig) => {
    const abort = new AbortController();
    const pages: number[] = [];
    for await (const batch of watcherBatches(api, { ...config, signal: abort.signal })) {
      const applied = batch.filter((e) => e.type === 'initApply').length;
      if (applied > 0) pages.push(applied);
      if (batch.some((e) => e.type === 'initDone')) abort.abort();
    }
    return pages;
  };
  // These objects are ~300 bytes of JSON: 2 MiB is far more than the 700 left after the first page.
  assert.deepEqual(await pagesOf({}), [500, 700]);
  assert.deepEqual(await pagesOf({ pageSize: 250 }), [250, 250, 250, 250, 200]);
});
