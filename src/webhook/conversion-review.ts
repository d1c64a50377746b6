/**
 * One ConversionReview, from the request body to the answer: checks its shape
 * (a 400 otherwise), converts every object or fails the review with the
 * converter's message, and says how it ended for metrics.
 */
import { logger } from '../telemetry/log.js';
import type { ActiveSpan } from '../telemetry/span.js';
import { conversionResponse, convertObjects, ConversionFailedError, type ConversionWebhook } from './conversion.js';
import { BadReviewError } from './errors.js';
import type { WebhookResult } from './metrics.js';
import { CONVERSION_REVIEW_VERSION, type ConversionReview } from './review.js';

const log = logger('kubeloop::webhook');

function parseConversionReview(body: unknown): ConversionReview & { request: NonNullable<ConversionReview['request']> } {
  const review = body as Partial<ConversionReview> | null;
  if (review === null || typeof review !== 'object' || review.kind !== 'ConversionReview') throw new BadReviewError(400, 'the body is not a ConversionReview (kind must be ConversionReview)');
  if (review.apiVersion !== CONVERSION_REVIEW_VERSION) throw new BadReviewError(400, `ConversionReview ${review.apiVersion ?? '(no apiVersion)'} is not served here; use ${CONVERSION_REVIEW_VERSION}`);
  const request = review.request;
  if (!request || typeof request.uid !== 'string' || typeof request.desiredAPIVersion !== 'string' || !Array.isArray(request.objects)) {
    throw new BadReviewError(400, 'the ConversionReview has no request with uid, desiredAPIVersion and objects');
  }
  return review as ConversionReview & { request: NonNullable<ConversionReview['request']> };
}

/** Answers a ConversionReview body with the webhook's converters; records the request on `span`. */
export async function answerConversion(webhook: ConversionWebhook, body: unknown, span: ActiveSpan): Promise<{ review: ConversionReview; result: WebhookResult }> {
  const { request } = parseConversionReview(body);
  span.record('conversion.desired_api_version', request.desiredAPIVersion);
  span.record('conversion.objects', request.objects.length);
  try {
    const objects = await convertObjects(webhook, request.desiredAPIVersion, request.objects);
    return { review: conversionResponse(request.uid, { objects }), result: 'allowed' };
  } catch (e) {
    if (!(e instanceof ConversionFailedError)) throw e;
    span.fail(e);
    log.warn({ error: e.message }, 'conversion failed');
    return { review: conversionResponse(request.uid, { message: e.message }), result: 'errored' };
  }
}
