/**
 * Schema-first custom resources: one definition gives the object type (inferred from
 * the schema, no hand-written interface), the typed `Resource` of each version for
 * `Api`, caches and controllers, the `CustomResourceDefinition`, and a run-time
 * validator from the same schema.
 *
 * @example
 * export const DocumentResource = defineCustomResource({
 *   group: 'example.com',
 *   names: { kind: 'Document', plural: 'documents', shortNames: ['doc'] },
 *   scope: 'Namespaced',
 *   versions: {
 *     v1: {
 *       spec: { type: 'object', required: ['title'], properties: { title: { type: 'string', minLength: 1 } } },
 *       subresources: { status: true },
 *     },
 *   },
 * });
 * export const Documents = DocumentResource.resources.v1;
 * export type Document = ObjectOf<typeof Documents>;
 */
import type {
  CustomResourceColumnDefinition, CustomResourceConversion, CustomResourceDefinition, CustomResourceDefinitionVersion, CustomResourceSubresourceScale, JSONSchemaProps,
} from 'kubernetes-types/apiextensions/v1.js';
import type { ObjectMeta } from 'kubernetes-types/meta/v1.js';
import { defineResource, type KubeObject, type Resource } from '../core/resource.js';
import { StructuralSchemaError } from './errors.js';
import type { JsonSchema, StructuralSchema } from './json-schema.js';
import { jsonSchemaOf, type InferSchema, type SchemaInput } from './standard.js';
import { toStructural } from './structural.js';
import { SchemaValidator } from './validator.js';

export interface VersionDefinition {
  /** Default true. */
  readonly served?: boolean;
  /** Exactly one version is stored; with a single version it is that one. */
  readonly storage?: boolean;
  readonly deprecated?: boolean;
  readonly deprecationWarning?: string;
  /** The schema of `.spec`; the object's `spec` is required when this schema requires a field. */
  readonly spec?: SchemaInput;
  readonly status?: SchemaInput;
  /** Instead of spec/status: the whole `openAPIV3Schema` (for CRDs with other top-level fields). */
  readonly schema?: SchemaInput;
  readonly printerColumns?: readonly CustomResourceColumnDefinition[];
  readonly subresources?: { readonly status?: boolean; readonly scale?: CustomResourceSubresourceScale };
  /** Fields usable in field selectors (`.spec.issuerRef.kind`); the server needs to be Kubernetes 1.30 or newer. */
  readonly selectableFields?: readonly { readonly jsonPath: string }[];
}

export interface CustomResourceDefinitionInput {
  readonly group: string;
  readonly names: {
    readonly kind: string;
    readonly plural: string;
    readonly singular?: string;
    readonly listKind?: string;
    readonly shortNames?: readonly string[];
    readonly categories?: readonly string[];
  };
  readonly scope: 'Namespaced' | 'Cluster';
  readonly versions: { readonly [name: string]: VersionDefinition };
  readonly conversion?: CustomResourceConversion;
  readonly metadata?: { readonly labels?: Record<string, string>; readonly annotations?: Record<string, string> };
}

type Simplify<T> = { [K in keyof T]: T[K] };
type Header<G extends string, V extends string, K extends string> = { apiVersion?: `${G}/${V}`; kind?: K; metadata?: ObjectMeta };
/** `spec` is required exactly when an empty object would not do, as at run time. */
type Field<Name extends string, S> = Record<never, never> extends InferSchema<S> ? { [P in Name]?: InferSchema<S> } : { [P in Name]: InferSchema<S> };
type Part<Name extends 'spec' | 'status', D> = D extends { readonly [P in Name]: infer S } ? (Name extends 'status' ? { status?: InferSchema<S> } : Field<Name, S>) : unknown;

/** The object type of version `V` of a definition. */
export type VersionObject<G extends string, K extends string, V extends string, D> = D extends { readonly schema: infer S }
  ? Simplify<Header<G, V, K> & Omit<InferSchema<S>, 'apiVersion' | 'kind' | 'metadata'>>
  : Simplify<Header<G, V, K> & Part<'spec', D> & Part<'status', D>>;

type ObjectsOf<D extends CustomResourceDefinitionInput> = {
  [V in keyof D['versions'] & string]: VersionObject<D['group'], D['names']['kind'], V, D['versions'][V]>;
};

/** The object type a `Resource` describes. */
export type ObjectOf<R> = R extends Resource<infer K> ? K : never;

const BRAND = Symbol.for('kubeloop.CustomResource');

/** What `defineCustomResource` returns. */
export class CustomResource<Objects extends { [version: string]: KubeObject }> {
  readonly [BRAND] = true;
  /** One typed descriptor per version, for `Api`, caches and controllers. */
  readonly resources: { readonly [V in keyof Objects]: Resource<Objects[V]> };
  /**
   * What needs a newer server than 1.20, one line each: CEL `x-kubernetes-validations`
   * (Kubernetes 1.25+) and `selectableFields` (1.30+). An older server drops them silently.
   */
  readonly needsNewerServer: readonly string[];
  readonly #validators = new Map<string, SchemaValidator<any>>();

  constructor(
    readonly crd: CustomResourceDefinition,
    celRules: readonly string[],
  ) {
    const resources: Record<string, Resource> = {};
    for (const v of crd.spec.versions) {
      resources[v.name] = defineResource({ group: crd.spec.group, version: v.name, kind: crd.spec.names.kind, plural: crd.spec.names.plural, namespaced: crd.spec.scope === 'Namespaced' });
    }
    this.resources = Object.freeze(resources) as any;
    const selectable = crd.spec.versions.filter((v) => (v as { selectableFields?: unknown[] }).selectableFields !== undefined).map((v) => `selectableFields of ${v.name} need Kubernetes 1.30 or newer`);
    this.needsNewerServer = [...[...new Set(celRules)].map((p) => `x-kubernetes-validations at ${p} needs Kubernetes 1.25 or newer`), ...selectable];
  }

