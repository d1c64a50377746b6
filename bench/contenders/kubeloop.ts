/** kubeloop, used the way its README shows: a reflector Store over a watcher, and a Controller. */
import { Action, Api, Client, ConfigMaps, Controller, Patch, predicates, reflector, Store, watcher, type KubeObject, type Resource } from 'kubeloop';
import type { ChildTask } from '../protocol.js';
import { TUNED } from '../tuned.js';
import { Widgets, type Widget } from '../widgets.js';
import type { Contender, Kind } from './types.js';

export function setup(task: ChildTask): Contender {
  const tuned = task.contender === 'kubeloop-tuned';
  const client = Client.fromKubeconfig({ paths: [task.target.kubeconfigPath] });
  return {
    async cache(namespace, options) {
      const store = new Store(ConfigMaps);
      const abort = new AbortController();
      const onChange = options.onChange;
      let listing = true;
      const consumed = (async () => {
        // kubeloop-any: the documented `listSemantic: 'any'` knob (the first list comes from the API server's watch cache).
        const config = { signal: abort.signal, ...(task.contender === 'kubeloop-any' ? { listSemantic: 'any' as const } : {}) };
        for await (const event of reflector(store, watcher(Api.namespaced(client, ConfigMaps, namespace), config))) {
          if (event.type === 'initDone') {
            listing = false;
            // A cache that is not kept up to date stops at its first full list.
            if (!options.watch) break;
          } else if (onChange && !listing && (event.type === 'apply' || event.type === 'delete')) onChange(event.object);
        }
      })();
      await store.waitUntilReady();
      return {
        size: () => store.size,
        async stop() {
          abort.abort();
          await consumed.catch(() => {});
        },
      };
    },

    async controller(namespace: string, kind: Kind, reconcile: (obj: any) => Promise<void>) {
      const resource: Resource<KubeObject> = kind === 'widgets' ? Widgets : ConfigMaps;
      const ctrl = new Controller(Api.namespaced(client, resource, namespace), tuned ? { predicate: predicates.generation } : {}).withConfig({
        name: `bench-${kind}`,
        debounceMs: tuned ? TUNED.debounceMs : 0,
      });
      const shutdown = new AbortController();
      ctrl.gracefulShutdownOn(shutdown.signal);
      const done = (async () => {
        for await (const _ of ctrl.run(
          async (obj) => {
            await reconcile(obj);
            return Action.awaitChange();
          },
          () => Action.requeue(100),
          undefined,
        ));
      })();
      await ctrl.store.waitUntilReady();
      return {
        async stop() {
          shutdown.abort();
          await done;
        },
      };
    },

    widgetOps(namespace) {
      const api = Api.namespaced(client, Widgets, namespace);
      return {
        get: (name) => api.get(name),
        async patchStatus(name, observed) {
          await api.patchStatus(name, Patch.merge({ status: { observed } } satisfies Partial<Widget>));
        },
      };
    },

    close: () => client.close(),
  };
}
