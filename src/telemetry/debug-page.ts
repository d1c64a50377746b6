/**
 * The diagnostics page (`GET /debug` on the probe server): what each controller is
 * doing right now, rendered on the server as one HTML document. No JavaScript: the
 * page reloads itself with `<meta http-equiv="refresh">` (`?refresh=0` stops that,
 * `?refresh=N` sets the interval), and its inline CSS fits a laptop and a phone
 * (wide tables scroll sideways inside their own box; the page itself never does).
 *
 * Everything shown comes from `ControllerDiagnostics` — object references, reasons,
 * error messages — and every such string is HTML-escaped here, once, by `esc`.
 *
 * To add a part (webhook server, shards, …): write a function that returns a
 * `Part` for a controller and add it to `CONTROLLER_PARTS`; process-wide parts
 * would go beside the controllers in `renderDebugPage`.
 */
import type { CacheDiagnostics, ControllerDiagnostics, FinishedReconcile, QueuedEntry, RunningReconcile } from './diagnostics.js';

/** What `/debug` shows and `/debug.json` answers. */
export interface DebugView {
  /** When the view was taken (ISO-8601, UTC); relative times on the page are from here. */
  generatedAt: string;
  controllers: ControllerDiagnostics[];
}

export interface DebugPageOptions {
  /**
   * A trace UI's URL with `{traceId}` where the trace id goes, e.g.
   * `http://localhost:16686/trace/{traceId}` (Jaeger); trace ids become links to it.
   */
  traceUrl?: string;
  /** Seconds between reloads; 0 = no reload. Default 5. */
  refreshSeconds?: number;
}

export const DEFAULT_REFRESH_SECONDS = 5;

/**
 * Checks a trace URL template; throws a sentence saying what is wrong. Only http(s)
 * URLs: the template becomes the `href` of links on the page.
 */
