/**
 * The JSON patch of a mutating webhook's answer: from the object the API server
 * sent to the one the handler returned, computed by fast-json-patch (RFC 6902),
 * base64-encoded as AdmissionReview wants it.
 */
import jsonPatch from 'fast-json-patch';
import type { KubeObject } from '../core/resource.js';

/** The base64 JSON patch from `original` to `changed`, or undefined when nothing changed. */
export function admissionPatch(original: KubeObject, changed: KubeObject): { patch: string; operations: number; bytes: number } | undefined {
  const operations = jsonPatch.compare(original, changed);
  if (operations.length === 0) return undefined;
  const json = Buffer.from(JSON.stringify(operations));
  return { patch: json.toString('base64'), operations: operations.length, bytes: json.length };
}
