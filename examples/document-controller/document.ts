/**
 * The Document custom resource, schema first: its type, its descriptor and its CRD
 * (deploy/crd.yaml, printed by `npx kubeloop-dev crd dist/examples/document-controller/document.js`)
 * all come from the schema below; a test holds deploy/crd.yaml equal to that output.
 */
import { defineCustomResource, type ObjectOf } from 'kubeloop';

/** A Document: a title and a body the operator renders into a ConfigMap. */
export const DocumentResource = defineCustomResource({
  group: 'example.com',
  names: { kind: 'Document', plural: 'documents', shortNames: ['doc'] },
  scope: 'Namespaced',
  versions: {
    v1: {
      spec: {
        type: 'object',
        required: ['title'],
        properties: {
          title: { type: 'string', minLength: 1 },
          body: { type: 'string' },
          format: { description: 'markdown or text; the operator refuses anything else.', type: 'string' },
        },
      },
      status: {
        type: 'object',
        properties: {
          phase: { type: 'string', enum: ['Ready', 'Refused'] },
          message: { type: 'string' },
          observedGeneration: { type: 'integer' },
          configMap: { type: 'string' },
        },
      },
      subresources: { status: true },
      printerColumns: [
        { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
        { name: 'Message', type: 'string', jsonPath: '.status.message' },
        { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
      ],
    },
  },
});

export const Documents = DocumentResource.resources.v1;
export type Document = ObjectOf<typeof Documents>;
