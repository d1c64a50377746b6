/** Scenario 2: watch throughput — client CPU per event while updates stream to a ready cache. */
import { parallel } from '../admin.js';
import { childOptionsFor, clientGo } from '../contenders/client-go.js';
import { cmName, cmPath, configMaps } from '../data.js';
import { withChild } from '../harness.js';
import type { Contender } from '../protocol.js';
import { info, target, type ScenarioResult } from '../report.js';
import { percentile, ratio } from '../stats.js';
import { med, mono, NS, repeat, rows, task, type Ctx, type Scenario } from './scenario.js';

async function watchThroughput(ctx: Ctx): Promise<ScenarioResult> {
  const go = await clientGo();
  const contenders: Contender[] = ['kubeloop', 'client-node', 'floor', 'floor-http', ...(go.exec ? (['client-go'] as const) : [])];
  const { watchObjects: objects, watchUpdates: updates } = ctx.scale;
  let writeSeconds: number[] = [];
  const runs = await repeat(ctx, 'watch throughput', contenders, (c) =>
    withChild(task(ctx, 'watch', c, NS.watch, { updates }), childOptionsFor(ctx.childOptions, c, go), async (child) => {
      await child.next('ready');
      const base = (ctx.seq += updates);
      const t = mono();
      await parallel(updates, 64, (i) => ctx.admin.mergePatch(cmPath(NS.watch, cmName(i % objects)), { data: { v: String(base + i) } }));
      writeSeconds.push((mono() - t) / 1000);
      return (await child.next('result')).result as Record<string, number>;
    }),
  );
  const rs = rows(runs);
  writeSeconds = writeSeconds.sort((a, b) => a - b);
  return {
    id: 'watch',
    title: `2. Watch throughput, ${updates.toLocaleString('en')} updates to a ready cache of ${objects.toLocaleString('en')}`,
    metrics: [
      { key: 'cpuPerEventUs', label: 'client CPU per event (µs)' },
      { key: 'cpuMs', label: 'client CPU total (ms)' },
      { key: 'eventsPerSecond', label: 'events/s (bounded by the writer)' },
    ],
    rows: rs,
    ratios: [
      target('kubeloop / client-node, CPU per event', ratio(med(rs, 'kubeloop', 'cpuPerEventUs'), med(rs, 'client-node', 'cpuPerEventUs')), 0.8),
      target('kubeloop / floor, CPU per event', ratio(med(rs, 'kubeloop', 'cpuPerEventUs'), med(rs, 'floor', 'cpuPerEventUs')), 1.0),
      info('floor / client-node, CPU per event', ratio(med(rs, 'floor', 'cpuPerEventUs'), med(rs, 'client-node', 'cpuPerEventUs'))),
      info('floor-http / client-node, CPU per event', ratio(med(rs, 'floor-http', 'cpuPerEventUs'), med(rs, 'client-node', 'cpuPerEventUs'))),
      ...(go.exec ? [target('kubeloop / client-go, CPU per event', ratio(med(rs, 'kubeloop', 'cpuPerEventUs'), med(rs, 'client-go', 'cpuPerEventUs')), 1.0)] : []),
    ],
    notes: [
      `The parent process writes the updates (merge patches, 64 in flight; median ${percentile(writeSeconds, 50).toFixed(1)} s per run); the child counts the events its cache applies and measures its own CPU time (process.cpuUsage) from ready to the last event.`,
      'kubeloop: reflector + watcher (every event goes through the watcher, its metrics and the store; events travel in batches of one network chunk). client-node: informer `update` callbacks. floor: one raw undici watch, lines split by hand, `JSON.parse` into a `Map`. ' +
        'floor-http: the same over `node:https` (list and watch), with no undici in the process: the HTTP stack measured apart from everything else.',
      go.exec
        ? "client-go: a Go process with client-go's shared informer (as in the warm-up scenario, watch events in JSON) and `AddFunc`/`UpdateFunc`/`DeleteFunc` handlers counting the events once the initial list's adds were all handed out; " +
          'its CPU time from `getrusage` (user + system, as `process.cpuUsage`) from ready (after two `runtime.GC()`) to the handler call of the last expected event.'
        : `client-go: skipped (${go.skipped ?? 'unknown reason'})`,
    ],
  };
}

export const watchScenario: Scenario = {
  needsCluster: true,
  load: (admin, scale) => configMaps(admin, NS.watch, scale.watchObjects),
  run: async (ctx) => [await watchThroughput(ctx)],
};
