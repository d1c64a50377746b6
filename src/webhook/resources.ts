/** The admissionregistration.k8s.io/v1 kinds the managed configuration writes. */
import type { MutatingWebhookConfiguration, ValidatingWebhookConfiguration } from 'kubernetes-types/admissionregistration/v1.js';
import { defineResource } from '../core/resource.js';

export const ValidatingWebhookConfigurations = defineResource<ValidatingWebhookConfiguration>({
  group: 'admissionregistration.k8s.io', version: 'v1', kind: 'ValidatingWebhookConfiguration', plural: 'validatingwebhookconfigurations', namespaced: false,
});
export const MutatingWebhookConfigurations = defineResource<MutatingWebhookConfiguration>({
  group: 'admissionregistration.k8s.io', version: 'v1', kind: 'MutatingWebhookConfiguration', plural: 'mutatingwebhookconfigurations', namespaced: false,
});
