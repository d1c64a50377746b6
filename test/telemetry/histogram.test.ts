import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry, type RegistryContentType } from 'prom-client';
import { FastHistogram } from '../../src/telemetry/histogram.js';

function make(openMetrics: boolean) {
  const registry = new (Registry as unknown as new (type: RegistryContentType) => Registry<RegistryContentType>)(
    openMetrics ? Registry.OPENMETRICS_CONTENT_TYPE : Registry.PROMETHEUS_CONTENT_TYPE,
  );
  const h = new FastHistogram({ name: 'work_seconds', help: 'Work.', labelNames: ['controller'] as const, buckets: [0.1, 1], enableExemplars: true, registers: [registry] });
  return { registry, h };
}

test('FastHistogram counts a value equal to a bound in that bound\'s bucket, cumulates buckets, and sums', async () => {
  const { registry, h } = make(false);
  const s = h.labels({ controller: 'a' });
  for (const v of [0.05, 0.1, 0.5, 1, 3]) s.observe(v);
  h.labels({ controller: 'b' }).observe(0.2);
  assert.equal(h.labels({ controller: 'a' }), s, 'one series per label set');
  const text = await registry.metrics();
  assert.match(text, /^work_seconds_bucket\{le="0\.1",controller="a"\} 2$/m);
  assert.match(text, /^work_seconds_bucket\{le="1",controller="a"\} 4$/m);
  assert.match(text, /^work_seconds_bucket\{le="\+Inf",controller="a"\} 5$/m);
  assert.match(text, /^work_seconds_sum\{controller="a"\} 4\.65$/m);
  assert.match(text, /^work_seconds_count\{controller="a"\} 5$/m);
  assert.match(text, /^work_seconds_bucket\{le="1",controller="b"\} 1$/m);
  assert.doesNotMatch(text, /#\s*\{/, 'no exemplars in the classic text format');
});

test('FastHistogram writes the latest exemplar of a bucket in OpenMetrics, and refuses bad input', async () => {
  const { registry, h } = make(true);
  const s = h.labels({ controller: 'a' });
  s.observeWithExemplar(0.5, { trace_id: 'first' });
  s.observeWithExemplar(0.7, { trace_id: 'second' });
  const text = await registry.metrics();
  assert.match(text, /^work_seconds_bucket\{le="1",controller="a"\} 2 # \{trace_id="second"\} 0\.7 \d+(\.\d+)?$/m);
  assert.throws(() => s.observe(Number.NaN), /finite number/);
  assert.throws(() => h.labels({ controller: 'a', other: 'x' } as never), /work_seconds has no label named other/);
});
