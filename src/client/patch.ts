/** One JSON Patch (RFC 6902) operation. */
export type JsonPatchOp =
  | { op: 'add' | 'replace' | 'test'; path: string; value: unknown }
  | { op: 'remove'; path: string }
  | { op: 'move' | 'copy'; from: string; path: string };

/** A patch and its type; see `Patch.merge`, `Patch.json`, `Patch.strategic`, `Patch.apply`. */
export type Patch =
  | { type: 'merge'; body: unknown }
  | { type: 'json'; ops: JsonPatchOp[] }
  | { type: 'strategic'; body: unknown }
  | { type: 'apply'; body: unknown };

/** Builders for the four patch types the API server accepts. */
export const Patch = {
  /** JSON merge patch (RFC 7386): fields set replace, `null` deletes. */
  merge: (body: unknown): Patch => ({ type: 'merge', body }),
  /** JSON Patch operations, e.g. a guarded `test` then `add`. */
  json: (ops: JsonPatchOp[]): Patch => ({ type: 'json', ops }),
  /** Strategic merge patch (built-in kinds only): lists merge by their keys. */
  strategic: (body: unknown): Patch => ({ type: 'strategic', body }),
  /** Server-side apply: send the fields you own; needs a `fieldManager`. */
  apply: (body: unknown): Patch => ({ type: 'apply', body }),
} as const;

export function patchContentType(p: Patch): string {
  switch (p.type) {
    case 'merge':
      return 'application/merge-patch+json';
    case 'json':
      return 'application/json-patch+json';
    case 'strategic':
      return 'application/strategic-merge-patch+json';
    case 'apply':
      return 'application/apply-patch+yaml';
  }
}

export function patchBody(p: Patch): string {
  return JSON.stringify(p.type === 'json' ? p.ops : p.body);
}
