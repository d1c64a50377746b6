/**
 * CRD version conversion through a hub: every version converts to and from one
 * hub version (usually the storage version), so N versions need 2(N-1)
 * functions, not N(N-1) pairwise ones (controller-runtime's Hub/Convertible
 * model). kubeloop sets `apiVersion`; a converter changes the rest.
 *
 * A review converts every object or none: the first converter that throws fails
 * the whole review, and its message is what the user's read or write fails with
 * (so it must not carry secrets).
 */
import type { KubeObject } from '../core/resource.js';
import type { ConversionReview } from './review.js';

/** How one non-hub version converts to and from the hub. */
export interface SpokeConverter<Hub extends KubeObject = KubeObject, Spoke extends KubeObject = KubeObject> {
  toHub(object: Spoke): Hub | Promise<Hub>;
  fromHub(object: Hub): Spoke | Promise<Spoke>;
}

export interface ConversionWebhook {
  /** Names this webhook in metrics, spans and logs; usually the CRD's name, e.g. `widgets.example.com`. */
  name: string;
  /** The path it is served at, e.g. `/convert-widgets`. */
  path: string;
  /** The CRD's API group. */
  group: string;
  /** The hub version, e.g. `v1`. */
  hub: string;
  /** One converter per other served version, keyed by version. */
  spokes: Record<string, SpokeConverter<any, any>>;
  /**
   * The CRD whose `spec.conversion` the managed configuration keeps pointing here
   * (with the current `caBundle`). Default: `name`.
   */
  crd?: string;
}

/** Thrown by `convertObjects` with the message the API server passes on. */
export class ConversionFailedError extends Error {
  readonly code = 'ConversionFailed';
}

function versionOf(apiVersion: string | undefined, group: string): string {
  const [g, v] = (apiVersion ?? '').split('/');
  if (v === undefined || g !== group) throw new ConversionFailedError(`apiVersion ${apiVersion ?? '(none)'} is not of group ${group}`);
  return v;
}

/** Converts each object to `desiredAPIVersion`, or throws a `ConversionFailedError` naming the object. */
export async function convertObjects(webhook: ConversionWebhook, desiredAPIVersion: string, objects: KubeObject[]): Promise<KubeObject[]> {
  const target = versionOf(desiredAPIVersion, webhook.group);
  const known = (v: string) => v === webhook.hub || webhook.spokes[v] !== undefined;
  if (!known(target)) throw new ConversionFailedError(`version ${target} has no converter in webhook ${webhook.name}`);
  const converted: KubeObject[] = [];
  for (const object of objects) {
    const source = versionOf(object.apiVersion, webhook.group);
    if (!known(source)) throw new ConversionFailedError(`version ${source} has no converter in webhook ${webhook.name}`);
    if (source === target) {
      converted.push(object);
      continue;
    }
    try {
      const hub = source === webhook.hub ? object : await webhook.spokes[source]!.toHub(object);
      const out = target === webhook.hub ? hub : await webhook.spokes[target]!.fromHub({ ...hub, apiVersion: `${webhook.group}/${webhook.hub}` });
      converted.push({ ...out, apiVersion: desiredAPIVersion });
    } catch (error) {
      const name = object.metadata?.namespace ? `${object.metadata.namespace}/${object.metadata?.name}` : object.metadata?.name;
      throw new ConversionFailedError(`converting ${name} from ${source} to ${target}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }
  return converted;
}

/** The answer to a ConversionReview: the converted objects, or a failure with `message`. */
export function conversionResponse(uid: string, result: { objects: KubeObject[] } | { message: string }): ConversionReview {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'ConversionReview',
    response:
      'objects' in result
        ? { uid, convertedObjects: result.objects, result: { status: 'Success' } }
        : { uid, convertedObjects: [], result: { status: 'Failure', message: result.message } },
  };
}
