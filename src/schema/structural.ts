/**
 * JSON Schema → Kubernetes' structural schema (the subset a CRD's `openAPIV3Schema`
 * must be in for the API server to prune, default and validate).
 *
 * The rules, each because of what the server requires or what schema libraries emit:
 * - every node has a `type`, unless it is `x-kubernetes-int-or-string` or
 *   `x-kubernetes-preserve-unknown-fields`; an empty schema (`z.unknown()`) becomes
 *   preserve-unknown-fields, as does `additionalProperties: true`;
 * - `null` in a union (`type: [T, 'null']`, `anyOf: [T, {type: 'null'}]`) becomes `nullable`;
 * - a union of integer and string becomes `x-kubernetes-int-or-string` (written as
 *   controller-gen writes it); a union of object schemas (a discriminated union) becomes
 *   one object with every branch's properties, the branches kept as a `oneOf`/`anyOf`
 *   of their `required` lists and enums, which is what the server allows inside one;
 *   any other union of types cannot be pruned and is an error;
 * - a union of one scalar type becomes that type: its literals one `enum`, other branches
 *   value validations (a union of literals is how TypeBox and zod write an enum);
 * - `$ref` to `$defs`/`definitions` is inlined; a cycle is an error (a CRD cannot recurse);
 * - `const` becomes a one-value `enum`; a numeric `exclusiveMinimum` (draft 2019+) becomes
 *   OpenAPI 3.0's `minimum` + `exclusiveMinimum: true`; `uniqueItems` of scalars becomes
 *   `x-kubernetes-list-type: set`;
 * - annotations the server does not store (`$schema`, `$id`, `examples`, `readOnly`, …),
 *   `additionalProperties: false` (pruning already drops unknown fields) and formats the
 *   server does not know are dropped; keywords it would reject are errors.
 * - `x-kubernetes-validations` (CEL) is kept and reported: it needs Kubernetes 1.25+.
 * A junctor (`oneOf`/`anyOf`/`allOf`/`not`) whose branches carry no `type` is already a
 * structural value validation and is kept as it is, so existing CRDs pass unchanged.
 */
import { StructuralSchemaError } from './errors.js';
import type { JsonSchema, StructuralSchema } from './json-schema.js';

/** What a conversion noticed besides the schema: paths using features of newer servers. */
export interface ConversionNotes {
  /** Paths carrying `x-kubernetes-validations` (CEL), which needs Kubernetes 1.25 or newer. */
  readonly celRules: string[];
}

const DROPPED = new Set(['$schema', '$id', 'id', '$comment', 'examples', 'readOnly', 'writeOnly', 'deprecated', 'contentEncoding', 'contentMediaType', '$defs', 'definitions', 'propertyNames']);
const KEPT = new Set([
  'type', 'description', 'title', 'default', 'enum', 'format', 'nullable', 'example', 'externalDocs',
  'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf',
  'minLength', 'maxLength', 'pattern', 'minItems', 'maxItems', 'minProperties', 'maxProperties', 'required',
  'properties', 'additionalProperties', 'items', 'uniqueItems', 'anyOf', 'oneOf', 'allOf', 'not',
  'x-kubernetes-int-or-string', 'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-embedded-resource',
  'x-kubernetes-list-type', 'x-kubernetes-list-map-keys', 'x-kubernetes-map-type', 'x-kubernetes-validations',
]);
const INSTEAD: Record<string, string> = {
  patternProperties: 'use additionalProperties with one schema for every key',
  prefixItems: 'use an array of one item schema, or an object with named fields',
  additionalItems: 'use an array of one item schema',
  contains: 'use x-kubernetes-validations (CEL) for a rule over the items',
  if: 'use x-kubernetes-validations (CEL) for a conditional rule',
  dependentRequired: 'use x-kubernetes-validations (CEL) for a rule between fields',
  dependentSchemas: 'use x-kubernetes-validations (CEL) for a rule between fields',
  dependencies: 'use x-kubernetes-validations (CEL) for a rule between fields',
  unevaluatedProperties: 'drop it: the server prunes unknown fields anyway',
  unevaluatedItems: 'use an array of one item schema',
};
/** Formats the API server knows (kube-openapi's registry); others would be silently ignored. */
const FORMATS = new Set([
  'bsonobjectid', 'uri', 'email', 'hostname', 'ipv4', 'ipv6', 'cidr', 'mac', 'uuid', 'uuid3', 'uuid4', 'uuid5',
  'isbn', 'isbn10', 'isbn13', 'creditcard', 'ssn', 'hexcolor', 'rgbcolor', 'byte', 'password', 'date', 'date-time',
  'datetime', 'duration', 'int32', 'int64', 'float', 'double',
]);
const JUNCTORS = ['oneOf', 'anyOf'] as const;

