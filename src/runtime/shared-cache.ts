/**
 * A shared cache: one watch and one store for a (resource, namespace,
 * selectors, transform), handed to any number of consumers — controllers'
 * main kinds, `owns()`, `watches()`, and code that only reads.
 *
 * - The watch starts when the first consumer subscribes (or `start()` holds
 *   it) and ends when the last one leaves; an ended cache cannot start again.
 * - Every consumer gets each event after the store applied it, and a relist as
 *   one `initDone` carrying what it changed — so no consumer acts on a store
 *   older than the event it got.
 * - A consumer that subscribes late first gets the current objects as a list
 *   (`init`, `initApply`…, `initDone` with all of them as `changed`), then the
 *   live events.
 * - Objects pass through `transform` (default: `stripManagedFields`) before
 *   they enter the store.
 */
import type { KubeObject } from '../core/resource.js';
import type { Api } from '../client/api.js';
import { storeObjects } from '../telemetry/metrics.js';
import { Channel } from './channel.js';
import { logger } from '../telemetry/log.js';
import { detached } from '../telemetry/span.js';
import { Store, writerOf, type IndexFn, type ReflectedEvent } from './store.js';
import { stripManagedFields } from './transforms.js';
import { metadataWatcherBatches, watcherBatches, type WatcherConfig, type WatcherEvent, type WatchStats } from './watcher.js';
import type { CacheDiagnostics } from '../telemetry/diagnostics.js';

const log = logger('kubeloop::cache');

export interface CacheOptions<K> extends Omit<WatcherConfig, 'signal' | 'controller'> {
  /** Names the cache in `/readyz` and in the `controller` label of its watcher and store metrics. Default: the resource (`configmaps`, `documents.example.com`), with `@namespace` when namespaced. */
  name?: string;
  /** Applied to each object before it enters the store; must return a new object, not change the one it gets. Default `stripManagedFields`; `null` for none. */
  transform?: ((obj: K) => K) | null;
  /** Watch metadata only (PartialObjectMetadata). Default false. */
  metadataOnly?: boolean;
}

/** The cache ended (its last consumer left, or `start()`'s signal aborted): it cannot start again. */
export class CacheEndedError extends Error {
  readonly code = 'ERR_CACHE_ENDED';
  constructor(name: string) {
    super(`the ${name} cache has ended (its last consumer left); create a new one.`);
    this.name = 'CacheEndedError';
  }
}

/**
 * @example
 * const caches = new CacheSet();
 * const configMaps = caches.for(Api.namespaced(client, ConfigMaps, 'prod'))
 *   .index('document', (cm) => cm.metadata?.labels?.['example.com/document']);
 * new Controller(Api.namespaced(client, Documents, 'prod')).owns(configMaps);
 * new Controller(configMaps);   // the same watch and store
 */
export class SharedCache<K extends KubeObject> {
  /** The cache's objects: reads only. */
  readonly store: Store<K>;
  private readonly subscribers = new Set<Channel<ReflectedEvent<K>>>();
  private readonly abort = new AbortController();
  private holders = 0;
  private state: 'idle' | 'running' | 'ended' = 'idle';
  private nameValue: string;
  private readonly transform?: (obj: K) => K;
  private readonly stats: WatchStats = { restarts: 0, relists: 0 };

  constructor(
    readonly api: Api<K>,
    private options: CacheOptions<K> = {},
  ) {
    this.store = new Store(api.resource);
    const r = api.resource;
    this.nameValue = options.name ?? `${r.group ? `${r.plural}.${r.group}` : r.plural}${api.namespace ? `@${api.namespace}` : ''}`;
    this.transform = options.transform === null ? undefined : (options.transform ?? stripManagedFields);
  }

  get name(): string {
    return this.nameValue;
  }

  /** @internal A controller's private cache takes the controller's name when it starts. */
  rename(name: string): void {
    if (this.state === 'idle') this.nameValue = name;
  }

  /**
   * @internal Narrows the cache to objects matching `selector` as well (a sharded
   * controller's share). Only before it starts: a running watch cannot change.
   */
  restrict(selector: string): void {
    if (this.state !== 'idle') throw new Error(`the ${this.name} cache is already running; a sharded controller must be the first to start the caches it reads.`);
    const existing = this.options.labelSelector;
    this.options = { ...this.options, labelSelector: existing ? `${existing},${selector}` : selector };
  }

  /** True while its watch runs. */
  get running(): boolean {
    return this.state === 'running';
  }

  /** True once its last consumer left: it cannot start again. */
  get ended(): boolean {
    return this.state === 'ended';
  }

