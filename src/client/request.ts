import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/**
 * One API request as it travels down the layer chain. Layers may rewrite it;
 * the transport at the bottom sends it.
 */
export interface KubeRequest {
  /** The Kubernetes verb, used to name spans and label metrics: `get`, `list`, `watch`, `patch_status`, … */
  verb: string;
  method: HttpMethod;
  /** Path below the server URL, starting with `/`. */
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  headers: Record<string, string>;
  body?: string | Uint8Array;
  signal?: AbortSignal;
  /**
   * A long-lived streaming answer (a watch): sent on the watch connection pool, its
   * body is handed back unread, it has no whole-request timeout, and it fails
   * when no byte arrives for `idleTimeoutMs`.
   */
  streaming?: boolean;
  idleTimeoutMs?: number;
  /** Set by the base-URL layer: the server origin and the full path with query. */
  origin?: string;
  target?: string;
}

/** What came back. Buffered answers carry `text`; streaming ones carry `body`. */
export interface KubeResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text?: string;
  body?: Dispatcher.ResponseData['body'];
}

/** A function that turns a request into a response: the transport, or a layer wrapped around it. */
export type Service = (request: KubeRequest) => Promise<KubeResponse>;

/** Wraps a service to add behaviour, like a tower layer: `layer(next)` returns the new service. */
export type Layer = (next: Service) => Service;

/** Stacks layers around a service, the first layer outermost. */
export function stack(layers: Layer[], inner: Service): Service {
  return layers.reduceRight((service, layer) => layer(service), inner);
}

/** Releases a response body nobody will read, so its connection can be reused. */
export async function discard(response: KubeResponse): Promise<void> {
  await response.body?.dump({ limit: 64 * 1024 }).catch(() => {});
}
