/**
 * What the tests of deploy/grafana and deploy/prometheus need to know about the
 * PromQL in them: the dashboard's queries with Grafana's variables filled in, the
 * parts of an alert's expression that select data (its thresholds removed), and
 * the metric and label names an expression uses. A few string rules, enough for
 * the expressions kubeloop ships (the tests assert what each rule found), not a
 * PromQL parser.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { root } from '../deploy/render.js';

export const DASHBOARD_FILE = 'deploy/grafana/kubeloop-dashboard.json';
export const RULES_FILE = 'deploy/prometheus/kubeloop.rules.yaml';

export interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface RuleGroup {
  name: string;
  rules: Rule[];
}

export interface Dashboard {
  title: string;
  uid: string;
  templating: { list: { name: string; type: string; query: unknown; datasource?: unknown; includeAll?: boolean; multi?: boolean; allValue?: string }[] };
  panels: Panel[];
}

export interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: unknown;
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: { refId: string; expr: string; datasource?: unknown; legendFormat?: string }[];
}

export function readDashboard(): Dashboard {
  return JSON.parse(readFileSync(join(root, DASHBOARD_FILE), 'utf8')) as Dashboard;
}

export function readRuleGroups(file = RULES_FILE): RuleGroup[] {
  return (parse(readFileSync(join(root, file), 'utf8')) as { groups: RuleGroup[] }).groups;
}

/** Every query of every panel, with the panel's title and the target's refId. */
export function panelQueries(dashboard: Dashboard): { panel: string; refId: string; expr: string }[] {
  return dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, refId: t.refId, expr: t.expr })));
}

/**
 * Fills in Grafana's variables: `$name` and `${name}` from `values`, and the
 * interval variables (`$__rate_interval`, `$__interval`, `$__range`) with `interval`.
 * Throws on a variable it does not know, so that no query goes out with a `$` left in it.
 */
export function substitute(expr: string, values: Record<string, string>, interval: string): string {
  const out = expr.replace(/\$\{?(__rate_interval|__interval|__range)\}?/g, interval).replace(/\$\{?(\w+)\}?/g, (whole, name: string) => {
    const v = values[name];
    if (v === undefined) throw new Error(`no value for the variable ${whole} in ${expr}`);
    return v;
  });
  return out;
}

/** A Grafana `label_values(selector, label)` variable query as an instant query giving one series per value. */
export function labelValuesQuery(query: string): { expr: string; label: string } {
  const m = /^label_values\((.*),\s*(\w+)\)$/s.exec(query.trim());
  if (!m) throw new Error(`not a label_values(selector, label) query: ${query}`);
  return { expr: `group by (${m[2]}) (${m[1]})`, label: m[2]! };
}

/** Calls `visit(i)` at each index of `expr` outside parentheses, brackets, braces and strings. */
function topLevel(expr: string, visit: (i: number) => number | void): void {
  let depth = 0;
  let quote: string | undefined;
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i]!;
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'" || c === '`') quote = c;
    else if ('([{'.includes(c)) depth++;
    else if (')]}'.includes(c)) depth--;
    else if (depth === 0) i += visit(i) ?? 0;
  }
}

/** The operands of the top-level `and`, `or` and `unless` of `expr`. */
function setOperands(expr: string): string[] {
  const parts: string[] = [];
  let start = 0;
  topLevel(expr, (i) => {
    const m = /^\s(and|or|unless)\s/.exec(expr.slice(i));
    if (!m) return;
    parts.push(expr.slice(start, i));
    start = i + m[0].length;
    return m[0].length - 1;
  });
  parts.push(expr.slice(start));
  return parts.map((p) => p.trim());
}

/** `expr` without a top-level comparison with a number at its end (`… > 0.1`, `… == bool 0`). */
function withoutThreshold(expr: string): string {
  let last: number | undefined;
  topLevel(expr, (i) => {
    const m = /^(==|!=|>=|<=|>|<)/.exec(expr.slice(i));
    if (!m) return;
    last = i;
    return m[0].length - 1;
  });
  if (last === undefined || !/^(==|!=|>=|<=|>|<)\s*(bool\s+)?-?\d+(\.\d+)?(e[+-]?\d+)?\s*$/.test(expr.slice(last))) return expr;
  return expr.slice(0, last).trim();
}

/**
 * The parts of an alerting expression that select data, each an expression of its
 * own: the operands of a top-level `and`/`or`/`unless`, each without its comparison
 * with a number, and what `absent(...)` looks for. An alert whose parts all return
 * series from a real operator is built on series that exist; its thresholds are
 * tested by `promtool test rules`.
 */
export function dataParts(expr: string): string[] {
  return setOperands(expr.trim()).map((operand) => {
    let part = withoutThreshold(operand);
    for (let inner = /^absent\((.*)\)$/s.exec(part); inner; inner = /^absent\((.*)\)$/s.exec(part)) part = withoutThreshold(inner[1]!.trim());
    return part;
  });
}

const FUNCTIONS = new Set([
  'sum', 'max', 'min', 'avg', 'count', 'group', 'rate', 'increase', 'irate', 'delta', 'histogram_quantile', 'absent', 'absent_over_time',
  'max_over_time', 'min_over_time', 'avg_over_time', 'label_values', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset',
]);

/** The metric names and label names an expression uses (labels in matchers and in by/without/on clauses). */
export function namesIn(expr: string): { metrics: string[]; labels: string[] } {
  const labels = new Set<string>();
  let rest = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  rest = rest.replace(/\b(by|without|on|ignoring)\s*\(([^)]*)\)/g, (_, _kw, list: string) => {
    for (const l of list.split(',').map((s) => s.trim()).filter(Boolean)) labels.add(l);
    return ' ';
  });
  rest = rest.replace(/\{([^}]*)\}/g, (_, matchers: string) => {
    for (const m of matchers.matchAll(/(\w+)\s*(=~|!~|!=|=)/g)) labels.add(m[1]!);
    return ' ';
  });
  rest = rest.replace(/\[[^\]]*\]/g, ' ').replace(/\boffset\s+\w+/g, ' ');
  const metrics = new Set([...rest.matchAll(/[a-zA-Z_:][\w:]*/g)].map((m) => m[0]).filter((w) => !FUNCTIONS.has(w) && !/^\d/.test(w)));
  return { metrics: [...metrics], labels: [...labels] };
}
