/**
 * Schemas from other libraries, through the Standard Schema interfaces rather than a
 * dependency on any one library.
 *
 * A library that implements Standard JSON Schema (`~standard.jsonSchema`, zod ≥ 4.2
 * among them) hands us its JSON Schema, which we convert to the structural subset like
 * any other; its static type comes from `~standard.types`. We ask for the *input* form
 * and the *input* type: the API server applies defaults itself, so a client may leave a
 * defaulted field out, and the type of objects we create must allow that.
 *
 * The interfaces are written out here (they are a few lines, and the spec asks
 * implementers not to depend on a package for them).
 */
import type { FromSchema } from './infer.js';
import type { JsonSchema } from './json-schema.js';
import { StructuralSchemaError } from './errors.js';

/** The part of Standard Schema v1 / Standard JSON Schema v1 we read. */
export interface StandardSchemaLike<Input = unknown, Output = Input> {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    readonly types?: { readonly input: Input; readonly output: Output } | undefined;
    readonly jsonSchema?: {
      readonly input: (options: { readonly target: string }) => Record<string, unknown>;
    };
  };
}

/**
 * A schema as a version of a custom resource takes it: a JSON Schema object or a
 * Standard Schema. `object` rather than a record type, because schema builders such as
 * TypeBox declare their schemas as interfaces, which have no index signature.
 */
export type SchemaInput = object;

/** The type of the values a schema admits (the input type of a Standard Schema). */
export type InferSchema<S> = S extends { readonly '~standard': { readonly types?: infer T } }
  ? NonNullable<T> extends { readonly input: infer I } ? I : unknown
  : FromSchema<S>;

export function isStandardSchema(s: unknown): s is StandardSchemaLike {
  return typeof s === 'object' && s !== null && '~standard' in s;
}

/** The JSON Schema of `s`: `s` itself, or what its library's Standard JSON Schema gives. */
export function jsonSchemaOf(s: SchemaInput, where: string): JsonSchema {
  if (!isStandardSchema(s)) return s as JsonSchema;
  const std = s['~standard'];
  if (std.jsonSchema === undefined) {
    throw new StructuralSchemaError(where, `is a ${std.vendor} schema without Standard JSON Schema (~standard.jsonSchema); upgrade ${std.vendor} to a version that implements it, or pass its JSON Schema instead`);
  }
  // draft-07 is the target every implementation must offer; conversion handles its spellings.
  return std.jsonSchema.input({ target: 'draft-07' });
}
