/**
 * The Grafana dashboard (deploy/grafana) and the alert rules (deploy/prometheus) as
 * files: promtool checks the rules and runs their unit tests, the PrometheusRule
 * holds the same groups as the plain rules file, the kustomize component ships the
 * dashboard unchanged, and every name the PromQL uses is one kubeloop registers.
 * That every query returns data from a real operator is test/telemetry/monitoring.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { metricsRegistry } from '../../src/index.js';
import { resolvePrometheus } from '../../src/testing/index.js';
import { kustomize, only, root } from './render.js';
import { DASHBOARD_FILE, dataParts, labelValuesQuery, namesIn, panelQueries, readDashboard, readRuleGroups } from '../support/promql.js';

function promtool(promtoolPath: string, args: string[]): { code: number | null; output: string } {
  const r = spawnSync(promtoolPath, args, { cwd: join(root, 'deploy/prometheus'), encoding: 'utf8' });
  if (r.error) throw r.error;
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

/** Label names every scraped series may carry besides its own: target labels, and `le` on histogram buckets. */
const TARGET_LABELS = ['job', 'instance', 'namespace'];

/** kubeloop's metric families with their label names, from the registry itself. */
function families(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const m of metricsRegistry.getMetricsAsArray() as unknown as { name: string; type: string; labelNames?: string[]; config?: { labelNames?: string[] } }[]) {
    const labels = [...(m.labelNames ?? m.config?.labelNames ?? [])];
    out.set(m.name, labels);
    if (m.type === 'histogram') {
      out.set(`${m.name}_bucket`, [...labels, 'le']);
      out.set(`${m.name}_count`, labels);
      out.set(`${m.name}_sum`, labels);
    }
  }
  out.set('up', []); // Prometheus's own, per target
  return out;
}

