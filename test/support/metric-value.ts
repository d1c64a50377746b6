import { metricsRegistry } from '../../src/index.js';

/** The sum of a kubeloop metric's series that carry `labels` (read as a scrape would: deferred counts included). */
export async function metricValue(name: string, labels: Record<string, string>): Promise<number> {
  const metric = metricsRegistry.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  return values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((sum, v) => sum + v.value, 0);
}
