import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Store, type AdmissionRequest } from '../../src/index.js';
import { Documents, type Document } from '../../examples/document-controller/document.js';
import { uniqueTitleWebhook } from '../../examples/document-controller/unique-title.js';

// The demo's webhook through the API server is in test/demo.test.ts; this is the one case a running operator
// cannot be held in on cue: a cache that has not finished its first list.
test("the demo's unique-title webhook refuses with 503 and a retry message while the operator's cache of Documents is not ready, and never blocks an update that keeps the title", async () => {
  const store = new Store(Documents);
  assert.equal(store.isReady(), false);
  const webhook = uniqueTitleWebhook(store);
  const request = (operation: 'CREATE' | 'UPDATE', title: string, oldTitle?: string): AdmissionRequest<Document> => ({
    uid: 'u', operation, kind: { group: 'example.com', version: 'v1', kind: 'Document' }, resource: { group: 'example.com', version: 'v1', resource: 'documents' },
    name: 'doc', namespace: 'ns', dryRun: false, userInfo: {}, signal: new AbortController().signal,
    object: { apiVersion: 'example.com/v1', kind: 'Document', metadata: { name: 'doc', namespace: 'ns' }, spec: { title } },
    oldObject: oldTitle === undefined ? undefined : { apiVersion: 'example.com/v1', kind: 'Document', metadata: { name: 'doc', namespace: 'ns' }, spec: { title: oldTitle } },
  });
  const created = await webhook.handler(request('CREATE', 'Hello'));
  assert.equal(created.allowed, false);
  assert.ok(!created.allowed);
  assert.equal(created.code, 503);
  assert.match(created.message, /still loading; try again in a few seconds/);
  assert.deepEqual(await webhook.handler(request('UPDATE', 'Hello', 'Hello')), { allowed: true });
  assert.equal((await webhook.handler(request('UPDATE', 'Renamed', 'Hello'))).allowed, false, 'a rename needs the cache too');
});
