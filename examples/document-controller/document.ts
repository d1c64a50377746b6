import type { ObjectMeta } from 'kubernetes-types/meta/v1.js';
import { defineResource } from 'kubeloop';

/** A Document: a title and a body the operator renders into a ConfigMap. */
export interface Document {
  apiVersion?: 'example.com/v1';
  kind?: 'Document';
  metadata?: ObjectMeta;
  spec: { title: string; body?: string; format?: string };
  status?: { phase?: 'Ready' | 'Refused'; message?: string; observedGeneration?: number; configMap?: string };
}

export const Documents = defineResource<Document>({ group: 'example.com', version: 'v1', kind: 'Document', plural: 'documents', namespaced: true });
