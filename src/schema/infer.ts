/**
 * The TypeScript type of the objects a structural schema admits, computed by the type
 * checker from the schema literal (`as const`, or a `const` type parameter).
 *
 * Kubernetes' extensions are part of the type: `x-kubernetes-int-or-string` is
 * `number | string`, `nullable` adds `null`, `x-kubernetes-preserve-unknown-fields`
 * keeps unknown keys as `unknown`, `x-kubernetes-embedded-resource` is a KubeObject.
 * A property is required when `required` names it; a defaulted property stays
 * optional because the server fills it in after the client sent the object.
 *
 * Draft JSON Schema spellings zod and TypeBox emit are understood too (`const`,
 * `type: [T, 'null']`, `anyOf` with `{ type: 'null' }`), so the type stays the same
 * whichever way the schema was written.
 */
import type { ObjectMeta } from 'kubernetes-types/meta/v1.js';

type Simplify<T> = { [K in keyof T]: T[K] };

type RequiredKeys<S> = S extends { readonly required: readonly (infer R)[] } ? R & string : never;

type Props<S> = S extends { readonly properties: infer P } ? P : unknown;

type ObjectOf<S> = Simplify<
  { -readonly [K in keyof Props<S> & RequiredKeys<S>]-?: FromSchema<Props<S>[K]> } & {
    -readonly [K in Exclude<keyof Props<S>, RequiredKeys<S>>]?: FromSchema<Props<S>[K]>;
  }
>;

type Embedded = { apiVersion: string; kind: string; metadata?: ObjectMeta };

type ObjectType<S> = (S extends { readonly properties: object }
  ? ObjectOf<S> & (S extends { readonly 'x-kubernetes-preserve-unknown-fields': true } ? { [key: string]: unknown } : unknown)
  : S extends { readonly additionalProperties: infer A extends object }
    ? { [key: string]: FromSchema<A> }
    : { [key: string]: unknown }) &
  (S extends { readonly 'x-kubernetes-embedded-resource': true } ? Embedded : unknown);

type ScalarOf<T> = T extends 'string'
  ? string
  : T extends 'integer' | 'number'
    ? number
    : T extends 'boolean'
      ? boolean
      : T extends 'null'
        ? null
        : never;

type Typed<S, T> = T extends 'array'
  ? S extends { readonly items: infer I } ? FromSchema<I>[] : unknown[]
  : T extends 'object'
    ? ObjectType<S>
    : ScalarOf<T>;

type Base<S> = S extends { readonly 'x-kubernetes-int-or-string': true }
  ? number | string
  : S extends { readonly enum: readonly (infer E)[] }
    ? E
    : S extends { readonly const: infer C }
      ? C
      : S extends { readonly type: readonly (infer T)[] }
        ? Typed<S, T>
        : S extends { readonly type: infer T }
          ? Typed<S, T>
          : S extends { readonly anyOf: readonly (infer U)[] }
            ? FromSchema<U>
            : S extends { readonly oneOf: readonly (infer U)[] }
              ? FromSchema<U>
              : S extends { readonly properties: object }
                ? ObjectType<S>
                : unknown;

/** The type of the values `S` admits. */
export type FromSchema<S> = S extends { readonly nullable: true } ? Base<S> | null : Base<S>;
