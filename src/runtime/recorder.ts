/**
 * Publishes events.k8s.io/v1 Events about objects. A repeat of the same event
 * (same object, type, reason, action and note) within six minutes is folded into
 * the first one's `series` (count 2, 3, …) instead of creating another Event.
 */
import { randomBytes } from 'node:crypto';
import type { Event } from 'kubernetes-types/events/v1.js';
import type { ObjectReference } from 'kubernetes-types/core/v1.js';
import { Api } from '../client/api.js';
import type { Client } from '../client/client.js';
import { Patch } from '../client/patch.js';
import { Events } from '../core/builtin.js';
import { apiVersionOf, type KubeObject, type Resource } from '../core/resource.js';
import { logger } from '../telemetry/log.js';

const log = logger('kubeloop::recorder');
const SERIES_WINDOW_MS = 6 * 60_000;

export interface Reporter {
  /** `reportingController`, e.g. `example.com/document-controller`. */
  controller: string;
  /** `reportingInstance`: this replica, e.g. the pod name. Default: the host name. */
  instance?: string;
}

export interface EventSpec {
  type: 'Normal' | 'Warning';
  /** Why, in UpperCamelCase: `Refused`, `Synced`. */
  reason: string;
  /** What the controller did or failed to do: `Reconciling`, `Deleting`. */
  action: string;
  /** A human-readable sentence (at most 1 kB). */
  note?: string;
  /** A second object involved (`related`). */
  secondary?: ObjectReference;
}

/** The `ObjectReference` of an object of resource `r` (list items lack kind and apiVersion, so the resource supplies them). */
export function objectReference(r: Resource<any>, obj: KubeObject): ObjectReference {
  return {
    apiVersion: apiVersionOf(r),
    kind: r.kind,
    name: obj.metadata?.name,
    namespace: r.namespaced ? obj.metadata?.namespace : undefined,
    uid: obj.metadata?.uid,
  };
}

function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/**
 * @example
 * const recorder = new Recorder(client, { controller: 'example.com/documents' });
 * await recorder.publish({ type: 'Warning', reason: 'Refused', action: 'Reconciling', note: 'title is empty' },
 *   objectReference(Documents, doc));
 */
export class Recorder {
  private readonly cache = new Map<string, { event: Event; lastObserved: number }>();
  private readonly instance: string;

  constructor(
    private readonly client: Client,
    private readonly reporter: Reporter,
  ) {
    this.instance = reporter.instance ?? process.env.HOSTNAME ?? 'kubeloop';
  }

  /** Creates the Event, or folds a repeat into the existing one's series. Returns the Event as stored. */
  async publish(spec: EventSpec, regarding: ObjectReference, options: { signal?: AbortSignal } = {}): Promise<Event> {
    const now = Date.now();
    for (const [k, v] of this.cache) if (now - v.lastObserved > SERIES_WINDOW_MS) this.cache.delete(k);
    const key = JSON.stringify([regarding.uid ?? `${regarding.kind}/${regarding.namespace}/${regarding.name}`, spec.type, spec.reason, spec.action, spec.note ?? '', spec.secondary?.uid ?? '']);
    const namespace = regarding.namespace ?? 'default';
    const api = Api.namespaced(this.client, Events, namespace);
    const cached = this.cache.get(key);
    if (cached?.event.metadata?.name) {
      const count = (cached.event.series?.count ?? 1) + 1;
      const series = { count, lastObservedTime: microTime(new Date(now)) };
      try {
        const event = await api.patch(cached.event.metadata.name, Patch.merge({ series }), { signal: options.signal });
        this.cache.set(key, { event, lastObserved: now });
        return event;
      } catch (e) {
        // The Event may have been garbage-collected (its TTL is an hour): start a new one.
        log.debug({ error: (e as Error).message }, 'could not extend the event series; creating a new event');
        this.cache.delete(key);
      }
    }
    const event = await api.create(
      {
        metadata: { name: `${regarding.name ?? 'object'}.${now.toString(16)}${randomBytes(2).toString('hex')}`, namespace },
        eventTime: microTime(new Date(now)) as unknown as Event['eventTime'],
        type: spec.type,
        reason: spec.reason,
        action: spec.action,
        note: spec.note?.slice(0, 1024),
        regarding,
        related: spec.secondary,
        reportingController: this.reporter.controller,
        reportingInstance: this.instance.slice(0, 128),
      },
      { signal: options.signal },
    );
    this.cache.set(key, { event, lastObserved: now });
    return event;
  }
}
