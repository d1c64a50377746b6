import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { Action, Api, ConfigMaps, Controller } from '../../src/index.js';
import { useCluster } from '../support/cluster.js';
import { runInBackground, signal, Waiter } from '../support/controller.js';

const t = useCluster();
const child = fileURLToPath(new URL('../fixtures/shutdown-child.js', import.meta.url));

/** A child process whose stdout lines can be awaited. */
function startChild(ns: string): { proc: ChildProcess; lines: string[]; line(match: RegExp, timeoutMs?: number): Promise<string>; exit: Promise<{ code: number | null; signal: string | null }> } {
  const proc = spawn(process.execPath, [child, ns], { env: { ...process.env, KUBECONFIG: t.cluster.kubeconfigPath, KUBELOOP_LOG: 'kubeloop::controller=info' }, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines: string[] = [];
  const waiter = new Waiter();
  createInterface({ input: proc.stdout! }).on('line', (l) => {
    lines.push(l);
    waiter.notify();
  });
  const exit = once(proc, 'exit').then(([code, sig]) => ({ code: code as number | null, signal: sig as string | null }));
  return {
    proc,
    lines,
    exit,
    line: async (match, timeoutMs = 20_000) => {
      await waiter.until(`a line matching ${match}`, () => lines.some((l) => match.test(l)), timeoutMs);
      return lines.find((l) => match.test(l))!;
    },
  };
}

describe('shutdown', () => {
  test('graceful shutdown lets the running reconcile finish, starts no new one, then ends the stream', async () => {
    const ns = await t.namespace();
    const api = Api.namespaced(t.client, ConfigMaps, ns);
    await api.create({ metadata: { name: 'slow' } });
    const started = signal();
    const release = signal();
    const abort = new AbortController();
    const seen: string[] = [];
    const waiter = new Waiter();
    const controller = new Controller(api).gracefulShutdownOn(abort.signal);
    const running = runInBackground(controller, async (cm) => {
      seen.push(`start ${cm.metadata!.name}`);
      if (cm.metadata!.name === 'slow') {
        started.resolve();
        await release.promise;
      }
      seen.push(`finish ${cm.metadata!.name}`);
      return Action.requeue(10);
    }, () => Action.awaitChange(), {}, waiter);
    await started.promise;
    abort.abort();
    await api.create({ metadata: { name: 'late' } });
    let ended = false;
    void running.done.then(() => (ended = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(ended, false, 'the stream waits for the running reconcile');
    release.resolve();
    await running.done;
    assert.deepEqual(seen, ['start slow', 'finish slow'], 'no reconcile started after shutdown, not even the requeue');
    assert.equal(running.results.length, 1);
    assert.equal(running.results[0]!.ok, true);
  });

  test('graceful shutdown ends at shutdownDeadlineMs when a reconcile is still running, without waiting for it', async () => {
    const ns = await t.namespace();
    const api = Api.namespaced(t.client, ConfigMaps, ns);
    await api.create({ metadata: { name: 'stuck' } });
    const started = signal();
    const never = new Promise<Action>(() => {});
    const abort = new AbortController();
    const controller = new Controller(api).withConfig({ name: `deadline-${ns}`, shutdownDeadlineMs: 300 }).gracefulShutdownOn(abort.signal);
    const running = runInBackground(controller, () => {
      started.resolve();
      return never;
    }, () => Action.awaitChange(), {});
    await started.promise;
    const stoppedAt = performance.now();
    abort.abort();
    await running.done;
    const tookMs = performance.now() - stoppedAt;
    assert.ok(tookMs >= 290 && tookMs < 2000, `the stream ended ${Math.round(tookMs)} ms after shutdown began, not at the 300 ms deadline`);
    assert.equal(running.results.length, 0, 'the stuck reconcile produced a result');
  });

  test('on SIGTERM a controller process finishes its reconcile and exits on its own (no timer or socket keeps it alive)', async () => {
    const ns = await t.namespace();
    const api = Api.namespaced(t.client, ConfigMaps, ns);
    await api.create({ metadata: { name: 'slow' } });
    const c = startChild(ns);
    try {
      await c.line(/^start slow$/);
      c.proc.kill('SIGTERM');
      await c.line(/shutting down gracefully/);
      await api.create({ metadata: { name: 'late' } });
      c.proc.stdin!.write('release\n');
      const exit = await c.exit;
      assert.deepEqual({ code: exit.code, signal: exit.signal }, { code: 0, signal: null });
      const ours = c.lines.filter((l) => !l.startsWith('{'));
      assert.deepEqual(ours, ['start slow', 'finish slow', 'result ok slow', 'stream ended']);
    } finally {
      c.proc.kill('SIGKILL');
    }
  });

  test('a second signal ends the stream at once, even with a reconcile still hanging, and the process exits on its own', async () => {
    const ns = await t.namespace();
    const api = Api.namespaced(t.client, ConfigMaps, ns);
    await api.create({ metadata: { name: 'slow' } });
    const c = startChild(ns);
    try {
      await c.line(/^start slow$/);
      c.proc.kill('SIGINT');
      await c.line(/shutting down gracefully/);
      assert.ok(!c.lines.includes('stream ended'), 'graceful shutdown waits for the hanging reconcile');
      const t0 = performance.now();
      c.proc.kill('SIGINT');
      const exit = await c.exit;
      const ms = performance.now() - t0;
      assert.deepEqual({ code: exit.code, signal: exit.signal }, { code: 0, signal: null });
      assert.ok(c.lines.includes('stream ended'));
      assert.ok(!c.lines.includes('finish slow'));
      assert.ok(ms < 5000, `exited ${ms.toFixed(0)} ms after the second signal`);
    } finally {
      c.proc.kill('SIGKILL');
    }
  });
});
