/**
 * Sizes and repetitions of the benchmark, from the environment:
 *
 * - `BENCH_SCALE=full` (default) uses the sizes the issue names; `small` is a
 *   quick run (a few minutes) with every scenario scaled down.
 * - `BENCH_REPS=n` repetitions of each scenario (default 3, and 5 for the quick
 *   warm-up and scheduler runs; contenders alternate).
 * - `BENCH_WARMUP_SIZES=10000,50000` overrides the warm-up sizes of the scale.
 * - `BENCH_ONLY=warmup,watch,burst,latency,scheduler,observability,caches,webhooks` runs a subset.
 * - `BENCH_PROFILE=1` runs every child under `node --cpu-prof` and keeps the
 *   profiles in bench/results/profiles/ (open them in Chrome DevTools).
 */
export interface Scale {
  name: string;
  reps: number;
  /** Repetitions of the quick scenarios (warm-up, scheduler), whose single runs are the noisiest. */
  quickReps: number;
  /** Scenario 1: ConfigMaps in each warm-up namespace. */
  warmupSizes: number[];
  /** Scenario 2: objects in the cache, and updates streamed to it. */
  watchObjects: number;
  watchUpdates: number;
  /** Scenario 3: objects, and updates to each. */
  burstObjects: number;
  burstUpdates: number;
  /** Scenario 4: objects, writes per second, seconds. */
  latencyObjects: number;
  latencyRate: number;
  latencySeconds: number;
  /** Scenario 5: scheduler entries and the range of their random delays. */
  schedulerEntries: number;
  schedulerMaxDelayMs: number;
  /** Scenario 6: objects requeued every `obsRequeueMs`; seconds ignored, then measured. */
  obsObjects: number;
  obsRequeueMs: number;
  obsWarmupSeconds: number;
  obsMeasureSeconds: number;
  /** Scenario 7: ConfigMaps (each owning a Secret) the controllers share, and updates streamed to them. */
  cacheShareObjects: number;
  cacheShareUpdates: number;
  /** Scenario 7: ConfigMaps written by two server-side-apply field managers (transform and index figures). */
  cacheSsaObjects: number;
  /** Scenario 8: reviews sent straight to the webhook server, ConfigMaps created through the API server, callers at once. */
  webhookDirect: number;
  webhookCreates: number;
  webhookConcurrency: number;
}

const FULL: Scale = {
  name: 'full',
  reps: 3,
  quickReps: 5,
  warmupSizes: [10_000, 50_000],
  watchObjects: 1000,
  watchUpdates: 20_000,
  burstObjects: 200,
  burstUpdates: 20,
  latencyObjects: 100,
  latencyRate: 100,
  latencySeconds: 30,
  schedulerEntries: 100_000,
  schedulerMaxDelayMs: 1000,
  obsObjects: 1000,
  obsRequeueMs: 250,
  obsWarmupSeconds: 3,
  obsMeasureSeconds: 8,
  cacheShareObjects: 5000,
  cacheShareUpdates: 10_000,
  cacheSsaObjects: 10_000,
  webhookDirect: 20_000,
  webhookCreates: 2000,
  webhookConcurrency: 16,
};

const SMALL: Scale = {
  name: 'small',
  reps: 3,
  quickReps: 5,
  warmupSizes: [1000, 5000],
  watchObjects: 200,
  watchUpdates: 2000,
  burstObjects: 50,
  burstUpdates: 5,
  latencyObjects: 20,
  latencyRate: 100,
  latencySeconds: 5,
  schedulerEntries: 10_000,
  schedulerMaxDelayMs: 1000,
  obsObjects: 200,
  obsRequeueMs: 250,
  obsWarmupSeconds: 1,
  obsMeasureSeconds: 3,
  cacheShareObjects: 500,
  cacheShareUpdates: 1000,
  cacheSsaObjects: 1000,
  webhookDirect: 2000,
  webhookCreates: 300,
  webhookConcurrency: 16,
};

export const SCENARIOS = ['warmup', 'watch', 'burst', 'latency', 'scheduler', 'observability', 'caches', 'webhooks'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export function readScale(env: NodeJS.ProcessEnv = process.env): Scale {
  const name = (env.BENCH_SCALE ?? 'full').trim();
  if (name !== 'full' && name !== 'small') throw new Error(`BENCH_SCALE must be full or small, not "${name}".`);
  const scale = { ...(name === 'small' ? SMALL : FULL) };
  if (env.BENCH_REPS) {
    const reps = Number(env.BENCH_REPS);
    if (!Number.isInteger(reps) || reps < 1) throw new Error(`BENCH_REPS must be a positive integer, not "${env.BENCH_REPS}".`);
    scale.reps = reps;
    scale.quickReps = Math.max(reps, scale.quickReps);
  }
  if (env.BENCH_WARMUP_SIZES) {
    const sizes = env.BENCH_WARMUP_SIZES.split(',').map((x) => Number(x.trim()));
    if (sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`BENCH_WARMUP_SIZES must be positive integers, not "${env.BENCH_WARMUP_SIZES}".`);
    scale.warmupSizes = sizes;
  }
  return scale;
}

export function readScenarios(env: NodeJS.ProcessEnv = process.env): ScenarioName[] {
  if (!env.BENCH_ONLY) return [...SCENARIOS];
  const names = env.BENCH_ONLY.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) if (!(SCENARIOS as readonly string[]).includes(n)) throw new Error(`BENCH_ONLY: unknown scenario "${n}" (known: ${SCENARIOS.join(', ')}).`);
  return names as ScenarioName[];
}
