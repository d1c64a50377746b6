/**
 * One measurement in a process of its own. The parent sends a task; the child
 * runs one contender through one scenario and sends back its figures.
 */
import { cpuMs, cpuSplit, fullGc, heapUsed, listen, markWindow, monoMs, receive, send, sleep, until } from './child-io.js';
import type { Contender } from './contenders/types.js';
import type { ChildTask } from './protocol.js';
import type { Widget } from './widgets.js';

async function load(task: ChildTask): Promise<Contender> {
  // Only the contender under test is loaded, so no other library's modules sit in this heap.
  switch (task.contender) {
    case 'kubeloop':
    case 'kubeloop-tuned':
    case 'kubeloop-any':
      return (await import('./contenders/kubeloop.js')).setup(task);
    case 'client-node':
      return (await import('./contenders/client-node.js')).setup(task);
    case 'floor':
      return (await import('./contenders/floor.js')).setup(task);
    case 'floor-http':
      return (await import('./contenders/floor-http.js')).setup(task);
    default:
      throw new Error(`no contender named ${task.contender}`);
  }
}

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`this contender has no ${what}`);
  return value;
}

/** Scenario 1: time until the cache is ready, CPU spent, heap retained per object, peak RSS. */
async function warmup(task: ChildTask, impl: Contender): Promise<Record<string, number>> {
  const objects = Number(task.params.objects);
  await fullGc();
  const heap0 = heapUsed();
  const cpu0 = cpuMs();
  const t0 = monoMs();
  const cache = await need(impl.cache, 'cache')(task.namespace, { watch: task.contender !== 'floor' });
  const readyMs = monoMs() - t0;
  const cpu = cpuMs() - cpu0;
  markWindow(t0, t0 + readyMs);
  await fullGc();
  const heap1 = heapUsed();
  const size = cache.size();
  if (size !== objects) throw new Error(`the cache holds ${size} objects, not ${objects}`);
  // The process's peak resident set so far (getrusage's ru_maxrss, KiB), start-up included.
  const peakRssMB = process.resourceUsage().maxRSS / 1024;
  await cache.stop();
  return { readyMs, cpuMs: cpu, heapBytesPerObject: (heap1 - heap0) / objects, heapMB: (heap1 - heap0) / 2 ** 20, peakRssMB };
}

/** Scenario 2: CPU per event while a stream of updates reaches a ready cache. */
async function watch(task: ChildTask, impl: Contender): Promise<Record<string, number>> {
  const expected = Number(task.params.updates);
  let count = 0;
  let first = 0;
  let end = { cpu: 0, t: 0, split: { user: 0, system: 0 } };
  const cache = await need(impl.cache, 'cache')(task.namespace, {
    watch: true,
    onChange: () => {
      count++;
      if (count === 1) first = monoMs();
      if (count === expected) end = { cpu: cpuMs(), t: monoMs(), split: cpuSplit() };
    },
  });
  await fullGc();
  const cpu0 = cpuMs();
  const split0 = cpuSplit();
  const t0 = monoMs();
  send({ type: 'ready' });
  await until(`${expected} watch events (${count} so far)`, () => count >= expected, 600_000, 10);
  markWindow(t0, end.t);
  await cache.stop();
  return {
    events: count,
    cpuPerEventUs: ((end.cpu - cpu0) * 1000) / expected,
    cpuMs: end.cpu - cpu0,
    userPerEventUs: ((end.split.user - split0.user) * 1000) / expected,
    systemPerEventUs: ((end.split.system - split0.system) * 1000) / expected,
    eventsPerSecond: (expected - 1) / ((end.t - first) / 1000),
  };
}

