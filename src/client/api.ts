import type { ListMeta, ObjectMeta } from 'kubernetes-types/meta/v1.js';
import { stamped, writeStamp } from '../telemetry/object-trace.js';
import { ApiError, type Status } from '../core/errors.js';
import { apiVersionOf, resourcePath, type KubeObject, type Resource } from '../core/resource.js';
import type { Client } from './client.js';
import { patchBody, patchContentType, type Patch } from './patch.js';
import type { HttpMethod, KubeRequest } from './request.js';
import { eachItem, WatchEventStream, type WatchEvent } from './watch-stream.js';

/** A page of objects. */
export interface ObjectList<K> {
  apiVersion?: string;
  kind?: string;
  metadata: ListMeta;
  items: K[];
}

/** What a metadata-only list or watch returns for each object. */
export interface PartialObjectMetadata {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
}

export interface CallOptions {
  signal?: AbortSignal;
}

export interface ListParams extends CallOptions {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
  resourceVersionMatch?: 'Exact' | 'NotOlderThan';
}

export interface WatchParams extends CallOptions {
  labelSelector?: string;
  fieldSelector?: string;
  /** Start after this version; omit to get synthetic ADDED events for the current state first. */
  resourceVersion?: string;
  /** Ask for BOOKMARK events. Default true. */
  allowWatchBookmarks?: boolean;
  /** The server ends the watch after this many seconds. Default 290. */
  timeoutSeconds?: number;
  /** The connection is deemed dead when no byte arrives for this long. Default (timeoutSeconds + 5) s. */
  idleTimeoutMs?: number;
}

export interface WriteParams extends CallOptions {
  dryRun?: boolean;
  fieldManager?: string;
}

export interface PatchParams extends WriteParams {
  /** Server-side apply only: take ownership of conflicting fields. */
  force?: boolean;
}

export interface DeleteParams extends CallOptions {
  dryRun?: boolean;
  gracePeriodSeconds?: number;
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
  preconditions?: { uid?: string; resourceVersion?: string };
}

const META_LIST_ACCEPT = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';
const META_WATCH_ACCEPT = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json';

/**
 * Typed access to one resource in one scope (a namespace, all namespaces, or
 * cluster-wide). Every call takes an `AbortSignal`.
 *
 * @example
 * const cms = Api.namespaced(client, ConfigMaps, 'default');
 * const cm = await cms.create({ metadata: { name: 'settings' }, data: { mode: 'fast' } });
 * await cms.patch('settings', Patch.merge({ data: { mode: 'safe' } }));
 */
export class Api<K extends KubeObject> {
  private constructor(
    readonly client: Client,
    readonly resource: Resource<K>,
    /** The namespace, or undefined for all namespaces / cluster-scoped resources. */
    readonly namespace: string | undefined,
  ) {}

  /** Objects in one namespace. */
  static namespaced<K extends KubeObject>(client: Client, resource: Resource<K>, namespace: string): Api<K> {
    if (!resource.namespaced) throw new TypeError(`${resource.kind} is cluster-scoped: use Api.all.`);
    return new Api(client, resource, namespace);
  }

  /** Objects in all namespaces, or cluster-scoped objects. */
  static all<K extends KubeObject>(client: Client, resource: Resource<K>): Api<K> {
    return new Api(client, resource, undefined);
  }

  /** Objects in the client's default namespace (the context's, or the service account's). */
  static defaultNamespaced<K extends KubeObject>(client: Client, resource: Resource<K>): Api<K> {
    return Api.namespaced(client, resource, client.defaultNamespace);
  }

  /** The same resource in another namespace (handy from an `Api.all` controller). */
  inNamespace(namespace: string): Api<K> {
    return Api.namespaced(this.client, this.resource, namespace);
  }

  private objectPath(name: string, subresource?: string): string {
    if (this.resource.namespaced && this.namespace === undefined) {
      throw new TypeError(`an Api over ${this.resource.kind} in all namespaces cannot address ${name}: use api.inNamespace(ns).`);
    }
    return resourcePath(this.resource, this.namespace, name, subresource);
  }

