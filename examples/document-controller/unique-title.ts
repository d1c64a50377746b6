/**
 * The document controller's validating webhook: a rule no schema can express,
 * "a title is used by one Document per namespace", checked against the
 * operator's own cache of Documents (no API call per admission; a scan of the
 * cache, about a millisecond at the 20,000 Documents the operator is sized for).
 *
 * While that cache has not finished its first list the webhook cannot know, so it
 * refuses with 503 and a message that says to retry; the replica is not ready
 * (its /readyz waits for the same cache), so in a cluster the Service sends the
 * API server to a replica that is. A cache lags the API server by a moment: two
 * Documents created with one title at the same instant can both pass. The rule
 * keeps people from reusing a title by mistake; it is not a lock.
 */
import { allow, deny, type Store, type ValidatingWebhook, type WebhookServerOptions } from 'kubeloop';
import type { Document } from './document.js';

export function uniqueTitleWebhook(documents: Store<Document>): ValidatingWebhook<Document> {
  return {
    name: 'unique-title.documents.example.com',
    path: '/validate-documents',
    rules: [{ operations: ['CREATE', 'UPDATE'], apiGroups: ['example.com'], apiVersions: ['v1'], resources: ['documents'], scope: 'Namespaced' }],
    // Fail: a duplicate must not slip in while the operator is down. Documents are the operator's own kind,
    // so only their writes wait for it.
    failurePolicy: 'Fail',
    timeoutSeconds: 5,
    handler: (req) => {
      const doc = req.object!;
      const title = doc.spec?.title;
      // An update that keeps the title is never refused, even for Documents that shared one before the webhook existed.
      if (!title || (req.operation === 'UPDATE' && req.oldObject?.spec?.title === title)) return allow();
      if (!documents.isReady()) return deny("the document controller's cache of Documents is still loading; try again in a few seconds", { code: 503, reason: 'ServiceUnavailable' });
      const holder = documents.find((d) => d.spec?.title === title && d.metadata?.namespace === req.namespace && d.metadata?.name !== req.name);
      if (holder) return deny(`title "${title}" is already used by Document ${holder.metadata!.name} in namespace ${req.namespace}`, { code: 409, reason: 'Conflict' });
      return allow();
    },
  };
}

/** The webhook server's files and port from the environment: WEBHOOK_CERT_DIR (tls.crt, tls.key, ca.crt as cert-manager writes them) and WEBHOOK_PORT (default 9443). */
export function webhookServerOptions(env: NodeJS.ProcessEnv): WebhookServerOptions | undefined {
  const dir = env.WEBHOOK_CERT_DIR;
  if (!dir) return undefined;
  return { certFile: `${dir}/tls.crt`, keyFile: `${dir}/tls.key`, caFile: `${dir}/ca.crt`, port: Number(env.WEBHOOK_PORT ?? 9443) };
}
