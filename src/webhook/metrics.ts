/**
 * Webhook metrics, in kubeloop's registry beside the reconcile metrics.
 *
 * controller-runtime counts HTTP status codes (`controller_runtime_webhook_requests_total{webhook,code}`),
 * which are 200 for an allowed and a denied review alike; these count what was
 * decided, which is what an operator of a webhook wants to alert on. With
 * `enableControllerRuntimeMetrics()`, controller-runtime's three webhook metrics
 * are recorded as well (below).
 */
import { Counter, Gauge, Histogram } from 'prom-client';
import { controllerRuntimeMetrics } from '../telemetry/controller-runtime-metrics.js';
import { metricsRegistry, SourcedGauge } from '../telemetry/metrics.js';

/** Result label values: the review allowed the write, denied it, or failed (the handler threw or ran out of time, the request was malformed). */
export type WebhookResult = 'allowed' | 'denied' | 'errored';

function defineWebhookMetrics() {
  const registers = [metricsRegistry];
  return {
    requests: new Counter({
      name: 'webhook_requests_total',
      help: 'Admission and conversion reviews answered, by webhook, operation (CREATE, UPDATE, DELETE, CONNECT, CONVERT; unknown for a malformed review) and result (allowed, denied, errored; a conversion is allowed when every object converted).',
      labelNames: ['webhook', 'operation', 'result'] as const,
      registers,
    }),
    duration: new Histogram({
      name: 'webhook_request_duration_seconds',
      help: "Time from a review request's arrival to its answer, by webhook.",
      labelNames: ['webhook'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    inFlight: new Gauge({
      name: 'webhook_requests_in_flight',
      help: 'Reviews being handled now, by webhook.',
      labelNames: ['webhook'] as const,
      registers,
    }),
    certificateExpiry: new SourcedGauge(
      'webhook_certificate_expiry_timestamp_seconds',
      'When the serving certificate in use expires (Unix seconds), by certificate file: alert well before it, in case renewal or the reload failed.',
      ['cert_file'],
    ),
    certificateReloads: new Counter({
      name: 'webhook_certificate_reloads_total',
      help: 'Changes of the serving certificate files, by result (success: now in use; error: unreadable or a mismatched pair, the previous one kept).',
      labelNames: ['result'] as const,
      registers,
    }),
  };
}

let webhook: ReturnType<typeof defineWebhookMetrics> | undefined;

/**
 * The webhook metrics, registered on first use (a webhook server or certificate
 * reloader being made): a process without webhooks exports no empty webhook families.
 */
export function webhookMetrics(): ReturnType<typeof defineWebhookMetrics> {
  webhook ??= defineWebhookMetrics();
  return webhook;
}

/** client_golang's default buckets, which controller-runtime's webhook latency histogram uses. */
const PROMETHEUS_DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

function defineControllerRuntimeWebhookMetrics() {
  const registers = [metricsRegistry];
  return {
    requests: new Counter({
      name: 'controller_runtime_webhook_requests_total',
      help: 'Total number of admission requests by HTTP status code.',
      labelNames: ['webhook', 'code'] as const,
      registers,
    }),
    latency: new Histogram({
      name: 'controller_runtime_webhook_latency_seconds',
      help: 'Histogram of the latency of processing admission requests',
      labelNames: ['webhook'] as const,
      buckets: PROMETHEUS_DEFAULT_BUCKETS,
      registers,
    }),
    inFlight: new Gauge({
      name: 'controller_runtime_webhook_requests_in_flight',
      help: 'Current number of admission requests being served.',
      labelNames: ['webhook'] as const,
      registers,
    }),
  };
}

let controllerRuntimeWebhook: ReturnType<typeof defineControllerRuntimeWebhookMetrics> | undefined;

/**
 * controller-runtime's webhook metrics (label `webhook` is the path, as there),
 * once `enableControllerRuntimeMetrics()` has been called; undefined before.
 */
export function controllerRuntimeWebhookMetrics(): ReturnType<typeof defineControllerRuntimeWebhookMetrics> | undefined {
  if (controllerRuntimeWebhook === undefined && controllerRuntimeMetrics() !== undefined) controllerRuntimeWebhook = defineControllerRuntimeWebhookMetrics();
  return controllerRuntimeWebhook;
}
