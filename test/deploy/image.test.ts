/**
 * The image of deploy/image/Dockerfile, as far as it can be checked without a
 * container engine (there is none on the machines this project is built on, so
 * the image itself is not built here): its build context holds what the
 * Dockerfile copies, its lockfile installs with `npm ci`, and the operator
 * starts, reconciles and stops from the layout the runtime stage produces.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { Api, CustomResourceDefinitions, Patch, type KubeObject } from '../../src/index.js';
import { Documents } from '../../examples/document-controller/document.js';
import { until, useCluster } from '../support/cluster.js';
import { kustomize, only, root } from './render.js';

const t = useCluster();
const dockerfile = readFileSync(join(root, 'deploy/image/Dockerfile'), 'utf8');
const work = mkdtempSync(join(tmpdir(), 'kubeloop-image-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** The sources of the Dockerfile's `COPY` lines that read the build context (not another stage). */
function contextCopies(): string[] {
  return dockerfile
    .split('\n')
    .filter((l) => l.startsWith('COPY ') && !l.includes('--from='))
    .flatMap((l) => l.trim().split(/\s+/).slice(1, -1));
}

/** Whether the root .dockerignore lets `path` into the build context (its rules: `*`, then `!path` or `!dir/`). */
function inContext(path: string): boolean {
  const rules = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  assert.equal(rules[0], '*', '.dockerignore starts by excluding everything');
  return rules.slice(1).some((r) => r.startsWith('!') && (path === r.slice(1) || (r.endsWith('/') && path.startsWith(r.slice(1)))));
}