/** Scenario 3: a reconciler that reads the object and patches its status, under a burst of updates. */
async function burst(task: ChildTask, impl: Contender): Promise<Record<string, number>> {
  const ops = need(impl.widgetOps, 'widget client')(task.namespace);
  const c = { reconciles: 0, calls: 0, patches: 0, errors: 0 };
  let active = 0;
  let lastActivity = monoMs();
  let maxSameObject = 0;
  const perObject = new Map<string, number>();
  const reconcile = async (obj: Widget) => {
    const name = obj.metadata!.name!;
    const running = (perObject.get(name) ?? 0) + 1;
    perObject.set(name, running);
    maxSameObject = Math.max(maxSameObject, running);
    c.reconciles++;
    active++;
    try {
      c.calls++;
      const fresh = await ops.get(name);
      if (fresh.status?.observed !== fresh.spec.value) {
        c.calls++;
        c.patches++;
        await ops.patchStatus(name, fresh.spec.value);
      }
    } catch {
      c.errors++;
    } finally {
      active--;
      perObject.set(name, perObject.get(name)! - 1);
      lastActivity = monoMs();
    }
  };
  const quiet = (ms: number, what: string) => until(what, () => active === 0 && monoMs() - lastActivity >= ms, 120_000, 20);
  const ctrl = await need(impl.controller, 'controller')(task.namespace, 'widgets', reconcile);
  // Long enough for a debounced first reconcile to have started.
  const settleMs = Number(task.params.settleMs ?? 1000);
  await sleep(settleMs);
  await quiet(settleMs, 'the first reconciles to settle');
  send({ type: 'ready' });
  await receive('go');
  Object.assign(c, { reconciles: 0, calls: 0, patches: 0, errors: 0 });
  maxSameObject = 0;
  send({ type: 'going' });
  const t0 = monoMs();
  await receive('converged');
  markWindow(t0, monoMs());
  const atConvergence = { ...c };
  await quiet(settleMs, 'the reconciles after convergence to settle');
  await ctrl.stop();
  return {
    reconcilesToConverge: atConvergence.reconciles,
    callsToConverge: atConvergence.calls,
    reconciles: c.reconciles,
    apiCalls: c.calls,
    statusPatches: c.patches,
    errors: c.errors,
    maxConcurrentSameObject: maxSameObject,
  };
}

/** Scenario 4: when each reconcile starts, by object and value, on the machine-wide monotonic clock. */
async function latency(task: ChildTask, impl: Contender): Promise<{ records: [string, number, number][] }> {
  const records: [string, number, number][] = [];
  let recording = false;
  const reconcile = async (obj: { metadata: { name: string }; data?: { v?: string } }) => {
    if (recording) records.push([obj.metadata.name, Number(obj.data?.v ?? -1), monoMs()]);
  };
  const ctrl = await need(impl.controller, 'controller')(task.namespace, 'configmaps', reconcile);
  await sleep(1000);
  recording = true;
  const t0 = monoMs();
  send({ type: 'ready' });
  await receive('stop');
  markWindow(t0, monoMs());
  await ctrl.stop();
  return { records };
}

async function main(): Promise<void> {
  listen();
  const { task } = (await receive('task')) as unknown as { task: ChildTask };
  let result: unknown;
  switch (task.scenario) {
    case 'warmup':
    case 'watch':
    case 'burst':
    case 'latency': {
      const contender = await load(task);
      const run = { warmup, watch, burst, latency }[task.scenario];
      result = await run(task, contender);
      await contender.close();
      break;
    }
    case 'scheduler':
      result = await (await import('./scheduler-bench.js')).schedulerBench(task);
      break;
    case 'observability':
      result = await (await import('./observability-bench.js')).observabilityBench(task);
      break;
    case 'cache-sharing':
      result = await (await import('./cache-sharing-bench.js')).cacheSharingBench(task);
      break;
    case 'cache-memory':
      result = await (await import('./cache-memory-bench.js')).cacheMemoryBench(task);
      break;
  }
  send({ type: 'result', result });
  // The parent says when to go (or disconnects); lingering handles must not keep us alive.
  await Promise.race([receive('exit'), sleep(5000)]);
  process.exit(0);
}

main().catch((e: Error) => {
  send({ type: 'error', message: e.stack ?? e.message });
  setTimeout(() => process.exit(1), 100);
});
