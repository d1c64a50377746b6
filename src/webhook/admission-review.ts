/**
 * One AdmissionReview, from the request body to the answer: checks its shape,
 * runs the handler within its time limit, turns the handler's result into a
 * response (a JSON patch for a mutation), and says how it ended for metrics.
 *
 * A handler that throws is denied with a generic message: its error may carry
 * anything (a connection string, a token in a URL), so the details go to the log
 * line only, which is inside the review's span.
 */
import type { ActiveSpan } from '../telemetry/span.js';
import { logger } from '../telemetry/log.js';
import { ObjectRef } from '../core/object-ref.js';
import type { KubeObject } from '../core/resource.js';
import { handlerTimeoutMs, type AdmissionRequest, type MutatingWebhook, type Mutated, type MutationResult, type ValidatingWebhook } from './admission.js';
import { BadReviewError, HandlerTimeoutError } from './errors.js';
import { admissionPatch } from './json-patch.js';
import type { WebhookResult } from './metrics.js';
import { ADMISSION_REVIEW_VERSIONS, type AdmissionRequestWire, type AdmissionResponseWire, type AdmissionReview } from './review.js';

const log = logger('kubeloop::webhook');

export type AdmissionRoute = { type: 'validating'; webhook: ValidatingWebhook<any> } | { type: 'mutating'; webhook: MutatingWebhook<any> };

/** Checks the parts of a review kubeloop relies on; throws a 400 naming what is wrong. */
export function parseAdmissionReview(body: unknown): AdmissionReview & { request: AdmissionRequestWire } {
  const review = body as Partial<AdmissionReview> | null;
  if (review === null || typeof review !== 'object' || review.kind !== 'AdmissionReview') throw new BadReviewError(400, 'the body is not an AdmissionReview (kind must be AdmissionReview)');
  if (!(ADMISSION_REVIEW_VERSIONS as readonly string[]).includes(review.apiVersion ?? '')) {
    throw new BadReviewError(400, `AdmissionReview ${review.apiVersion ?? '(no apiVersion)'} is not served here; use one of ${ADMISSION_REVIEW_VERSIONS.join(', ')}`);
  }
  const request = review.request;
  if (!request || typeof request !== 'object' || typeof request.uid !== 'string' || request.uid === '' || typeof request.operation !== 'string' || typeof request.kind !== 'object') {
    throw new BadReviewError(400, 'the AdmissionReview has no request with uid, kind and operation');
  }
  return review as AdmissionReview & { request: AdmissionRequestWire };
}

/** The reference of the reviewed object, for spans and logs: `Kind.version.group/name.namespace`. */
export function reviewedRef(request: AdmissionRequestWire): string {
  const name = request.name || request.object?.metadata?.name || (request.object?.metadata?.generateName ? `${request.object.metadata.generateName}*` : '');
  return new ObjectRef(request.kind.kind, request.kind.version, request.kind.group, name, request.namespace || undefined).key;
}

/** Runs `work` with an abort signal, rejecting with a `HandlerTimeoutError` after `ms`. */
async function withinTime<T>(ms: number, work: (signal: AbortSignal) => T | Promise<T>): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new HandlerTimeoutError(`the handler did not answer within ${ms} ms`);
      controller.abort(error);
      reject(error);
    }, ms);
    // The server keeps the process alive while it listens; a handler stuck past close() must not.
    timer.unref();
  });
  try {
    return await Promise.race([Promise.resolve().then(() => work(controller.signal)), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Answers one review with the route's handler; records the outcome on `span`. */
export async function answerAdmission(route: AdmissionRoute, review: AdmissionReview & { request: AdmissionRequestWire }, span: ActiveSpan): Promise<{ review: AdmissionReview; result: WebhookResult }> {
  const wire = review.request;
  const { webhook } = route;
  const respond = (response: Omit<AdmissionResponseWire, 'uid'>, result: WebhookResult) => {
    span.record('admission.allowed', response.allowed);
    if (response.status?.code !== undefined) span.record('admission.code', response.status.code);
    return { review: { apiVersion: review.apiVersion, kind: 'AdmissionReview' as const, response: { uid: wire.uid, ...response } }, result };
  };
  const object = wire.object ?? undefined;
  const limitMs = handlerTimeoutMs(webhook);
  let outcome: MutationResult<KubeObject>;
  try {
    outcome = await withinTime(limitMs, (signal) => {
      const request: AdmissionRequest = {
        uid: wire.uid,
        operation: wire.operation,
        kind: wire.kind,
        resource: wire.resource,
        subResource: wire.subResource || undefined,
        name: wire.name || undefined,
        namespace: wire.namespace || undefined,
        // A mutating handler changes its own copy; the original is what the patch starts from.
        object: route.type === 'mutating' && object ? structuredClone(object) : object,
        oldObject: wire.oldObject ?? undefined,
        dryRun: wire.dryRun === true,
        userInfo: wire.userInfo ?? {},
        options: wire.options ?? undefined,
        signal,
      };
      return webhook.handler(request);
    });
    if (outcome === null || typeof outcome !== 'object' || typeof outcome.allowed !== 'boolean') throw new TypeError('the handler returned no admission result (use allow(), deny() or mutate())');
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    span.fail(error instanceof HandlerTimeoutError ? error : new Error('the handler failed'));
    if (error instanceof HandlerTimeoutError) {
      log.warn({ timeout_ms: limitMs, failure_policy: webhook.failurePolicy ?? 'Fail' }, 'admission handler timed out; answering by the failure policy');
      const said = `admission webhook ${webhook.name} did not answer within ${limitMs} ms`;
      return (webhook.failurePolicy ?? 'Fail') === 'Ignore'
        ? respond({ allowed: true, warnings: [`${said}; the write was admitted without its check (failurePolicy Ignore)`] }, 'errored')
        : respond({ allowed: false, status: { code: 500, reason: 'InternalError', message: said } }, 'errored');
    }
    log.error({ error: message, stack: error instanceof Error ? error.stack : undefined }, 'admission handler threw; the write is denied');
    return respond({ allowed: false, status: { code: 500, reason: 'InternalError', message: `admission webhook ${webhook.name} failed to review the request (its logs say why)` } }, 'errored');
  }
  if (!outcome.allowed) {
    return respond(
      { allowed: false, status: { code: outcome.code, reason: outcome.reason ?? reasonFor(outcome.code), message: outcome.message }, ...(outcome.warnings?.length ? { warnings: outcome.warnings } : {}) },
      'denied',
    );
  }
  const warnings = outcome.warnings?.length ? { warnings: outcome.warnings } : {};
  if ('object' in outcome && route.type === 'mutating') {
    if (!object) {
      log.warn({ operation: wire.operation }, 'a mutating handler returned an object for a request without one; nothing to patch');
      return respond({ allowed: true, ...warnings }, 'allowed');
    }
    const patch = admissionPatch(object, (outcome as Mutated).object);
    span.record('admission.patch_bytes', patch?.bytes ?? 0);
    if (patch) return respond({ allowed: true, patchType: 'JSONPatch', patch: patch.patch, ...warnings }, 'allowed');
  }
  return respond({ allowed: true, ...warnings }, 'allowed');
}

function reasonFor(code: number): string {
  const reasons: Record<number, string> = { 400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 409: 'Conflict', 422: 'Invalid', 429: 'TooManyRequests', 500: 'InternalError', 503: 'ServiceUnavailable' };
  return reasons[code] ?? 'Forbidden';
}
