/**
 * Typed admission handlers: what a validating or mutating webhook's code sees
 * (`AdmissionRequest`) and what it answers (`allow`, `deny`, `mutate`).
 *
 * A mutating handler returns the object as it wants it stored; kubeloop computes
 * the JSON patch (see json-patch.ts), so no handler writes patch paths by hand.
 */
import type { UserInfo } from 'kubernetes-types/authentication/v1.js';
import type { KubeObject } from '../core/resource.js';
import type { AdmissionOperation, GroupVersionKind, GroupVersionResource } from './review.js';

/** One admission request, typed by the kind the webhook is registered for. */
export interface AdmissionRequest<K extends KubeObject = KubeObject> {
  uid: string;
  operation: AdmissionOperation;
  kind: GroupVersionKind;
  resource: GroupVersionResource;
  subResource?: string;
  name?: string;
  namespace?: string;
  /** The object as it would be stored: set on CREATE and UPDATE, absent on DELETE. A mutating handler gets its own copy. */
  object?: K;
  /** The object as stored now: set on UPDATE and DELETE. */
  oldObject?: K;
  /** True when the write will not be persisted (`?dryRun=All`): a handler with side effects must not make them. */
  dryRun: boolean;
  /** Who is writing: username, uid, groups, extra. */
  userInfo: UserInfo;
  /** CreateOptions, UpdateOptions or DeleteOptions, as sent. */
  options?: Record<string, unknown>;
  /** Aborted when the webhook's time is up; the answer has been sent by then. */
  signal: AbortSignal;
}

export interface Allowed {
  allowed: true;
  warnings?: string[];
}

export interface Denied {
  allowed: false;
  /** Shown to the user who wrote the object. */
  message: string;
  /** HTTP-style code the user's request fails with. Default 403. */
  code: number;
  /** A `Status` reason such as `Forbidden` or `Invalid`. Default `Forbidden`. */
  reason?: string;
  warnings?: string[];
}

export interface Mutated<K extends KubeObject = KubeObject> {
  allowed: true;
  object: K;
  warnings?: string[];
}

export type ValidationResult = Allowed | Denied;
export type MutationResult<K extends KubeObject = KubeObject> = Mutated<K> | Allowed | Denied;

/** Admits the object, optionally with warnings the user's client shows (API server 1.19+). */
export function allow(warnings?: string[]): Allowed {
  return warnings?.length ? { allowed: true, warnings } : { allowed: true };
}

/** Refuses the write with a message the user sees and an HTTP-style code (default 403). */
export function deny(message: string, options: { code?: number; reason?: string; warnings?: string[] } = {}): Denied {
  return { allowed: false, message, code: options.code ?? 403, reason: options.reason, warnings: options.warnings };
}

/** Admits `object` as the handler changed it; kubeloop sends the JSON patch from the original to it. */
export function mutate<K extends KubeObject>(object: K, warnings?: string[]): Mutated<K> {
  return warnings?.length ? { allowed: true, object, warnings } : { allowed: true, object };
}

export type FailurePolicy = 'Fail' | 'Ignore';
export type SideEffects = 'None' | 'NoneOnDryRun';

/** What the webhook configuration's `rules` say: which writes of which resources reach the webhook. */
export interface AdmissionRule {
  operations: (AdmissionOperation | '*')[];
  apiGroups: string[];
  apiVersions: string[];
  resources: string[];
  scope?: 'Cluster' | 'Namespaced' | '*';
}

/** What both kinds of admission webhook share. */
export interface AdmissionWebhookOptions {
  /**
   * The webhook's name in its configuration: a fully qualified name with at least
   * three labels, e.g. `unique-title.documents.example.com`. Also the `webhook` label
   * of its metrics and the `webhook` field of its spans and log lines.
   */
  name: string;
  /** The path it is served at, e.g. `/validate-documents`. */
  path: string;
  rules: AdmissionRule[];
  /**
   * What the API server does when the webhook cannot be reached or fails, and what
   * kubeloop answers itself when the handler runs past its time. Default `Fail`:
   * the check holds even while the webhook is down. Matching core kinds with `Fail`
   * can block the cluster while the webhook is down (kubeloop warns loudly).
   */
  failurePolicy?: FailurePolicy;
  /** Default `None`: the handler changes nothing outside the object. */
  sideEffects?: SideEffects;
  /** The API server's timeout for one call, 1 to 30 s. Default 10. */
  timeoutSeconds?: number;
  /**
   * How long the handler may run before kubeloop answers by the failure policy (deny
   * for `Fail`, allow with a warning for `Ignore`). Default: `timeoutSeconds` less one
   * second (at least half of it), so the answer beats the API server's own timeout.
   */
  handlerTimeoutMs?: number;
  /** Restricts the webhook to namespaces with these labels (the configuration's `namespaceSelector`). */
  namespaceSelector?: Record<string, unknown>;
  /** Restricts it to objects with these labels (`objectSelector`). */
  objectSelector?: Record<string, unknown>;
}

export interface ValidatingWebhook<K extends KubeObject = KubeObject> extends AdmissionWebhookOptions {
  handler: (request: AdmissionRequest<K>) => ValidationResult | Promise<ValidationResult>;
}

export interface MutatingWebhook<K extends KubeObject = KubeObject> extends AdmissionWebhookOptions {
  handler: (request: AdmissionRequest<K>) => MutationResult<K> | Promise<MutationResult<K>>;
  /** Call the webhook again when a later mutating webhook changed the object. Default `Never`. */
  reinvocationPolicy?: 'Never' | 'IfNeeded';
}

/** The handler's time limit, from its options (see `handlerTimeoutMs`). */
export function handlerTimeoutMs(options: AdmissionWebhookOptions): number {
  if (options.handlerTimeoutMs !== undefined) return options.handlerTimeoutMs;
  const apiServerMs = (options.timeoutSeconds ?? 10) * 1000;
  return Math.max(apiServerMs - 1000, apiServerMs / 2);
}

/** True when a rule reaches core kinds (the `""` group or every group), where `Fail` can block the cluster. */
export function matchesCoreKinds(options: AdmissionWebhookOptions): boolean {
  return options.rules.some((r) => r.apiGroups.includes('') || r.apiGroups.includes('*'));
}
