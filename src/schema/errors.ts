/** Errors of schema-first custom resources. */
import { KubeloopError } from '../core/errors.js';

/**
 * A schema that cannot become a structural CRD schema. `path` is where in the schema
 * (`.spec.ports[*]`), and the message says what to write instead.
 */
export class StructuralSchemaError extends KubeloopError {
  constructor(
    readonly path: string,
    problem: string,
  ) {
    super('NotStructural', `the schema at ${path || '.'} ${problem}`);
  }
}

/** One way an object fails its schema, at a field path such as `spec.ports[0].port`. */
export interface SchemaIssue {
  readonly path: string;
  readonly message: string;
}

/** An object that does not match its custom resource's schema. */
export class SchemaValidationError extends KubeloopError {
  constructor(
    readonly kind: string,
    readonly issues: readonly SchemaIssue[],
  ) {
    super('SchemaValidation', `${kind} is invalid: ${issues.map((i) => `${i.path || '<root>'}: ${i.message}`).join('; ')}`);
  }
}
