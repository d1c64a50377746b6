/** Scenario 5: the scheduler — push and pop cost, heap per entry (no API server). */
import type { Contender } from '../protocol.js';
import { info, type ScenarioResult } from '../report.js';
import { ratio } from '../stats.js';
import { med, repeat, rows, simpleChild, task, type Ctx, type Scenario } from './scenario.js';

async function scheduler(ctx: Ctx): Promise<ScenarioResult> {
  const contenders: Contender[] = ['kubeloop', 'setTimeout'];
  const runs = await repeat(
    ctx,
    'scheduler',
    contenders,
    (c) => simpleChild(ctx, task(ctx, 'scheduler', c, '')),
    ctx.scale.quickReps,
  );
  const rs = rows(runs);
  return {
    id: 'scheduler',
    title: `5. Scheduler, ${ctx.scale.schedulerEntries.toLocaleString('en')} entries with random delays (0–${ctx.scale.schedulerMaxDelayMs} ms)`,
    metrics: [
      { key: 'pushNs', label: 'push (ns/entry)' },
      { key: 'popNs', label: 'pop (ns/entry)' },
      { key: 'heapBytesPerEntry', label: 'heap per queued entry (bytes)' },
    ],
    rows: rs,
    ratios: [
      info('kubeloop / setTimeout, push', ratio(med(rs, 'kubeloop', 'pushNs'), med(rs, 'setTimeout', 'pushNs'))),
      info('kubeloop / setTimeout, pop', ratio(med(rs, 'kubeloop', 'popNs'), med(rs, 'setTimeout', 'popNs'))),
      info('kubeloop / setTimeout, heap per entry', ratio(med(rs, 'kubeloop', 'heapBytesPerEntry'), med(rs, 'setTimeout', 'heapBytesPerEntry'))),
    ],
    notes: [
      "kubeloop: the controller's `Scheduler` (indexed binary heap, one entry per object key): push = `push()`, pop = `pop()` + `finish()` as the controller calls them, wall time of the loop. Keys are built before measuring.",
      'setTimeout: one Node timer per entry, the usual way to requeue in a hand-written client-node controller; pop = CPU time spent while the timers fire, per timer. The issue sets no target here.',
    ],
  };
}

export const schedulerScenario: Scenario = {
  needsCluster: false,
  run: async (ctx) => [await scheduler(ctx)],
};
