// The process of the sharding benchmark (bench/sharding/measure.ts): the
// controller of test/fixtures/shard-replica.ts — ConfigMaps labelled app=sharded
// in a namespace, owning their Secrets, concurrency 8, ring timings 6 s / 4 s / 1 s —
// either sharded on ring <ring> as member <identity>, or (ring `-`) without
// sharding, holding and reconciling every object. Each reconcile yields to the
// event loop once (as any reconcile that makes one API call does) and then spends
// <cpu ms> of this process's CPU time (process.cpuUsage, not the wall clock: a
// spin timed by the clock does less work whenever the OS runs something else). It prints the fixture's lines, stamped with the wall clock
// every process on the machine shares:
//
//   identity <id>                      at start (sharded)
//   metrics-port <port>                its probe server (/readyz, /metrics) on 127.0.0.1
//   reconcile <t> <key> <reason> / reconciled <t> <key>
//   sharder <t> on|off / member-lost <t> <reason>      (sharded)
//   heap <t> <bytes> <objects>         on SIGUSR2: heap used after a forced GC (run with --expose-gc), objects cached
//   {…}                                kubeloop's JSON log lines, as KUBELOOP_LOG lets through
//
// Usage: bench-replica.js <namespace> <ring|-> <identity> <cpu ms> [yield|spin]
// `spin` leaves out the yield: every reconcile is then synchronous, and a queue of
// them runs back to back in microtasks, starving the event loop (see bench/README.md).
import { setImmediate as nextTurn } from 'node:timers/promises';
import { Action, Api, Client, ConfigMaps, Controller, ProbeServer, Secrets, ShardRing, currentSpan, loadKubeconfig } from '../../src/index.js';

const [namespace, ringName, identity, work = '20', mode = 'yield'] = process.argv.slice(2) as [string, string, string, string?, string?];
const client = new Client(loadKubeconfig());
const now = () => (performance.timeOrigin + performance.now()).toFixed(1);
const say = (...parts: string[]) => process.stdout.write(`${parts.join(' ')}\n`);
const workMs = Number(work);

let controller = new Controller(Api.namespaced(client, ConfigMaps, namespace), { labelSelector: 'app=sharded' })
  .withConfig({ name: ringName === '-' ? 'unsharded' : `shard-${ringName}`, concurrency: 8 })
  .owns(Api.namespaced(client, Secrets, namespace))
  .shutdownOnSignal();
if (ringName !== '-') {
  const ring = new ShardRing(client, { name: ringName, namespace, identity, leaseDurationMs: 6000, renewDeadlineMs: 4000, retryPeriodMs: 1000 });
  say('identity', ring.identity);
  ring.sharderElector.on('leading', () => say('sharder', now(), 'on'));
  ring.sharderElector.on('lost', () => say('sharder', now(), 'off'));
  ring.member.on('lost', (e) => say('member-lost', now(), e.reason));
  controller = controller.withSharding(ring);
}
const probes = new ProbeServer({ port: 0, host: '127.0.0.1' }).add(controller);
say('metrics-port', String(await probes.listen()));
process.on('SIGUSR2', () => {
  (globalThis as { gc?: () => void }).gc?.();
  say('heap', now(), String(process.memoryUsage().heapUsed), String(controller.store.size));
});
for await (const result of controller.run(
  async (cm) => {
    const key = `${cm.metadata!.namespace}/${cm.metadata!.name}`;
    say('reconcile', now(), key, JSON.stringify(currentSpan()?.logFields()['object.reason']));
    if (mode !== 'spin') await nextTurn();
    // CPU time, not wall time: a spin timed by the clock would do less work whenever the OS runs another process.
    const cpu = () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    };
    const until = cpu() + workMs;
    while (cpu() < until);
    say('reconciled', now(), key);
    return Action.awaitChange();
  },
  () => Action.requeue(200),
  {},
)) {
  if (!result.ok) say('error', now(), JSON.stringify(result.error.message));
}
say('ended', now());
await probes.close();
await client.close();
