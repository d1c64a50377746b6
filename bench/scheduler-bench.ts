/**
 * Scenario 5: the controller's scheduler with N entries at random delays — the
 * cost of a push and of a pop (with the `finish` the controller calls after each
 * run), and the heap each queued entry takes. For reference, the same entries as
 * one `setTimeout` each, which is how a reconcile is requeued in a hand-written
 * client-node controller.
 */
import { Scheduler } from 'kubeloop';
import { cpuMs, fullGc, heapUsed } from './child-io.js';
import type { ChildTask } from './protocol.js';

const nowNs = () => process.hrtime.bigint();

export async function schedulerBench(task: ChildTask): Promise<Record<string, number>> {
  const n = task.scale.schedulerEntries;
  const maxDelay = task.scale.schedulerMaxDelayMs;
  const keys = Array.from({ length: n }, (_, i) => `ConfigMap.v1./object-${i}.bench`);
  const delays = Float64Array.from({ length: n }, () => Math.random() * maxDelay);
  return task.contender === 'kubeloop' ? kubeloop(keys, delays) : timers(keys, delays, maxDelay);
}

async function kubeloop(keys: string[], delays: Float64Array): Promise<Record<string, number>> {
  const n = keys.length;
  await fullGc();
  const heap0 = heapUsed();
  const scheduler = new Scheduler<string>();
  const t0 = nowNs();
  for (let i = 0; i < n; i++) scheduler.push({ key: keys[i]!, item: keys[i]!, runAt: delays[i]!, reason: 'object updated' }, 0);
  const pushNs = Number(nowNs() - t0) / n;
  await fullGc();
  const heap1 = heapUsed();
  if (scheduler.depth !== n) throw new Error(`scheduler depth ${scheduler.depth}, expected ${n}`);
  let last = -1;
  let popped = 0;
  const t1 = nowNs();
  for (;;) {
    const entry = scheduler.pop(Number.POSITIVE_INFINITY);
    if (!entry) break;
    if (entry.runAt < last) throw new Error('the scheduler popped out of order');
    last = entry.runAt;
    scheduler.finish(entry.key);
    popped++;
  }
  const popNs = Number(nowNs() - t1) / n;
  if (popped !== n) throw new Error(`popped ${popped} of ${n}`);
  return { pushNs, popNs, heapBytesPerEntry: (heap1 - heap0) / n };
}

async function timers(keys: string[], delays: Float64Array, maxDelay: number): Promise<Record<string, number>> {
  const n = keys.length;
  let fired = 0;
  let resolveAll!: () => void;
  const all = new Promise<void>((r) => (resolveAll = r));
  const run = (_key: string) => {
    if (++fired === n) resolveAll();
  };
  await fullGc();
  const heap0 = heapUsed();
  const t0 = nowNs();
  for (let i = 0; i < n; i++) setTimeout(run, delays[i]!, keys[i]!);
  const pushNs = Number(nowNs() - t0) / n;
  const cpu0 = cpuMs();
  // Measured before the first timer can fire (the loop above took far less than the shortest delays… mostly:
  // a few may fire during the GC; their memory is then simply not counted).
  await fullGc();
  const heap1 = heapUsed();
  await Promise.race([all, new Promise((r) => setTimeout(r, maxDelay + 10_000))]);
  if (fired !== n) throw new Error(`${fired} of ${n} timers fired`);
  // Firing is spread over maxDelay ms: its cost is the CPU time spent, not the wall time.
  const popNs = ((cpuMs() - cpu0) * 1e6) / n;
  return { pushNs, popNs, heapBytesPerEntry: (heap1 - heap0) / n };
}