interface Context {
  readonly root: JsonSchema;
  readonly refs: readonly string[];
  readonly notes: ConversionNotes;
}

/** Converts `schema` (whose location is `path`, e.g. `.spec`) to a structural schema. */
export function toStructural(schema: JsonSchema, path: string, notes: ConversionNotes = { celRules: [] }): StructuralSchema {
  return convert(schema, path, { root: schema, refs: [], notes });
}

const isObject = (v: unknown): v is JsonSchema => typeof v === 'object' && v !== null && !Array.isArray(v);

function convert(input: JsonSchema, path: string, ctx: Context): StructuralSchema {
  let s = resolveRef(input, path, ctx);
  const refOf = input['$ref'];
  if (typeof refOf === 'string') ctx = { ...ctx, refs: [...ctx.refs, refOf] };
  s = liftNull(s, path);
  s = liftIntOrString(s, path);
  s = mergeAllOf(s, path, ctx);
  s = mergeObjectUnion(s, path, ctx);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(s)) {
    if (DROPPED.has(key)) continue;
    if (key in INSTEAD) throw new StructuralSchemaError(path, `uses ${key}, which a CRD schema cannot express; ${INSTEAD[key]}`);
    if (key === 'const') {
      out['enum'] = [value];
      continue;
    }
    if (!KEPT.has(key)) throw new StructuralSchemaError(path, `uses ${key}, which the API server does not accept in a CRD schema; remove it or express it with x-kubernetes-validations (CEL)`);
    out[key] = value;
  }
  if (typeof out['format'] === 'string' && !FORMATS.has(out['format'])) delete out['format'];
  numericBounds(out);
  if (out['x-kubernetes-validations'] !== undefined) ctx.notes.celRules.push(path || '.');
  convertChildren(out, path, ctx);
  if (out['type'] === undefined && out['x-kubernetes-int-or-string'] !== true && out['x-kubernetes-preserve-unknown-fields'] !== true) {
    const enumType = typeOfValues(out['enum']);
    if (enumType !== undefined) out['type'] = enumType;
    else if (out['properties'] !== undefined) out['type'] = 'object';
    else if (out['items'] !== undefined) out['type'] = 'array';
    else if (Object.keys(out).every((k) => k === 'description' || k === 'title' || k === 'default' || k === 'nullable')) out['x-kubernetes-preserve-unknown-fields'] = true;
    else throw new StructuralSchemaError(path, 'has no type; give it one, or mark it x-kubernetes-preserve-unknown-fields: true to store any value');
  }
  if (typeof out['type'] !== 'string' && out['type'] !== undefined) {
    throw new StructuralSchemaError(path, `has the types ${JSON.stringify(out['type'])}, a union the server cannot prune; use one type, an integer-or-string, or x-kubernetes-preserve-unknown-fields: true`);
  }
  return out as StructuralSchema;
}

/** The JSON type all of an enum's values share (`const: 'x'` carries no type in draft-07). */
function typeOfValues(values: unknown): string | undefined {
  if (!Array.isArray(values) || values.length === 0) return undefined;
  const types = new Set(values.map((v) => (Number.isInteger(v) ? 'integer' : typeof v === 'number' ? 'number' : typeof v)));
  const [only] = types;
  return types.size === 1 && (only === 'string' || only === 'integer' || only === 'number' || only === 'boolean') ? only : undefined;
}

function resolveRef(s: JsonSchema, path: string, ctx: Context): JsonSchema {
  const ref = s['$ref'];
  if (typeof ref !== 'string') return s;
  if (ctx.refs.includes(ref)) {
    throw new StructuralSchemaError(path, `refers back to ${ref} (a recursive type), and a CRD schema cannot recurse; stop the recursion there with x-kubernetes-preserve-unknown-fields: true`);
  }
  const m = /^#\/(\$defs|definitions)\/(.+)$/.exec(ref);
  const defs = m ? ctx.root[m[1]!] : undefined;
  const target = m && isObject(defs) ? defs[decodeURIComponent(m[2]!)] : undefined;
  if (!isObject(target)) throw new StructuralSchemaError(path, `refers to ${ref}, which is not a definition in the same schema; inline it`);
  const { $ref: _ref, ...siblings } = s;
  return { ...target, ...siblings };
}

