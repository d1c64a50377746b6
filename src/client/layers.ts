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
 * Retries 429, 503 and 504 answers: honours an integer `Retry-After`, else backs
 * off exponentially with jitter. Never retries a streaming request body.
 */
export function retryLayer(options: RetryOptions = {}): Layer {
  const maxRetries = options.maxRetries ?? 3;
  const initial = options.initialDelayMs ?? 200;
  const max = options.maxDelayMs ?? 10_000;
  return (next) => async (req) => {
    const replayable = req.body === undefined || typeof req.body === 'string' || req.body instanceof Uint8Array;
    for (let attempt = 0; ; attempt++) {
      const res = await next(req);
      if (!RETRYABLE.has(res.status) || attempt >= maxRetries || !replayable) return res;
      const header = res.headers['retry-after'];
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
