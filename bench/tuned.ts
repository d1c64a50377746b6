/** What the `kubeloop-tuned` contender of the burst scenario sets: a debounce, and reacting to spec changes only. */
export const TUNED = { debounceMs: 500, predicate: 'generation' } as const;
