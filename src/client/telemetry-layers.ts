import { SpanKind } from '@opentelemetry/api';
import { logger } from '../telemetry/log.js';
import { clientRequestDuration, clientRequests } from '../telemetry/metrics.js';
import { withSpan } from '../telemetry/span.js';
import type { Layer } from './request.js';

const log = logger('kubeloop::client');

/**
 * One client span per request, named after the verb, under whatever span is
 * current (a reconcile, usually); sends the W3C `traceparent` header; logs the
 * request at debug (the span's fields are the line's fields). Attributes hold the
 * method, path and status, never headers.
 */
export const traceLayer: Layer = (next) => (req) =>
  withSpan(
    req.verb,
    { 'http.request.method': req.method, 'url.path': req.path, 'kube.verb': req.verb },
    async (span) => {
      const started = performance.now();
      const traceId = span.traceId;
      const headers = traceId === undefined ? req.headers : { ...req.headers, traceparent: `00-${traceId}-${span.spanId}-${span.otel.spanContext().traceFlags & 1 ? '01' : '00'}` };
      try {
        const res = await next(headers === req.headers ? req : { ...req, headers });
        span.record('http.response.status_code', res.status);
        if (res.status >= 400) span.fail(new Error(`HTTP ${res.status}`));
        if (log.isEnabled('debug')) {
          log.debug({ duration_ms: Math.round((performance.now() - started) * 10) / 10 }, 'request');
        }
        return res;
      } catch (error) {
        if (log.isEnabled('debug')) {
          log.debug({ error: (error as Error).message, duration_ms: Math.round((performance.now() - started) * 10) / 10 }, 'request failed');
        }
        throw error;
      }
    },
    { kind: SpanKind.CLIENT },
  );

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
