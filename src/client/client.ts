import { ApiError, type Status } from '../core/errors.js';
import { currentSpan } from '../telemetry/span.js';
import { authenticator } from './auth.js';
import { inferConfig, type ConnectionConfig } from './config.js';
import { loadKubeconfig } from './kubeconfig.js';
import { authLayer, baseUrlLayer, headersLayer, retryLayer, type RetryOptions } from './layers.js';
import { stack, type KubeRequest, type KubeResponse, type Layer, type Service } from './request.js';
import { metricsLayer, traceLayer } from './telemetry-layers.js';
import { Transport, type TransportOptions } from './transport.js';

export interface ClientOptions extends TransportOptions {
  retry?: RetryOptions;
  /** Extra headers on every request. A `user-agent` of `kubeloop` is the default. */
  headers?: Record<string, string>;
  /** Layers of your own, placed just above the transport (below tracing and metrics). */
  layers?: Layer[];
}

/**
 * A Kubernetes API client: a chain of small layers, outermost first — base URL,
 * retry, auth, extra headers, trace span, metrics — over an undici transport.
 *
 * @example
 * const client = Client.infer();
 * const pods = Api.namespaced(client, Pods, 'default');
 */
export class Client {
  /** The namespace of the config's context (or the service account's), `default` if none. */
  readonly defaultNamespace: string;
  readonly config: ConnectionConfig;
  private readonly transport: Transport;
  private readonly service: Service;

  constructor(config: ConnectionConfig, options: ClientOptions = {}) {
    this.config = config;
    this.defaultNamespace = config.namespace;
    this.transport = new Transport(config, options);
    this.service = stack(
      [
        baseUrlLayer(config.server),
        retryLayer(options.retry),
        authLayer(authenticator(config.auth)),
        headersLayer({ 'user-agent': 'kubeloop', ...options.headers }),
        traceLayer,
        metricsLayer,
        ...(options.layers ?? []),
      ],
      this.transport.service,
    );
  }

  /** Kubeconfig (`KUBECONFIG` or `~/.kube/config`), else in-cluster; when both fail the error says why for each. */
  static infer(options: ClientOptions & { context?: string } = {}): Client {
    return new Client(inferConfig({ context: options.context }), options);
  }

  /** From a kubeconfig file (or list of files), optionally with a context other than the current one. */
  static fromKubeconfig(options: ClientOptions & { paths?: string[]; context?: string } = {}): Client {
    return new Client(loadKubeconfig({ paths: options.paths, context: options.context }), options);
  }

  /**
   * Sends a request through the layer chain. Non-2xx answers are returned, not
   * thrown. Inside a reconcile with a deadline the request is also aborted when
   * the deadline passes (the reconcile's signal travels in its span).
   */
  request(req: KubeRequest): Promise<KubeResponse> {
    return this.send(req);
  }

  /** Sends a request and parses the JSON answer; a non-2xx answer throws an `ApiError`. */
  async requestJson<T>(req: KubeRequest): Promise<T> {
    const res = await this.send(req);
    if (res.status < 200 || res.status >= 300) throw this.apiError(req, res.status, res.text ?? '');
    if (!res.text) return undefined as T;
    const value = JSON.parse(res.text) as T;
    // A list remembers its size, for the watcher to size its next page by bytes.
    if (req.verb === 'list' && typeof value === 'object' && value !== null) answerSizes.set(value, res.text.length);
    return value;
  }

  /**
   * Sends with the signal of the work around the request (a reconcile's deadline)
   * added to its own. Listeners, not `AbortSignal.any`, for ordinary requests: the
   * reconcile's signal may live long, and composites made by `any` stay attached to
   * it until collected. Streaming answers outlive this call, so they use `any`.
   */
  private send(req: KubeRequest): Promise<KubeResponse> {
    const span = currentSpan();
    if (span?.fence) {
      // Checked now, not by a timer: a process that was paused past its Lease's
      // deadline must not send what its reconcile wanted before the pause.
      try {
        span.fence();
      } catch (e) {
        return Promise.reject(e as Error);
      }
    }
    const ambient = span?.signal;
    if (ambient === undefined || ambient === req.signal) return this.service(req);
    const own = req.signal;
    if (own === undefined) return this.service({ ...req, signal: ambient });
    if (req.streaming) return this.service({ ...req, signal: AbortSignal.any([own, ambient]) });
    const both = new AbortController();
    const onOwn = () => both.abort(own.reason);
    const onAmbient = () => both.abort(ambient.reason);
    if (own.aborted) onOwn();
    else if (ambient.aborted) onAmbient();
    own.addEventListener('abort', onOwn, { once: true });
    ambient.addEventListener('abort', onAmbient, { once: true });
    return this.service({ ...req, signal: both.signal }).finally(() => {
      own.removeEventListener('abort', onOwn);
      ambient.removeEventListener('abort', onAmbient);
    });
  }

  /** The `ApiError` for a failed answer, with the server's `Status` when it sent one. */
  apiError(req: Pick<KubeRequest, 'method' | 'path'>, httpStatus: number, text: string): ApiError {
    let status: Status | undefined;
    try {
      const parsed = JSON.parse(text) as Status;
      if (parsed && parsed.kind === 'Status') status = parsed;
    } catch {
      // Not JSON: a proxy's page, or nothing.
    }
    status ??= { kind: 'Status', status: 'Failure', code: httpStatus, reason: reasonFor(httpStatus), message: text.slice(0, 200) || undefined };
    status.code ??= httpStatus;
    if (httpStatus === 401) status = { ...status, message: `${status.message ?? 'Unauthorized'} (the API server rejected the credentials from ${this.config.source})` };
    return new ApiError(status, { method: req.method, path: req.path });
  }

  /** Open connections in the request and watch pools. */
  connections(): { requests: number; watches: number } {
    return this.transport.connections();
  }

  /** Closes every connection. Requests in flight fail. */
  close(): Promise<void> {
    return this.transport.close();
  }
}

const answerSizes = new WeakMap<object, number>();

/** @internal The length of the JSON text a list was parsed from (undefined for anything else). */
export function answerSize(list: object): number | undefined {
  return answerSizes.get(list);
}

function reasonFor(code: number): string {
  const reasons: Record<number, string> = {
    400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 405: 'MethodNotAllowed', 409: 'Conflict', 410: 'Gone',
    415: 'UnsupportedMediaType', 422: 'Invalid', 429: 'TooManyRequests', 500: 'InternalError', 503: 'ServiceUnavailable', 504: 'Timeout',
  };
  return reasons[code] ?? 'Unknown';
}
