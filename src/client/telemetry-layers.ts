import { context, SpanKind } from '@opentelemetry/api';
import { logger } from '../telemetry/log.js';
import { clientRequestDuration, clientRequests } from '../telemetry/metrics.js';
import { startLeafSpan } from '../telemetry/span.js';
import type { Layer } from './request.js';

const log = logger('kubeloop::client');

/**
 * One client span per request, named after the verb, under whatever span is
 * current (a reconcile, usually); sends the W3C `traceparent` header; logs the
 * request at debug with the span's fields. Attributes hold the method, path and
 * status, never headers. The span is a leaf: it is the OpenTelemetry context of
 * the layers below but not kubeloop's current span (see `startLeafSpan`).
 */
export const traceLayer: Layer = (next) => async (req) => {
  const span = startLeafSpan(req.verb, { 'http.request.method': req.method, 'url.path': req.path, 'kube.verb': req.verb }, { kind: SpanKind.CLIENT });
  const started = performance.now();
  const traceId = span.traceId;
  const headers = traceId === undefined ? req.headers : { ...req.headers, traceparent: `00-${traceId}-${span.spanId}-${span.otel.spanContext().traceFlags & 1 ? '01' : '00'}` };
  try {
    const res = await context.with(span.context, () => next(headers === req.headers ? req : { ...req, headers }));
    span.record('http.response.status_code', res.status);
    if (res.status >= 400) span.fail(new Error(`HTTP ${res.status}`));
    if (log.isEnabled('debug')) {
      log.debug({ ...span.logFields(), duration_ms: Math.round((performance.now() - started) * 10) / 10 }, 'request');
    }
    return res;
  } catch (error) {
    span.fail(error);
    if (log.isEnabled('debug')) {
      log.debug({ ...span.logFields(), error: (error as Error).message, duration_ms: Math.round((performance.now() - started) * 10) / 10 }, 'request failed');
    }
    throw error;
  } finally {
    span.end();
  }
};

/** Counts requests by verb and status code and times them. */
export const metricsLayer: Layer = (next) => async (req) => {
  const end = clientRequestDuration.startTimer({ verb: req.verb });
  let code = '0';
  try {
    const res = await next(req);
    code = String(res.status);
    return res;
  } finally {
    end();
    clientRequests.inc({ verb: req.verb, code });
  }
};
