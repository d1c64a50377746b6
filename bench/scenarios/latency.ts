/** Scenario 4: change-to-reconcile latency at a steady write rate. */
import { cmName, cmPath, configMaps } from '../data.js';
import { withChild } from '../harness.js';
import type { Contender } from '../protocol.js';
import { info, target, type ScenarioResult } from '../report.js';
import { percentile, ratio } from '../stats.js';
import { med, mono, NS, repeat, rows, sleep, task, type Ctx, type Scenario } from './scenario.js';

async function latency(ctx: Ctx): Promise<ScenarioResult> {
  const contenders: Contender[] = ['kubeloop', 'client-node'];
  const { latencyObjects: objects, latencyRate: rate, latencySeconds: seconds } = ctx.scale;
  const total = rate * seconds;
  const runs = await repeat(ctx, 'latency', contenders, (c) =>
    withChild(task(ctx, 'latency', c, NS.latency), ctx.childOptions, async (child) => {
      await child.next('ready');
      const base = (ctx.seq += total);
      const writes: { name: string; v: number; t: number }[] = [];
      const inflight: Promise<void>[] = [];
      const t0 = mono();
      let lateStarts = 0;
      for (let k = 0; k < total; k++) {
        const due = t0 + (k * 1000) / rate;
        const wait = due - mono();
        if (wait > 0) await sleep(wait);
        else if (wait < -5) lateStarts++;
        const name = cmName(k % objects);
        const v = base + k;
        inflight.push(ctx.admin.mergePatch(cmPath(NS.latency, name), { data: { v: String(v) } }).then(() => void writes.push({ name, v, t: mono() })));
      }
      await Promise.all(inflight);
      const achievedRate = total / ((mono() - t0) / 1000);
      await sleep(1000);
      child.send({ type: 'stop' });
      const { records } = (await child.next('result')).result as { records: [string, number, number][] };
      const byName = new Map<string, [number, number][]>();
      for (const [name, v, t] of records) (byName.get(name) ?? byName.set(name, []).get(name)!).push([v, t]);
      const latencies: number[] = [];
      let missed = 0;
      let early = 0;
      for (const w of writes) {
        // The first reconcile that saw this write (or a later one) of the same object.
        const seen = (byName.get(w.name) ?? []).filter(([v]) => v >= w.v).map(([, t]) => t);
        if (seen.length === 0) {
          missed++;
          continue;
        }
        const d = Math.min(...seen) - w.t;
        if (d < 0) early++;
        latencies.push(Math.max(0, d));
      }
      return {
        p50Ms: percentile(latencies, 50),
        p90Ms: percentile(latencies, 90),
        p99Ms: percentile(latencies, 99),
        maxMs: percentile(latencies, 100),
        writes: writes.length,
        reconciles: records.length,
        missed,
        eventBeforeResponse: early,
        achievedRate,
        lateStarts,
      };
    }),
  );
  const rs = rows(runs);
  return {
    id: 'latency',
    title: `4. Change-to-reconcile latency, ${rate} updates/s for ${seconds} s over ${objects} ConfigMaps`,
    metrics: [
      { key: 'p50Ms', label: 'p50 (ms)' },
      { key: 'p90Ms', label: 'p90 (ms)' },
      { key: 'p99Ms', label: 'p99 (ms)' },
      { key: 'maxMs', label: 'max (ms)' },
      { key: 'reconciles', label: 'reconciles' },
      { key: 'missed', label: 'writes never reconciled' },
      { key: 'eventBeforeResponse', label: 'reconcile before the write response' },
      { key: 'achievedRate', label: 'writes/s achieved' },
    ],
    rows: rs,
    ratios: [
      target('kubeloop p99 (ms)', med(rs, 'kubeloop', 'p99Ms'), 50, ' ms'),
      info('kubeloop / client-node, p99', ratio(med(rs, 'kubeloop', 'p99Ms'), med(rs, 'client-node', 'p99Ms'))),
      info('kubeloop / client-node, p50', ratio(med(rs, 'kubeloop', 'p50Ms'), med(rs, 'client-node', 'p50Ms'))),
    ],
    notes: [
      'The parent writes at a steady rate (open loop: each write starts on schedule whatever the others do) and notes when each response arrived; the child notes when each reconcile started and with which value. Both use CLOCK_MONOTONIC (process.hrtime), which every process on the machine shares.',
      'Latency of a write = start of the first reconcile that saw its value (or a later one) minus the arrival of the write response. A watch event can beat the response; such latencies count as 0 (column "reconcile before the write response").',
      'kubeloop: a `Controller` with a no-op reconciler. client-node: informer callbacks calling the reconciler.',
    ],
  };
}

export const latencyScenario: Scenario = {
  needsCluster: true,
  load: (admin, scale) => configMaps(admin, NS.latency, scale.latencyObjects),
  run: async (ctx) => [await latency(ctx)],
};
