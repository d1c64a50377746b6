/** Errors of the webhook server, each with a stable `code` and the HTTP status it answers with. */

/** A request the server cannot review: answered with `status` and the message, never passed to a handler. */
export class BadReviewError extends Error {
  readonly code = 'BadReview';
  constructor(
    readonly status: 400 | 405 | 413 | 415,
    message: string,
  ) {
    super(message);
  }
}

/** A handler ran past its time limit. */
export class HandlerTimeoutError extends Error {
  readonly code = 'HandlerTimeout';
}
