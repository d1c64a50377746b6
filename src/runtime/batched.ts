/**
 * Batches between kubeloop's own stages. A chain of async generators costs
 * promises and microtask turns per item at every stage; the watcher makes its
 * events in batches (a list page, a network chunk) and hands them out one by one
 * only at the end of the chain. A stage that knows the protocol (the reflector)
 * takes the batches of a watcher nobody has started iterating.
 */
import { eachItem } from '../client/watch-stream.js';

const BATCHES = Symbol('kubeloop.watcherBatches');

/** A source of batches, and the signal after which none of their items may be handed out. */
export interface Batches<T> {
  batches: AsyncIterable<T[]>;
  signal?: AbortSignal;
}

type Holder<T> = AsyncGenerator<T> & { [BATCHES]?: Batches<T> };

/**
 * The batches of a watcher made by `watcher()` that nobody has started iterating
 * yet, for the reflector to take over; undefined for any other iterable (or once
 * taken or started).
 */
export function takeBatches<T>(events: AsyncIterable<T>): Batches<T> | undefined {
  const holder = events as Holder<T>;
  const batches = holder[BATCHES];
  holder[BATCHES] = undefined;
  return batches;
}

/**
 * The items of `batches` one by one, none once `signal` aborted (not even the rest
 * of a batch already read), with the batches free to take until iteration starts.
 */
export function batched<T>(batches: AsyncGenerator<T[]>, signal?: AbortSignal): AsyncGenerator<T> {
  // Once a consumer starts it, the batches are no longer free to take.
  const flat: Holder<T> = eachItem(() => batches, signal, () => (flat[BATCHES] = undefined));
  flat[BATCHES] = { batches, signal };
  return flat;
}
