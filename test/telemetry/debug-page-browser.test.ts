import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { chromium, type Browser } from 'playwright-core';
import { request } from 'undici';
import { Action, Api, ConfigMaps, Controller, ProbeServer } from '../../src/index.js';
import type { ControllerDiagnostics } from '../../src/telemetry/diagnostics.js';
import { setupTracing, type Tracing } from '../../src/telemetry/tracing-setup.js';
import { until, useCluster } from '../support/cluster.js';
import { runInBackground, signal, Waiter } from '../support/controller.js';

/**
 * The diagnostics page as a person sees it: Debian's headless Chromium (installed by
 * scripts/install-browser.sh, never downloaded by playwright-core) loads /debug of a
 * controller running against the real API server. KUBELOOP_SCREENSHOT=1 writes the
 * screenshot in docs/.
 */
const t = useCluster();
const CHROMIUM = process.env.KUBELOOP_CHROMIUM ?? '/usr/bin/chromium';
const SCREENSHOT = new URL('../../../docs/debug-page.png', import.meta.url).pathname;
const exporter = new InMemorySpanExporter();
let tracing: Tracing;
let browser: Browser;

before(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: run scripts/install-browser.sh (Debian's chromium package), or set KUBELOOP_CHROMIUM to a Chromium binary`);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking'],
  });
  tracing = await setupTracing({ exporter, simple: true });
});
after(async () => {
  await browser?.close();
  await tracing?.shutdown();
});

