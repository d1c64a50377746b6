/** The results file (bench/results/latest.json) and its Markdown table (latest.md). */
import { median, round } from './stats.js';

export interface Metric {
  key: string;
  label: string;
}

export interface Row {
  contender: string;
  runs: Record<string, number>[];
  median: Record<string, number>;
}

export interface Ratio {
  label: string;
  value: number;
  /** The target, as a bound on the ratio (or on the value for absolute targets). */
  limit?: number;
  /** `max`: value must be ≤ limit. */
  met?: boolean;
  unit?: string;
}

export interface ScenarioResult {
  id: string;
  title: string;
  metrics: Metric[];
  rows: Row[];
  ratios: Ratio[];
  notes: string[];
}

/** Medians of every numeric field over the runs of one contender. */
export function summarise(contender: string, runs: Record<string, number>[]): Row {
  const keys = new Set(runs.flatMap((r) => Object.keys(r)));
  const m: Record<string, number> = {};
  for (const k of keys) m[k] = median(runs.map((r) => r[k]!).filter((x) => x !== undefined));
  return { contender, runs, median: m };
}

export function target(label: string, value: number, limit: number, unit = '×'): Ratio {
  return { label, value, limit, met: Number.isFinite(value) && value <= limit, unit };
}

export function info(label: string, value: number, unit = '×'): Ratio {
  return { label, value, unit };
}

const fmt = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? 'n/a' : String(round(x)));
const withUnit = (x: number, unit = '') => (Number.isFinite(x) ? `${fmt(x)}${unit}` : 'n/a');

export function markdown(meta: Record<string, unknown>, scenarios: ScenarioResult[]): string {
  const out: string[] = [];
  out.push('# kubeloop benchmark results', '');
  out.push(
    `Run ${String(meta.date)} on ${String(meta.cpus)} × ${String(meta.cpuModel)}, Node ${String(meta.node)}, kube-apiserver ${String(meta.kubernetes)}; ` +
      `scale \`${String(meta.scale)}\`, ${String(meta.reps)} repetitions per scenario (${String(meta.quickReps)} for warm-up and scheduler) with the contenders alternating. ` +
      `Every figure is the median over the repetitions; ratios are ratios of those medians. Total time ${String(meta.totalSeconds)} s.`,
    '',
  );
  const targets = scenarios.flatMap((s) => s.ratios.filter((r) => r.limit !== undefined).map((r) => ({ s, r })));
  out.push('## Targets', '', '| scenario | measure | result | target | met |', '|---|---|---|---|---|');
  for (const { s, r } of targets) out.push(`| ${s.title} | ${r.label} | ${withUnit(r.value, r.unit)} | ≤ ${r.limit}${r.unit ?? ''} | ${r.met ? 'yes' : '**no**'} |`);
  out.push('');
  for (const s of scenarios) {
    out.push(`## ${s.title}`, '');
    out.push(`| contender | ${s.metrics.map((m) => m.label).join(' | ')} | runs |`);
    out.push(`|---|${s.metrics.map(() => '---:').join('|')}|---:|`);
    for (const row of s.rows) out.push(`| ${row.contender} | ${s.metrics.map((m) => fmt(row.median[m.key])).join(' | ')} | ${row.runs.length} |`);
    out.push('');
    if (s.ratios.length > 0) {
      out.push('| ratio | value | target |', '|---|---:|---|');
      for (const r of s.ratios) out.push(`| ${r.label} | ${withUnit(r.value, r.unit)} | ${r.limit === undefined ? '' : `≤ ${r.limit}${r.unit ?? ''} ${r.met ? '(met)' : '(**missed**)'}`} |`);
      out.push('');
    }
    for (const n of s.notes) out.push(`- ${n}`);
    if (s.notes.length > 0) out.push('');
  }
  return out.join('\n');
}