  private call<T>(verb: string, method: HttpMethod, path: string, opts: CallOptions, extra: Partial<KubeRequest> = {}): Promise<T> {
    return this.client.requestJson<T>({ verb, method, path, signal: opts.signal, ...extra, headers: { accept: 'application/json', ...extra.headers } });
  }

  private json(body: unknown, contentType = 'application/json'): Partial<KubeRequest> {
    return { body: JSON.stringify(body), headers: { 'content-type': contentType } };
  }

  get(name: string, opts: CallOptions = {}): Promise<K> {
    return this.call('get', 'GET', this.objectPath(name), opts);
  }

  /** Like `get`, but `undefined` instead of a 404. */
  async getOpt(name: string, opts: CallOptions = {}): Promise<K | undefined> {
    try {
      return await this.get(name, opts);
    } catch (e) {
      if (e instanceof ApiError && e.code === 404) return undefined;
      throw e;
    }
  }

  /** One page (use `limit` and `continue` to page, or `listAll`). */
  list(params: ListParams = {}): Promise<ObjectList<K>> {
    return this.listAs<ObjectList<K>>('application/json', params);
  }

  /** One page of metadata only (cheap: no spec, status or data). */
  listMetadata(params: ListParams = {}): Promise<ObjectList<PartialObjectMetadata>> {
    return this.listAs<ObjectList<PartialObjectMetadata>>(META_LIST_ACCEPT, params);
  }

  private listAs<T>(accept: string, params: ListParams): Promise<T> {
    const { signal, continue: cont, ...rest } = params;
    return this.call<T>('list', 'GET', resourcePath(this.resource, this.namespace), { signal }, {
      query: { ...rest, continue: cont },
      headers: { accept },
    });
  }

  /**
   * Every object, fetched in pages of `pageSize` (default 500). The returned
   * `resourceVersion` is the list's, to start a watch from.
   */
  async listAll(params: Omit<ListParams, 'limit' | 'continue'> & { pageSize?: number; metadataOnly?: boolean } = {}): Promise<{ items: K[]; resourceVersion: string }> {
    const { pageSize = 500, metadataOnly, ...rest } = params;
    const items: K[] = [];
    let cont: string | undefined;
    let resourceVersion = '';
    do {
      const page = await this.listAs<ObjectList<K>>(metadataOnly ? META_LIST_ACCEPT : 'application/json', { ...rest, limit: pageSize, continue: cont });
      for (const item of page.items ?? []) items.push(item);
      resourceVersion = page.metadata.resourceVersion ?? resourceVersion;
      cont = page.metadata.continue || undefined;
      // Only the first page may carry a resourceVersion constraint.
      delete rest.resourceVersion;
      delete rest.resourceVersionMatch;
    } while (cont);
    return { items, resourceVersion };
  }

  /** Creates; inside a traced span the object is stamped with its trace context (see object-trace.ts). */
  create(obj: K, params: WriteParams = {}): Promise<K> {
    const namespace = this.namespace ?? obj.metadata?.namespace;
    const body = stamped({ apiVersion: apiVersionOf(this.resource), kind: this.resource.kind, ...obj }, writeStamp());
    return this.call('create', 'POST', resourcePath(this.resource, this.resource.namespaced ? namespace : undefined), params, {
      ...this.json(body),
      query: writeQuery(params),
    });
  }

  /** Replaces the whole object (an update); `metadata.resourceVersion` makes it conditional. */
  replace(name: string, obj: K, params: WriteParams = {}): Promise<K> {
    const body = stamped({ apiVersion: apiVersionOf(this.resource), kind: this.resource.kind, ...obj }, writeStamp());
    return this.call('update', 'PUT', this.objectPath(name), params, { ...this.json(body), query: writeQuery(params) });
  }

  /** Deletes; answers the object (still there while finalizers run) or a `Status`. */
  delete(name: string, params: DeleteParams = {}): Promise<K | Status> {
    const { signal, dryRun, ...options } = params;
    const body = { apiVersion: 'v1', kind: 'DeleteOptions', ...options, ...(dryRun ? { dryRun: ['All'] } : {}) };
    return this.call('delete', 'DELETE', this.objectPath(name), { signal }, this.json(body));
  }

