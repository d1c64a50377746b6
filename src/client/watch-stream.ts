import type { Readable } from 'node:stream';
import { TransportError, WatchDecodeError, type Status } from '../core/errors.js';
import { describeTransportFailure } from './transport.js';

/** One event of a watch stream, as the API server sends it. */
export type WatchEvent<K> =
  | { type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: K }
  | { type: 'BOOKMARK'; object: K }
  | { type: 'ERROR'; object: Status }
  /** A line that is not a watch event; the stream goes on. */
  | { type: 'INVALID'; error: WatchDecodeError };

const TYPES = new Set(['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR']);
const NEWLINE = 0x0a;
/** Events decoded but not yet taken before the body is paused (the consumer is slow). */
const HIGH_WATER = 1024;

/**
 * Splits a watch response body into events, one JSON document per line, and hands
 * them out in the batches they arrived in (all the events of one network chunk).
 *
 * Why not an async generator over the body: every stage of a chain of async
 * generators costs promises and microtask turns per event; here the body is read
 * with 'data' callbacks, lines are found in the Buffer itself and decoded once
 * each (a newline byte never falls inside a multi-byte UTF-8 character, so only a
 * line split across chunks is joined), and a consumer pays one promise per chunk.
 *
 * A bad line becomes an `INVALID` event (its text is not quoted: it may hold a
 * Secret). Ends quietly when `signal` aborts, handing out no further event (not
 * even one already read); the body is destroyed whenever iteration stops.
 */
export class WatchEventStream<K> implements AsyncIterable<WatchEvent<K>[]>, AsyncIterator<WatchEvent<K>[]> {
  private queue: WatchEvent<K>[] = [];
  private pending: Buffer[] = [];
  private lineNo = 0;
  private ended = false;
  private failure: unknown;
  private waiter: { resolve: (r: IteratorResult<WatchEvent<K>[]>) => void; reject: (e: unknown) => void } | undefined;
  private readonly onAbort = () => this.finish();

  constructor(
    private readonly body: Readable,
    private readonly server: string,
    private readonly signal?: AbortSignal,
  ) {
    if (signal?.aborted) {
      this.ended = true;
      body.destroy();
      return;
    }
    signal?.addEventListener('abort', this.onAbort, { once: true });
    body.on('data', (bytes: Buffer) => this.onData(bytes));
    body.once('end', () => this.onEnd());
    body.once('error', (e) => this.onError(e));
    // A body destroyed without 'end' (the transport released it) ends the stream too.
    body.once('close', () => this.onEnd());
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<WatchEvent<K>[]>> {
    if (this.signal?.aborted) return Promise.resolve(this.done());
    if (this.queue.length > 0) return Promise.resolve({ done: false, value: this.take() });
    if (this.failure !== undefined) {
      const failure = this.failure;
      this.failure = undefined;
      this.ended = true;
      return Promise.reject(failure);
    }
    if (this.ended) return Promise.resolve(this.done());
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  /** The consumer left: the connection closes. */
  return(): Promise<IteratorResult<WatchEvent<K>[]>> {
    return Promise.resolve(this.done());
  }

  private take(): WatchEvent<K>[] {
    const batch = this.queue;
    this.queue = [];
    if (this.body.isPaused() && !this.ended) this.body.resume();
    return batch;
  }

  private done(): IteratorResult<WatchEvent<K>[]> {
    this.finish();
    return { done: true, value: undefined };
  }

  /** Stops reading for good; nothing more is handed out (the failure, if any, still is). */
  private finish(): void {
    this.ended = true;
    this.queue = [];
    this.pending = [];
    this.signal?.removeEventListener('abort', this.onAbort);
    if (!this.body.destroyed) this.body.destroy();
    this.wake();
  }

  private onData(bytes: Buffer): void {
    if (this.ended) return;
    let start = 0;
    let nl = bytes.indexOf(NEWLINE);
    while (nl !== -1) {
      let line: string;
      if (this.pending.length > 0) {
        this.pending.push(bytes.subarray(start, nl));
        line = Buffer.concat(this.pending).toString('utf8');
        this.pending = [];
      } else {
        line = bytes.toString('utf8', start, nl);
      }
      this.lineNo++;
      if (line.trim().length > 0) this.queue.push(decodeLine<K>(line, this.lineNo));
      start = nl + 1;
      nl = bytes.indexOf(NEWLINE, start);
    }
    // The chunk is kept only when a line goes on in the next one (a view, not a copy).
    if (start < bytes.length) this.pending.push(start === 0 ? bytes : bytes.subarray(start));
    if (this.queue.length >= HIGH_WATER) this.body.pause();
    this.wake();
  }

  private onEnd(): void {
    if (this.ended) return;
    if (this.pending.length > 0 && !this.signal?.aborted) {
      const rest = Buffer.concat(this.pending).toString('utf8');
      this.pending = [];
      if (rest.trim().length > 0) this.queue.push(decodeLine<K>(rest, ++this.lineNo));
    }
    this.stopped();
  }

  private onError(e: unknown): void {
    if (this.ended) return;
    if (!this.signal?.aborted) this.failure = new TransportError(this.server, `the watch stream broke: ${describeTransportFailure(e)}`, { cause: e });
    this.stopped();
  }

  /** The body ended or broke: what was read (and the failure) is still handed out. */
  private stopped(): void {
    this.ended = true;
    this.signal?.removeEventListener('abort', this.onAbort);
    this.wake();
  }

  /** Hands what there is to a consumer waiting in `next()`. */
  private wake(): void {
    const waiter = this.waiter;
    if (!waiter) return;
    if (this.queue.length > 0 && !this.signal?.aborted) {
      this.waiter = undefined;
      waiter.resolve({ done: false, value: this.take() });
    } else if (this.failure !== undefined) {
      this.waiter = undefined;
      const failure = this.failure;
      this.failure = undefined;
      waiter.reject(failure);
    } else if (this.ended || this.signal?.aborted) {
      this.waiter = undefined;
      waiter.resolve(this.done());
    }
  }
}

/**
 * The items of the batches `open()` gives one by one, none once `signal` aborted —
 * not even the rest of a batch already read (what `Api.watch` and `watcher()`
 * promise). Nothing is opened until the first item is asked for (`onStart` runs
 * then). One generator, so an item costs one async hop, not one per stage.
 */
export async function* eachItem<T>(open: () => AsyncIterable<T[]> | Promise<AsyncIterable<T[]>>, signal?: AbortSignal, onStart?: () => void): AsyncGenerator<T> {
  onStart?.();
  for await (const batch of await open()) {
    for (const item of batch) {
      if (signal?.aborted) return;
      yield item;
    }
  }
}

function decodeLine<K>(line: string, lineNo: number): WatchEvent<K> {
  let parsed: { type?: unknown; object?: unknown };
  try {
    parsed = JSON.parse(line) as typeof parsed;
  } catch {
    return { type: 'INVALID', error: new WatchDecodeError(`watch stream line ${lineNo} (${line.length} characters) is not valid JSON.`) };
  }
  if (typeof parsed !== 'object' || parsed === null || typeof parsed.type !== 'string' || !TYPES.has(parsed.type) || typeof parsed.object !== 'object' || parsed.object === null) {
    return { type: 'INVALID', error: new WatchDecodeError(`watch stream line ${lineNo} is JSON but not a watch event (it needs a known type and an object).`) };
  }
  return parsed as WatchEvent<K>;
}
