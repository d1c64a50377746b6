/** Admission and conversion webhooks: the `kubeloop` package exports these. */
export { allow, deny, mutate, type AdmissionRequest, type AdmissionRule, type AdmissionWebhookOptions, type Allowed, type Denied, type FailurePolicy, type Mutated, type MutatingWebhook, type MutationResult, type SideEffects, type ValidatingWebhook, type ValidationResult } from './admission.js';
export { CertificateReloader, CertificateLoadError, type CertificateFiles, type LoadedCertificate } from './certificate-reloader.js';
export { ConversionFailedError, type ConversionWebhook, type SpokeConverter } from './conversion.js';
export { BadReviewError, HandlerTimeoutError } from './errors.js';
export { ManagedWebhookConfiguration, type ManagedConfigurationOptions, type WebhookEndpoint } from './managed-configuration.js';
export { MutatingWebhookConfigurations, ValidatingWebhookConfigurations } from './resources.js';
export type { AdmissionOperation, AdmissionReview, ConversionReview } from './review.js';
export { WebhookServer, type WebhookServerOptions } from './server.js';
