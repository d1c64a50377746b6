/**
 * Structured logs on pino, filtered per target with `RUST_LOG`-style directives.
 *
 * Every logger has a target (`kubeloop::client`, `my_controller`); the filter
 * (`KUBELOOP_LOG`, default `info`) gives each target its level, and a disabled
 * level is one of pino's no-op functions. Lines written inside a span carry its
 * fields (see `span.ts`).
 */
import pino, { type DestinationStream, type LogFn } from 'pino';
import pretty from 'pino-pretty';
import { parseLogFilter, type Level, type LogFilter } from './filter.js';
import { currentSpan } from './span.js';

export type LogFormat = 'json' | 'pretty';

export interface LoggingOptions {
  /** Directives such as `info,kubeloop=warn`. Default: `KUBELOOP_LOG`, else `info`. */
  filter?: string;
  /** `json` (default, or `KUBELOOP_LOG_FORMAT`) or `pretty` for a readable single line per entry. */
  format?: LogFormat;
  /** Where lines go. Default: standard output. */
  destination?: DestinationStream;
}

/** Field names whose values are replaced before a line is written, whatever the caller passes. */
const REDACT = ['authorization', 'Authorization', 'token', 'bearerToken', 'password', 'clientKey', 'privateKey', 'cookie'].flatMap((k) => [
  k,
  `*.${k}`,
  `*.*.${k}`,
]);

interface State {
  filter: LogFilter;
  root: pino.Logger;
}

let state: State | undefined;
const loggers = new Map<string, Logger>();
const EMPTY = Object.freeze({});

function build(options: LoggingOptions): State {
  const filter = parseLogFilter(options.filter ?? process.env.KUBELOOP_LOG ?? 'info', options.filter !== undefined ? 'log filter' : 'KUBELOOP_LOG');
  const format = options.format ?? (process.env.KUBELOOP_LOG_FORMAT as LogFormat | undefined) ?? 'json';
  if (format !== 'json' && format !== 'pretty') throw new Error(`KUBELOOP_LOG_FORMAT must be json or pretty, not "${format}".`);
  const destination =
    options.destination ??
    (format === 'pretty'
      ? pretty({ colorize: process.stdout.isTTY, singleLine: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'target', messageFormat: '{target}: {msg}', sync: true })
      : pino.destination({ dest: 1, sync: true }));
  const root = pino(
    {
      level: 'trace',
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      ...(format === 'json' ? { formatters: { level: (label: string) => ({ level: label }) } } : {}),
      mixin: () => currentSpan()?.logFields() ?? EMPTY,
      mixinMergeStrategy: (mergeObject: object, mixinObject: object) => ({ ...mixinObject, ...mergeObject }),
      redact: { paths: REDACT, censor: '[redacted]' },
    },
    destination,
  );
  return { filter, root };
}

function current(): State {
  state ??= build({});
  return state;
}

const pinoLevel = (level: Level): pino.LevelWithSilent => (level === 'off' ? 'silent' : level);

/** A logger for one target. Its methods are pino's: `log.info({ key: 1 }, 'message')`. */
export class Logger {
  trace!: LogFn;
  debug!: LogFn;
  info!: LogFn;
  warn!: LogFn;
  error!: LogFn;
  private level!: Level;

  constructor(readonly target: string) {
    this.rebind();
  }

  /** True when lines at `level` are written for this target (to skip building costly fields). */
  isEnabled(level: Exclude<Level, 'off'>): boolean {
    return this.level !== 'off' && LEVEL_ORDER[level] >= LEVEL_ORDER[this.level];
  }

  /** @internal Re-reads the filter and destination after a change. */
  rebind(): void {
    const { root, filter } = current();
    this.level = filter.levelFor(this.target);
    const child = root.child({ target: this.target }, { level: pinoLevel(this.level) });
    this.trace = child.trace.bind(child);
    this.debug = child.debug.bind(child);
    this.info = child.info.bind(child);
    this.warn = child.warn.bind(child);
    this.error = child.error.bind(child);
  }
}

const LEVEL_ORDER: Record<Level, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, off: 100 };

/**
 * The logger for `target`. Use the `::`-separated names the filter matches on.
 *
 * @example
 * const log = logger('my_controller');
 * log.info({ replicas: 3 }, 'scaled');
 */
export function logger(target: string): Logger {
  let l = loggers.get(target);
  if (!l) {
    l = new Logger(target);
    loggers.set(target, l);
  }
  return l;
}

/**
 * Sets the filter, format and destination for every logger, now and later.
 * Throws a `LogFilterError` naming a bad directive.
 */
export function configureLogging(options: LoggingOptions = {}): void {
  state = build(options);
  for (const l of loggers.values()) l.rebind();
}

/** Changes only the filter, at runtime (the probe server's `PUT /log-level` calls this). */
export function setLogFilter(text: string): void {
  const next = parseLogFilter(text, 'log filter');
  current().filter = next;
  for (const l of loggers.values()) l.rebind();
}

/** The filter in force, as directives. */
export function logFilter(): string {
  return current().filter.source;
}
