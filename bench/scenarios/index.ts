/** Every scenario by its `BENCH_ONLY` name, in the order a full run takes them. */
import type { ScenarioName } from '../config.js';
import { burstScenario } from './burst.js';
import { cachesScenario } from './caches.js';
import { latencyScenario } from './latency.js';
import { observabilityScenario } from './observability.js';
import type { Scenario } from './scenario.js';
import { schedulerScenario } from './scheduler.js';
import { warmupScenario } from './warmup.js';
import { watchScenario } from './watch.js';
import { webhooksScenario } from './webhooks.js';

export const scenarios: Record<ScenarioName, Scenario> = {
  warmup: warmupScenario,
  watch: watchScenario,
  burst: burstScenario,
  latency: latencyScenario,
  scheduler: schedulerScenario,
  observability: observabilityScenario,
  caches: cachesScenario,
  webhooks: webhooksScenario,
};
