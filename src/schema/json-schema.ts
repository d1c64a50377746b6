/**
 * The two schema shapes this folder speaks.
 *
 * `JsonSchema` is what users and schema libraries hand us: JSON Schema (draft-07 or
 * 2020-12, as TypeBox and `z.toJSONSchema()` emit) or OpenAPI 3.0, with Kubernetes'
 * `x-kubernetes-*` extensions. It is deliberately loose: conversion decides what is
 * allowed and says why when it is not.
 *
 * `StructuralSchema` is what a CustomResourceDefinition stores (`JSONSchemaProps`):
 * the structural OpenAPI v3 subset the API server prunes, defaults and validates with.
 */
export type JsonSchema = { readonly [keyword: string]: unknown };

/**
 * kubernetes-types' `JSONSchemaProps` leaves out the `x-kubernetes-*` keys, so the
 * structural schema is typed here: the keys we read, plus any other the server stores.
 */
export interface StructuralSchema {
  type?: string;
  properties?: { [name: string]: StructuralSchema };
  required?: string[];
  [keyword: string]: unknown;
}

/** A CEL rule (`x-kubernetes-validations`); the API server evaluates it from 1.25 on. */
export interface ValidationRule {
  readonly rule: string;
  readonly message?: string;
  readonly messageExpression?: string;
  readonly reason?: string;
  readonly fieldPath?: string;
}
