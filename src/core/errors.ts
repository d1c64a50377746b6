/**
 * Errors thrown by kubeloop. Each class has a stable `code` that programs can
 * switch on; messages are one sentence a user can act on and never carry secrets.
 */

/** The Kubernetes `Status` object the API server sends with a failure. */
export interface Status {
  apiVersion?: string;
  kind?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: {
    name?: string;
    group?: string;
    kind?: string;
    uid?: string;
    causes?: { reason?: string; message?: string; field?: string }[];
    retryAfterSeconds?: number;
  };
}

/** Base class of every kubeloop error with a stable string code. */
export class KubeloopError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * A non-2xx answer from the API server. `code` is the HTTP status code and
 * `reason` the Kubernetes reason (`NotFound`, `Conflict`, …), as in the `Status`.
 *
 * @example
 * try { await api.get('missing') } catch (e) {
 *   if (e instanceof ApiError && e.code === 404) { ... }
 * }
 */
export class ApiError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly status: Status;
  constructor(
    status: Status,
    readonly request: { method: string; path: string },
  ) {
    const code = status.code ?? 0;
    const reason = status.reason ?? 'Unknown';
    super(`${request.method} ${request.path} failed with ${code} ${reason}: ${status.message ?? 'no message'}`);
    this.name = 'ApiError';
    this.code = code;
    this.reason = reason;
    this.status = status;
  }
}

/** True when `error` is an `ApiError` with the given HTTP status code. */
export function isApiError(error: unknown, code?: number): error is ApiError {
  return error instanceof ApiError && (code === undefined || error.code === code);
}

/** A bad or missing configuration: names the file (or source) and the field. */
export class ConfigError extends KubeloopError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_KUBE_CONFIG', message, options);
  }
}

/** The request never got an HTTP answer: names the server and why. */
export class TransportError extends KubeloopError {
  constructor(
    readonly server: string,
    readonly why: string,
    options?: { cause?: unknown },
  ) {
    super('ERR_KUBE_TRANSPORT', `request to ${server} failed: ${why}`, options);
  }
}

/** A line of a watch stream that is not a valid watch event. */
export class WatchDecodeError extends KubeloopError {
  constructor(message: string) {
    super('ERR_WATCH_DECODE', message);
  }
}

/** An exec credential plugin failed or returned something unusable. */
export class ExecCredentialError extends KubeloopError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_EXEC_CREDENTIAL', message, options);
  }
}
