/**
 * The reconcile deadline (`reconcileTimeoutMs`), against the real API server: a
 * reconcile whose API call hangs on a stalled proxied connection is aborted at
 * its deadline without passing any signal by hand, its result is a
 * `ReconcileTimeoutError` counted as `error="timeout"`, and the object's slot is
 * freed so that its next reconcile runs.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Action, Api, ConfigMaps, Controller, ReconcileTimeoutError, type Client } from '../../src/index.js';
import { useCluster } from '../support/cluster.js';
import { runInBackground, signal, Waiter } from '../support/controller.js';
import { metricValue } from '../support/metric-value.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { clientVia } from '../support/watch-harness.js';

const t = useCluster();
let proxy: TcpProxy | undefined;
let viaProxy: Client | undefined;
after(async () => {
  await viaProxy?.close();
  await proxy?.close();
});

test('a reconcile whose API call hangs is aborted at its deadline, counted as a timeout, and its object runs again', { timeout: 60_000 }, async () => {
  proxy = await TcpProxy.start({ host: '127.0.0.1', port: Number(new URL(t.cluster.server).port) });
  viaProxy = clientVia(t.cluster, proxy.url);
  const ns = await t.namespace('deadline');
  await Api.namespaced(t.client, ConfigMaps, ns).create({ metadata: { name: 'hangs' }, data: { k: 'v' } });
  const cms = Api.namespaced(viaProxy, ConfigMaps, ns);
  const name = 'deadline-test';
  const timeoutMs = 1_000;

  let attempts = 0;
  const hangingCall: { error?: Error; abortedAfterMs?: number; signalAborted?: boolean } = {};
  const secondRun = signal();
  const waiter = new Waiter();
  const controller = new Controller(Api.namespaced(t.client, ConfigMaps, ns)).withConfig({ name, reconcileTimeoutMs: timeoutMs });
  const running = runInBackground(
    controller,
    async (cm, _ctx, info) => {
      attempts++;
      if (attempts === 1) {
        // The next request's connection swallows its bytes: the call gets no answer.
        proxy!.stallNextRequest();
        const started = performance.now();
        try {
          // A signal of its own, far later than the deadline: the deadline still ends the call.
          await cms.get(cm.metadata!.name!, { signal: AbortSignal.timeout(60_000) });
        } catch (e) {
          hangingCall.error = e as Error;
          hangingCall.abortedAfterMs = performance.now() - started;
          hangingCall.signalAborted = info.signal.aborted;
          waiter.notify();
          throw e;
        }
        throw new Error('the stalled call answered');
      }
      await cms.get(cm.metadata!.name!);
      secondRun.resolve();
      return Action.awaitChange();
    },
    // The error policy sees the timeout and asks for another run at once.
    (_obj, error) => (error instanceof ReconcileTimeoutError ? Action.requeue(0) : Action.awaitChange()),
    {},
    waiter,
  );
  try {
    await waiter.until('the timed-out result', () => running.results.some((r) => !r.ok));
    const failure = running.results.find((r) => !r.ok)!;
    assert.ok(!failure.ok && failure.error instanceof ReconcileTimeoutError, `the result is a ReconcileTimeoutError, not ${!failure.ok ? failure.error.message : 'ok'}`);
    assert.equal(failure.ref?.name, 'hangs');
    assert.match(failure.error.message, /did not finish within its 1000 ms deadline/);
    assert.ok(proxy.counts.stalled >= 1, 'the proxy stalled the request (the fault happened)');

    // The slot was freed: the object's next reconcile ran and reached the server.
    await secondRun.promise;
    assert.equal(attempts, 2);
    await waiter.until('the second reconcile to succeed', () => running.results.some((r) => r.ok && r.ref.name === 'hangs'));

    // The hung call itself was aborted at the deadline, without the reconciler passing a signal.
    await waiter.until('the hung call to reject', () => hangingCall.error !== undefined);
    assert.equal(hangingCall.signalAborted, true, 'info.signal was aborted');
    assert.ok(hangingCall.abortedAfterMs! >= timeoutMs - 50 && hangingCall.abortedAfterMs! < timeoutMs + 5_000, `aborted after ${hangingCall.abortedAfterMs} ms`);
    assert.match(`${hangingCall.error!.name} ${hangingCall.error!.message}`, /abort|deadline/i);

    assert.equal(await metricValue('reconcile_errors_total', { controller: name, error: 'timeout' }), 1);
    assert.equal(await metricValue('reconcile_total', { controller: name, result: 'error' }), 1);
    // The diagnostics page's record says the same, newest first.
    const recent = controller.diagnostics().recent;
    assert.deepEqual(recent.map((r) => r.result), ['success', 'timeout']);
    assert.equal(recent[1]!.object, failure.ref!.key);
  } finally {
    await running.stop();
  }
});
