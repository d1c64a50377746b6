/**
 * Reads a review request's JSON body within a size limit, so an oversized or
 * endless body is refused (413) before it fills the heap.
 */
import type { IncomingMessage } from 'node:http';
import { BadReviewError } from './errors.js';

/** The parsed JSON body; a `BadReviewError` (413 too large, 415 not JSON, 400 unparsable) otherwise. */
export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') throw new BadReviewError(415, `a review must be sent as application/json, not ${type || 'no content type'}`);
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > maxBytes) throw new BadReviewError(413, `the review is ${declared} bytes, over this webhook server's limit of ${maxBytes}`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new BadReviewError(413, `the review is over this webhook server's limit of ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (e) {
    throw new BadReviewError(400, `the review is not valid JSON: ${(e as Error).message}`);
  }
}
