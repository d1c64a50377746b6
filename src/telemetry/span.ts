/**
 * Spans that carry fields into log lines, with or without an OpenTelemetry SDK.
 *
 * A span is kept in AsyncLocalStorage while its function runs, so every log line
 * written inside it (by the library or the user) carries its fields and, when a
 * tracer provider is registered, `trace_id` and `span_id`. The OpenTelemetry side
 * goes through `@opentelemetry/api` only: without an SDK those calls are no-ops.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { context, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Link, type Span as OtelSpan } from '@opentelemetry/api';

export type FieldValue = string | number | boolean;
export type Fields = Record<string, FieldValue | undefined>;

const tracer = () => trace.getTracer('kubeloop');
const INVALID_TRACE_ID = '00000000000000000000000000000000';

/** A running span: its fields go into log lines and into the OpenTelemetry span's attributes. */
export class ActiveSpan {
  private logFieldsCache?: Record<string, unknown>;
  /** True when an SDK records this span (not a no-op). */
  readonly recording: boolean;
  /** Where `signal` comes from: a signal, or a getter that makes one when first read. */
  private readonly signalSource?: AbortSignal | (() => AbortSignal);
  /**
   * The trace context that writes inside this span stamp on objects (see
   * object-trace.ts): `null` stamps nothing, `undefined` stamps the current
   * span's own context. Inherited by spans under it.
   */
  readonly writeStamp?: string | null;
  /**
   * Throws when the work this span belongs to may no longer act (a reconcile whose
   * replica lost its Lease); kubeloop's client calls it before each request.
   */
  readonly fence?: () => void;

  constructor(
    readonly name: string,
    private readonly fields: Fields,
    readonly parent: ActiveSpan | undefined,
    readonly otel: OtelSpan,
    readonly context: Context,
    options: Pick<SpanOptions, 'signal' | 'writeStamp' | 'fence'> = {},
  ) {
    this.recording = otel.isRecording();
    this.signalSource = options.signal ?? parent?.signalSource;
    this.fence = options.fence ?? parent?.fence;
    this.writeStamp = options.writeStamp !== undefined ? options.writeStamp : parent?.writeStamp;
  }

  /**
   * Aborts the work this span belongs to: the reconcile's deadline, inherited by
   * every span under it. kubeloop's client adds it to each request made inside.
   */
  get signal(): AbortSignal | undefined {
    const source = this.signalSource;
    return typeof source === 'function' ? source() : source;
  }

  /** The trace id when a tracer provider is registered, else undefined. */
  get traceId(): string | undefined {
    const id = this.otel.spanContext().traceId;
    return id === INVALID_TRACE_ID ? undefined : id;
  }

  get spanId(): string | undefined {
    return this.traceId === undefined ? undefined : this.otel.spanContext().spanId;
  }

  /** Adds or changes a field (and attribute) of this span. */
  record(key: string, value: FieldValue): void {
    this.fields[key] = value;
    if (this.recording) this.otel.setAttribute(key, value);
    this.logFieldsCache = undefined;
  }

  /** Ends the span (`withSpan` does this itself; call it for a span from `startLeafSpan`). */
  end(): void {
    this.otel.end();
  }

  /** Marks the span failed; the error's message (never a secret by kubeloop's rules) becomes its status. */
  fail(error: unknown): void {
    if (!this.recording) return;
    const err = error instanceof Error ? error : new Error(String(error));
    this.otel.recordException(err);
    this.otel.setStatus({ code: SpanStatusCode.ERROR, message: err.message });
  }

  /** The fields of this span and its parents (inner wins), plus trace ids. Cached until a field changes. */
  logFields(): Record<string, unknown> {
    if (this.logFieldsCache === undefined) {
      const merged: Record<string, unknown> = this.parent ? { ...this.parent.logFields() } : {};
      for (const [k, v] of Object.entries(this.fields)) if (v !== undefined) merged[k] = v;
      const traceId = this.traceId;
      if (traceId !== undefined) {
        merged.trace_id = traceId;
        merged.span_id = this.otel.spanContext().spanId;
      }
      this.logFieldsCache = merged;
    }
    return this.logFieldsCache;
  }
}

