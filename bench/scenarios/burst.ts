/** Scenario 3: burst convergence — reconciles, API calls and time until every status shows the last update. */
import { parallel } from '../admin.js';
import { widgetName, widgetPath, widgets } from '../data.js';
import { withChild } from '../harness.js';
import type { Contender } from '../protocol.js';
import { info, target, type ScenarioResult } from '../report.js';
import { ratio } from '../stats.js';
import { TUNED } from '../tuned.js';
import { med, mono, NS, repeat, rows, sleep, task, type Ctx, type Scenario } from './scenario.js';

async function burst(ctx: Ctx): Promise<ScenarioResult> {
  const contenders: Contender[] = ['kubeloop', 'client-node', 'kubeloop-tuned'];
  const { burstObjects: objects, burstUpdates: updates } = ctx.scale;
  let writeRetries = 0;
  const runs = await repeat(ctx, 'burst', contenders, (c) =>
    withChild(task(ctx, 'burst', c, NS.burst, { settleMs: c === 'kubeloop-tuned' ? 1000 + TUNED.debounceMs : 1000 }), ctx.childOptions, async (child) => {
      await child.next('ready');
      const base = (ctx.seq += 1000);
      const final = base + updates;
      const list = await ctx.admin.call('GET', widgetPath(NS.burst));
      const observed = new Map<string, number>();
      for (const w of list.items) observed.set(w.metadata.name, w.status?.observed ?? -1);
      let pending = [...observed.values()].filter((v) => v !== final).length;
      let events = 0;
      let converged!: () => void;
      let watchFailed!: (e: Error) => void;
      const convergedP = new Promise<void>((resolve, reject) => {
        converged = resolve;
        watchFailed = reject;
      });
      const watch = ctx.admin.watch(widgetPath(NS.burst), list.metadata.resourceVersion, (type, obj) => {
        if (type !== 'MODIFIED' && type !== 'ADDED') return;
        events++;
        const name = obj.metadata.name as string;
        const before = observed.get(name);
        const now = obj.status?.observed ?? -1;
        observed.set(name, now);
        if (before !== final && now === final) pending--;
        else if (before === final && now !== final) pending++;
        if (pending === 0) converged();
      }, (e) => watchFailed(e));
      try {
        await watch.ready;
        child.send({ type: 'go' });
        await child.next('going');
        const t0 = mono();
        // Each object's updates in order (its last value is known), all objects at once: as fast as the server accepts.
        const retriesBefore = ctx.admin.retries;
        await parallel(objects, objects, async (i) => {
          const path = widgetPath(NS.burst, widgetName(i));
          for (let k = 1; k <= updates; k++) await ctx.admin.mergePatch(path, { spec: { value: base + k } });
          // A write that timed out (504) may still land after the ones sent later: make sure the last value stands.
          if (ctx.admin.retries > retriesBefore) {
            while ((await ctx.admin.call('GET', path)).spec?.value !== final) await ctx.admin.mergePatch(path, { spec: { value: final } });
          }
        });
        writeRetries += ctx.admin.retries - retriesBefore;
        const written = mono() - t0;
        const timeout = sleep(180_000).then(async () => {
          const sample = await ctx.admin.call('GET', widgetPath(NS.burst, widgetName(0)));
          throw new Error(`no convergence within 180 s: ${pending} objects behind, ${events} events seen; ${widgetName(0)} has spec ${sample.spec?.value}, status ${sample.status?.observed}, final ${final}`);
        });
        await Promise.race([convergedP, timeout]);
        const convergeMs = mono() - t0;
        child.send({ type: 'converged' });
        const r = (await child.next('result')).result as Record<string, number>;
        return { convergeMs, writeMs: written, ...r };
      } finally {
        await watch.stop();
      }
    }),
  );
  const rs = rows(runs);
  return {
    id: 'burst',
    title: `3. Burst convergence, ${objects} objects × ${updates} updates`,
    metrics: [
      { key: 'reconciles', label: 'reconciles' },
      { key: 'reconcilesToConverge', label: 'reconciles until converged' },
      { key: 'apiCalls', label: 'API calls by reconciles' },
      { key: 'statusPatches', label: 'status patches' },
      { key: 'convergeMs', label: 'time to convergence (ms)' },
      { key: 'writeMs', label: 'burst write time (ms)' },
      { key: 'maxConcurrentSameObject', label: 'most concurrent reconciles of one object' },
      { key: 'errors', label: 'failed reconciles' },
    ],
    rows: rs,
    ratios: [
      target('kubeloop / client-node, reconciles', ratio(med(rs, 'kubeloop', 'reconciles'), med(rs, 'client-node', 'reconciles')), 0.25),
      target('kubeloop / client-node, time to convergence', ratio(med(rs, 'kubeloop', 'convergeMs'), med(rs, 'client-node', 'convergeMs')), 1.0),
      info('kubeloop / client-node, API calls', ratio(med(rs, 'kubeloop', 'apiCalls'), med(rs, 'client-node', 'apiCalls'))),
      target('kubeloop-tuned / client-node, reconciles', ratio(med(rs, 'kubeloop-tuned', 'reconciles'), med(rs, 'client-node', 'reconciles')), 0.25),
      target('kubeloop-tuned / client-node, time to convergence', ratio(med(rs, 'kubeloop-tuned', 'convergeMs'), med(rs, 'client-node', 'convergeMs')), 1.0),
      info('kubeloop-tuned / client-node, API calls', ratio(med(rs, 'kubeloop-tuned', 'apiCalls'), med(rs, 'client-node', 'apiCalls'))),
    ],
    notes: [
      'A small CRD (`widgets.bench.kubeloop.dev`, status subresource) stands in for ConfigMaps, which have no status. The parent sends each object its updates in order (merge patches of `spec.value`), all objects at once.',
      'The reconciler (the same function for both) GETs the object and, when `status.observed` differs from `spec.value`, patches the status subresource; API calls counts those GETs and PATCHes.',
      'Convergence: a watch in the parent sees every object with `status.observed` equal to its last `spec.value`. Reconciles are counted from the first write until 1 s without any reconcile after convergence (status patches trigger events too).',
      'kubeloop: a `Controller` with default settings (no debounce, no predicate, unbounded concurrency). ' +
        `kubeloop-tuned: the same with the two documented knobs a status-writing controller would use, \`predicate: predicates.generation\` (its own status writes do not trigger it) and \`debounceMs: ${TUNED.debounceMs}\`. ` +
        'client-node: informer `add`/`update` callbacks calling the reconciler for every event.',
      'Under this load the API server drops watchers that fall behind; kubeloop resumes from the last resourceVersion, the client-node informer resumes or relists (a relist folds many events into one `update`).',
      `Writes the overloaded API server answered 429/503/504 and the parent sent again, over all runs: ${writeRetries}.`,
    ],
  };
}

export const burstScenario: Scenario = {
  needsCluster: true,
  load: (admin, scale) => widgets(admin, NS.burst, scale.burstObjects),
  run: async (ctx) => [await burst(ctx)],
};
