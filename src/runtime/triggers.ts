/**
 * Trigger sources: what turns watched changes into reconcile requests.
 *
 * Every source subscribes to a cache (shared, or private to the controller),
 * so it triggers on what the cache's store holds and never ahead of it:
 *
 * - a watch event triggers after the store applied it;
 * - a relist triggers once, at `initDone`, for the objects it changed (new, or
 *   at another resourceVersion) and for those it found gone — never on
 *   `initApply`, when readers still see the state from before the relist.
 *
 * User code inside a source (predicates, mappers, trigger iterators) is run
 * under guard: a throw skips that one event and is reported (result, log line,
 * `trigger_errors_total`), and the source goes on. A trigger iterator that
 * throws has ended for good: it is reported as stopped, which fails `/livez`.
 */
import { apiVersionOf, type KubeObject, type Resource } from '../core/resource.js';
import { ObjectRef } from '../core/object-ref.js';
import { PredicateState, type Predicate } from './predicates.js';
import { ReconcileReason } from './reasons.js';
import type { SharedCache } from './shared-cache.js';
import type { ReflectedEvent, Store } from './store.js';

/** What a source may do: schedule, and report. Implemented by a controller run. */
export interface TriggerContext {
  readonly controller: string;
  readonly signal: AbortSignal;
  schedule(ref: ObjectRef, reason: string): void;
  /** A watch failed (it retries by itself). */
  watchFailed(source: string, error: Error): void;
  /** User code threw; `stopped` when the source ended for good. */
  userCodeFailed(source: string, error: unknown, stopped: boolean): void;
}

export interface TriggerSource {
  /** Names the source in results, logs and the `source` metric label. */
  readonly name: string;
  run(ctx: TriggerContext): Promise<void>;
}

/**
 * Feeds reflected events to `onChange(obj, deleted)`: watch events as they come,
 * a relist as its diff. Returns when the events end.
 */
export async function consumeReflected<T extends KubeObject>(
  ctx: TriggerContext,
  source: string,
  events: AsyncIterable<ReflectedEvent<T>>,
  onChange: (obj: T, deleted: boolean) => void,
): Promise<void> {
  const guarded = (obj: T, deleted: boolean) => {
    try {
      onChange(obj, deleted);
    } catch (e) {
      ctx.userCodeFailed(source, e, false);
    }
  };
  for await (const event of events) {
    if (ctx.signal.aborted) break;
    switch (event.type) {
      case 'apply':
        guarded(event.object, false);
        break;
      case 'delete':
        guarded(event.object, true);
        break;
      case 'initDone':
        for (const obj of event.changed) guarded(obj, false);
        for (const obj of event.removed) guarded(obj, true);
        break;
      case 'error':
        ctx.watchFailed(source, event.error);
        break;
      default:
        break; // init, initApply: the store is not swapped yet
    }
  }
}

/** The main kind: each changed object (that passes the predicate) is reconciled; a deleted one is forgotten. */
export function mainSource<K extends KubeObject>(cache: SharedCache<K>, predicate?: Predicate<K>): TriggerSource {
  const r = cache.api.resource;
  const name = r.group ? `${r.plural}.${r.group}` : r.plural;
  return {
    name,
    async run(ctx) {
      const filter = predicate ? new PredicateState(predicate) : undefined;
      await consumeReflected(ctx, name, cache.subscribe(ctx.signal), (obj, deleted) => {
        if (deleted) return filter?.forget(obj);
        if (filter && !filter.passes(obj)) return;
        ctx.schedule(ObjectRef.from(r, obj), ReconcileReason.objectUpdated);
      });
    },
  };
}

/** Children of `main`: a change or delete reconciles the owners named in `ownerReferences`. */
export function ownedSource(main: Resource<KubeObject>, cache: SharedCache<KubeObject>): TriggerSource {
  const mainApiVersion = apiVersionOf(main);
  const child = cache.api.resource;
  const name = `${child.plural} (owned)`;
  return {
    name,
    async run(ctx) {
      await consumeReflected(ctx, name, cache.subscribe(ctx.signal), (obj) => {
        const ns = obj.metadata?.namespace;
        const childRef = ObjectRef.from(child, obj);
        for (const owner of obj.metadata?.ownerReferences ?? []) {
          if (owner.kind === main.kind && owner.apiVersion === mainApiVersion) {
            ctx.schedule(ObjectRef.of(main, owner.name, ns), ReconcileReason.relatedObjectUpdated(childRef));
          }
        }
      });
    },
  };
}

/** Objects of another kind: each change or delete reconciles the objects `mapper` names. */
export function watchedSource<O extends KubeObject>(cache: SharedCache<O>, mapper: (obj: O) => Iterable<ObjectRef>): TriggerSource {
  const other = cache.api.resource;
  const name = `${other.plural} (watched)`;
  return {
    name,
    async run(ctx) {
      await consumeReflected(ctx, name, cache.subscribe(ctx.signal), (obj) => {
        const objRef = ObjectRef.from(other, obj);
        for (const ref of mapper(obj)) ctx.schedule(ref, ReconcileReason.relatedObjectUpdated(objRef));
      });
    },
  };
}

/** A trigger: an async iterable, or a function that makes one from the run's signal (so its timers end with the run). */
export type Trigger = AsyncIterable<unknown> | ((signal: AbortSignal) => AsyncIterable<unknown>);

/**
 * Every object in `store` each time `trigger` yields. A trigger made from the
 * run's signal ends with the run; a plain iterable is closed (`return()`) when
 * the run ends — an async generator parked in a timer only sees that once the
 * timer fires, which is why the signal form is the one to use for timers.
 */
export function bulkSource<K extends KubeObject>(store: Store<K>, trigger: Trigger, name: string): TriggerSource {
  return {
    name,
    async run(ctx) {
      // Ticks are pulled once the store is full: a tick before that would find nothing to schedule.
      try {
        await store.waitUntilReady(ctx.signal);
      } catch {
        return; // stopped first
      }
      let iterator: AsyncIterator<unknown>;
      try {
        iterator = (typeof trigger === 'function' ? trigger(ctx.signal) : trigger)[Symbol.asyncIterator]();
      } catch (e) {
        return ctx.userCodeFailed(name, e, true);
      }
      const ended = new Promise<IteratorResult<unknown>>((resolve) => {
        const onAbort = () => resolve({ done: true, value: undefined });
        if (ctx.signal.aborted) onAbort();
        else ctx.signal.addEventListener('abort', onAbort, { once: true });
      });
      try {
        for (;;) {
          let step: IteratorResult<unknown>;
          try {
            // An iterator that never answers again must not hold the run open.
            step = await Promise.race([iterator.next(), ended]);
          } catch (e) {
            // A trigger made from our signal rejects when the run ends: that is its end, not a failure.
            if (!ctx.signal.aborted) ctx.userCodeFailed(name, e, true);
            return;
          }
          if (step.done || ctx.signal.aborted) return;
          for (const obj of store.list()) ctx.schedule(ObjectRef.from(store.resource, obj), ReconcileReason.bulkReconcileRequested);
        }
      } finally {
        if (ctx.signal.aborted) void Promise.resolve(iterator.return?.()).catch(() => {});
      }
    },
  };
}
