/**
 * The parent's own access to the API server (loading data, writing updates,
 * watching for convergence): plain undici with a wide connection pool, so the
 * load generator costs little and is the same for every contender.
 */
import { Pool } from 'undici';
import type { Target } from './protocol.js';

export class Admin {
  private readonly pool: Pool;
  private readonly auth: string;

  constructor(readonly target: Target, connections = 64) {
    this.pool = new Pool(target.server, { connections, connect: { ca: target.caPem }, pipelining: 1 });
    this.auth = `Bearer ${target.token}`;
  }

  /** One request; answers the parsed JSON body, throwing on a non-2xx status. */
  async call<T = any>(method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE', path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const res = await this.pool.request({
      method,
      path,
      headers: { authorization: this.auth, accept: 'application/json', ...(body !== undefined ? { 'content-type': contentType } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.body.text();
    if (res.statusCode < 200 || res.statusCode >= 300) throw new Error(`${method} ${path}: HTTP ${res.statusCode} ${text.slice(0, 300)}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** Writes answered 429, 503 or 504 and sent again (an overloaded API server times requests out). */
  retries = 0;

  /**
   * A merge patch; the answer's body is read and dropped. A 429/503/504 answer is
   * retried (up to 5 times, 0.2 s apart): the patches written here set values, so
   * sending one again is harmless.
   */
  async mergePatch(path: string, patch: unknown): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const res = await this.pool.request({
        method: 'PATCH',
        path,
        headers: { authorization: this.auth, accept: 'application/json', 'content-type': 'application/merge-patch+json' },
        body: JSON.stringify(patch),
      });
      const text = await res.body.text();
      if (res.statusCode === 200) return;
      if ((res.statusCode === 429 || res.statusCode === 503 || res.statusCode === 504) && attempt < 5) {
        this.retries++;
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      throw new Error(`PATCH ${path}: HTTP ${res.statusCode} ${text.slice(0, 300)}`);
    }
  }

  /**
   * Watches `path` from `resourceVersion`, calling `onEvent` per event, until
   * `stop()`. A watch the server ends (it drops watchers that fall behind under
   * load) is resumed from the last version seen. Resolves `ready` once the
   * server answered the first time; `onError` hears of a failure.
   */
  watch(path: string, resourceVersion: string, onEvent: (type: string, obj: any) => void, onError?: (e: Error) => void): { ready: Promise<void>; stop(): Promise<void> } {
    const abort = new AbortController();
    let ready!: () => void;
    const started = new Promise<void>((r) => (ready = r));
    let rv = resourceVersion;
    const done = (async () => {
      while (!abort.signal.aborted) {
        const res = await this.pool.request({
          method: 'GET',
          path: `${path}?watch=true&resourceVersion=${rv}&allowWatchBookmarks=true`,
          headers: { authorization: this.auth, accept: 'application/json' },
          signal: abort.signal,
          bodyTimeout: 0,
        });
        if (res.statusCode !== 200) throw new Error(`watch ${path}: HTTP ${res.statusCode} ${(await res.body.text()).slice(0, 200)}`);
        ready();
        let pending = '';
        for await (const chunk of res.body) {
          const text = pending + (chunk as Buffer).toString('utf8');
          let start = 0;
          for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
            const e = JSON.parse(text.slice(start, nl)) as { type: string; object: any };
            if (e.type === 'ERROR') throw new Error(`watch ${path}: ${JSON.stringify(e.object)}`);
            rv = e.object?.metadata?.resourceVersion ?? rv;
            if (e.type !== 'BOOKMARK') onEvent(e.type, e.object);
            start = nl + 1;
          }
          pending = text.slice(start);
        }
      }
    })().catch((e: Error) => {
      if (abort.signal.aborted) return;
      failed = e;
      onError?.(e);
    });
    let failed: Error | undefined;
    return {
      ready: Promise.race([
        started,
        done.then(() => {
          if (failed) throw failed;
        }),
      ]),
      async stop() {
        abort.abort();
        await done;
      },
    };
  }

  close(): Promise<void> {
    return this.pool.destroy();
  }
}

/** Runs `fn(i)` for i in [0, n) with at most `concurrency` at once. */
export async function parallel(n: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
}
