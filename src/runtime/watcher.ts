/**
 * The watcher: list, then watch, forever, as an async iterable of events.
 *
 * `init`, `initApply(obj)`…, `initDone` bracket a full (re)list; `apply(obj)` and
 * `delete(obj)` follow from the watch. A watch that ends resumes from the last
 * resourceVersion (bookmarks keep it fresh) without relisting: at once when it
 * brought an event or a bookmark, after the backoff when it brought nothing (so
 * that something answering every watch with an empty stream is not called in a
 * tight loop); `410 Gone` forces a relist. Errors are yielded as `error` events and the loop goes on after a
 * backoff; only the `signal` (or leaving the loop) stops it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiError, type Status } from '../core/errors.js';
import type { KubeObject } from '../core/resource.js';
import type { Api, ObjectList, PartialObjectMetadata } from '../client/api.js';
import { answerSize } from '../client/client.js';
import type { WatchEventStream } from '../client/watch-stream.js';
import { logger } from '../telemetry/log.js';
import { watcherEvents, watcherRelists, watcherRestarts } from '../telemetry/metrics.js';
import { defaultWatcherBackoff, type Backoff } from './backoff.js';
import { batched } from './batched.js';
import { PageSizer } from './page-size.js';

const log = logger('kubeloop::watcher');

export type WatcherEvent<K> =
  | { type: 'init' }
  | { type: 'initApply'; object: K }
  | { type: 'initDone' }
  | { type: 'apply'; object: K }
  | { type: 'delete'; object: K }
  | { type: 'error'; error: Error };

export interface WatcherConfig {
  labelSelector?: string;
  fieldSelector?: string;
  /**
   * Objects per list page. Default: 500 for the first page, then pages of about
   * 2 MiB of JSON (100 to 10,000 objects) sized from the objects seen so far.
   */
  pageSize?: number;
  /** Server-side watch timeout. Default 290 s. */
  timeoutSeconds?: number;
  /** No byte for this long means the connection is dead. Default (timeoutSeconds + 5) s. */
  idleTimeoutMs?: number;
  /** Ask for bookmarks. Default true. */
  bookmarks?: boolean;
  /**
   * `mostRecent` (default): lists are consistent reads from etcd, paged.
   * `any`: lists may come from the API server's cache (`resourceVersion=0`): cheaper, maybe stale, and unpaged on older servers.
   */
  listSemantic?: 'mostRecent' | 'any';
  /** A fresh backoff for this watcher; `null` retries at once. Default: 0.8 s → 30 s, ×2, jitter, reset after 120 s calm. */
  backoff?: (() => Backoff) | null;
  /** Stops the watcher: the iteration ends and the connection closes. */
  signal?: AbortSignal;
  /** The `controller` label of this watcher's metrics. */
  controller?: string;
  /** @internal Filled in as the watcher goes, for the diagnostics page. */
  stats?: WatchStats;
}

/** What a watcher has been doing (times are Date.now() milliseconds). */
export interface WatchStats {
  /** When the current watch was issued; cleared by an error or a relist. */
  watchingSince?: number;
  lastEventAt?: number;
  restarts: number;
  relists: number;
  lastError?: { message: string; at: number };
}

function isGone(e: unknown): boolean {
  return e instanceof ApiError && e.code === 410;
}

/**
 * Lists and watches `api` in its scope.
 *
 * @example
 * for await (const event of watcher(Api.all(client, ConfigMaps), { labelSelector: 'app=web' })) {
 *   if (event.type === 'apply') console.log(event.object.metadata?.name);
 * }
 */
export function watcher<K extends KubeObject>(api: Api<K>, config: WatcherConfig = {}): AsyncGenerator<WatcherEvent<K>> {
  return batched(run<K>(api, config, false), config.signal);
}

/** Like `watcher`, but the objects carry metadata only (cheap caches, ownership triggers). */
export function metadataWatcher<K extends KubeObject>(api: Api<K>, config: WatcherConfig = {}): AsyncGenerator<WatcherEvent<PartialObjectMetadata>> {
  return batched(run<PartialObjectMetadata>(api as unknown as Api<PartialObjectMetadata>, config, true), config.signal);
}

