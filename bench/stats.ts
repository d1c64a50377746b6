/** Small statistics helpers: medians and percentiles over repetitions. */

export function median(values: number[]): number {
  return percentile(values, 50);
}

/** Linear-interpolated percentile (p in 0..100); NaN for no values. */
export function percentile(values: number[], p: number): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const rank = (p / 100) * (v.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return v[lo]! + (v[hi]! - v[lo]!) * (rank - lo);
}

export function ratio(a: number, b: number): number {
  return b === 0 ? Number.NaN : a / b;
}

/** Rounds for reports: 3 significant digits, integers above 1000. */
export function round(x: number): number {
  if (!Number.isFinite(x)) return x;
  const abs = Math.abs(x);
  if (abs >= 1000) return Math.round(x);
  if (abs === 0) return 0;
  const digits = 3 - Math.ceil(Math.log10(abs));
  const f = 10 ** Math.max(0, digits);
  return Math.round(x * f) / f;
}
