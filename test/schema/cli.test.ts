/**
 * `kubeloop-dev crd` and `kubeloop-dev types` run as a user runs them (the compiled CLI
 * in a child process), over the demo's module and the real-world CRD corpus. No API
 * server: what they produce is a file, checked by the TypeScript compiler and compared
 * with its source; the corpus's acceptance by a real server is in schema/custom-resources.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { parse } from 'yaml';
import type { CustomResourceDefinition } from 'kubernetes-types/apiextensions/v1.js';
import { isCustomResource, type CustomResource } from '../../src/index.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const cli = join(root, 'dist/src/testing/cli.js');
const corpus = join(root, 'test/fixtures/crds');
const files = readdirSync(corpus).filter((f) => f.endsWith('.yaml')).sort();
// Under the package, so that the generated `import ... from 'kubeloop'` resolves to this build.
const work = join(root, 'dist', `.schema-cli-${process.pid}`);

function run(args: string[], input?: string): { stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', input, maxBuffer: 64 << 20, cwd: root });
  assert.equal(r.status, 0, `kubeloop-dev ${args.join(' ')} failed: ${r.stderr}`);
  return { stdout: r.stdout, stderr: r.stderr };
}

/** Every diagnostic of compiling `names` (in `work`) with `tsc --strict --noEmit`, as `file:line: message`. */
function typeErrors(names: string[]): string[] {
  const program = ts.createProgram(names.map((n) => join(work, n)), {
    strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, skipLibCheck: true, types: [],
  });
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file ? `${d.file.fileName.slice(work.length + 1)}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}` : '';
    return `${where}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n').split('\n')[0]}`;
  });
}

const pascal = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
const base = (f: string) => f.replace(/\.yaml$/, '');

describe('kubeloop-dev crd', () => {
  test('deploy/crd.yaml is exactly what `kubeloop-dev crd` prints for the demo\'s Document module', () => {
    const { stdout } = run(['crd', 'dist/examples/document-controller/document.js']);
    assert.equal(readFileSync(join(root, 'deploy/crd.yaml'), 'utf8'), stdout, 'deploy/crd.yaml is stale: regenerate it with `npx kubeloop-dev crd dist/examples/document-controller/document.js > deploy/crd.yaml`');
  });
});

describe('kubeloop-dev types over the real-world corpus', () => {
  const crds = new Map(files.map((f) => [f, parse(readFileSync(join(corpus, f), 'utf8')) as CustomResourceDefinition]));
  const typeName = (crd: CustomResourceDefinition, version: string) => crd.spec.names.kind + (crd.spec.versions.length > 1 ? pascal(version) : '');

  before(() => {
    mkdirSync(work, { recursive: true });
    for (const f of files) writeFileSync(join(work, `${base(f)}.ts`), run(['types', join('test/fixtures/crds', f)]).stdout);
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  test('the corpus has at least 8 CRDs from different projects, each with a sample object', () => {
    assert.ok(files.length >= 8, files.join(', '));
    assert.equal(new Set(files.map((f) => f.split('.')[0])).size, files.length);
    assert.deepEqual(readdirSync(join(corpus, 'samples')).sort(), files);
  });

  test('the generated modules, a sample object of each and its typed descriptor compile with tsc --strict', () => {
    const names: string[] = [];
    for (const f of files) {
      const sample = parse(readFileSync(join(corpus, 'samples', f), 'utf8')) as { apiVersion: string };
      const version = sample.apiVersion.split('/')[1]!;
      const name = `${base(f)}.sample.ts`;
      const kind = crds.get(f)!.spec.names.kind;
      // The sample has the version's type, and the module's descriptor for that version carries it (what Api<K> takes).
      writeFileSync(join(work, name), [
        "import type { Resource } from 'kubeloop';",
        `import { ${kind}Resource, type ${typeName(crds.get(f)!, version)} as T } from './${base(f)}.js';`,
        `export const sample: T = ${JSON.stringify(sample, null, 2)};`,
        `export const resource: Resource<T> = ${kind}Resource.resources[${JSON.stringify(version)}];`,
        '',
      ].join('\n'));
      names.push(`${base(f)}.ts`, name);
    }
    assert.deepEqual(typeErrors(names), []);
  });

  test('the generated types are not loose: a wrong enum value, an unknown field, a boolean for an int-or-string and a missing required field do not compile', () => {
    const wrong = [
      "import type { Certificate } from './cert-manager.certificates.js';",
      "import type { ServiceMonitor } from './prometheus-operator.servicemonitors.js';",
      "export const a: Certificate = { spec: { secretName: 's', issuerRef: { name: 'i' }, privateKey: { algorithm: 'DSA' } } };",
      "export const b: Certificate = { spec: { secretName: 's', issuerRef: { name: 'i' }, colour: 'blue' } };",
      "export const c: ServiceMonitor = { spec: { selector: {}, endpoints: [{ targetPort: true }] } };",
      "export const d: Certificate = { spec: { issuerRef: { name: 'i' } } };",
    ];
    writeFileSync(join(work, 'wrong.ts'), wrong.join('\n'));
    const lines = typeErrors(['wrong.ts']).map((e) => e.split(':').slice(0, 2).join(':'));
    assert.deepEqual([...new Set(lines)], ['wrong.ts:3', 'wrong.ts:4', 'wrong.ts:5', 'wrong.ts:6']);
  });

  test('types → CRD: `kubeloop-dev crd` over each generated module gives back the input CRD (noting on stderr what needs a newer server), and each sample passes the module\'s validator', async () => {
    const differences: string[] = [];
    for (const f of files) {
      const source = readFileSync(join(work, `${base(f)}.ts`), 'utf8');
      const js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
      writeFileSync(join(work, `${base(f)}.js`), js);
      const printed = run(['crd', join(work, `${base(f)}.js`)]);
      const back = parse(printed.stdout) as CustomResourceDefinition;
      const original = crds.get(f)!;
      const text = readFileSync(join(corpus, f), 'utf8');
      // What a 1.20 server would drop silently is said on stderr, and nothing else is.
      assert.equal(/x-kubernetes-validations at \S+ needs Kubernetes 1\.25 or newer/.test(printed.stderr), text.includes('x-kubernetes-validations'), `${f}: ${printed.stderr}`);
      assert.equal(/selectableFields of \S+ need Kubernetes 1\.30 or newer/.test(printed.stderr), text.includes('selectableFields'), `${f}: ${printed.stderr}`);
      // The one difference, justified: an empty `subresources: {}` says the same as none, and is not written.
      for (const v of original.spec.versions) {
        if (v.subresources && Object.keys(v.subresources).length === 0) {
          delete v.subresources;
          differences.push(`${f} ${v.name}: subresources {}`);
        }
      }
      assert.deepStrictEqual(back, original, f);
      const mod = (await import(join(work, `${base(f)}.js`))) as Record<string, unknown>;
      const cr = Object.values(mod).find(isCustomResource) as CustomResource<any>;
      const sample = parse(readFileSync(join(corpus, 'samples', f), 'utf8')) as { apiVersion: string };
      const result = cr.validator(sample.apiVersion.split('/')[1]!).validate(sample);
      assert.deepEqual(result.ok ? [] : result.issues, [], `${f}: the sample fails its schema`);
    }
    assert.deepEqual(differences, ['crossplane.compositions.yaml v1: subresources {}']);
  });

  test('`types -` reads the CRD from standard input', () => {
    const f = 'keda.scaledobjects.yaml';
    assert.equal(run(['types', '-'], readFileSync(join(corpus, f), 'utf8')).stdout, readFileSync(join(work, `${base(f)}.ts`), 'utf8'));
  });
});
