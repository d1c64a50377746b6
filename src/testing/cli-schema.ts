/**
 * The schema subcommands of kubeloop-dev, kept apart from the control-plane ones:
 *
 *   crd <module>           the CRD YAML of every custom resource the module exports
 *   types <crd.yaml | ->   a TypeScript module (types + descriptor) for each CRD in the file
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseAllDocuments } from 'yaml';
import type { CustomResourceDefinition } from 'kubernetes-types/apiextensions/v1.js';
import { isCustomResource, type CustomResource } from '../schema/custom-resource.js';
import { crdYaml } from '../schema/crd-yaml.js';
import { typesFromCrd } from '../schema/types-from-crd.js';

export interface CommandOutput {
  readonly stdout: string;
  readonly stderr: string;
}

/** The CRDs of every custom resource `modulePath` exports, in export order. */
export async function crdCommand(modulePath: string): Promise<CommandOutput> {
  const mod = (await import(pathToFileURL(resolve(modulePath)).href)) as Record<string, unknown>;
  // A resource exported under two names (a named and the default export) is printed once.
  const found = [...new Set(Object.values(mod).filter(isCustomResource))] as CustomResource<any>[];
  if (found.length === 0) throw new Error(`${modulePath} exports no custom resource; export the value defineCustomResource returns`);
  const notes = found.flatMap((cr) => cr.needsNewerServer.map((n) => `kubeloop-dev: ${cr.crd.metadata?.name}: ${n}\n`));
  return { stdout: crdYaml(found.map((cr) => cr.crd)), stderr: notes.join('') };
}

/** TypeScript for every CustomResourceDefinition in `text` (other documents are skipped). */
export function typesCommand(text: string, source: string): CommandOutput {
  const docs = parseAllDocuments(text);
  const crds: CustomResourceDefinition[] = [];
  for (const d of Array.isArray(docs) ? docs : [docs]) {
    if (d.errors.length > 0) throw new Error(`${source} is not valid YAML: ${d.errors[0]!.message}`);
    const o = d.toJSON() as Partial<CustomResourceDefinition> | null;
    if (o?.kind === 'CustomResourceDefinition' && o.apiVersion === 'apiextensions.k8s.io/v1') crds.push(o as CustomResourceDefinition);
  }
  if (crds.length === 0) throw new Error(`${source} holds no apiextensions.k8s.io/v1 CustomResourceDefinition`);
  return { stdout: crds.map((c) => typesFromCrd(c)).join('\n'), stderr: '' };
}

export function readInput(file: string): string {
  return readFileSync(file === '-' ? 0 : file, 'utf8');
}
