/**
 * The probe server's default bind: the kubelet probes the pod's IP, which is IPv6
 * on IPv6 single-stack and IPv6-first clusters, IPv4 elsewhere. No cluster needed.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ProbeServer } from '../../src/index.js';

async function status(url: string): Promise<number | string> {
  try {
    return (await fetch(url)).status;
  } catch (e) {
    return String((e as { cause?: { code?: string } }).cause?.code ?? e);
  }
}

describe('probe server bind address', () => {
  test('by default it answers on IPv6 and IPv4 loopback alike (dual-stack ::)', async () => {
    const probes = new ProbeServer({ port: 0 });
    const port = await probes.listen();
    try {
      assert.equal(await status(`http://[::1]:${port}/livez`), 200, 'IPv6 ::1');
      assert.equal(await status(`http://127.0.0.1:${port}/livez`), 200, 'IPv4 127.0.0.1');
    } finally {
      await probes.close();
    }
  });

  test('an explicit host is honoured: 127.0.0.1 is not reachable over IPv6', async () => {
    const probes = new ProbeServer({ port: 0, host: '127.0.0.1' });
    const port = await probes.listen();
    try {
      assert.equal(await status(`http://127.0.0.1:${port}/livez`), 200);
      assert.equal(await status(`http://[::1]:${port}/livez`), 'ECONNREFUSED');
    } finally {
      await probes.close();
    }
  });
});
