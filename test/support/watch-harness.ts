/**
 * Tooling for the watcher fault trials: a Store fed by a watcher in the
 * background, churn (creates, updates, deletes) against the server, and the
 * convergence check of the store against a fresh list.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import { Api, ApiError, Client, ConfigMaps, ExponentialBackoff, Patch, Store, reflector, watcher, type WatcherConfig, type WatcherEvent } from '../../src/index.js';
import type { LocalCluster } from '../../src/testing/index.js';

type Counts = { init: number; initApply: number; initDone: number; apply: number; delete: number; error: number };

/**
 * An admin client for `cluster` that connects to `server` instead (a proxy in front
 * of the API server), trusting `ca` (default: the API server's own certificate, whose
 * 127.0.0.1 SAN also matches a loopback TCP proxy).
 */
export function clientVia(cluster: LocalCluster, server: string, ca = cluster.caPem): Client {
  return new Client({ server, namespace: 'default', tls: { ca, rejectUnauthorized: true }, auth: { type: 'token', token: cluster.token }, source: 'test' });
}

/** How relists came about: after a `410 Gone` (as they must), or otherwise (a watch that should have resumed). */
type Relists = { gone: number; relistsAfterGone: number; relistsWithoutGone: number };

/** A point in a WatchedStore's history; `since(mark)` tells what happened after it. */
export interface Mark {
  counts: Counts;
  errors: number;
  relists: Relists;
}

const isGone = (e: Error | undefined): boolean => e instanceof ApiError && e.code === 410;

/** Quick retries, so trials do not spend their time in backoff. */
export const fastBackoff = (): ExponentialBackoff => new ExponentialBackoff({ initialMs: 50, maxMs: 500 });

/**
 * `reflector(store, watcher(api, config))` consumed in the background. Every event is
 * counted, then `onEvent` runs (the watcher waits for it), then waiters are checked.
 */
export class WatchedStore {
  readonly store = new Store(ConfigMaps);
  readonly counts: Counts = { init: 0, initApply: 0, initDone: 0, apply: 0, delete: 0, error: 0 };
  readonly errors: Error[] = [];
  /** `gone`: 410 errors. A relist (an `init` after the first) is counted by the error just before it. */
  readonly relists: Relists = { gone: 0, relistsAfterGone: 0, relistsWithoutGone: 0 };
  /** A hook that runs on every event before the next one is pulled. */
  onEvent?: (event: WatcherEvent<ConfigMap>) => Promise<void> | void;
  readonly done: Promise<void>;
  private readonly abort = new AbortController();
  private readonly waiters = new Set<() => void>();
  private ended = false;

  /** `testSignal` (a test context's `signal`) also stops it, so a timed-out test leaves nothing running. */
  constructor(api: Api<ConfigMap>, config: WatcherConfig = {}, testSignal?: AbortSignal) {
    const signal = testSignal ? AbortSignal.any([this.abort.signal, testSignal]) : this.abort.signal;
    this.done = (async () => {
      try {
        for await (const event of reflector(this.store, watcher(api, { backoff: fastBackoff, ...config, signal }))) {
          if (event.type === 'init' && this.counts.init > 0) {
            if (isGone(this.errors.at(-1))) this.relists.relistsAfterGone++;
            else this.relists.relistsWithoutGone++;
          }
          this.counts[event.type]++;
          if (event.type === 'error') {
            this.errors.push(event.error);
            if (isGone(event.error)) this.relists.gone++;
          }
          await this.onEvent?.(event);
          for (const check of [...this.waiters]) check();
        }
      } finally {
        this.ended = true;
        for (const check of [...this.waiters]) check();
      }
    })();
  }

  mark(): Mark {
    return { counts: { ...this.counts }, errors: this.errors.length, relists: { ...this.relists } };
  }

  /** Events counted after `mark`, the errors among them, and how the relists among them came about. */
  since(mark: Mark): Counts & Relists & { errors: Error[] } {
    const d = { ...this.counts, ...this.relists, errors: this.errors.slice(mark.errors) };
    for (const k of Object.keys(mark.counts) as (keyof Counts)[]) d[k] -= mark.counts[k];
    for (const k of Object.keys(mark.relists) as (keyof Relists)[]) d[k] -= mark.relists[k];
    return d;
  }

