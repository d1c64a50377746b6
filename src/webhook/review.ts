/**
 * The wire shapes the API server sends to webhooks and expects back:
 * `AdmissionReview` (admission.k8s.io/v1, and v1beta1 whose fields are the same)
 * and `ConversionReview` (apiextensions.k8s.io/v1). kubernetes-types has neither.
 */
import type { UserInfo } from 'kubernetes-types/authentication/v1.js';
import type { Status } from '../core/errors.js';
import type { KubeObject } from '../core/resource.js';

export type AdmissionOperation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

export interface GroupVersionResource {
  group: string;
  version: string;
  resource: string;
}

/** `request` of an AdmissionReview, as sent. */
export interface AdmissionRequestWire {
  uid: string;
  kind: GroupVersionKind;
  resource: GroupVersionResource;
  subResource?: string;
  requestKind?: GroupVersionKind;
  requestResource?: GroupVersionResource;
  requestSubResource?: string;
  name?: string;
  namespace?: string;
  operation: AdmissionOperation;
  userInfo: UserInfo;
  object?: KubeObject | null;
  oldObject?: KubeObject | null;
  dryRun?: boolean;
  options?: Record<string, unknown> | null;
}

/** `response` of an AdmissionReview. */
export interface AdmissionResponseWire {
  uid: string;
  allowed: boolean;
  status?: Partial<Status>;
  patch?: string;
  patchType?: 'JSONPatch';
  warnings?: string[];
  auditAnnotations?: Record<string, string>;
}

export interface AdmissionReview {
  apiVersion: string;
  kind: 'AdmissionReview';
  request?: AdmissionRequestWire;
  response?: AdmissionResponseWire;
}

/** The AdmissionReview versions a webhook server understands; it answers in the version it was asked in. */
export const ADMISSION_REVIEW_VERSIONS = ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'] as const;

export interface ConversionReview {
  apiVersion: string;
  kind: 'ConversionReview';
  request?: { uid: string; desiredAPIVersion: string; objects: KubeObject[] };
  response?: { uid: string; convertedObjects: KubeObject[]; result: { status: 'Success' | 'Failure'; message?: string } };
}

export const CONVERSION_REVIEW_VERSION = 'apiextensions.k8s.io/v1';
