/**
 * Trace context carried by objects, so that the reconcile a write causes can
 * point back to the code that made the write.
 *
 * A write made inside a traced span stamps the object with the W3C
 * `traceparent` of that span in the annotation `tracing.k8s.io/traceparent`
 * (the key of Kubernetes' enhancement proposal KEP-5915, "Standardizing async
 * trace context propagation"); the reconcile of that object then carries a span
 * *link* to it — a link, not a parent, since the reconcile is separate work
 * that happens later, maybe many times.
 *
 * Loops are the danger: a reconcile that stamped its own span on what it
 * writes would change every child on every run, and each change would trigger
 * another run. So inside a reconcile, writes carry on the trace context of the
 * object being reconciled (the user's intent, as the KEP puts it) instead of the
 * reconcile's own: rewriting a child with the same value changes nothing.
 * Status writes never stamp. Nothing is stamped while no tracer records spans,
 * and `setObjectTraceStamping(false)` turns stamping off.
 */
import { context, isSpanContextValid, TraceFlags, trace, type Link } from '@opentelemetry/api';
import { currentSpan } from './span.js';

export const TRACEPARENT_ANNOTATION = 'tracing.k8s.io/traceparent';

let stamping = true;

/** Turns stamping of written objects on (the default, while tracing is on) or off. */
export function setObjectTraceStamping(on: boolean): void {
  stamping = on;
}

/** The traceparent a write made here stamps on its object, if any. */
export function writeStamp(): string | undefined {
  if (!stamping) return undefined;
  const span = currentSpan();
  // Inside a reconcile: its object's own stamp, passed on only while tracing records (the span has a trace id).
  if (span?.writeStamp !== undefined) return span.traceId === undefined ? undefined : (span.writeStamp ?? undefined);
  const sc = trace.getSpanContext(context.active());
  if (!sc || !isSpanContextValid(sc) || (sc.traceFlags & TraceFlags.SAMPLED) === 0) return undefined;
  return `00-${sc.traceId}-${sc.spanId}-01`;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The span an object's stamp names, as a link; undefined when it has none or it is malformed. */
export function linkFromObject(obj: { metadata?: { annotations?: Record<string, string> } }): Link | undefined {
  const value = obj.metadata?.annotations?.[TRACEPARENT_ANNOTATION];
  const m = value === undefined ? null : TRACEPARENT.exec(value);
  if (!m) return undefined;
  const spanContext = { traceId: m[1]!, spanId: m[2]!, traceFlags: parseInt(m[3]!, 16), isRemote: true };
  if (!isSpanContextValid(spanContext)) return undefined;
  return { context: spanContext, attributes: { 'kubeloop.link': 'object written' } };
}

/** The stamp an object carries, verbatim (for the reconcile's writes to pass on). */
export function objectStamp(obj: { metadata?: { annotations?: Record<string, string> } }): string | undefined {
  return obj.metadata?.annotations?.[TRACEPARENT_ANNOTATION];
}

/**
 * `body` with the stamp added to its annotations, when it is an object that
 * does not set the annotation itself (a caller's own value wins).
 */
export function stamped<T>(body: T, stamp: string | undefined): T {
  if (stamp === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) return body;
  const b = body as { metadata?: { annotations?: Record<string, string> | null } };
  // `annotations: null` in a merge patch removes them all: not ours to turn into a set.
  if (b.metadata?.annotations === null || b.metadata?.annotations?.[TRACEPARENT_ANNOTATION] !== undefined) return body;
  return { ...b, metadata: { ...b.metadata, annotations: { ...(b.metadata?.annotations ?? {}), [TRACEPARENT_ANNOTATION]: stamp } } } as T;
}