function npm(cwd: string, ...args: string[]): string {
  return execFileSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('the operator image (deploy/image)', () => {
  test('every file the Dockerfile copies from the build context exists and passes .dockerignore; nothing else does', () => {
    const copies = contextCopies();
    assert.ok(copies.length >= 10, `${copies.length} sources`);
    for (const src of copies) {
      assert.ok(existsSync(join(root, src)), `${src} exists`);
      const path = statSync(join(root, src)).isDirectory() ? `${src.replace(/\/$/, '')}/` : src;
      assert.ok(inContext(path), `${src} is in the build context`);
    }
    for (const local of ['node_modules/', 'dist/', '.git/', 'test/', 'bench/', 'deploy/image/node_modules/', 'examples/document-controller/demo.ts']) assert.equal(inContext(local), false, `${local} stays out`);
  });

  test('the runtime stage is non-root with a numeric user (runAsNonRoot can check it) and has no npm', () => {
    const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    assert.match(runtime, /\nUSER 65532:65532\n/);
    assert.match(runtime, /\nFROM gcr\.io\/distroless\/nodejs\d+-debian\d+:nonroot\n/);
    assert.doesNotMatch(runtime, /\bRUN\b/, 'nothing runs in the runtime stage (distroless has no shell)');
    assert.match(dockerfile, /npm ci --omit=dev/);
    assert.doesNotMatch(dockerfile, /npm install/, 'everything installed comes from the lockfile');
    const pkg = JSON.parse(readFileSync(join(root, 'deploy/image/package.json'), 'utf8')) as { dependencies: Record<string, string> };
    for (const [name, version] of Object.entries(pkg.dependencies)) assert.match(version, name === 'kubeloop' ? /^file:/ : /^\d+\.\d+\.\d+$/, `${name} pinned`);
  });

  test('the lockfile installs (npm ci), the operator compiles, and it runs from the runtime layout: ready, reconciling, tracing loaded, stopped by SIGTERM', { timeout: 400_000 }, async () => {
    // Stage 1: kubeloop packed as the registry would hold it (from this build's dist/src).
    npm(root, 'pack', '--pack-destination', work);
    mkdirSync(join(work, 'kubeloop'));
    execFileSync('tar', ['xzf', join(work, 'kubeloop-0.1.0.tgz'), '-C', join(work, 'kubeloop'), '--strip-components=1']);
    const stage = (name: string, files: string[]) => {
      const dir = join(work, name);
      mkdirSync(dir);
      for (const f of files) cpSync(join(root, 'deploy/image', f), join(dir, f));
      cpSync(join(work, 'kubeloop'), join(dir, 'kubeloop'), { recursive: true });
      return dir;
    };
    // Stage 2: build.
    const build = stage('build', ['package.json', 'package-lock.json', '.npmrc', 'tsconfig.json']);
    npm(build, 'ci');
    mkdirSync(join(build, 'src'));
    for (const f of ['operator.ts', 'document.ts', 'unique-title.ts']) cpSync(join(root, 'examples/document-controller', f), join(build, 'src', f));
    execFileSync(process.execPath, [join(build, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: build, stdio: 'pipe' });
    // Stage 3: production dependencies; stage 4: package.json, node_modules and dist, nothing else.
    const deps = stage('deps', ['package.json', 'package-lock.json', '.npmrc']);
    npm(deps, 'ci', '--omit=dev');
    const app = join(work, 'app');
    mkdirSync(app);
    cpSync(join(deps, 'package.json'), join(app, 'package.json'));
    cpSync(join(deps, 'node_modules'), join(app, 'node_modules'), { recursive: true });
    cpSync(join(build, 'dist'), join(app, 'dist'), { recursive: true });
    assert.equal(existsSync(join(app, 'node_modules/typescript')), false, 'no development dependency in the runtime layout');
    assert.equal(existsSync(join(app, 'node_modules/kubeloop/dist/src/index.js')), true, 'kubeloop installed as a copy, not a link into a stage that is not there');

    // Run it as the image's CMD would, against the test cluster.
    const crd = only<KubeObject>(kustomize('deploy'), 'CustomResourceDefinition');
    await Api.all(t.client, CustomResourceDefinitions).patch(crd.metadata!.name!, Patch.apply(crd), { fieldManager: 'kubeloop-test', force: true });
    await until('the CRD established', async () => (await Api.all(t.client, CustomResourceDefinitions).get(crd.metadata!.name!)).status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True'));
    const kubeconfig = join(work, 'kubeconfig');
    writeFileSync(kubeconfig, stringify(t.cluster.kubeconfig({ token: t.cluster.token })));
    const operator = spawn(process.execPath, ['dist/operator.js'], {
      cwd: app,
      env: {
        PATH: process.env.PATH, KUBECONFIG: kubeconfig, PROBE_PORT: '0', NODE_ENV: 'production', KUBELOOP_LOG: 'info',
        // Nothing listens there: the point is that the SDK loads from the image's node_modules.
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9', OTEL_BSP_EXPORT_TIMEOUT: '1000',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: Record<string, any>[] = [];
    let stderr = '';
    operator.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    createInterface({ input: operator.stdout! }).on('line', (l) => lines.push(JSON.parse(l) as Record<string, any>));
    const exited = once(operator, 'exit');
    try {
      const starting = await until('the operator to start', () => lines.find((l) => l.msg === 'starting'), 30_000);
      assert.notEqual(starting.tracing, 'off', 'the OpenTelemetry SDK was found');
      await until('/readyz 200', async () => (await fetch(`http://127.0.0.1:${starting.port}/readyz`)).ok);
      const ns = await t.namespace('image');
      await Api.namespaced(t.client, Documents, ns).create({ metadata: { name: 'hello' }, spec: { title: 'Hello' } });
      await until('the Document Ready', async () => (await Api.namespaced(t.client, Documents, ns).get('hello')).status?.phase === 'Ready');
    } finally {
      operator.kill('SIGTERM');
    }
    const [code] = (await exited) as [number | null];
    assert.equal(code, 0, `exit code (stderr: ${stderr.slice(-1000)})`);
    assert.ok(lines.some((l) => l.msg === 'stopped'), 'a graceful stop');
  });
});
