/**
 * Preloaded into the operator for memory measurements
 * (`node --expose-gc --import ./heap-probe.js operator.js`): on SIGUSR2 it
 * collects garbage twice and writes one line to stderr,
 * `heap-probe {"heapUsed":…,"rss":…,"peakRss":…}`. A signal listener keeps
 * nothing alive, so the operator still exits on its own after SIGTERM.
 */
import { readFileSync } from 'node:fs';
import { getHeapStatistics } from 'node:v8';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('heap-probe needs node --expose-gc');

process.on('SIGUSR2', () => {
  gc();
  gc();
  const usage = process.memoryUsage();
  // The high-water mark of RSS since the start: the peak the container limit must hold.
  const peakKb = Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0);
  const sample = { heapUsed: usage.heapUsed, heapTotal: usage.heapTotal, external: usage.external, rss: usage.rss, peakRss: peakKb * 1024, heapLimit: getHeapStatistics().heap_size_limit };
  process.stderr.write(`heap-probe ${JSON.stringify(sample)}\n`);
});
