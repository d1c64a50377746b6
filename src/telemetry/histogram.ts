/**
 * A histogram for the reconcile hot path. prom-client's Histogram validates and
 * hashes the labels on every observation (about 0.5 µs each, two per reconcile);
 * this one hands out a series per label set once and then only adds numbers.
 * It plugs into prom-client's Registry (a metric is an object with a name, a type
 * and `get()`), so exposition, both text formats and exemplars stay prom-client's.
 */
import type { Registry, RegistryContentType } from 'prom-client';

interface Exemplar {
  labelSet: Record<string, string>;
  value: number;
  /** Seconds since the epoch, as prom-client writes them. */
  timestamp: number;
}

/** One label set's buckets. Buckets are per bound (not cumulative); the last is +Inf. */
export class HistogramSeries {
  private readonly counts: Float64Array;
  private readonly exemplars: (Exemplar | undefined)[] | undefined;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Readonly<Record<string, string>>,
    private readonly bounds: readonly number[],
    withExemplars: boolean,
  ) {
    this.counts = new Float64Array(bounds.length + 1);
    this.exemplars = withExemplars ? new Array<Exemplar | undefined>(bounds.length + 1) : undefined;
  }

  observe(value: number): void {
    this.add(value);
  }

  /** Observes `value` and keeps `labels` (say, a trace id) as the exemplar of its bucket. */
  observeWithExemplar(value: number, labels: Record<string, string>): void {
    const bucket = this.add(value);
    if (this.exemplars) this.exemplars[bucket] = { labelSet: labels, value, timestamp: Date.now() / 1000 };
  }

  private add(value: number): number {
    if (!Number.isFinite(value)) throw new TypeError(`a histogram observation must be a finite number, not ${value}.`);
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
    return i;
  }

  /** prom-client's value records for this series: cumulative buckets, +Inf, sum, count. */
  values(name: string): { labels: Record<string, string | number>; value: number; metricName: string; exemplar?: Exemplar }[] {
    const out: { labels: Record<string, string | number>; value: number; metricName: string; exemplar?: Exemplar }[] = [];
    let cumulative = 0;
    for (let i = 0; i <= this.bounds.length; i++) {
      cumulative += this.counts[i]!;
      const le = i < this.bounds.length ? this.bounds[i]! : '+Inf';
      out.push({ labels: { le, ...this.labels }, value: cumulative, metricName: `${name}_bucket`, ...(this.exemplars?.[i] ? { exemplar: this.exemplars[i] } : {}) });
    }
    out.push({ labels: { ...this.labels }, value: this.sum, metricName: `${name}_sum` });
    out.push({ labels: { ...this.labels }, value: this.count, metricName: `${name}_count` });
    return out;
  }
}

export interface FastHistogramConfig<L extends string> {
  name: string;
  help: string;
  labelNames: readonly L[];
  /** Upper bounds, ascending. */
  buckets: readonly number[];
  enableExemplars?: boolean;
  registers: Registry<RegistryContentType>[];
}

/** A histogram metric registered with prom-client's Registry, with per-label-set series. */
export class FastHistogram<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly bounds: readonly number[];
  private readonly series = new Map<string, HistogramSeries>();

  constructor(private readonly config: FastHistogramConfig<L>) {
    this.name = config.name;
    this.help = config.help;
    this.bounds = [...config.buckets].sort((a, b) => a - b);
    for (const registry of config.registers) registry.registerMetric(this as never);
  }

  /** The series for `labels` (made on first use; keep it and call `observe` on it). */
  labels(labels: Record<L, string>): HistogramSeries {
    const names = Object.keys(labels);
    for (const n of names) if (!(this.config.labelNames as readonly string[]).includes(n)) throw new Error(`${this.name} has no label named ${n}.`);
    const key = this.config.labelNames.map((n) => labels[n] ?? '').join('\u0000');
    let series = this.series.get(key);
    if (!series) {
      series = new HistogramSeries({ ...labels }, this.bounds, this.config.enableExemplars === true);
      this.series.set(key, series);
    }
    return series;
  }

  /** What prom-client's Registry reads for exposition. */
  async get(): Promise<{ name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: ReturnType<HistogramSeries['values']> }> {
    const values = [...this.series.values()].flatMap((s) => s.values(this.name));
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.series.clear();
  }
}
