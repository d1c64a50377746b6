import type { KubeObject, Resource } from './resource.js';

/**
 * Identifies one object of one kind. Its string form is the one used in spans,
 * logs and reconcile reasons: `Kind.version.group/name.namespace`, for example
 * `ConfigMap.v1./settings.default` (no `.namespace` for cluster-scoped objects).
 */
export class ObjectRef {
  /** Precomputed display form; also the key in stores and the scheduler. */
  readonly key: string;

  constructor(
    readonly kind: string,
    readonly version: string,
    readonly group: string,
    readonly name: string,
    readonly namespace?: string,
  ) {
    // join() builds one flat string; a template literal leaves a rope of cons strings
    // that a Store keeps alive for every cached object (about 130 bytes more each).
    this.key = (namespace ? [kind, version, `${group}/${name}`, namespace] : [kind, version, `${group}/${name}`]).join('.');
  }

  /** The reference of `obj`, an object of resource `r`. */
  static from(r: Resource<any>, obj: KubeObject): ObjectRef {
    const name = obj.metadata?.name;
    if (!name) throw new TypeError(`a ${r.kind} without metadata.name has no ObjectRef`);
    return new ObjectRef(r.kind, r.version, r.group, name, r.namespaced ? obj.metadata?.namespace : undefined);
  }

  /** A reference to an object of resource `r` by name (and namespace). */
  static of(r: Resource<any>, name: string, namespace?: string): ObjectRef {
    return new ObjectRef(r.kind, r.version, r.group, name, r.namespaced ? namespace : undefined);
  }

  toString(): string {
    return this.key;
  }

  equals(other: ObjectRef): boolean {
    return this.key === other.key;
  }
}
