/**
 * The caller's W3C `traceparent`, as the parent of a webhook's span. Parsed here
 * rather than through the global propagator, which exists only once an SDK is
 * registered: without one, log lines inside a handler still carry the API
 * server's trace id.
 */
import { ROOT_CONTEXT, isSpanContextValid, trace, type Context } from '@opentelemetry/api';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** A context whose span is the remote parent `header` names; the root context when it names none or is malformed. */
export function remoteParent(header: string | string[] | undefined): Context {
  const m = typeof header === 'string' ? TRACEPARENT.exec(header.trim()) : null;
  if (!m) return ROOT_CONTEXT;
  const spanContext = { traceId: m[1]!, spanId: m[2]!, traceFlags: parseInt(m[3]!, 16) & 1, isRemote: true };
  return isSpanContextValid(spanContext) ? trace.setSpanContext(ROOT_CONTEXT, spanContext) : ROOT_CONTEXT;
}
