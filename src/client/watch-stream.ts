import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
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

/**
 * Splits a watch response body into events, one JSON document per line. A bad
 * line becomes an `INVALID` event (its text is not quoted: it may hold a Secret).
 * Ends quietly when `signal` aborts, handing out no further event (not even one
 * already read); the body is destroyed whenever iteration stops.
 */
export async function* decodeWatchStream<K>(body: Readable, server: string, signal?: AbortSignal): AsyncGenerator<WatchEvent<K>> {
  // undici's body yields Buffers whatever the encoding; the decoder keeps multi-byte characters whole across chunks.
  const decoder = new StringDecoder('utf8');
  let pending = '';
  let lineNo = 0;
  try {
    for await (const bytes of body as AsyncIterable<Buffer>) {
      const chunk = decoder.write(bytes);
      let start = 0;
      let nl = chunk.indexOf('\n');
      if (nl === -1) {
        pending += chunk;
        continue;
      }
      while (nl !== -1) {
        const line = pending + chunk.slice(start, nl);
        pending = '';
        lineNo++;
        // A chunk may hold many events: none of them is handed out once the signal aborted.
        if (signal?.aborted) return;
        if (line.trim().length > 0) yield decodeLine<K>(line, lineNo);
        start = nl + 1;
        nl = chunk.indexOf('\n', start);
      }
      pending = chunk.slice(start);
    }
    if (pending.trim().length > 0 && !signal?.aborted) yield decodeLine<K>(pending, ++lineNo);
  } catch (e) {
    if (signal?.aborted) return;
    throw new TransportError(server, `the watch stream broke: ${describeTransportFailure(e)}`, { cause: e });
  } finally {
    body.destroy();
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
