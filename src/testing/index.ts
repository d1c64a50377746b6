export { LocalCluster, type LocalClusterOptions, type TokenUser } from './local-cluster.js';
export { resolveAssets, resolvePrometheus, runInstallScript, cacheAssetsDir, type ControlPlaneAssets } from './assets.js';
export type { CertPair } from './pki.js';
export { createWebhookCertificates, type WebhookCertificateFiles, type WebhookCertificateOptions } from './webhook-certificates.js';
