/**
 * The reconciler of the convergence suite, shared by controllers in the test
 * process and by the replica fixture (test/fixtures/convergence-replica.ts).
 *
 * It does what a real operator does with a finalizer — add it, reconcile the
 * live object, run cleanup once deletion starts — and reports what it saw to a
 * sink instead of writing it back, so that the oracle can compare "what was
 * reconciled" with "what the server holds" without its own writes moving the
 * target. Only reconciles of an object that carries the finalizer report a
 * state: the run that adds it expects the change to come back, and its copy is
 * stale by design.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import { Action, finalizer, type Api, type Reconciler } from '../../src/index.js';

export const FINALIZER = 'convergence.kubeloop.dev/cleanup';

/** The state one reconcile saw. */
export interface SeenState {
  uid: string;
  name: string;
  resourceVersion: string;
  /** The writer's `data.gen`: the same state, readable by a person. */
  gen: string;
}

/** Where the reconciler reports, in the order things happen. */
export interface ReconcileSink {
  /** A reconcile of the live object (finalizer present) finished and saw `state`. */
  saw(state: SeenState): void;
  /** The finalizer was added to the object with this uid. */
  finalized(uid: string, name: string): void;
  /** Cleanup ran for an object being deleted. */
  cleanedUp(uid: string, name: string): void;
  /** A reconcile of `name` started while another of the same object was running. */
  concurrent(name: string): void;
}

export function stateOf(obj: ConfigMap): SeenState {
  const m = obj.metadata!;
  return { uid: m.uid!, name: m.name!, resourceVersion: m.resourceVersion!, gen: obj.data?.gen ?? '-' };
}

/** A reconciler over the ConfigMaps of `api` (namespaced) that reports to `sink`. */
export function convergenceReconciler(api: Api<ConfigMap>, sink: ReconcileSink): Reconciler<ConfigMap, unknown> {
  const inFlight = new Map<string, number>();
  return async (cm) => {
    const name = cm.metadata!.name!;
    const running = (inFlight.get(name) ?? 0) + 1;
    inFlight.set(name, running);
    if (running > 1) sink.concurrent(name);
    try {
      // A little work, so that a second reconcile of the same object would overlap this one.
      await sleep(Math.random() * 10);
      const hadFinalizer = cm.metadata?.finalizers?.includes(FINALIZER) ?? false;
      const action = await finalizer(api, FINALIZER, cm, {
        apply: (live) => {
          sink.saw(stateOf(live));
          return Action.awaitChange();
        },
        cleanup: (gone) => {
          sink.cleanedUp(gone.metadata!.uid!, name);
          return Action.awaitChange();
        },
      });
      if (!hadFinalizer && !cm.metadata?.deletionTimestamp) sink.finalized(cm.metadata!.uid!, name);
      return action;
    } finally {
      const left = inFlight.get(name)! - 1;
      if (left === 0) inFlight.delete(name);
      else inFlight.set(name, left);
    }
  };
}

/** Failed reconciles (a write during an outage, a 404 after a delete) are retried soon. */
export const retrySoon = (): Action => Action.requeue(200);
