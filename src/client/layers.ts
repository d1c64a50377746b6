import { setTimeout as sleep } from 'node:timers/promises';
import type { Authenticator } from './auth.js';
import { discard, type Layer } from './request.js';

/** Resolves the request path against the server URL (which may carry a path prefix) and encodes the query. */
export function baseUrlLayer(server: string): Layer {
  const url = new URL(server);
  const origin = url.origin;
  const prefix = url.pathname.replace(/\/+$/, '');
  return (next) => (req) => {
    let target = prefix + req.path;
    if (req.query) {
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(req.query)) if (v !== undefined) params.set(k, String(v));
      const qs = params.toString();
      if (qs) target += `?${qs}`;
    }
    return next({ ...req, origin, target });
  };
}

export interface RetryOptions {
  /** Retries after the first attempt. Default 3. */
  maxRetries?: number;
  /** First backoff delay; doubles each time, with jitter. Default 200 ms. */
  initialDelayMs?: number;
  /** Longest delay, also caps `Retry-After`. Default 10 s. */
  maxDelayMs?: number;
}

const RETRYABLE = new Set([429, 503, 504]);

/**
 * Methods whose replay cannot do more than the first attempt did. A POST may create
 * twice (two objects from one `generateName`, or a 409 for the object the first
 * attempt made); a PATCH may apply twice (a JSON-patch `add` to a list) or trip over
 * the resourceVersion its own first attempt moved; a DELETE that already happened
 * answers 404 (or 409 on a precondition) instead of the object. A PUT replaces the
 * whole object, so a replay leaves the same state behind (one that carries the
 * resourceVersion its first attempt consumed answers 409, as any lost race does).
 */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT']);

/**
 * Whether the answer says the server did not act on the request: a 429 (rejected
 * before any work), or any retryable answer carrying `Retry-After` (the server
 * asks to be called again), as client-go decides for every verb. A 503 or 504
 * without it may come after the write was committed (a proxy or the API server's
 * own timeout gave up waiting).
 */
function notProcessed(status: number, retryAfter: string | string[] | undefined): boolean {
  return status === 429 || retryAfter !== undefined;
}

/**
 * Retries 429, 503 and 504 answers: honours an integer `Retry-After`, else backs
 * off exponentially with jitter. GET, HEAD and PUT are retried on each of them;
 * POST, PATCH and DELETE only when the server says it did not process them (a 429,
 * or a `Retry-After` header), so a write that timed out after it was committed is
 * not replayed. Never retries a streaming request body.
 */
export function retryLayer(options: RetryOptions = {}): Layer {
  const maxRetries = options.maxRetries ?? 3;
  const initial = options.initialDelayMs ?? 200;
  const max = options.maxDelayMs ?? 10_000;
  return (next) => async (req) => {
    const replayable = req.body === undefined || typeof req.body === 'string' || req.body instanceof Uint8Array;
    const idempotent = IDEMPOTENT.has(req.method);
    for (let attempt = 0; ; attempt++) {
      const res = await next(req);
      if (!RETRYABLE.has(res.status) || attempt >= maxRetries || !replayable) return res;
      const header = res.headers['retry-after'];
      if (!idempotent && !notProcessed(res.status, header)) return res;
      const seconds = typeof header === 'string' && /^\d+$/.test(header.trim()) ? Number(header) : undefined;
      const backoff = initial * 2 ** attempt;
      const delay = Math.min(max, seconds !== undefined ? seconds * 1000 : backoff / 2 + Math.random() * (backoff / 2));
      await discard(res);
      await sleep(delay, undefined, { signal: req.signal });
    }
  };
}

/** Adds the `Authorization` header; after a 401 it refreshes the credential once and tries again. */
export function authLayer(auth: Authenticator): Layer {
  return (next) => async (req) => {
    const first = await auth.authorization(req.signal);
    const res = await next(first ? { ...req, headers: { ...req.headers, authorization: first } } : req);
    if (res.status !== 401 || first === undefined) return res;
    auth.invalidate();
    const second = await auth.authorization(req.signal);
    if (second === first) return res;
    await discard(res);
    return next({ ...req, headers: { ...req.headers, authorization: second! } });
  };
}

/** Adds fixed headers (user agent and anything the caller configured) unless the request set them. */
export function headersLayer(headers: Record<string, string>): Layer {
  return (next) => (req) => next({ ...req, headers: { ...headers, ...req.headers } });
}