describe('dashboard and alert files', () => {
  test('promtool check rules accepts kubeloop.rules.yaml, all 12 alerts', async () => {
    const { promtool: path } = await resolvePrometheus({ install: false });
    const { code, output } = promtool(path, ['check', 'rules', 'kubeloop.rules.yaml']);
    assert.equal(code, 0, output);
    assert.match(output, /SUCCESS: 12 rules found/);
  });

  test('promtool test rules: each alert fires on the series of its unit test, not on those beside them, not before its for: has passed', async () => {
    const { promtool: path } = await resolvePrometheus({ install: false });
    const { code, output } = promtool(path, ['test', 'rules', 'kubeloop.rules.test.yaml']);
    assert.equal(code, 0, output);
    assert.match(output, /SUCCESS/);
    // Every alert has a unit test that expects it to fire.
    const tests = (parse(readFileSync(join(root, 'deploy/prometheus/kubeloop.rules.test.yaml'), 'utf8')) as {
      tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
    }).tests;
    const fired = new Set(tests.flatMap((t) => t.alert_rule_test.filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname)));
    const quiet = new Set(tests.flatMap((t) => t.alert_rule_test.filter((a) => a.exp_alerts.length === 0).map((a) => a.alertname)));
    const alerts = readRuleGroups().flatMap((g) => g.rules.map((r) => r.alert));
    assert.equal(alerts.length, 12);
    assert.deepEqual(alerts.filter((a) => !fired.has(a)), [], 'alerts no unit test makes fire');
    assert.deepEqual(alerts.filter((a) => !quiet.has(a)), [], 'alerts no unit test expects to stay quiet');
  });

  test('the PrometheusRule in the kustomize component holds exactly the groups of kubeloop.rules.yaml', () => {
    const rule = only(kustomize('test/deploy/fixtures/overlay'), 'PrometheusRule');
    assert.deepEqual(rule.spec.groups, readRuleGroups());
    assert.deepEqual(Object.keys(rule.spec), ['groups']);
  });

  test('every alert has a severity, a summary and a description, a for: duration, and names its controller, verb, lease or instance in its annotations', () => {
    const rules = readRuleGroups().flatMap((g) => g.rules);
    assert.equal(rules.length, 12);
    for (const r of rules) {
      assert.ok(['warning', 'critical'].includes(r.labels?.severity ?? ''), `${r.alert} severity ${r.labels?.severity}`);
      assert.ok(r.annotations?.summary && r.annotations.description, `${r.alert} summary and description`);
      assert.match(r.for ?? '', /^\d+[smh]$/, `${r.alert} for:`);
      // What the expression aggregates by is what the annotations can name.
      const by = /by \(([^)]*)\)/.exec(r.expr)?.[1]?.split(',').map((s) => s.trim()) ?? [];
      for (const label of by.filter((l) => ['controller', 'verb', 'lease', 'resource'].includes(l))) {
        assert.ok(`${r.annotations!.summary} ${r.annotations!.description}`.includes(`{{ $labels.${label} }}`), `${r.alert} names {{ $labels.${label} }}`);
      }
    }
  });

  test('the Grafana component renders a ConfigMap labelled grafana_dashboard: "1" holding kubeloop-dashboard.json unchanged', () => {
    const configMap = only(kustomize('test/deploy/fixtures/overlay'), 'ConfigMap');
    assert.equal(configMap.metadata.name, 'kubeloop-dashboard');
    assert.deepEqual(configMap.metadata.labels, { grafana_dashboard: '1' });
    assert.deepEqual(Object.keys(configMap.data), ['kubeloop-dashboard.json']);
    assert.equal(configMap.data['kubeloop-dashboard.json'], readFileSync(join(root, DASHBOARD_FILE), 'utf8'));
  });

  test('the dashboard imports as it is: its data source is a variable every panel and query uses, job and controller come from label_values, panel ids are unique and panels do not overlap', () => {
    const d = readDashboard();
    assert.equal((d as unknown as { __inputs?: unknown }).__inputs, undefined, 'nothing to fill in at import');
    const [datasource, job, controller] = d.templating.list;
    assert.deepEqual([datasource?.name, datasource?.type, datasource?.query], ['datasource', 'datasource', 'prometheus']);
    assert.deepEqual([job?.name, labelValuesQuery(String(job?.query)).label], ['job', 'job']);
    assert.deepEqual([controller?.name, labelValuesQuery(String(controller?.query))], ['controller', { expr: 'group by (controller) (reconcile_total{job=~"$job"})', label: 'controller' }]);
    for (const v of [job!, controller!]) {
      assert.deepEqual(v.datasource, { type: 'prometheus', uid: '${datasource}' }, `${v.name} data source`);
      assert.deepEqual([v.multi, v.includeAll, v.allValue], [true, true, '.*'], `${v.name}: several values, All as .*`);
    }
    const ds = { type: 'prometheus', uid: '${datasource}' };
    const graphs = d.panels.filter((p) => p.type !== 'row');
    assert.ok(graphs.length >= 18, `${graphs.length} panels`);
    for (const p of graphs) {
      assert.deepEqual(p.datasource, ds, `${p.title} data source`);
      assert.ok((p.targets ?? []).length >= 1, `${p.title} has a query`);
      for (const t of p.targets!) assert.deepEqual(t.datasource, ds, `${p.title} ${t.refId} data source`);
    }
    assert.equal(new Set(d.panels.map((p) => p.id)).size, d.panels.length, 'unique panel ids');
    const cells = new Map<string, string>();
    for (const p of d.panels) {
      assert.ok(p.gridPos.x >= 0 && p.gridPos.x + p.gridPos.w <= 24, `${p.title} within the 24 columns`);
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
          const other = cells.get(`${x},${y}`);
          assert.equal(other, undefined, `${p.title} overlaps ${other}`);
          cells.set(`${x},${y}`, p.title);
        }
      }
    }
  });

  test('the dashboard shows each of kubeloop\'s metric families', () => {
    const used = new Set(panelQueries(readDashboard()).flatMap((q) => namesIn(q.expr).metrics).map((m) => m.replace(/_bucket$/, '')));
    const all = [...families().keys()].filter((n) => !/_(bucket|count|sum)$/.test(n));
    assert.ok(all.length >= 14, `${all.length} families registered`);
    assert.deepEqual(all.filter((f) => !used.has(f)), [], 'families without a panel');
  });

  test('every metric and label the dashboard and the alerts name is one kubeloop registers (or a target label), and every alert has a part that selects data', () => {
    const known = families();
    const exprs = [
      ...panelQueries(readDashboard()).map((q) => ({ where: `panel ${q.panel} ${q.refId}`, expr: q.expr })),
      ...readDashboard().templating.list.filter((v) => v.type === 'query').map((v) => ({ where: `variable ${v.name}`, expr: labelValuesQuery(String(v.query)).expr })),
      ...readRuleGroups().flatMap((g) => g.rules.map((r) => ({ where: `alert ${r.alert}`, expr: r.expr }))),
    ];
    assert.ok(exprs.length >= 35, `${exprs.length} expressions`);
    const problems: string[] = [];
    for (const { where, expr } of exprs) {
      const { metrics, labels } = namesIn(expr);
      if (metrics.length === 0) problems.push(`${where}: no metric found in ${expr}`);
      for (const m of metrics) if (!known.has(m)) problems.push(`${where}: ${m} is not a kubeloop metric`);
      const allowed = new Set([...TARGET_LABELS, ...metrics.flatMap((m) => known.get(m) ?? [])]);
      for (const l of labels) if (!allowed.has(l)) problems.push(`${where}: label ${l} is not on ${metrics.join(', ')}`);
    }
    assert.deepEqual(problems, []);
    for (const r of readRuleGroups().flatMap((g) => g.rules)) {
      const parts = dataParts(r.expr);
      assert.ok(parts.length >= 1, r.alert);
      for (const p of parts) assert.doesNotMatch(p, /(==|!=|>=|<=|>|<)\s*-?[\d.]+\s*$/, `${r.alert}: a threshold left in ${p}`);
    }
    assert.deepEqual(dataParts('absent(up{job="x"} == 1)'), ['up{job="x"}']);
    assert.deepEqual(dataParts('a{l="x"} > 60\n  and\nmax by (c) (b) > 0'), ['a{l="x"}', 'max by (c) (b)']);
  });
});
