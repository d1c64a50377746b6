/**
 * Transforms applied to an object before it enters a cache. They return a new
 * object rather than changing the one they are given.
 */
import type { KubeObject } from '../core/resource.js';

/**
 * Drops `metadata.managedFields` — often a fifth or more of an object, and of
 * no use to a reconciler. Safe for writes from the cached copy: an update
 * (`replace`) that omits `managedFields` leaves the server's unchanged, and
 * server-side apply never sends them. On by default for every cache.
 */
export function stripManagedFields<K extends KubeObject>(obj: K): K {
  const metadata = obj.metadata;
  if (!metadata || metadata.managedFields === undefined) return obj;
  const { managedFields: _dropped, ...rest } = metadata;
  return { ...obj, metadata: rest };
}
