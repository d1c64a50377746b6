/**
 * A log filter with the directive syntax of Rust's `RUST_LOG`:
 * `info`, `kubeloop=warn,my_controller=debug`, `kubeloop::watcher=trace`.
 *
 * A directive is `level`, `target=level` or a bare `target` (meaning every level).
 * A target matches itself and its `::` children; the longest matching target
 * wins; a bare level is the default for targets no directive names. Without a
 * bare level, unnamed targets are off — as with `RUST_LOG`.
 */

export const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'off'] as const;
export type Level = (typeof LEVELS)[number];

export class LogFilterError extends Error {
  readonly code = 'ERR_LOG_FILTER';
}

export interface LogFilter {
  /** The text it was parsed from, normalised. */
  readonly source: string;
  /** The most verbose level enabled for `target`. */
  levelFor(target: string): Level;
}

const TARGET = /^[A-Za-z_][A-Za-z0-9_.-]*(::[A-Za-z0-9_.-]+)*$/;

function parseLevel(text: string, directive: string, origin: string): Level {
  const level = text.toLowerCase();
  if ((LEVELS as readonly string[]).includes(level)) return level as Level;
  throw new LogFilterError(`${origin}: directive "${directive}" has an unknown level "${text}" (expected trace, debug, info, warn, error or off).`);
}

/**
 * Parses a filter. `origin` names where the text came from (for example
 * `KUBELOOP_LOG`) in the error a bad directive raises.
 */
export function parseLogFilter(text: string, origin = 'log filter'): LogFilter {
  let defaultLevel: Level | undefined;
  const targets: { target: string; level: Level }[] = [];
  const parts = text.split(',').map((p) => p.trim()).filter((p) => p.length > 0);
  for (const directive of parts) {
    if (directive.includes('[') || directive.includes('{')) {
      throw new LogFilterError(`${origin}: directive "${directive}" uses span filters, which kubeloop does not support.`);
    }
    const eq = directive.indexOf('=');
    if (eq === -1) {
      if ((LEVELS as readonly string[]).includes(directive.toLowerCase())) defaultLevel = directive.toLowerCase() as Level;
      else if (TARGET.test(directive)) targets.push({ target: directive, level: 'trace' });
      else throw new LogFilterError(`${origin}: directive "${directive}" is neither a level nor a target name.`);
      continue;
    }
    const target = directive.slice(0, eq).trim();
    const levelText = directive.slice(eq + 1).trim();
    if (!TARGET.test(target)) throw new LogFilterError(`${origin}: directive "${directive}" has an invalid target "${target}".`);
    targets.push({ target, level: parseLevel(levelText, directive, origin) });
  }
  if (parts.length === 0) defaultLevel = 'info';
  // Longest target first, so the first match is the most specific; later directives override earlier equal ones.
  const ordered = [...new Map(targets.map((t) => [t.target, t])).values()].sort((a, b) => b.target.length - a.target.length);
  const fallback: Level = defaultLevel ?? 'off';
  const cache = new Map<string, Level>();
  return {
    source: [...(defaultLevel && parts.length ? [defaultLevel] : []), ...ordered.map((t) => `${t.target}=${t.level}`)].join(',') || 'info',
    levelFor(target: string): Level {
      let level = cache.get(target);
      if (level === undefined) {
        level = ordered.find((t) => target === t.target || target.startsWith(`${t.target}::`))?.level ?? fallback;
        cache.set(target, level);
      }
      return level;
    },
  };
}
