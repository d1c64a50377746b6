import type { ObjectRef } from '../core/object-ref.js';

/** The reconcile reasons (exact strings, shown in spans and logs; the reconciler never sees them). */
export const ReconcileReason = {
  objectUpdated: 'object updated',
  relatedObjectUpdated: (ref: ObjectRef) => `related object updated: ${ref.key}`,
  reconcilerRequestedRetry: 'reconciler requested retry',
  errorPolicyRequestedRetry: 'error policy requested retry',
  bulkReconcileRequested: 'bulk reconcile requested',
  unknown: 'unknown',
} as const;
