/**
 * The object types inferred from schemas, shown by the TypeScript compiler: files that
 * must compile and lines that must not (test/fixtures/types, outside the build so that
 * the build does not fail on the latter). No API server: types are the compiler's.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const dir = fileURLToPath(new URL('../../../test/fixtures/types/', import.meta.url));

/** `line: message` of every diagnostic of `tsc --strict --noEmit` over `file`, with the repo's settings. */
function diagnostics(file: string): { line: number; message: string; file: string }[] {
  const program = ts.createProgram([join(dir, file)], {
    strict: true, noEmit: true, noUncheckedIndexedAccess: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, skipLibCheck: true, types: [],
  });
  return ts.getPreEmitDiagnostics(program).map((d) => ({
    file: d.file?.fileName ?? '',
    line: d.file ? d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1 : 0,
    message: ts.flattenDiagnosticMessageText(d.messageText, ' '),
  }));
}

describe('types inferred from a schema', () => {
  test('accepts.ts compiles: required and optional fields, enums and const as literal unions, nested objects, arrays, maps, int-or-string, nullable, preserve-unknown, embedded resources, per-version apiVersion, zod\'s input type, TypeBox\'s Static — none of them any', () => {
    assert.deepEqual(diagnostics('accepts.ts'), []);
  });

  test('rejects.ts: each line marked `// error` fails to compile, and no other line does', () => {
    const source = readFileSync(join(dir, 'rejects.ts'), 'utf8').split('\n');
    const marked = source.flatMap((l, i) => (/;\s*\/\/ error:/.test(l) ? [i + 1] : []));
    assert.equal(marked.length, 16);
    const found = diagnostics('rejects.ts');
    assert.ok(found.every((d) => d.file.endsWith('rejects.ts')), JSON.stringify(found.filter((d) => !d.file.endsWith('rejects.ts'))));
    assert.deepEqual([...new Set(found.map((d) => d.line))], marked, found.map((d) => `${d.line}: ${d.message}`).join('\n'));
  });
});