  /** A validator of version `version`'s objects against its schema (compiled once, on first use). */
  validator<V extends keyof Objects & string>(version: V): SchemaValidator<Objects[V]> {
    let v = this.#validators.get(version);
    if (v === undefined) {
      const def = this.crd.spec.versions.find((x) => x.name === version);
      if (def?.schema?.openAPIV3Schema === undefined) throw new StructuralSchemaError('', `has no version ${version}`);
      v = new SchemaValidator(this.crd.spec.names.kind, def.schema.openAPIV3Schema as StructuralSchema);
      this.#validators.set(version, v);
    }
    return v;
  }
}

export function isCustomResource(v: unknown): v is CustomResource<any> {
  return typeof v === 'object' && v !== null && (v as Record<symbol, unknown>)[BRAND] === true;
}

/** Defines a custom resource from its schemas; see the file's header. */
export function defineCustomResource<const D extends CustomResourceDefinitionInput>(def: D): CustomResource<ObjectsOf<D>> {
  return buildCustomResource(def) as CustomResource<ObjectsOf<D>>;
}

/**
 * The same with the object types given rather than inferred: for generated modules and
 * schemas too large for the type checker to walk. `Objects` maps version to object type.
 */
export function defineCustomResourceOf<Objects extends { [version: string]: KubeObject }>(def: CustomResourceDefinitionInput): CustomResource<Objects> {
  return buildCustomResource(def) as CustomResource<Objects>;
}

function buildCustomResource(def: CustomResourceDefinitionInput): CustomResource<any> {
  const names = Object.keys(def.versions);
  if (names.length === 0) throw new StructuralSchemaError('', `of ${def.names.kind} has no versions; give it at least one`);
  const stored = names.filter((n) => def.versions[n]!.storage === true || (names.length === 1 && def.versions[n]!.storage === undefined));
  if (stored.length !== 1) throw new StructuralSchemaError('', `of ${def.names.kind} marks ${stored.length} versions as storage; mark exactly one with storage: true`);
  const celRules: string[] = [];
  const versions = names.map((name) => buildVersion(name, def.versions[name]!, name === stored[0], celRules));
  const { kind, plural } = def.names;
  const crd: CustomResourceDefinition = {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${def.group}`, ...(def.metadata?.labels ? { labels: { ...def.metadata.labels } } : {}), ...(def.metadata?.annotations ? { annotations: { ...def.metadata.annotations } } : {}) },
    spec: {
      group: def.group,
      names: {
        kind,
        listKind: def.names.listKind ?? `${kind}List`,
        plural,
        singular: def.names.singular ?? kind.toLowerCase(),
        ...(def.names.shortNames ? { shortNames: [...def.names.shortNames] } : {}),
        ...(def.names.categories ? { categories: [...def.names.categories] } : {}),
      },
      scope: def.scope,
      versions,
      ...(def.conversion ? { conversion: def.conversion } : {}),
    },
  };
  return new CustomResource(crd, celRules);
}

function buildVersion(name: string, v: VersionDefinition, storage: boolean, celRules: string[]): CustomResourceDefinitionVersion {
  const notes = { celRules };
  let root: StructuralSchema;
  if (v.schema !== undefined) {
    if (v.spec !== undefined || v.status !== undefined) throw new StructuralSchemaError('', `of version ${name} gives both schema and spec/status; give one or the other`);
    root = toStructural(jsonSchemaOf(v.schema, `version ${name}`), '', notes);
    if (root.type !== 'object') throw new StructuralSchemaError('', `of version ${name} is not of type object; a custom resource is an object`);
  } else {
    const properties: Record<string, StructuralSchema> = { apiVersion: { type: 'string' }, kind: { type: 'string' }, metadata: { type: 'object' } };
    const required: string[] = [];
    for (const part of ['spec', 'status'] as const) {
      const input = v[part];
      if (input === undefined) continue;
      const schema = toStructural(jsonSchemaOf(input, `.${part}`), `.${part}`, notes);
      if (schema.type !== 'object' && schema['x-kubernetes-preserve-unknown-fields'] !== true) throw new StructuralSchemaError(`.${part}`, `is of type ${schema.type}; ${part} must be an object`);
      properties[part] = schema;
      if (part === 'spec' && (schema.required?.length ?? 0) > 0) required.push('spec');
    }
    root = { type: 'object', properties, ...(required.length > 0 ? { required } : {}) };
  }
  const subresources = v.subresources && (v.subresources.status || v.subresources.scale)
    ? { ...(v.subresources.status ? { status: {} } : {}), ...(v.subresources.scale ? { scale: v.subresources.scale } : {}) }
    : undefined;
  return {
    name,
    served: v.served ?? true,
    storage,
    ...(v.deprecated !== undefined ? { deprecated: v.deprecated } : {}),
    ...(v.deprecationWarning !== undefined ? { deprecationWarning: v.deprecationWarning } : {}),
    schema: { openAPIV3Schema: root as JSONSchemaProps },
    ...(subresources ? { subresources } : {}),
    ...(v.printerColumns ? { additionalPrinterColumns: [...v.printerColumns] } : {}),
    ...(v.selectableFields ? { selectableFields: v.selectableFields.map((f) => ({ ...f })) } : {}),
  } as CustomResourceDefinitionVersion;
}

export type { JsonSchema };
