/**
 * Managed webhook configuration: the ValidatingWebhookConfiguration,
 * MutatingWebhookConfiguration and each CRD's `spec.conversion`, written from
 * the webhooks a server serves, with the `caBundle` of the certificate it
 * serves now, and written again whenever that certificate changes.
 *
 * A `caBundle` copied into YAML by hand drifts from the certificate at the first
 * rotation, and every write then fails (or, with `Ignore`, skips the check);
 * writing it from the certificate the server loaded keeps them one thing. The
 * writes are server-side apply with a field manager of their own, so fields other
 * managers set (cert-manager's CA injector, an admin's extra webhook) stay.
 */
import type { Client } from '../client/client.js';
import { Api } from '../client/api.js';
import { Patch } from '../client/patch.js';
import { CustomResourceDefinitions } from '../core/builtin.js';
import { logger } from '../telemetry/log.js';
import type { AdmissionWebhookOptions, MutatingWebhook, ValidatingWebhook } from './admission.js';
import { MutatingWebhookConfigurations, ValidatingWebhookConfigurations } from './resources.js';
import type { WebhookServer } from './server.js';

const log = logger('kubeloop::webhook');

/** Where the API server reaches the webhook server. */
export type WebhookEndpoint =
  /** `https://host:port`, the paths appended (local development, tests). */
  | { url: string }
  /** A Service in front of the replicas (in a cluster). Port default 443. */
  | { service: { namespace: string; name: string; port?: number } };

export interface ManagedConfigurationOptions {
  /** Name of the ValidatingWebhookConfiguration and of the MutatingWebhookConfiguration. */
  name: string;
  endpoint: WebhookEndpoint;
  /** Server-side apply field manager. Default `kubeloop-webhook`. */
  fieldManager?: string;
  /** Wait before writing again after a failed write. Default 5 s. */
  retryMs?: number;
}

export class ManagedWebhookConfiguration {
  private readonly fieldManager: string;
  private stopWatching?: () => void;
  private retry?: NodeJS.Timeout;
  private applying: Promise<void> = Promise.resolve();

  constructor(
    private readonly client: Client,
    private readonly server: WebhookServer,
    private readonly options: ManagedConfigurationOptions,
  ) {
    this.fieldManager = options.fieldManager ?? 'kubeloop-webhook';
  }

  /**
   * Writes the configurations (each only when the server has webhooks of that kind)
   * and every conversion webhook's CRD. Call after `server.listen()`.
   */
  apply(): Promise<void> {
    this.applying = this.applying.catch(() => {}).then(() => this.applyNow());
    return this.applying;
  }

  /** Writes now, then again after every certificate change (retrying failed writes) until `stop()`. */
  async start(): Promise<void> {
    await this.apply();
    this.stopWatching = this.server.certificates.onChange(() => this.applyUntilDone());
  }

  stop(): void {
    this.stopWatching?.();
    clearTimeout(this.retry);
  }

  private applyUntilDone(): void {
    clearTimeout(this.retry);
    this.apply().catch((e: Error) => {
      log.warn({ error: e.message, retry_ms: this.options.retryMs ?? 5000 }, 'writing the webhook configuration failed; retrying');
      this.retry = setTimeout(() => this.applyUntilDone(), this.options.retryMs ?? 5000).unref();
    });
  }

  private clientConfig(path: string): Record<string, unknown> {
    const caPem = this.server.certificates.current?.caPem;
    if (caPem === undefined) throw new Error('the webhook server has no certificate yet; call listen() before apply()');
    const caBundle = Buffer.from(caPem).toString('base64');
    const { endpoint } = this.options;
    return 'url' in endpoint
      ? { url: `${endpoint.url.replace(/\/$/, '')}${path}`, caBundle }
      : { service: { namespace: endpoint.service.namespace, name: endpoint.service.name, port: endpoint.service.port ?? 443, path }, caBundle };
  }

  private admissionEntry(webhook: AdmissionWebhookOptions): Record<string, unknown> {
    return {
      name: webhook.name,
      clientConfig: this.clientConfig(webhook.path),
      rules: webhook.rules.map((r) => ({ scope: '*', ...r })),
      failurePolicy: webhook.failurePolicy ?? 'Fail',
      sideEffects: webhook.sideEffects ?? 'None',
      timeoutSeconds: webhook.timeoutSeconds ?? 10,
      admissionReviewVersions: ['v1', 'v1beta1'],
      matchPolicy: 'Equivalent',
      ...(webhook.namespaceSelector ? { namespaceSelector: webhook.namespaceSelector } : {}),
      ...(webhook.objectSelector ? { objectSelector: webhook.objectSelector } : {}),
    };
  }

  private async applyNow(): Promise<void> {
    const { validating, mutating, conversions } = this.server.webhooks();
    const params = { fieldManager: this.fieldManager, force: true };
    const admissionregistration = 'admissionregistration.k8s.io/v1';
    if (validating.length > 0) {
      await Api.all(this.client, ValidatingWebhookConfigurations).patch(
        this.options.name,
        Patch.apply({ apiVersion: admissionregistration, kind: 'ValidatingWebhookConfiguration', metadata: { name: this.options.name }, webhooks: validating.map((w: ValidatingWebhook) => this.admissionEntry(w)) }),
        params,
      );
    }
    if (mutating.length > 0) {
      await Api.all(this.client, MutatingWebhookConfigurations).patch(
        this.options.name,
        Patch.apply({
          apiVersion: admissionregistration,
          kind: 'MutatingWebhookConfiguration',
          metadata: { name: this.options.name },
          webhooks: mutating.map((w: MutatingWebhook) => ({ ...this.admissionEntry(w), reinvocationPolicy: w.reinvocationPolicy ?? 'Never' })),
        }),
        params,
      );
    }
    for (const conversion of conversions) {
      await Api.all(this.client, CustomResourceDefinitions).patch(
        conversion.crd ?? conversion.name,
        Patch.apply({
          apiVersion: 'apiextensions.k8s.io/v1',
          kind: 'CustomResourceDefinition',
          metadata: { name: conversion.crd ?? conversion.name },
          spec: { conversion: { strategy: 'Webhook', webhook: { clientConfig: this.clientConfig(conversion.path), conversionReviewVersions: ['v1'] } } },
        }),
        params,
      );
    }
    log.info({ name: this.options.name, fingerprint: this.server.certificates.current?.fingerprint, validating: validating.length, mutating: mutating.length, conversions: conversions.length }, 'webhook configuration written');
  }
}