  /** Patches with any of the four patch types; server-side apply needs `fieldManager`. */
  patch(name: string, patch: Patch, params: PatchParams = {}): Promise<K> {
    // A JSON patch is a list of operations: no place to add an annotation without knowing the object.
    const stamp = patch.type === 'json' ? undefined : writeStamp();
    return this.patchAt('patch', this.objectPath(name), stamp === undefined || patch.type === 'json' ? patch : { ...patch, body: stamped(patch.body, stamp) }, params);
  }

  getStatus(name: string, opts: CallOptions = {}): Promise<K> {
    return this.call('get_status', 'GET', this.objectPath(name, 'status'), opts);
  }

  patchStatus(name: string, patch: Patch, params: PatchParams = {}): Promise<K> {
    return this.patchAt('patch_status', this.objectPath(name, 'status'), patch, params);
  }

  replaceStatus(name: string, obj: K, params: WriteParams = {}): Promise<K> {
    const body = { apiVersion: apiVersionOf(this.resource), kind: this.resource.kind, ...obj };
    return this.call('update_status', 'PUT', this.objectPath(name, 'status'), params, { ...this.json(body), query: writeQuery(params) });
  }

  private patchAt(verb: string, path: string, patch: Patch, params: PatchParams): Promise<K> {
    if (patch.type === 'apply' && !params.fieldManager) throw new TypeError('server-side apply needs a fieldManager.');
    if (params.force && patch.type !== 'apply') throw new TypeError('force is only valid for server-side apply.');
    return this.call(verb, 'PATCH', path, params, {
      body: patchBody(patch),
      headers: { 'content-type': patchContentType(patch) },
      query: { ...writeQuery(params), force: params.force ? true : undefined },
    });
  }

  /**
   * Watches from `resourceVersion`: an async iterable of `ADDED`, `MODIFIED`,
   * `DELETED`, `BOOKMARK` and `ERROR` events (and `INVALID` for a bad line).
   * A failure to start throws (`ApiError`, e.g. 410 when the version is too old);
   * aborting `signal` ends the iteration and closes the connection.
   */
  watch(params: WatchParams = {}): AsyncGenerator<WatchEvent<K>> {
    return eachItem(() => this.openWatch<K>(undefined, params), params.signal);
  }

  /** A watch of metadata only. */
  watchMetadata(params: WatchParams = {}): AsyncGenerator<WatchEvent<PartialObjectMetadata>> {
    return eachItem(() => this.openWatch<PartialObjectMetadata>(META_WATCH_ACCEPT, params), params.signal);
  }

  /**
   * Starts a watch and answers its events in the batches they arrived in (every
   * event of one network chunk at once): the same events as `watch`, for a
   * consumer that handles many of them and wants one await per chunk, not per
   * event. Throws when the watch cannot start.
   */
  watchBatches(params: WatchParams = {}): Promise<WatchEventStream<K>> {
    return this.openWatch<K>(undefined, params);
  }

  /** `watchBatches` of metadata only. */
  watchMetadataBatches(params: WatchParams = {}): Promise<WatchEventStream<PartialObjectMetadata>> {
    return this.openWatch<PartialObjectMetadata>(META_WATCH_ACCEPT, params);
  }

  private async openWatch<T>(accept: string | undefined, params: WatchParams): Promise<WatchEventStream<T>> {
    const { signal, idleTimeoutMs, timeoutSeconds = 290, allowWatchBookmarks = true, ...rest } = params;
    const req: KubeRequest = {
      verb: 'watch',
      method: 'GET',
      path: resourcePath(this.resource, this.namespace),
      query: { watch: true, timeoutSeconds, allowWatchBookmarks, ...rest },
      headers: { accept: accept ?? 'application/json' },
      signal,
      streaming: true,
      idleTimeoutMs: idleTimeoutMs ?? (timeoutSeconds + 5) * 1000,
    };
    const res = await this.client.request(req);
    if (res.status < 200 || res.status >= 300) {
      const text = res.body ? await res.body.text().catch(() => '') : (res.text ?? '');
      throw this.client.apiError(req, res.status, text);
    }
    return new WatchEventStream<T>(res.body!, this.client.config.server, signal);
  }
}

function writeQuery(params: WriteParams): Record<string, string | undefined> {
  return { fieldManager: params.fieldManager, dryRun: params.dryRun ? 'All' : undefined };
}
