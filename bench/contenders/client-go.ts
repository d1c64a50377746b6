/**
 * client-go's shared informer as a contender of the warm-up and watch
 * scenarios. Unlike the other contenders it is no module a Node child loads but
 * a Go process (client-go/main.go) that the harness runs in the child's place
 * (`ChildOptions.exec`) and talks to in JSON lines.
 *
 * The binary is built on first use, offline, from the client-go vendored in the
 * Kubernetes source that scripts/install-control-plane.sh unpacked to build
 * kube-apiserver: GOPATH mode, that build's GOPATH and Go build cache (so the
 * client-go packages compiled for kube-apiserver are reused), main.go placed
 * inside the Kubernetes tree by `-overlay` so its imports resolve to vendor/. It
 * is kept in <cache>/bench-client-go-<hash of main.go>/, so later runs reuse it.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { access, lstat, mkdir, readFile, rename, symlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildOptions } from '../harness.js';
import type { Contender } from '../protocol.js';
import { log, mono } from '../scenarios/scenario.js';

const K8S_VERSION = '1.20.2';
// From dist/bench/contenders/ back to the source tree's bench/contenders/.
const MAIN_GO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bench', 'contenders', 'client-go', 'main.go');
/** The import path main.go gets inside the Kubernetes tree. */
const PKG = 'k8s.io/kubernetes/kubeloop-bench/client-go';

/** The cache directory of scripts/install-control-plane.sh and src/testing/assets.ts. */
const cacheRoot = () => process.env.KUBELOOP_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'kubeloop');

const exists = (path: string, mode = constants.F_OK) =>
  access(path, mode).then(
    () => true,
    () => false,
  );

/** The binary, or why there is none. */
export interface ClientGo {
  exec?: string;
  skipped?: string;
}

let once: Promise<ClientGo> | undefined;

/** The client-go binary, built the first time a scenario asks; when it cannot be, says why in one log line. */
export function clientGo(): Promise<ClientGo> {
  once ??= build().catch((e: Error) => {
    log(`client-go contender skipped: ${e.message}`);
    return { skipped: e.message };
  });
  return once;
}

/** The options of a contender's child: client-go's child is its binary. */
export function childOptionsFor(base: ChildOptions, contender: Contender, go: ClientGo): ChildOptions {
  return contender === 'client-go' ? { ...base, exec: go.exec! } : base;
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    // go prints nothing on stdout; whatever it prints goes to stderr, with the bench's log.
    const proc = spawn(cmd, args, { cwd, env, stdio: ['ignore', 2, 2] });
    proc.once('error', (e) => reject(new Error(`no Go toolchain to build it with (${e.message})`)));
    proc.once('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`go build failed (${signal ?? `exit ${code}`}), its output is above`))));
  });
}

async function build(): Promise<ClientGo> {
  const root = cacheRoot();
  const work = join(root, `build-${K8S_VERSION}`);
  const src = join(work, `kubernetes-${K8S_VERSION}`);
  if (!(await exists(join(src, 'vendor', 'k8s.io', 'client-go', 'informers')))) {
    throw new Error(`the Kubernetes ${K8S_VERSION} source it is built from is not in ${src} (scripts/install-control-plane.sh leaves it there when it builds kube-apiserver).`);
  }
  const main = await readFile(MAIN_GO);
  const hash = createHash('sha256').update(K8S_VERSION).update('\0').update(main).digest('hex').slice(0, 16);
  const dir = join(root, `bench-client-go-${hash}`);
  const exec = join(dir, 'client-go');
  if (await exists(exec, constants.X_OK)) return { exec };

  // The GOPATH of the install script: k8s.io/kubernetes is the source tree.
  const gopath = join(work, 'gopath');
  const tree = join(gopath, 'src', 'k8s.io', 'kubernetes');
  if (!(await lstat(tree).catch(() => undefined))) {
    await mkdir(dirname(tree), { recursive: true });
    await symlink(src, tree);
  }
  await mkdir(dir, { recursive: true });
  const overlay = join(dir, 'overlay.json');
  await writeFile(overlay, JSON.stringify({ Replace: { [join(gopath, 'src', PKG, 'main.go')]: MAIN_GO } }));
  const env = { ...process.env, GOPATH: gopath, GO111MODULE: 'off', CGO_ENABLED: '0', GOFLAGS: '', GOCACHE: join(root, 'go-build-cache') };
  log(`building the client-go contender (client-go of Kubernetes ${K8S_VERSION}, vendored; first use only) into ${dir}`);
  const t = mono();
  const tmp = `${exec}.${process.pid}.tmp`;
  await run(process.env.GO ?? 'go', ['build', '-overlay', overlay, '-ldflags=-s -w', '-o', tmp, PKG], tree, env);
  await rename(tmp, exec);
  log(`built the client-go contender in ${((mono() - t) / 1000).toFixed(1)} s`);
  return { exec };
}