/**
 * The watcher's events in the batches they come in: a list page's objects, or the
 * watch events of one network chunk. The same events as `watcher`, for consumers
 * that apply many at once (the reflector and shared caches use it): one await per
 * batch instead of per event.
 */
export function watcherBatches<K extends KubeObject>(api: Api<K>, config: WatcherConfig = {}): AsyncGenerator<WatcherEvent<K>[]> {
  return run<K>(api, config, false);
}

/** `watcherBatches` of metadata only. */
export function metadataWatcherBatches<K extends KubeObject>(api: Api<K>, config: WatcherConfig = {}): AsyncGenerator<WatcherEvent<PartialObjectMetadata>[]> {
  return run<PartialObjectMetadata>(api as unknown as Api<PartialObjectMetadata>, config, true);
}

async function* run<K extends KubeObject>(api: Api<K>, config: WatcherConfig, metadataOnly: boolean): AsyncGenerator<WatcherEvent<K>[]> {
  const { signal, pageSize, timeoutSeconds = 290, bookmarks = true, listSemantic = 'mostRecent' } = config;
  const backoff = config.backoff === null ? undefined : (config.backoff ?? defaultWatcherBackoff)();
  const r = api.resource;
  const labels = { controller: config.controller ?? '', resource: r.group ? `${r.plural}.${r.group}` : r.plural };
  // Counted per event: deferred series reach prom-client when the metrics are read.
  const count = {
    init: watcherEvents.series({ ...labels, type: 'init' }),
    initApply: watcherEvents.series({ ...labels, type: 'init_apply' }),
    initDone: watcherEvents.series({ ...labels, type: 'init_done' }),
    apply: watcherEvents.series({ ...labels, type: 'apply' }),
    delete: watcherEvents.series({ ...labels, type: 'delete' }),
    error: watcherEvents.series({ ...labels, type: 'error' }),
  };
  const restarts = watcherRestarts.labels(labels);
  const relists = watcherRelists.labels(labels);
  // Exported at 0 from the start, so that rate() and increase() count the first restart.
  restarts.inc(0);
  const selectors = { labelSelector: config.labelSelector, fieldSelector: config.fieldSelector };
  const what = `${labels.resource}${api.namespace ? ` in ${api.namespace}` : ''}`;
  let resourceVersion: string | undefined;

  const stats = config.stats;
  const failed = (error: Error): WatcherEvent<K>[] => {
    if (stats) {
      stats.lastError = { message: error.message, at: Date.now() };
      stats.watchingSince = undefined;
    }
    count.error.inc();
    log.warn({ resource: labels.resource, error: error.message }, 'watcher error');
    return [{ type: 'error', error }];
  };

  while (!signal?.aborted) {
    try {
      if (resourceVersion === undefined) {
        relists.inc();
        if (stats) {
          stats.relists++;
          stats.watchingSince = undefined;
        }
        log.debug({ resource: labels.resource }, 'listing');
        count.init.inc();
        yield [{ type: 'init' }];
        let cont: string | undefined;
        let listVersion = '';
        const pages = new PageSizer(pageSize);
        const fetchPage = (from: string | undefined) => {
          const params = { ...selectors, limit: pages.size, continue: from, signal, ...(listSemantic === 'any' && !from ? { resourceVersion: '0' } : {}) };
          const page = (metadataOnly ? api.listMetadata(params) : api.list(params)) as Promise<ObjectList<K>>;
          // A page nobody awaits (the consumer left the loop meanwhile) must not be an unhandled rejection.
          page.catch(() => {});
          return page;
        };
        let next: Promise<ObjectList<K>> | undefined = fetchPage(undefined);
        do {
          const page: ObjectList<K> = await next!;
          listVersion = page.metadata.resourceVersion ?? listVersion;
          cont = page.metadata.continue || undefined;
          // A metadata list with nothing in it says `items: null`.
          const items = page.items ?? [];
          pages.next(items.length, answerSize(page));
          // Ask for the next page before handing out this one's objects: the server
          // reads it while the consumer works (the pages stay in order).
          next = cont ? fetchPage(cont) : undefined;
          // Counted per page: one counter update instead of one per object.
          if (items.length > 0) count.initApply.inc(items.length);
          if (stats) stats.lastEventAt = Date.now();
          if (items.length > 0) yield items.map((object): WatcherEvent<K> => ({ type: 'initApply', object }));
        } while (cont);
        resourceVersion = listVersion;
        count.initDone.inc();
        yield [{ type: 'initDone' }];
        backoff?.reset();
      }

      log.debug({ resource: labels.resource, resourceVersion }, 'watching');
      const params = { ...selectors, resourceVersion, timeoutSeconds, allowWatchBookmarks: bookmarks, idleTimeoutMs: config.idleTimeoutMs, signal };
      const stream = (await (metadataOnly ? api.watchMetadataBatches(params) : api.watchBatches(params))) as WatchEventStream<K>;
      // Whether this watch moved us forward: an object event or a bookmark. Bad lines do not count.
      let progressed = false;
      if (stats) stats.watchingSince ??= Date.now();
      for await (const events of stream) {
        if (stats) stats.lastEventAt = Date.now();
        const out: WatcherEvent<K>[] = [];
        let changed = false;
        for (const event of events) {
          if (event.type !== 'INVALID' && event.type !== 'ERROR') progressed = true;
          switch (event.type) {
            case 'ADDED':
            case 'MODIFIED':
            case 'DELETED': {
              resourceVersion = event.object.metadata?.resourceVersion ?? resourceVersion;
              changed = true;
              if (log.isEnabled('trace')) log.trace({ event: event.type, name: event.object.metadata?.name, namespace: event.object.metadata?.namespace, resourceVersion }, 'watch event');
              if (event.type === 'DELETED') {
                count.delete.inc();
                out.push({ type: 'delete', object: event.object });
              } else {
                count.apply.inc();
                out.push({ type: 'apply', object: event.object });
              }
              break;
            }
            case 'BOOKMARK':
              resourceVersion = event.object.metadata?.resourceVersion ?? resourceVersion;
              if (log.isEnabled('trace')) log.trace({ event: 'BOOKMARK', resourceVersion }, 'watch event');
              break;
            case 'ERROR': {
              // The events before the error in this batch are handed out first.
              if (out.length > 0) yield out;
              const status: Status = event.object;
              const error = new ApiError(status, { method: 'GET', path: `watch ${what}` });
              // 410: our version is older than what the server keeps; only a relist can catch up.
              if (status.code === 410) resourceVersion = undefined;
              throw error;
            }
            case 'INVALID':
              out.push(...failed(event.error));
              break;
          }
        }
        if (changed) backoff?.reset();
        if (out.length > 0) yield out;
      }
      // The server ended the watch (its timeout) or the connection closed cleanly: resume where we were.
      if (signal?.aborted) return;
      restarts.inc();
      if (stats) stats.restarts++;
      // A watch that ended without bringing anything (something in between answers
      // every watch at once with an empty stream, or with garbage) would otherwise be
      // re-issued in a tight loop: wait as after an error.
      if (!progressed) {
        log.debug({ resource: labels.resource, resourceVersion }, 'the watch ended without an event; backing off');
        if (!(await pause(backoff?.next(), signal))) return;
      }
    } catch (e) {
      if (signal?.aborted) return;
      if (isGone(e)) resourceVersion = undefined;
      restarts.inc();
      if (stats) stats.restarts++;
      yield failed(e as Error);
      if (!(await pause(backoff?.next(), signal))) return;
    }
  }
}

/** Waits `delay` ms (none when `undefined`); false when the signal ended the wait. */
async function pause(delay: number | undefined, signal: AbortSignal | undefined): Promise<boolean> {
  if (delay === undefined || delay <= 0) return true;
  try {
    await sleep(delay, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}
