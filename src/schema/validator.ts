/**
 * Run-time validation of objects against their custom resource's structural schema,
 * with ajv (a well-kept JSON Schema validator) rather than rules of our own, for
 * webhooks and tests. It checks what the schema says the way the API server's schema
 * check does, with these differences, each because of what it is for:
 * - unknown fields are not errors: the server prunes them rather than refusing them;
 * - defaults are not applied, formats are not checked and CEL rules are not evaluated
 *   (the server does all three on write);
 * - `metadata` is not checked beyond being an object.
 * A validator is also a Standard Schema (`~standard`), so libraries that take one can use it.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { SchemaValidationError, type SchemaIssue } from './errors.js';
import type { StructuralSchema } from './json-schema.js';

const EXTENSIONS = [
  'x-kubernetes-int-or-string', 'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-embedded-resource', 'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys', 'x-kubernetes-map-type', 'x-kubernetes-validations', 'example', 'externalDocs',
];

let shared: Ajv | undefined;
function ajv(): Ajv {
  // nullable is rewritten below (ajv's own needs a type beside it, which structural schemas may omit).
  if (shared === undefined) {
    shared = new Ajv({ allErrors: true, strict: false, validateFormats: false, allowUnionTypes: true });
    for (const k of EXTENSIONS) shared.addKeyword(k);
  }
  return shared;
}

/** OpenAPI 3.0 spellings → the draft-07 ones ajv reads. */
function forAjv(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(forAjv);
  if (typeof s !== 'object' || s === null) return s;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s)) out[k] = k === 'enum' || k === 'default' || k === 'example' || k === 'required' ? v : forAjv(v);
  for (const [bound, exclusive] of [['minimum', 'exclusiveMinimum'], ['maximum', 'exclusiveMaximum']] as const) {
    if (out[exclusive] === true) {
      out[exclusive] = out[bound];
      delete out[bound];
    } else if (out[exclusive] === false) delete out[exclusive];
  }
  if (out['x-kubernetes-int-or-string'] === true && out['anyOf'] === undefined) out['anyOf'] = [{ type: 'integer' }, { type: 'string' }];
  if (out['nullable'] === true) {
    // A null value is valid whatever else the node says, as on the server.
    const { nullable: _n, ...rest } = out;
    return { anyOf: [{ type: 'null' }, rest] };
  }
  return out;
}

function pathOf(e: ErrorObject): string {
  const parts = e.instancePath.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (e.keyword === 'required') parts.push(String((e.params as { missingProperty: string }).missingProperty));
  return parts.reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc === '' ? p : `${acc}.${p}`), '');
}

export type ValidationResult<K> = { readonly ok: true; readonly value: K } | { readonly ok: false; readonly issues: readonly SchemaIssue[] };

export class SchemaValidator<K> {
  readonly #check: ValidateFunction;

  constructor(
    readonly kind: string,
    schema: StructuralSchema,
  ) {
    this.#check = ajv().compile(forAjv(schema) as object);
  }

  /** Whether `value` matches the schema; the issues name each field path (`spec.ports[0].port`). */
  validate(value: unknown): ValidationResult<K> {
    if (this.#check(value)) return { ok: true, value: value as K };
    // anyOf branches of nullable/int-or-string report each branch; the last error per path says it best.
    const byPath = new Map<string, SchemaIssue>();
    for (const e of this.#check.errors ?? []) {
      const path = pathOf(e);
      if (e.keyword === 'anyOf' || !byPath.has(path)) byPath.set(path, { path, message: e.keyword === 'anyOf' ? 'must match one of the allowed types' : e.message ?? e.keyword });
    }
    return { ok: false, issues: [...byPath.values()] };
  }

  /** `value` as `K`, or a SchemaValidationError naming every failing field. */
  assert(value: unknown): K {
    const r = this.validate(value);
    if (!r.ok) throw new SchemaValidationError(this.kind, r.issues);
    return r.value;
  }

  get '~standard'() {
    return {
      version: 1 as const,
      vendor: 'kubeloop',
      validate: (value: unknown) => {
        const r = this.validate(value);
        return r.ok ? { value: r.value } : { issues: r.issues.map((i) => ({ message: i.message, path: i.path === '' ? [] : i.path.split(/\.|\[|\]\.?/).filter((p) => p !== '') })) };
      },
    };
  }
}