/** `type: [T, 'null']` and a `{ type: 'null' }` branch both mean `nullable: true`. */
function liftNull(s: JsonSchema, path: string): JsonSchema {
  const type = s['type'];
  if (Array.isArray(type) && type.includes('null')) {
    const rest = type.filter((t) => t !== 'null');
    return { ...s, type: rest.length === 1 ? rest[0] : rest, nullable: true };
  }
  if (type === 'null') throw new StructuralSchemaError(path, 'only admits null; give the field a type and nullable: true');
  for (const j of JUNCTORS) {
    const branches = s[j];
    if (!Array.isArray(branches) || !branches.some((b) => isObject(b) && b['type'] === 'null')) continue;
    const rest = branches.filter((b) => !(isObject(b) && b['type'] === 'null'));
    const { [j]: _branches, ...outer } = s;
    if (rest.length === 1 && isObject(rest[0])) return { ...rest[0], ...outer, nullable: true };
    return { ...outer, [j]: rest, nullable: true };
  }
  return s;
}

const typesOf = (branches: unknown[]): unknown[] => branches.map((b) => (isObject(b) ? b['type'] : undefined));

/** integer | string is Kubernetes' int-or-string; number | string has no structural form. */
function liftIntOrString(s: JsonSchema, path: string): JsonSchema {
  const pair = (types: unknown[]) => types.length === 2 && types.includes('string') && (types.includes('integer') || types.includes('number'));
  let types: unknown[] | undefined;
  let outer: JsonSchema = s;
  if (Array.isArray(s['type'])) types = s['type'];
  else {
    for (const j of JUNCTORS) {
      const branches = s[j];
      if (Array.isArray(branches) && pair(typesOf(branches)) && s['type'] === undefined) {
        types = typesOf(branches);
        const { [j]: _b, ...rest } = s;
        outer = rest;
      }
    }
  }
  if (types === undefined || !pair(types)) return s;
  if (types.includes('number')) throw new StructuralSchemaError(path, 'is a number or a string, which Kubernetes cannot store; use an integer or a string (x-kubernetes-int-or-string), or a string alone');
  const { type: _t, ...rest } = outer;
  return { ...rest, 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }] };
}

/** allOf of typed schemas (an intersection) is merged into one object; validation-only allOf stays. */
function mergeAllOf(s: JsonSchema, path: string, ctx: Context): JsonSchema {
  const all = s['allOf'];
  if (!Array.isArray(all) || !all.some((b) => isObject(b) && (b['type'] !== undefined || b['$ref'] !== undefined))) return s;
  const { allOf: _all, ...outer } = s;
  return all.reduce<JsonSchema>((acc, b, i) => mergeObjects(acc, convert(b as JsonSchema, `${path}.allOf[${i}]`, ctx), path, 'intersection'), outer);
}

/** A union whose branches are objects becomes one object; branches keep only what may stay in a junctor. */
function mergeObjectUnion(s: JsonSchema, path: string, ctx: Context): JsonSchema {
  for (const j of JUNCTORS) {
    const branches = s[j];
    if (!Array.isArray(branches) || s['x-kubernetes-int-or-string'] === true) continue;
    if (!branches.some((b) => isObject(b) && (b['type'] !== undefined || b['$ref'] !== undefined))) continue; // a value validation
    const converted = branches.map((b, i) => convert(b as JsonSchema, `${path}.${j}[${i}]`, ctx) as JsonSchema);
    const kinds = [...new Set(converted.map((b) => String(b['type'])))];
    if (kinds.length === 1 && kinds[0] !== 'object' && kinds[0] !== 'array') return scalarUnion(s, j, converted, kinds[0]!);
    if (kinds.length !== 1 || kinds[0] !== 'object') {
      throw new StructuralSchemaError(path, `is a union of ${kinds.join(' and ')}, which the server cannot prune; use one type (a discriminated union of objects works), an integer-or-string, or x-kubernetes-preserve-unknown-fields: true`);
    }
    const { [j]: _b, ...outer } = s;
    const merged = converted.reduce<JsonSchema>((acc, b) => mergeObjects(acc, b, path, 'union'), { ...outer, type: 'object' });
    const requiredSets = converted.map((b) => (Array.isArray(b['required']) ? (b['required'] as string[]) : []));
    const common = requiredSets.reduce((acc, r) => acc.filter((k) => r.includes(k)));
    const rest = converted.map((b, i) => junctorBranch(b, requiredSets[i]!));
    const out: Record<string, unknown> = { ...merged };
    if (common.length > 0) out['required'] = common;
    else delete out['required'];
    if (rest.some((b) => Object.keys(b).length > 0)) out[j] = rest;
    return out;
  }
  return s;
}

/**
 * Branches of one scalar type (TypeBox's and zod's union of literals): the type moves
 * out; literal-only branches join into one enum, others stay as value validations.
 */
function scalarUnion(s: JsonSchema, j: string, branches: JsonSchema[], type: string): JsonSchema {
  const { [j]: _b, ...outer } = s;
  if (branches.every((b) => Array.isArray(b['enum']) && Object.keys(b).every((k) => k === 'type' || k === 'enum' || k === 'description'))) {
    return { ...outer, type, enum: [...new Set(branches.flatMap((b) => b['enum'] as unknown[]))] };
  }
  const rest = branches.map(({ type: _t, description: _d, default: _def, nullable: _n, ...validation }) => validation);
  return { ...outer, type, [j]: rest };
}

