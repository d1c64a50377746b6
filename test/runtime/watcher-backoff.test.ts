/**
 * The watcher's backoff between attempts, against the real API server behind a
 * loopback TCP proxy that cuts and refuses connections: failures in a row back
 * off exponentially, and a success (the first list, an event) starts it over.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import { Api, ConfigMaps, ExponentialBackoff, setLogFilter, watcher, type Backoff, type Client, type WatcherEvent } from '../../src/index.js';
import { useCluster } from '../support/cluster.js';
import { Waiter } from '../support/controller.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { clientVia } from '../support/watch-harness.js';

// The watcher warns on every error; these errors are the point of the test.
if (!process.env.KUBELOOP_LOG) setLogFilter('info,kubeloop::watcher=error');

const t = useCluster();
let proxy: TcpProxy | undefined;
let viaProxy: Client | undefined;
after(async () => {
  await proxy?.close();
  await viaProxy?.close();
});

/** An exponential backoff without jitter that records each delay it hands out and each reset. */
function recording(log: (number | 'reset')[]): () => Backoff {
  return () => {
    const inner = new ExponentialBackoff({ initialMs: 50, maxMs: 1000, jitter: 0 });
    return {
      next: () => {
        const d = inner.next();
        log.push(d);
        return d;
      },
      reset: () => {
        log.push('reset');
        inner.reset();
      },
    };
  };
}

test('failures in a row back off exponentially; an event in between starts the backoff over', async (ctx) => {
  const ns = await t.namespace('backoff');
  const direct = Api.namespaced(t.client, ConfigMaps, ns);
  proxy = await TcpProxy.start({ host: '127.0.0.1', port: Number(new URL(t.cluster.server).port) });
  viaProxy = clientVia(t.cluster, proxy.url);
  const log: (number | 'reset')[] = [];
  const events: WatcherEvent<ConfigMap>[] = [];
  const waiter = new Waiter();
  const abort = new AbortController();
  const done = (async () => {
    for await (const e of watcher(Api.namespaced(viaProxy!, ConfigMaps, ns), { backoff: recording(log), signal: AbortSignal.any([abort.signal, ctx.signal]) })) {
      events.push(e);
      waiter.notify();
    }
  })();
  const errors = () => events.filter((e) => e.type === 'error').length;
  try {
    await waiter.until('the first list', () => events.some((e) => e.type === 'initDone'));
    // Cut, then refuse: the watch and two reconnects fail in a row.
    proxy.block();
    await waiter.until('three errors in a row', () => errors() === 3);
    proxy.unblock();
    // The next reconnect works; an event through it is a success.
    await direct.create({ metadata: { name: 'success' } });
    await waiter.until('an event after the reconnect', () => events.some((e) => e.type === 'apply' && e.object.metadata?.name === 'success'));
    assert.equal(proxy.cutAll(), 1, 'the watch connection was open');
    await waiter.until('the error after the success', () => errors() === 4);
  } finally {
    abort.abort();
    await done;
  }
  assert.deepEqual(log, ['reset', 50, 100, 200, 'reset', 50], 'reset after the list; 50, 100, 200 ms in a row; reset by the event; 50 ms again');
  assert.equal(events.filter((e) => e.type === 'init').length, 1, 'the watch resumed each time, without a relist');
});