describe('diagnostics page in a browser', () => {
  test('a stuck reconcile shows under "Running now" and a failing object\'s error under "Recently finished", linked to its trace; /debug.json says the same; no console errors; fits a phone', async () => {
    const ns = await t.namespace('debug');
    const api = Api.namespaced(t.client, ConfigMaps, ns);
    for (const name of ['stuck-report', 'broken-invoice', 'customer-42', 'customer-43']) await api.create({ metadata: { name } });
    const stuckStarted = signal();
    const release = signal();
    const failure = 'spec.total must not be negative (got <-12> & rounding)';
    const controller = new Controller(api).withConfig({ name: 'documents' });
    const probes = new ProbeServer({ port: 0, host: '127.0.0.1', debugPage: { traceUrl: 'http://localhost:16686/trace/{traceId}' } }).add(controller);
    const port = await probes.listen();
    const waiter = new Waiter();
    const running = runInBackground(
      controller,
      async (cm) => {
        const name = cm.metadata!.name!;
        if (name === 'stuck-report') {
          stuckStarted.resolve();
          await release.promise;
        }
        if (name === 'broken-invoice') throw new Error(failure);
        return Action.awaitChange();
      },
      () => Action.requeue(600_000),
      {},
      waiter,
    );
    const ref = (name: string) => `ConfigMap.v1./${name}.${ns}`;
    const consoleErrors: string[] = [];
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') consoleErrors.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
    try {
      await stuckStarted.promise;
      await waiter.until('the failing object\'s error and the others\' successes', () => {
        const done = new Set(running.results.map((r) => r.ref?.name));
        return ['broken-invoice', 'customer-42', 'customer-43'].every((n) => done.has(n));
      });
      const failed = running.results.find((r) => !r.ok);
      assert.equal(failed?.ref?.name, 'broken-invoice');

      const res = await page.goto(`http://127.0.0.1:${port}/debug?refresh=0`);
      assert.equal(res?.status(), 200);
      assert.equal(await page.title(), 'kubeloop diagnostics');
      const runningNow = await page.getByRole('region', { name: /^Running now/ }).innerText();
      assert.ok(runningNow.includes(ref('stuck-report')), `the stuck object is running:\n${runningNow}`);
      assert.ok(!runningNow.includes('broken-invoice'), 'only the stuck one runs');
      const recent = page.getByRole('region', { name: /^Recently finished/ });
      const recentText = await recent.innerText();
      assert.ok(recentText.includes(ref('broken-invoice')), `the failing object finished:\n${recentText}`);
      assert.ok(recentText.includes(failure), 'with its error message, as text');
      assert.ok(recentText.includes(ref('customer-42')) && recentText.includes(ref('customer-43')));
      assert.ok(!recentText.includes('stuck-report'), 'the stuck one has not finished');
      const queue = await page.getByRole('region', { name: /^Queue/ }).innerText();
      assert.ok(queue.includes(ref('broken-invoice')) && queue.includes('error policy requested retry'), `the failing object waits for its retry:\n${queue}`);

      // The failed reconcile's trace id links to the trace UI, and is the trace its span was exported in.
      const failedRow = recent.locator('tr', { hasText: 'broken-invoice' });
      const href = await failedRow.getByRole('link').getAttribute('href');
      // The span ends just after the reconcile's result is out; its export has no event to await.
      const span = await until('the failing reconcile\'s span', () => exporter.getFinishedSpans().find((s) => s.name === 'reconciling object' && s.attributes['object.ref'] === ref('broken-invoice')), 5000);
      assert.equal(href, `http://localhost:16686/trace/${span.spanContext().traceId}`);

      const json = (await (await request(`http://127.0.0.1:${port}/debug.json`)).body.json()) as { controllers: ControllerDiagnostics[] };
      assert.equal(json.controllers.length, 1);
      const d = json.controllers[0]!;
      assert.equal(d.name, 'documents');
      assert.deepEqual(d.running.map((r) => [r.object, r.reason]), [[ref('stuck-report'), 'object updated']]);
      assert.deepEqual(d.queue.next.map((q) => [q.object, q.reason]), [[ref('broken-invoice'), 'error policy requested retry']]);
      assert.ok(d.queue.next[0]!.dueInMs > 500_000, `due in about 600 s: ${d.queue.next[0]!.dueInMs}`);
      assert.deepEqual(
        d.recent.map((r) => [r.object, r.result, r.error]).sort(),
        [[ref('broken-invoice'), 'error', failure], [ref('customer-42'), 'success', undefined], [ref('customer-43'), 'success', undefined]].sort(),
      );
      assert.deepEqual(d.caches.map((c) => [c.objects, c.ready]), [[4, true]], 'one cache, ready, holding the four ConfigMaps');

      if (process.env.KUBELOOP_SCREENSHOT === '1') {
        await page.setViewportSize({ width: 1280, height: 400 }); // fullPage: as tall as the content
        await page.screenshot({ path: SCREENSHOT, fullPage: true });
      }

      // A phone: the page itself never scrolls sideways; wide tables scroll inside their own box.
      await page.setViewportSize({ width: 390, height: 844 });
      await page.reload();
      const layout = (await page.evaluate(`(() => {
        const root = document.documentElement;
        const boxes = [...document.querySelectorAll('.scroll')];
        const outside = [...document.body.querySelectorAll('*')].filter((e) => e.getBoundingClientRect().right > root.clientWidth + 1 && !e.closest('.scroll'));
        return { page: root.scrollWidth, viewport: root.clientWidth, boxes: boxes.length, scrolling: boxes.filter((b) => b.scrollWidth > b.clientWidth).length, outside: outside.map((e) => e.outerHTML.slice(0, 80)) };
      })()`)) as { page: number; viewport: number; boxes: number; scrolling: number; outside: string[] };
      assert.equal(layout.viewport, 390);
      assert.ok(layout.page <= layout.viewport, `the page is ${layout.page} px wide on a ${layout.viewport} px screen`);
      assert.deepEqual(layout.outside, [], 'nothing but table boxes reaches past the screen');
      assert.ok(layout.scrolling >= 1, `some table is wider than the phone and scrolls in its box (${layout.scrolling} of ${layout.boxes})`);
      assert.deepEqual(consoleErrors, []);
    } finally {
      release.resolve();
      await page.close();
      await running.stop();
      await probes.close();
    }
  });
});