const storage = new AsyncLocalStorage<ActiveSpan>();

/** The innermost span around the caller, if any. */
export function currentSpan(): ActiveSpan | undefined {
  return storage.getStore();
}

export interface SpanOptions {
  kind?: SpanKind;
  /** Start a new trace instead of nesting under the current span. */
  root?: boolean;
  /** Links to spans of other traces (the write that caused this work, say). Given at the start, so samplers see them. */
  links?: Link[];
  /** Aborts the work inside (see `ActiveSpan.signal`), or makes that signal when first read; spans under this one inherit it. */
  signal?: AbortSignal | (() => AbortSignal);
  /** What writes inside stamp on objects (see `ActiveSpan.writeStamp`). */
  writeStamp?: string | null;
  /** See `ActiveSpan.fence`; spans under this one inherit it. */
  fence?: () => void;
}

/**
 * Runs `fn` inside a new span named `name`. If `fn` throws, the span is marked
 * failed and the error passes through. The span ends when `fn` settles.
 *
 * @example
 * await withSpan('sync bucket', { bucket: name }, async (span) => {
 *   span.record('objects', n);
 * });
 */
export async function withSpan<T>(name: string, fields: Fields, fn: (span: ActiveSpan) => T | Promise<T>, options: SpanOptions = {}): Promise<T> {
  const span = startSpan(name, fields, options);
  const otel = span.otel;
  try {
    return await storage.run(span, () => context.with(span.context, () => fn(span)));
  } catch (error) {
    span.fail(error);
    throw error;
  } finally {
    otel.end();
  }
}

function startSpan(name: string, fields: Fields, options: SpanOptions): ActiveSpan {
  const parent = options.root ? undefined : storage.getStore();
  const parentContext = parent ? parent.context : options.root ? trace.deleteSpan(context.active()) : context.active();
  const attributes: Record<string, FieldValue> = {};
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) attributes[k] = v;
  const otel = tracer().startSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, attributes, links: options.links }, parentContext);
  return new ActiveSpan(name, { ...fields }, parent, otel, trace.setSpan(parentContext, otel), options);
}

/** The abort signal of the work around the caller (a reconcile with a deadline), if any. */
export function currentSignal(): AbortSignal | undefined {
  return storage.getStore()?.signal;
}

/**
 * Runs `fn` outside any span: for long-lived work that a span's code starts but
 * that does not belong to it (a cache's watch loop started by a reconcile must
 * neither be its child in traces nor die with its deadline).
 */
export function detached<T>(fn: () => T): T {
  return storage.exit(() => context.with(ROOT_CONTEXT, fn));
}

/**
 * Starts a span under the current one without making it current: code that runs
 * meanwhile still sees the enclosing span (`currentSpan()`, log fields). For leaf
 * spans that have no children, such as one API request. It spares a process whose
 * only spans are leaves (a reflector without a controller) from AsyncLocalStorage,
 * which on Node 20 adds a hook to every promise from its first use on. The caller
 * ends it with `span.end()`.
 */
export function startLeafSpan(name: string, fields: Fields, options: Omit<SpanOptions, 'root'> = {}): ActiveSpan {
  return startSpan(name, fields, options);
}

/**
 * Wraps a function so that every call runs in a span: the counterpart of Rust's
 * `#[instrument]`. `fields` may be a function of the call's arguments.
 *
 * @example
 * const ensureBucket = instrument(async (name: string) => { ... }, {
 *   name: 'ensure bucket', fields: (name) => ({ bucket: name }),
 * });
 */
export function instrument<A extends unknown[], R>(
  fn: (...args: A) => R | Promise<R>,
  options: { name?: string; fields?: Fields | ((...args: A) => Fields) } = {},
): (...args: A) => Promise<R> {
  const name = options.name ?? (fn.name || 'instrumented');
  return (...args: A) => {
    const fields = typeof options.fields === 'function' ? options.fields(...args) : (options.fields ?? {});
    return withSpan(name, fields, () => fn(...args));
  };
}
