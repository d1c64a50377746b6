/**
 * Renders a kustomization with the kustomize built into kubectl (1.21 or later),
 * the tool `kubectl apply -k` uses. KUBECTL names another binary.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from '../../src/index.js';

export const root = fileURLToPath(new URL('../../../', import.meta.url));

export function kustomize(dir: string): KubeObject[] {
  const kubectl = process.env.KUBECTL ?? 'kubectl';
  let out: string;
  try {
    out = execFileSync(kubectl, ['kustomize', join(root, dir)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT') throw new Error(`${kubectl} was not found: rendering deploy/ needs kubectl 1.21 or later (its built-in kustomize); set KUBECTL to its path`);
    throw new Error(`${kubectl} kustomize ${dir} failed: ${err.stderr ?? err.message}`);
  }
  return parseAllDocuments(out).map((d) => d.toJSON() as KubeObject).filter(Boolean);
}

export function only<T = any>(objects: KubeObject[], kind: string): T {
  const found = objects.filter((o) => o.kind === kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`);
  return found[0] as T;
}
