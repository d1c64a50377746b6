/**
 * What every scenario shares: the context the runner hands it, and the way it
 * repeats a measurement — each run in a child process of its own, the
 * contenders in a different order each repetition.
 */
import type { Admin } from '../admin.js';
import type { Scale } from '../config.js';
import { withChild, type ChildOptions } from '../harness.js';
import type { ChildTask, Contender, Target } from '../protocol.js';
import { summarise, type Row, type ScenarioResult } from '../report.js';
import { round } from '../stats.js';

const started = Date.now();
export const log = (msg: string) => console.error(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${msg}`);
export const mono = () => Number(process.hrtime.bigint()) / 1e6;
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Where each scenario keeps its objects (created by its `load`). */
export const NS = {
  warmup: (n: number) => `bench-warmup-${n}`,
  watch: 'bench-watch',
  burst: 'bench-burst',
  latency: 'bench-latency',
  obs: 'bench-obs',
  cacheShare: 'bench-cache-share',
  cacheSsa: 'bench-cache-ssa',
  webhooks: 'bench-webhooks',
};

export interface Ctx {
  scale: Scale;
  target: Target;
  admin: Admin;
  childOptions: ChildOptions;
  /** The OTLP receiver on loopback (observability scenario). */
  otlp: { endpoint: string; received: { requests: number; bytes: number } };
  /** A value that only grows, so every write of the run is unique. */
  seq: number;
}

export interface Scenario {
  /** Talks to the API server (all but the scheduler do). */
  needsCluster: boolean;
  /** Creates this scenario's objects in the fresh cluster, before any scenario runs. */
  load?(admin: Admin, scale: Scale): Promise<void>;
  run(ctx: Ctx): Promise<ScenarioResult[]>;
  /**
   * Results of a run of this scenario alone (`BENCH_ONLY`) go to
   * bench/results/<file>.json and .md instead of latest.*, so they do not
   * replace the full run's.
   */
  ownResults?: string;
}

/** Contenders in a different order each repetition (a rotation), so none always goes first. */
function rotation<T>(items: T[], rep: number): T[] {
  const k = rep % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

export async function repeat(
  ctx: Ctx,
  what: string,
  contenders: Contender[],
  run: (contender: Contender, rep: number) => Promise<Record<string, number>>,
  reps = ctx.scale.reps,
): Promise<Map<Contender, Record<string, number>[]>> {
  const runs = new Map<Contender, Record<string, number>[]>(contenders.map((c) => [c, []]));
  for (let rep = 0; rep < reps; rep++) {
    for (const c of rotation(contenders, rep)) {
      const t = mono();
      const result = await run(c, rep);
      runs.get(c)!.push(result);
      log(`${what} rep ${rep + 1}/${reps} ${c}: ${JSON.stringify(result, (_k, v: unknown) => (typeof v === 'number' ? Math.round(v * 100) / 100 : v))} (${((mono() - t) / 1000).toFixed(1)} s)`);
    }
  }
  return runs;
}

export function task(ctx: Ctx, scenario: ChildTask['scenario'], contender: Contender, namespace: string, params: ChildTask['params'] = {}): ChildTask {
  return { scenario, contender, target: ctx.target, namespace, scale: ctx.scale, params };
}

/** A child that only measures and answers with its figures (no conversation with the parent). */
export function simpleChild(ctx: Ctx, t: ChildTask, options: ChildOptions = ctx.childOptions): Promise<Record<string, number>> {
  return withChild(t, options, async (child) => (await child.next('result')).result as Record<string, number>);
}

export function rows(runs: Map<Contender, Record<string, number>[]>): Row[] {
  return [...runs].map(([c, r]) => summarise(c, r));
}

/** The median of `key` for `contender` (NaN when absent). */
export const med = (rs: Row[], contender: string, key: string) => rs.find((r) => r.contender === contender)?.median[key] ?? Number.NaN;

/** "min–max" of `key` over a contender's runs, for notes on how noisy a figure was. */
export function spread(runs: Map<Contender, Record<string, number>[]>, contender: Contender, key: string): string {
  const values = (runs.get(contender) ?? []).map((r) => r[key]).filter((v): v is number => Number.isFinite(v));
  return values.length === 0 ? 'n/a' : `${round(Math.min(...values))}–${round(Math.max(...values))}`;
}