  /**
   * Resolves when `check()` holds: tested now and after every watcher event. Rejects at
   * the deadline (with `describe()` in the message) or if the watcher stream ended.
   */
  waitFor(what: string, check: () => boolean, timeoutMs: number, describe: () => string = () => ''): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const finish = (error?: Error) => {
        clearTimeout(timer);
        this.waiters.delete(test);
        if (error) reject(error);
        else resolve();
      };
      const test = () => {
        if (check()) finish();
        else if (this.ended) finish(new Error(`the watcher stream ended while waiting for ${what}. ${describe()}`));
      };
      const timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms waiting for ${what}. ${describe()}`)), timeoutMs);
      this.waiters.add(test);
    });
  }

  /** Stops the watcher and waits for the stream to end. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.done;
  }
}

/** The distinct messages of `errors`, each with how often it came: short enough for a failure message. */
export function errorDigest(errors: Error[]): string {
  const counts = new Map<string, number>();
  for (const e of errors) counts.set(e.message, (counts.get(e.message) ?? 0) + 1);
  return [...counts].map(([m, n]) => `${n}× ${m}`).join('; ') || 'none';
}

/** What identifies an object's exact version: its uid and resourceVersion. */
export type Fingerprints = Map<string, string>;

export function fingerprints(objects: ConfigMap[]): Fingerprints {
  return new Map(objects.map((o) => [o.metadata!.name!, `uid=${o.metadata!.uid} rv=${o.metadata!.resourceVersion}`]));
}

/** Every difference between the server's list and the store, one line each (empty when equal). */
export function differences(server: Fingerprints, store: Fingerprints): string[] {
  const out: string[] = [];
  for (const [name, fp] of server) {
    const mine = store.get(name);
    if (mine === undefined) out.push(`${name}: missing from the store (server has ${fp})`);
    else if (mine !== fp) out.push(`${name}: store has ${mine}, server has ${fp}`);
  }
  for (const [name, fp] of store) if (!server.has(name)) out.push(`${name}: in the store (${fp}) but not on the server`);
  return out;
}

/**
 * Takes a fresh list of the server, then waits (checking after every watcher event)
 * until the store holds exactly the same names, uids and resourceVersions. Returns
 * the differences left at the deadline: empty means converged.
 */
export async function converge(watched: WatchedStore, api: Api<ConfigMap>, timeoutMs: number): Promise<string[]> {
  const server = fingerprints((await api.list()).items);
  const diff = () => differences(server, fingerprints(watched.store.list()));
  try {
    await watched.waitFor('the store to equal a fresh list', () => diff().length === 0, timeoutMs);
    return [];
  } catch (e) {
    const left = diff();
    return left.length > 0 ? left : [(e as Error).message];
  }
}

export interface ChurnOptions {
  /** Names the churn creates, updates and deletes. */
  names: string[];
  /** Concurrent writers. Default 3. */
  workers?: number;
  /** Pause between one writer's operations: a random delay up to this. Default 20 ms. */
  maxPauseMs?: number;
  /** Stops the writers too (a test context's `signal`). */
  signal?: AbortSignal;
}

/**
 * Random creates, updates and deletes over a pool of names, from a few concurrent
 * writers, until `stop()`. Conflicts and misses are normal (another writer got there
 * first); failures (the server is down) slow the writer a little.
 */
export class Churn {
  /** Writes the server accepted. */
  writes = 0;
  /** Writes that failed other than by a conflict or a miss. */
  failures = 0;
  private running = false;
  private loops: Promise<void>[] = [];

  constructor(
    private readonly api: Api<ConfigMap>,
    private readonly options: ChurnOptions,
  ) {}

  start(): this {
    this.running = true;
    this.loops = Array.from({ length: this.options.workers ?? 3 }, () => this.loop());
    return this;
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  private async loop(): Promise<void> {
    const { names, maxPauseMs = 20, signal } = this.options;
    while (this.running && !signal?.aborted) {
      const name = names[Math.floor(Math.random() * names.length)]!;
      const r = Math.random();
      try {
        if (r < 0.4) await this.api.create({ metadata: { name }, data: { n: String(this.writes) } });
        else if (r < 0.75) await this.api.patch(name, Patch.merge({ data: { n: String(this.writes) } }));
        else await this.api.delete(name);
        this.writes++;
      } catch (e) {
        if (!(e instanceof ApiError && (e.code === 404 || e.code === 409))) {
          this.failures++;
          await sleep(100);
        }
      }
      await sleep(Math.random() * maxPauseMs);
    }
  }
}

/** `prefix-00`, `prefix-01`, … */
export function names(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(2, '0')}`);
}

/** Creates `base-00` … : objects no churn touches. */
export async function seed(api: Api<ConfigMap>, n: number): Promise<void> {
  await Promise.all(names('base', n).map((name) => api.create({ metadata: { name }, data: { seeded: 'yes' } })));
}

/** A random whole number of milliseconds in [min, max). */
export function randomMs(min: number, max: number): number {
  return Math.floor(min + Math.random() * (max - min));
}

/** Per-fault numbers, printed as one line at the end of a test file. */
export interface FaultTally {
  fault: string;
  trials: number;
  restarts: number;
  relists: number;
  mismatches: number;
  [extra: string]: string | number;
}

export function summary(t: FaultTally): string {
  return `[watcher-faults] ${Object.entries(t).map(([k, v]) => (k === 'fault' ? v : `${k}=${v}`)).join(' ')}`;
}
