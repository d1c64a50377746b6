/**
 * Explicit, keyed sharing of caches: `caches.for(api, options)` returns the
 * one cache for that key — client, resource, namespace, label and field
 * selectors, metadata-only, transform — creating it on first request. Nothing
 * is created implicitly: a controller given an `Api` instead of a cache keeps
 * a private one, as before.
 */
import type { KubeObject } from '../core/resource.js';
import type { Api } from '../client/api.js';
import { SharedCache, type CacheOptions } from './shared-cache.js';
import { stripManagedFields } from './transforms.js';

/** Identities for functions and clients, so they can be part of a string key. */
const ids = new WeakMap<object, number>();
let nextId = 1;
const idOf = (o: object): number => {
  let id = ids.get(o);
  if (id === undefined) ids.set(o, (id = nextId++));
  return id;
};

export class CacheSet {
  private readonly caches = new Map<string, SharedCache<KubeObject>>();

  /**
   * The cache for this key, created on first request. Asked again with the same
   * key, the same cache comes back; its other options (name, page size, list
   * semantic, backoff) are those of the first request. A cache that has ended
   * (its last consumer left) is replaced by a new one.
   */
  for<K extends KubeObject>(api: Api<K>, options: CacheOptions<K> = {}): SharedCache<K> {
    const r = api.resource;
    const transform = options.transform === null ? 'none' : idOf(options.transform ?? stripManagedFields);
    const key = [
      idOf(api.client), r.group, r.version, r.plural, api.namespace ?? '*',
      options.labelSelector ?? '', options.fieldSelector ?? '', options.metadataOnly ? 'meta' : 'full', transform,
    ].join('|');
    let cache = this.caches.get(key) as SharedCache<K> | undefined;
    if (!cache || cache.ended) {
      cache = new SharedCache(api, options);
      this.caches.set(key, cache as unknown as SharedCache<KubeObject>);
    }
    return cache;
  }

  /** Every cache made so far. */
  list(): SharedCache<KubeObject>[] {
    return [...this.caches.values()];
  }
}
