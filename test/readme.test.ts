import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import ts from 'typescript';

const root = fileURLToPath(new URL('../../', import.meta.url));

test('the README quick start type-checks against kubeloop as a user would import it', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Quick start'));
  const snippet = section.match(/```ts\n([\s\S]*?)```/)?.[1];
  assert.ok(snippet, 'a ts code block under "## Quick start"');
  assert.match(snippet, /from 'kubeloop'/);
  // Inside the repository, so that `kubeloop` resolves through the package's own exports map.
  const dir = mkdtempSync(join(root, '.readme-check-'));
  try {
    const file = join(dir, 'quick-start.ts');
    writeFileSync(file, snippet);
    const program = ts.createProgram([file], {
      strict: true, noEmit: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022, skipLibCheck: true, types: ['node'],
    });
    const problems = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    assert.deepEqual(problems, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