  /** Readiness for probes: named after the cache and its kind. */
  readiness(): { name: string; ready: boolean } {
    return { name: `${this.name}/${this.api.resource.kind}`, ready: this.store.isReady() };
  }

  /** The cache as the diagnostics page shows it. */
  diagnostics(): CacheDiagnostics {
    const r = this.api.resource;
    const iso = (t: number | undefined) => (t === undefined ? undefined : new Date(t).toISOString());
    const { watchingSince, lastEventAt, restarts, relists, lastError } = this.stats;
    return {
      name: this.name,
      resource: `${r.kind}.${r.version}${r.group ? `.${r.group}` : ''}${this.api.namespace ? ` in ${this.api.namespace}` : ''}`,
      objects: this.store.size,
      ready: this.store.isReady(),
      ...(watchingSince !== undefined && this.state === 'running' ? { connectedSince: iso(watchingSince) } : {}),
      ...(lastEventAt !== undefined ? { lastEventAt: iso(lastEventAt) } : {}),
      restarts,
      relists,
      ...(lastError ? { lastError: { message: lastError.message, at: iso(lastError.at)! } } : {}),
    };
  }

  /**
   * Declares an index before the cache starts: `store.byIndex(name, value)`
   * then finds objects by what `fn` returns for them (a value, several, or none),
   * correct across applies, deletes and relists.
   */
  index(name: string, fn: IndexFn<K>): this {
    writerOf(this.store).addIndex(name, fn);
    return this;
  }

  /** Keeps the cache running until `signal` aborts (for code that only reads the store). */
  start(signal: AbortSignal): this {
    this.hold();
    const onAbort = () => this.release();
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    return this;
  }

  /**
   * The cache's events for one consumer, from now until `signal` aborts (or the
   * consumer leaves the loop). Late consumers first get the current objects.
   */
  async *subscribe(signal: AbortSignal): AsyncGenerator<ReflectedEvent<K>> {
    if (this.state === 'ended') throw new CacheEndedError(this.name);
    const channel = new Channel<ReflectedEvent<K>>();
    if (this.store.isReady()) {
      // The snapshot and the subscription are taken in one turn: no event falls between them.
      const objects = this.store.list();
      channel.push({ type: 'init' });
      for (const object of objects) channel.push({ type: 'initApply', object });
      channel.push({ type: 'initDone', changed: objects, removed: [] });
    }
    this.subscribers.add(channel);
    this.hold();
    const onAbort = () => channel.close(true);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    try {
      for (;;) {
        const next = await channel.next();
        if (next.done) return;
        yield next.value;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.subscribers.delete(channel);
      this.release();
    }
  }

  private hold(): void {
    this.holders++;
    if (this.state === 'idle') {
      this.state = 'running';
      // Outside any span: a cache first used inside a reconcile outlives it (and its deadline).
      detached(() => void this.loop());
    }
  }

  private release(): void {
    if (--this.holders > 0 || this.state !== 'running') return;
    this.state = 'ended';
    this.abort.abort();
  }

  private async loop(): Promise<void> {
    const r = this.api.resource;
    const resource = r.group ? `${r.plural}.${r.group}` : r.plural;
    const config = { ...this.options, signal: this.abort.signal, controller: this.name, stats: this.stats };
    const batches = (this.options.metadataOnly ? metadataWatcherBatches(this.api, config) : watcherBatches(this.api, config)) as AsyncIterable<WatcherEvent<K>[]>;
    const writer = writerOf(this.store);
    const removeGauge = storeObjects.add({ controller: this.name, resource }, () => this.store.size);
    try {
      // The reflector's work, inline, a batch at a time: no async stage per event on the hot path.
      for await (const batch of batches) {
        for (const raw of batch) {
          const event = this.transform && 'object' in raw ? ({ type: raw.type, object: this.transformed(raw.object) } as WatcherEvent<K>) : raw;
          const changes = writer.apply(event);
          const out: ReflectedEvent<K> = changes && event.type === 'initDone' ? { type: 'initDone', ...changes } : (event as ReflectedEvent<K>);
          for (const subscriber of this.subscribers) subscriber.push(out);
        }
      }
    } finally {
      writer.stop();
      removeGauge();
      for (const subscriber of this.subscribers) subscriber.close();
    }
  }

  private transformed(obj: K): K {
    try {
      return this.transform!(obj);
    } catch (e) {
      // User code must not stop the cache: the object goes in as it came.
      log.error({ cache: this.name, error: (e as Error).message }, 'the cache transform threw; object cached untransformed');
      return obj;
    }
  }
}
