/**
 * Documents as the demo operator leaves them once it has reconciled them: the
 * finalizer on, `status` Ready at generation 1, and the owned ConfigMap
 * `<name>-doc` server-side applied by the operator's field manager with the same
 * content. So an operator started over them lists and caches them, and its first
 * reconcile of each writes nothing (its apply of the ConfigMap is a no-op); what
 * is measured is the cache, not a burst of writes.
 */
import { Api, ConfigMaps, Patch, type Client } from '../../src/index.js';
import { Documents } from '../../examples/document-controller/document.js';

const MANAGER = 'document-controller';
const FINALIZER = 'documents.example.com/cleanup';
/** About 300 bytes of text: a short document. */
const BODY = 'kubeloop renders this document into a ConfigMap. '.repeat(6).trim();

export const documentName = (i: number) => `doc-${String(i).padStart(6, '0')}`;

/** Creates Documents `from` … `to - 1` (and their ConfigMaps) in `namespace`, `concurrency` at a time. */
export async function createDocuments(client: Client, namespace: string, from: number, to: number, concurrency = 48): Promise<void> {
  const documents = Api.namespaced(client, Documents, namespace);
  const configMaps = Api.namespaced(client, ConfigMaps, namespace);
  let next = from;
  const worker = async () => {
    for (let i = next++; i < to; i = next++) {
      const name = documentName(i);
      const title = `Document ${i}`;
      const doc = await documents.create({ metadata: { name, finalizers: [FINALIZER] }, spec: { title, body: BODY } });
      await documents.patchStatus(
        name,
        Patch.apply({ apiVersion: 'example.com/v1', kind: 'Document', status: { phase: 'Ready', message: `rendered into ConfigMap ${name}-doc`, observedGeneration: doc.metadata!.generation, configMap: `${name}-doc` } }),
        { fieldManager: MANAGER, force: true },
      );
      await configMaps.patch(
        `${name}-doc`,
        Patch.apply({
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: {
            name: `${name}-doc`,
            labels: { 'app.kubernetes.io/managed-by': MANAGER },
            ownerReferences: [{ apiVersion: 'example.com/v1', kind: 'Document', name, uid: doc.metadata!.uid!, controller: true }],
          },
          data: { 'document.md': `# ${title}\n\n${BODY}\n` },
        }),
        { fieldManager: MANAGER, force: true },
      );
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}
