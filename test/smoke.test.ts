import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Api, ConfigMaps } from '../src/index.js';
import { useCluster } from './support/cluster.js';

const t = useCluster();

test('a ConfigMap created through Api can be read back', async () => {
  const ns = await t.namespace();
  const api = Api.namespaced(t.client, ConfigMaps, ns);
  await api.create({ metadata: { name: 'smoke' }, data: { a: '1' } });
  assert.deepEqual((await api.get('smoke')).data, { a: '1' });
});
