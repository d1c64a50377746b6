import type { ObjectMeta } from 'kubernetes-types/meta/v1.js';

/** The shape every Kubernetes object shares. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
}

/**
 * Describes one kind of resource: where its API lives and how it is scoped.
 * The type parameter carries the object type so that `Api<K>` is typed.
 *
 * @example
 * const Documents = defineResource<Document>({
 *   group: 'example.com', version: 'v1', kind: 'Document', plural: 'documents', namespaced: true,
 * });
 */
export interface Resource<K extends KubeObject = KubeObject> {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly plural: string;
  readonly namespaced: boolean;
  /** Phantom field: never set, only carries `K` for the type checker. */
  readonly __object?: K;
}

/** Describes a custom resource (or any kind kubeloop does not list). */
export function defineResource<K extends KubeObject>(r: {
  group: string;
  version: string;
  kind: string;
  plural: string;
  namespaced: boolean;
}): Resource<K> {
  return Object.freeze({ ...r });
}

/** `v1` for the core group, `group/version` otherwise. */
export function apiVersionOf(r: Pick<Resource, 'group' | 'version'>): string {
  return r.group === '' ? r.version : `${r.group}/${r.version}`;
}

/** The URL path of a resource collection, or of one object when `name` is given. */
export function resourcePath(r: Resource<any>, namespace: string | undefined, name?: string, subresource?: string): string {
  const base = r.group === '' ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`;
  let path = r.namespaced && namespace !== undefined ? `${base}/namespaces/${encodeURIComponent(namespace)}/${r.plural}` : `${base}/${r.plural}`;
  if (name !== undefined) path += `/${encodeURIComponent(name)}`;
  if (subresource !== undefined) path += `/${subresource}`;
  return path;
}
