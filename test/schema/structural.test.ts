/**
 * JSON Schema → structural schema, and the run-time validator: pure units (the API
 * server's acceptance of what they produce is shown in schema/custom-resources).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Type } from 'typebox';
import { z } from 'zod';
import { defineCustomResource, SchemaValidationError, StructuralSchemaError, toStructural, type JsonSchema } from '../../src/index.js';

const thrown = (f: () => unknown): unknown => {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
};

describe('conversion to the structural subset', () => {
  test('draft spellings become their structural forms: null unions, integer|string, const, numeric exclusive bounds, uniqueItems of scalars, $ref', () => {
    const s = toStructural({
      type: 'object',
      $defs: { port: { type: 'integer', exclusiveMinimum: 0 } },
      properties: {
        nickname: { type: ['string', 'null'] },
        owner: { anyOf: [{ type: 'string' }, { type: 'null' }], description: 'who' },
        port: { $ref: '#/$defs/port' },
        target: { anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string' }] },
        mode: { const: 'fast' },
        tags: { type: 'array', items: { type: 'string' }, uniqueItems: true },
        anything: {},
        labels: { type: 'object', additionalProperties: { type: 'string' }, propertyNames: { type: 'string' } },
      },
      additionalProperties: false,
      $schema: 'http://json-schema.org/draft-07/schema#',
    }, '.spec');
    assert.deepEqual(s, {
      type: 'object',
      properties: {
        nickname: { type: 'string', nullable: true },
        owner: { type: 'string', description: 'who', nullable: true },
        port: { type: 'integer', minimum: 0, exclusiveMinimum: true },
        target: { 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }] },
        mode: { enum: ['fast'], type: 'string' } as never,
        tags: { type: 'array', items: { type: 'string' }, 'x-kubernetes-list-type': 'set' },
        anything: { 'x-kubernetes-preserve-unknown-fields': true },
        labels: { type: 'object', additionalProperties: { type: 'string' } },
      },
    });
  });

  test('a discriminated union of objects becomes one object with every field, the branches kept as a oneOf of their required fields and discriminator values', () => {
    const s = toStructural({
      oneOf: [
        { type: 'object', properties: { type: { type: 'string', const: 'git' }, url: { type: 'string' } }, required: ['type', 'url'] },
        { type: 'object', properties: { type: { type: 'string', const: 'oci' }, image: { type: 'string' } }, required: ['type', 'image'] },
      ],
    }, '.spec.source');
    assert.deepEqual(s, {
      type: 'object',
      properties: { type: { type: 'string', enum: ['git', 'oci'] }, url: { type: 'string' }, image: { type: 'string' } },
      required: ['type'],
      oneOf: [
        { required: ['type', 'url'], properties: { type: { enum: ['git'] } } },
        { required: ['type', 'image'], properties: { type: { enum: ['oci'] } } },
      ],
    });
  });

  test('a schema that cannot be structural fails with one sentence naming its path and what to write instead', () => {
    const cases: [JsonSchema, string, RegExp][] = [
      [{ $defs: { node: { type: 'object', properties: { children: { type: 'array', items: { $ref: '#/$defs/node' } } } } }, $ref: '#/$defs/node' },
        '.spec.children[*]', /refers back to #\/\$defs\/node \(a recursive type\).*x-kubernetes-preserve-unknown-fields: true/],
      [{ type: 'object', properties: { size: { anyOf: [{ type: 'string' }, { type: 'object', properties: {} }] } } }, '.spec.size', /is a union of string and object.*discriminated union of objects/],
      [{ type: 'object', properties: { ratio: { type: ['number', 'string'] } } }, '.spec.ratio', /number or a string.*use an integer or a string/],
      [{ type: 'object', patternProperties: { '^x-': { type: 'string' } } }, '.spec', /uses patternProperties.*use additionalProperties/],
      [{ type: 'object', properties: { pair: { type: 'array', items: [{ type: 'string' }, { type: 'integer' }] } } }, '.spec.pair', /is a tuple.*use an object with named fields/],
      [{ type: 'object', properties: { a: { type: 'string' } }, additionalProperties: { type: 'integer' } }, '.spec', /both properties and additionalProperties/],
    ];
    for (const [schema, path, message] of cases) {
      const e = thrown(() => toStructural(schema, '.spec'));
      assert.ok(e instanceof StructuralSchemaError, String(e));
      assert.equal(e.path, path);
      assert.match(e.message, new RegExp(`^the schema at ${path.replace(/[.*[\]]/g, '\\$&')} `));
      assert.match(e.message, message);
      assert.equal(e.message.split(/\.\s/).length, 1, `one sentence: ${e.message}`);
    }
    assert.equal(cases.length, 6);
  });

  test('CEL rules are kept and reported as needing Kubernetes 1.25 or newer', () => {
    const cr = defineCustomResource({
      group: 'example.com', names: { kind: 'Budget', plural: 'budgets' }, scope: 'Namespaced',
      versions: { v1: { spec: { type: 'object', properties: { min: { type: 'integer' }, max: { type: 'integer' } }, 'x-kubernetes-validations': [{ rule: 'self.min <= self.max' }] } } },
    });
    assert.deepEqual(cr.needsNewerServer, ['x-kubernetes-validations at .spec needs Kubernetes 1.25 or newer']);
    assert.deepEqual((cr.crd.spec.versions[0]!.schema!.openAPIV3Schema!.properties!['spec'] as Record<string, unknown>)['x-kubernetes-validations'], [{ rule: 'self.min <= self.max' }]);
  });

  test('a zod schema is taken through Standard JSON Schema: its JSON Schema converted like any other', () => {
    const cr = defineCustomResource({
      group: 'example.com', names: { kind: 'Job', plural: 'jobs' }, scope: 'Namespaced',
      versions: { v1: { spec: z.object({ image: z.string().min(1), port: z.union([z.int(), z.string()]), note: z.string().nullable().optional(), mode: z.enum(['a', 'b']).default('a') }) } },
    });
    const spec = cr.crd.spec.versions[0]!.schema!.openAPIV3Schema!.properties!['spec'];
    assert.deepEqual(spec, {
      type: 'object',
      properties: {
        image: { type: 'string', minLength: 1 },
        port: { 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }] },
        note: { type: 'string', nullable: true },
        mode: { default: 'a', type: 'string', enum: ['a', 'b'] },
      },
      required: ['image', 'port'],
    });
  });
});

describe('TypeBox', () => {
  test('a TypeBox schema is plain JSON Schema: literal unions become enums, integer|string int-or-string, string|null nullable', () => {
    const cr = defineCustomResource({
      group: 'example.com', names: { kind: 'Task', plural: 'tasks' }, scope: 'Namespaced',
      versions: { v1: { spec: Type.Object({ image: Type.String({ minLength: 1 }), mode: Type.Union([Type.Literal('a'), Type.Literal('b')]), port: Type.Union([Type.Integer(), Type.String()]), note: Type.Union([Type.String(), Type.Null()]) }) } },
    });
    assert.deepEqual(cr.crd.spec.versions[0]!.schema!.openAPIV3Schema!.properties!['spec'], {
      type: 'object',
      required: ['image', 'mode', 'port', 'note'],
      properties: {
        image: { type: 'string', minLength: 1 },
        mode: { type: 'string', enum: ['a', 'b'] },
        port: { 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }] },
        note: { type: 'string', nullable: true },
      },
    });
  });
});

describe('definitions that cannot be generated', () => {
  const names = { kind: 'Thing', plural: 'things' };
  test('a Standard Schema without Standard JSON Schema, two storage versions, or spec that is not an object each fail with one sentence saying what to do', () => {
    const noJson = { '~standard': { version: 1 as const, vendor: 'somelib', validate: () => ({ value: {} }) } };
    const cases: [() => unknown, RegExp][] = [
      [() => defineCustomResource({ group: 'example.com', names, scope: 'Namespaced', versions: { v1: { spec: noJson } } }), /^the schema at \.spec is a somelib schema without Standard JSON Schema \(~standard\.jsonSchema\); upgrade somelib/],
      [() => defineCustomResource({ group: 'example.com', names, scope: 'Namespaced', versions: { v1: { storage: true }, v2: { storage: true } } }), /marks 2 versions as storage; mark exactly one with storage: true$/],
      [() => defineCustomResource({ group: 'example.com', names, scope: 'Namespaced', versions: { v1: {}, v2: {} } }), /marks 0 versions as storage/],
      [() => defineCustomResource({ group: 'example.com', names, scope: 'Namespaced', versions: { v1: { spec: { type: 'string' } } } }), /^the schema at \.spec is of type string; spec must be an object$/],
    ];
    for (const [define, message] of cases) {
      const e = thrown(define);
      assert.ok(e instanceof StructuralSchemaError, String(e));
      assert.match(e.message, message);
    }
  });
});

describe('run-time validation from the same schema', () => {
  const cr = defineCustomResource({
    group: 'example.com', names: { kind: 'Widget', plural: 'widgets' }, scope: 'Namespaced',
    versions: {
      v1: {
        spec: {
          type: 'object', required: ['size'],
          properties: {
            size: { type: 'integer', minimum: 1 },
            port: { 'x-kubernetes-int-or-string': true },
            owner: { type: 'string', nullable: true },
            ports: { type: 'array', items: { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1 }, port: { type: 'integer', minimum: 1, exclusiveMinimum: true } } } },
          },
        },
      },
    },
  });
  const v = cr.validator('v1');

  test('a valid object passes, with int-or-string as either, null where nullable, and unknown fields left to pruning', () => {
    for (const port of [8080, 'http']) {
      const r = v.validate({ spec: { size: 1, port, owner: null, extra: 'pruned by the server, not refused' } });
      assert.deepEqual(r, { ok: true, value: { spec: { size: 1, port, owner: null, extra: 'pruned by the server, not refused' } } });
    }
  });

  test('every failing field is named by its path, as the API server names it', () => {
    const r = v.validate({ spec: { size: 0, port: 1.5, owner: 3, ports: [{ name: 'a', port: 2 }, { port: 1 }] } });
    assert.equal(r.ok, false);
    assert.deepEqual(!r.ok && r.issues.map((i) => i.path).sort(), ['spec.owner', 'spec.port', 'spec.ports[1].name', 'spec.ports[1].port', 'spec.size']);
    const e = thrown(() => v.assert({ spec: {} }));
    assert.ok(e instanceof SchemaValidationError);
    assert.equal(e.message, "Widget is invalid: spec.size: must have required property 'size'");
  });

  test('the validator is a Standard Schema', () => {
    const r = v['~standard'].validate({ spec: { size: -1 } });
    assert.deepEqual(r, { issues: [{ message: 'must be >= 1', path: ['spec', 'size'] }] });
  });
});
