/**
 * The custom resource of the burst scenario. ConfigMaps have no status
 * subresource, so the burst reconciler patches the status of a small CRD instead:
 * `spec.value` is what the writer changes, `status.observed` what the reconciler
 * copies it to.
 */
import { defineResource, type KubeObject } from 'kubeloop';

export interface Widget extends KubeObject {
  spec: { value: number };
  status?: { observed?: number };
}

export const GROUP = 'bench.kubeloop.dev';
export const VERSION = 'v1';
export const PLURAL = 'widgets';

export const Widgets = defineResource<Widget>({ group: GROUP, version: VERSION, kind: 'Widget', plural: PLURAL, namespaced: true });

export const widgetCrd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `${PLURAL}.${GROUP}` },
  spec: {
    group: GROUP,
    scope: 'Namespaced',
    names: { plural: PLURAL, singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
    versions: [
      {
        name: VERSION,
        served: true,
        storage: true,
        subresources: { status: {} },
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: { type: 'object', properties: { value: { type: 'integer' } } },
              status: { type: 'object', properties: { observed: { type: 'integer' } } },
            },
          },
        },
      },
    ],
  },
};

/** What the burst reconciler needs from a client: read one widget, patch its status. */
export interface WidgetOps {
  get(name: string): Promise<Widget>;
  patchStatus(name: string, observed: number): Promise<void>;
}
