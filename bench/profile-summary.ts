/**
 * Summarises V8 CPU profiles (`node --cpu-prof`, or `BENCH_PROFILE=1 npm run bench`):
 * self time by function and by file, and total (inclusive) time of kubeloop's functions.
 *
 *   node dist/bench/profile-summary.js bench/results/profiles/warmup-kubeloop-*.cpuprofile
 */
import { existsSync, readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: Node[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

function shortUrl(url: string): string {
  if (!url) return '(native)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return url.slice(dist + 1);
  return url.replace(/^file:\/\//, '');
}

export function summarise(file: string, top = 25): string {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Only the measured window, when the child recorded one.
  const window = existsSync(`${file}.window.json`) ? (JSON.parse(readFileSync(`${file}.window.json`, 'utf8')) as { startUs: number; endUs: number }) : undefined;
  const selfUs = new Map<number, number>();
  let t = p.startTime;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    t += dt;
    if (window && (t < window.startUs || t > window.endUs)) return;
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
  });
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const fnSelf = new Map<string, number>();
  const fileSelf = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const n = byId.get(id)!;
    const key = `${n.callFrame.functionName || '(anonymous)'} ${shortUrl(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
    fnSelf.set(key, (fnSelf.get(key) ?? 0) + us);
    const f = shortUrl(n.callFrame.url).replace(/:\d+$/, '');
    const pkg = f.startsWith('dist/') || f === '(native)' ? f : f.startsWith('@') ? f.split('/').slice(0, 2).join('/') : f.split('/')[0]!;
    fileSelf.set(pkg, (fileSelf.get(pkg) ?? 0) + us);
    // Inclusive time for each distinct frame on the stack (counted once per sample).
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const c = byId.get(cur)!.callFrame;
      if (!c.url.includes('/dist/src/')) continue;
      const k = `${c.functionName || '(anonymous)'} ${shortUrl(c.url)}:${c.lineNumber + 1}`;
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + us);
    }
  }
  const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms`;
  const topOf = (m: Map<string, number>, n: number) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, us]) => `  ${pct(us)}  ${k}`);
  return [
    `${file}: ${(total / 1000).toFixed(0)} ms sampled${window ? ' in the measured window' : ''}`,
    'self time by function:',
    ...topOf(fnSelf, top),
    'self time by package / file:',
    ...topOf(fileSelf, 15),
    'inclusive time of kubeloop functions:',
    ...topOf(inclusive, 15),
  ].join('\n');
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  for (const f of process.argv.slice(2)) console.log(summarise(f) + '\n');
}