/** What a branch keeps inside oneOf/anyOf: its required list and its properties' enums. */
function junctorBranch(b: JsonSchema, required: string[]): JsonSchema {
  const out: Record<string, unknown> = {};
  if (required.length > 0) out['required'] = required;
  const props = isObject(b['properties']) ? b['properties'] : {};
  const enums = Object.fromEntries(Object.entries(props).filter(([, p]) => isObject(p) && Array.isArray(p['enum'])).map(([k, p]) => [k, { enum: (p as JsonSchema)['enum'] }]));
  if (Object.keys(enums).length > 0) out['properties'] = enums;
  return out;
}

function mergeObjects(a: JsonSchema, b: JsonSchema, path: string, how: 'union' | 'intersection'): JsonSchema {
  const pa = isObject(a['properties']) ? a['properties'] : {};
  const pb = isObject(b['properties']) ? b['properties'] : {};
  const properties: Record<string, unknown> = { ...pa };
  for (const [k, v] of Object.entries(pb)) {
    const prev = properties[k];
    if (prev === undefined) properties[k] = v;
    else properties[k] = mergeProperty(prev as JsonSchema, v as JsonSchema, `${path}.${k}`);
  }
  const required = how === 'intersection' ? [...new Set([...(a['required'] as string[] ?? []), ...(b['required'] as string[] ?? [])])] : (a['required'] ?? b['required']);
  const { properties: _p, required: _r, type: _t, additionalProperties: _a, ...bRest } = b;
  return { ...bRest, ...a, type: 'object', properties, ...(required !== undefined ? { required } : {}) };
}

/** The same property in two branches: equal, or the same type whose enums join. */
function mergeProperty(a: JsonSchema, b: JsonSchema, path: string): JsonSchema {
  if (JSON.stringify(a) === JSON.stringify(b)) return a;
  if (a['type'] === b['type'] && Array.isArray(a['enum']) && Array.isArray(b['enum'])) {
    return { ...a, enum: [...new Set([...a['enum'], ...b['enum']])] };
  }
  throw new StructuralSchemaError(path, 'is declared differently in two branches of a union, and a CRD field has one schema; give it the same schema in every branch or different names');
}

function numericBounds(out: Record<string, unknown>): void {
  for (const [bound, exclusive] of [['minimum', 'exclusiveMinimum'], ['maximum', 'exclusiveMaximum']] as const) {
    if (typeof out[exclusive] === 'number') {
      out[bound] = out[exclusive];
      out[exclusive] = true;
    }
  }
}

function convertChildren(out: Record<string, unknown>, path: string, ctx: Context): void {
  const props = out['properties'];
  if (isObject(props)) {
    out['properties'] = Object.fromEntries(Object.entries(props).map(([k, v]) => [k, convertChild(v, `${path}.${k}`, ctx)]));
  }
  const extra = out['additionalProperties'];
  if (extra === false) delete out['additionalProperties'];
  else if (extra === true || (isObject(extra) && Object.keys(extra).length === 0)) {
    delete out['additionalProperties'];
    out['x-kubernetes-preserve-unknown-fields'] = true;
  } else if (isObject(extra)) {
    if (isObject(props)) throw new StructuralSchemaError(path, 'has both properties and additionalProperties, which a CRD schema cannot; move the open-ended keys into a field of their own');
    out['additionalProperties'] = convertChild(extra, `${path}[*]`, ctx);
  }
  const items = out['items'];
  if (Array.isArray(items)) throw new StructuralSchemaError(path, 'is a tuple (items is a list), which a CRD schema cannot express; use an object with named fields');
  if (isObject(items)) out['items'] = convertChild(items, `${path}[*]`, ctx);
  if (out['uniqueItems'] === true) {
    const it = out['items'] as JsonSchema | undefined;
    if (!it || it['type'] === 'object' || it['type'] === 'array') throw new StructuralSchemaError(path, 'has uniqueItems over objects or lists, which the server rejects; use x-kubernetes-list-type: map with x-kubernetes-list-map-keys');
    out['x-kubernetes-list-type'] ??= 'set';
  }
  delete out['uniqueItems'];
}

function convertChild(v: unknown, path: string, ctx: Context): StructuralSchema {
  if (v === true) return { 'x-kubernetes-preserve-unknown-fields': true };
  if (!isObject(v)) throw new StructuralSchemaError(path, 'is not a schema object; write {} for any value');
  return convert(v, path, ctx);
}