export function checkTraceUrl(template: string): void {
  if (!template.includes('{traceId}')) throw new Error(`the debug page's traceUrl "${template}" has no {traceId} placeholder; e.g. http://localhost:16686/trace/{traceId}`);
  let url: URL;
  try {
    url = new URL(template.replaceAll('{traceId}', '0'));
  } catch {
    throw new Error(`the debug page's traceUrl "${template}" is not a URL; e.g. http://localhost:16686/trace/{traceId}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`the debug page's traceUrl "${template}" must be an http or https URL`);
}

/** The link to a trace, or undefined without a template. */
export function traceHref(template: string | undefined, traceId: string): string | undefined {
  return template === undefined ? undefined : template.replaceAll('{traceId}', encodeURIComponent(traceId));
}

/** HTML-escapes text for element content and double-quoted attribute values. */
export function esc(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}
const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** A duration for people: `850 ms`, `12.3 s`, `4 m 05 s`, `2 h 03 m`. */
export function formatDuration(ms: number): string {
  const abs = Math.abs(ms);
  if (abs < 1000) return `${Math.round(abs)} ms`;
  if (abs < 60_000) return `${(abs / 1000).toFixed(1)} s`;
  const s = Math.floor(abs / 1000);
  if (abs < 3_600_000) return `${Math.floor(s / 60)} m ${String(s % 60).padStart(2, '0')} s`;
  const m = Math.floor(s / 60);
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} m`;
}

/** The whole page. */
export function renderDebugPage(view: DebugView, options: DebugPageOptions = {}): string {
  const refresh = options.refreshSeconds ?? DEFAULT_REFRESH_SECONDS;
  const now = Date.parse(view.generatedAt);
  const ctx: RenderContext = { now: Number.isNaN(now) ? Date.now() : now, traceUrl: options.traceUrl };
  const controllers = view.controllers.map((c, i) => ({ c, id: `c${i}` }));
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
${refresh > 0 ? `<meta http-equiv="refresh" content="${refresh}">\n` : ''}<title>kubeloop diagnostics</title>
<style>${CSS}</style>
</head>
<body>
<header>
<h1>kubeloop diagnostics</h1>
<p class="meta">Taken ${time(view.generatedAt, view.generatedAt)} · ${
    refresh > 0
      ? `reloads every ${refresh} s · <a href="?refresh=0">stop reloading</a>`
      : `not reloading · <a href="?refresh=${DEFAULT_REFRESH_SECONDS}">reload every ${DEFAULT_REFRESH_SECONDS} s</a>`
  } · <a href="debug.json">JSON</a></p>
</header>
<main>
${controllers.length === 0 ? '<p class="empty">No controller is registered with this probe server.</p>' : controllers.length > 1 ? summary(controllers) : ''}
${controllers.map(({ c, id }) => controller(c, id, ctx)).join('\n')}
</main>
</body>
</html>
`;
}

interface RenderContext {
  /** `generatedAt` in epoch milliseconds. */
  now: number;
  traceUrl?: string;
}

/** One titled part of a controller's section; an empty `body` shows `empty` instead. */
interface Part {
  key: string;
  title: string;
  /** Short figures shown beside the title. */
  figures?: string;
  body: string;
  empty?: string;
}

const CONTROLLER_PARTS: ((c: ControllerDiagnostics, ctx: RenderContext) => Part)[] = [queuePart, runningPart, recentPart, cachesPart];

function summary(controllers: { c: ControllerDiagnostics; id: string }[]): string {
  const rows = controllers.map(({ c, id }) => {
    const errors = c.recent.filter((r) => r.result !== 'success').length;
    return `<tr><td><a href="#${id}">${esc(c.name)}</a></td><td>${badges(c)}</td><td class="num">${c.queue.depth}</td><td class="num">${c.running.length}</td><td class="num">${errors ? `<span class="bad">${errors}</span>` : '0'} of ${c.recent.length}</td></tr>`;
  });
  return `<section aria-labelledby="summary"><h2 id="summary" class="visually-hidden">Controllers</h2>
${table(['Controller', 'State', 'Queued', 'Running', 'Failed (recent)'], rows)}
</section>`;
}

function badges(c: ControllerDiagnostics): string {
  const lead =
    c.leadership.mode === 'none'
      ? ''
      : c.leadership.mode === 'leading'
        ? badge('ok', 'leading')
        : badge('warn', 'following');
  return `${lead}${c.ready ? badge('ok', 'ready') : badge('bad', 'not ready')}${c.live.live ? badge('ok', 'live') : badge('bad', 'stalled')}`;
}

function badge(kind: 'ok' | 'warn' | 'bad', text: string): string {
  return `<span class="badge ${kind}">${esc(text)}</span>`;
}

function controller(c: ControllerDiagnostics, id: string, ctx: RenderContext): string {
  const facts: [string, string][] = [];
  if (c.leadership.mode !== 'none') {
    facts.push(['Leadership', `${esc(c.leadership.mode)} on lease ${code(c.leadership.lease)}${c.leadership.holder ? `, held by ${code(c.leadership.holder)}` : ', no holder'}`]);
  }
  facts.push(['Caches', c.ready ? 'ready' : '<span class="bad">not ready</span>: first list not finished']);
  facts.push(['Loop', `${c.live.live ? 'live' : '<span class="bad">stalled</span>'}: ${esc(c.live.detail)}`]);
  facts.push(['Concurrency', c.concurrency === 0 ? 'unbounded' : `at most ${c.concurrency}`]);
  if (c.reconcileTimeoutMs !== undefined) facts.push(['Reconcile deadline', formatDuration(c.reconcileTimeoutMs)]);
  const parts = CONTROLLER_PARTS.map((f) => f(c, ctx));
  return `<section id="${id}" class="controller" aria-labelledby="${id}-name">
<h2 id="${id}-name">${esc(c.name)} ${badges(c)}</h2>
<dl class="facts">${facts.map(([k, v]) => `<div><dt>${k}</dt><dd>${v}</dd></div>`).join('')}</dl>
${parts
  .map(
    (p) => `<section class="part" aria-labelledby="${id}-${p.key}">
<h3 id="${id}-${p.key}">${p.title}${p.figures ? ` <small>${p.figures}</small>` : ''}</h3>
${p.body || `<p class="empty">${p.empty ?? 'None.'}</p>`}
</section>`,
  )
  .join('\n')}
</section>`;
}

function queuePart(c: ControllerDiagnostics): Part {
  const q = c.queue;
  const figures = `${q.depth} queued · ${q.dueNow} due now${q.oldestWaitMs !== undefined ? ` · oldest waiting ${formatDuration(q.oldestWaitMs)}` : ''}`;
  const rows = q.next.map((e: QueuedEntry) => `<tr><td>${code(e.object)}</td><td>${e.dueInMs <= 0 ? `now (waiting ${formatDuration(-e.dueInMs)})` : `in ${formatDuration(e.dueInMs)}`}</td><td>${esc(e.reason)}</td></tr>`);
  const more = q.depth > q.next.length && q.next.length > 0 ? `<p class="note">The next ${q.next.length} of ${q.depth}.</p>` : '';
  return { key: 'queue', title: 'Queue', figures, body: rows.length ? table(['Object', 'Due', 'Reason'], rows) + more : '', empty: 'Nothing queued.' };
}

function runningPart(c: ControllerDiagnostics, ctx: RenderContext): Part {
  const rows = c.running.map((r: RunningReconcile) => {
    // Overdue: past its deadline; suspect: that, or running longer than /livez tolerates, or the loop is stalled.
    const overdue = r.deadlineInMs !== undefined && r.deadlineInMs <= 0;
    const suspect = overdue || !c.live.live || (c.livenessThresholdMs !== undefined && r.runningForMs > c.livenessThresholdMs);
    const deadline = r.deadlineInMs === undefined ? '—' : overdue ? `<span class="bad">passed ${formatDuration(-r.deadlineInMs)} ago</span>` : `in ${formatDuration(r.deadlineInMs)}`;
    return `<tr${suspect ? ' class="suspect"' : ''}><td>${code(r.object)}</td><td class="num">${suspect ? '<span class="bad">' : ''}${formatDuration(r.runningForMs)}${suspect ? '</span>' : ''}</td><td>${esc(r.reason)}</td><td>${deadline}</td><td>${trace(r.traceId, ctx)}</td></tr>`;
  });
  const figures = `${c.running.length}${c.concurrency ? ` of at most ${c.concurrency}` : ''}`;
  return { key: 'running', title: 'Running now', figures, body: rows.length ? table(['Object', 'Running for', 'Reason', 'Deadline', 'Trace'], rows) : '', empty: 'Nothing running.' };
}

function recentPart(c: ControllerDiagnostics, ctx: RenderContext): Part {
  const rows = c.recent.map((r: FinishedReconcile) => {
    const result = r.result === 'success' ? badge('ok', 'success') : badge('bad', r.result);
    return `<tr${r.result === 'success' ? '' : ' class="failed"'}><td>${code(r.object)}</td><td>${result}</td><td>${ago(r.finishedAt, ctx)}</td><td class="num">${formatDuration(r.durationMs)}</td><td>${esc(r.reason)}</td><td>${trace(r.traceId, ctx)}</td><td>${esc(r.action)}</td><td class="message">${r.error === undefined ? '' : esc(r.error)}</td></tr>`;
  });
  const failed = c.recent.filter((r) => r.result !== 'success').length;
  return { key: 'recent', title: 'Recently finished', figures: `last ${c.recent.length}, ${failed} failed, newest first`, body: rows.length ? table(['Object', 'Result', 'Finished', 'Took', 'Reason', 'Trace', 'Then', 'Error'], rows) : '', empty: 'No reconcile has finished yet.' };
}

function cachesPart(c: ControllerDiagnostics, ctx: RenderContext): Part {
  const rows = c.caches.map(
    (k: CacheDiagnostics) =>
      `<tr><td>${esc(k.name)}</td><td>${esc(k.resource)}</td><td class="num">${k.objects}</td><td>${k.ready ? 'yes' : '<span class="bad">no</span>'}</td><td>${k.connectedSince ? ago(k.connectedSince, ctx) : '<span class="bad">not connected</span>'}</td><td>${k.lastEventAt ? ago(k.lastEventAt, ctx) : '—'}</td><td class="num">${k.restarts}</td><td class="num">${k.relists}</td><td class="message">${k.lastError ? `${esc(k.lastError.message)} (${ago(k.lastError.at, ctx)})` : ''}</td></tr>`,
  );
  return { key: 'caches', title: 'Caches', figures: `${c.caches.length}`, body: rows.length ? table(['Cache', 'Resource', 'Objects', 'Ready', 'Connected', 'Last event', 'Restarts', 'Relists', 'Last error'], rows) : '', empty: 'No cache.' };
}

function table(headers: string[], rows: string[]): string {
  return `<div class="scroll"><table><thead><tr>${headers.map((h) => `<th scope="col">${h}</th>`).join('')}</tr></thead><tbody>
${rows.join('\n')}
</tbody></table></div>`;
}

function code(text: string): string {
  return `<code>${esc(text)}</code>`;
}

function trace(traceId: string | undefined, ctx: RenderContext): string {
  if (!traceId) return '';
  const href = traceHref(ctx.traceUrl, traceId);
  const label = `<code title="${esc(traceId)}">${esc(traceId.slice(0, 8))}…</code>`;
  return href === undefined ? `<code>${esc(traceId)}</code>` : `<a href="${esc(href)}" rel="noreferrer">${label}</a>`;
}

function time(iso: string, text: string): string {
  return `<time datetime="${esc(iso)}">${esc(text)}</time>`;
}

/** `12 s ago`, with the absolute time on hover. */
function ago(iso: string, ctx: RenderContext): string {
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return esc(iso);
  const ms = ctx.now - at;
  return `<time datetime="${esc(iso)}" title="${esc(iso)}">${ms >= 0 ? `${formatDuration(ms)} ago` : `in ${formatDuration(ms)}`}</time>`;
}

const CSS = `
:root{color-scheme:light dark;--fg:#1b1f24;--muted:#5b636d;--bg:#fff;--line:#d5d9de;--head:#f3f5f7;--ok:#1a7f37;--warn:#9a6700;--bad:#cf222e;--suspect:#fff1e5}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9aa4ae;--bg:#0d1117;--line:#30363d;--head:#161b22;--ok:#3fb950;--warn:#d29922;--bad:#f85149;--suspect:#3a2412}}
*{box-sizing:border-box}
body{margin:0 auto;max-width:90rem;padding:.75rem;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
h1{font-size:1.3rem;margin:0 0 .2rem}
h2{font-size:1.15rem;margin:1.6rem 0 .4rem;overflow-wrap:anywhere}
h3{font-size:1rem;margin:1rem 0 .3rem}
h3 small,.meta,.note,.empty{color:var(--muted);font-weight:normal}
.meta{margin:0;font-size:.9rem}
a{color:inherit}
code{font:.85rem/1.3 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.controller{border-top:2px solid var(--line)}
.badge{display:inline-block;font-size:.75rem;font-weight:600;padding:0 .45rem;margin:0 .2rem .15rem 0;border-radius:1rem;border:1px solid currentColor;vertical-align:middle}
.ok{color:var(--ok)}.warn{color:var(--warn)}.bad{color:var(--bad);font-weight:600}
.facts{display:flex;flex-wrap:wrap;gap:.2rem 1.5rem;margin:.3rem 0}
.facts div{min-width:0;max-width:100%}
.facts dt{display:inline;color:var(--muted)}
.facts dt::after{content:": "}
.facts dd{display:inline;margin:0;overflow-wrap:anywhere}
.scroll{overflow-x:auto;max-width:100%;border:1px solid var(--line);border-radius:4px}
table{border-collapse:collapse;width:100%}
th,td{padding:.3rem .55rem;text-align:left;vertical-align:top;white-space:nowrap;border-bottom:1px solid var(--line)}
tbody tr:last-child td{border-bottom:0}
th{background:var(--head);font-size:.85rem}
td.num{text-align:right;font-variant-numeric:tabular-nums}
td.message{white-space:normal;min-width:14rem;max-width:40rem;overflow-wrap:anywhere}
tr.suspect td,tr.failed td{background:var(--suspect)}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
@media (max-width:40rem){body{padding:.5rem;font-size:14px}th,td{padding:.25rem .4rem}}
`.trim();
