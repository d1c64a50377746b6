import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { Api, ConfigMaps, Patch } from '../src/index.js';
import { until, useCluster } from './support/cluster.js';

const t = useCluster();
const example = fileURLToPath(new URL('../examples/configmap-mirror.js', import.meta.url));

test('the configmap-mirror example keeps an owned copy in step and stops cleanly on SIGTERM', async () => {
  const ns = await t.namespace();
  const api = Api.namespaced(t.client, ConfigMaps, ns);
  await api.create({ metadata: { name: 'settings', labels: { 'kubeloop.dev/mirror': 'true' } }, data: { mode: 'fast' } });
  await api.create({ metadata: { name: 'ignored' }, data: { mode: 'slow' } });
  const proc = spawn(process.execPath, [example], { env: { ...process.env, KUBECONFIG: t.cluster.kubeconfigPath, KUBELOOP_LOG: 'warn' }, stdio: 'inherit' });
  const exited = once(proc, 'exit');
  try {
    await until('the mirror', async () => (await api.getOpt('settings-mirror'))?.data?.mode === 'fast');
    await api.patch('settings', Patch.merge({ data: { mode: 'safe' } }));
    await until('the mirror to follow', async () => (await api.getOpt('settings-mirror'))?.data?.mode === 'safe');
    await api.delete('settings-mirror');
    await until('the deleted mirror to come back', async () => (await api.getOpt('settings-mirror'))?.data?.mode === 'safe');
    const mirror = await api.get('settings-mirror');
    assert.equal(mirror.metadata?.ownerReferences?.[0]?.name, 'settings');
    assert.equal(await api.getOpt('ignored-mirror'), undefined);
    proc.kill('SIGTERM');
    const [code] = await exited;
    assert.equal(code, 0);
  } finally {
    proc.kill('SIGKILL');
  }
});
