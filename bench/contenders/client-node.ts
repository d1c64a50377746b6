/**
 * @kubernetes/client-node 1.x, written the way its users write controllers
 * today: an informer (`makeInformer` over the generated list call) and
 * callbacks that call the reconcile function for every event.
 */
import { CoreV1Api, CustomObjectsApi, KubeConfig, makeInformer, type KubernetesObject, type V1ConfigMap } from '@kubernetes/client-node';
import type { ChildTask } from '../protocol.js';
import { GROUP, PLURAL, VERSION, type Widget } from '../widgets.js';
import type { Contender, Kind } from './types.js';

export function setup(task: ChildTask): Contender {
  const kc = new KubeConfig();
  kc.loadFromFile(task.target.kubeconfigPath);
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);

  const informerFor = (namespace: string, kind: Kind) =>
    kind === 'configmaps'
      ? makeInformer<V1ConfigMap>(kc, `/api/v1/namespaces/${namespace}/configmaps`, () => core.listNamespacedConfigMap({ namespace }))
      : makeInformer<KubernetesObject>(kc, `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${PLURAL}`, () =>
          custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL }),
        );

  return {
    async cache(namespace, options) {
      const informer = informerFor(namespace, 'configmaps');
      // start() resolves once the list is in and the watch request is answered.
      await informer.start();
      // Subscribed after the list: only the watch's changes count.
      const onChange = options.onChange;
      if (onChange) {
        informer.on('update', onChange);
        informer.on('add', onChange);
        informer.on('delete', onChange);
      }
      if (!options.watch) await informer.stop();
      return {
        size: () => informer.list().length,
        stop: () => informer.stop(),
      };
    },

    async controller(namespace, kind, reconcile) {
      const informer = informerFor(namespace, kind);
      let stopped = false;
      const handle = (obj: KubernetesObject) => {
        reconcile(obj).catch(() => {});
      };
      informer.on('add', handle);
      informer.on('update', handle);
      // The informer stops on an error; the usual advice is to start it again.
      informer.on('error', () => {
        if (!stopped) setTimeout(() => void informer.start().catch(() => {}), 1000);
      });
      await informer.start();
      return {
        async stop() {
          stopped = true;
          await informer.stop();
        },
      };
    },

    widgetOps(namespace) {
      const ref = { group: GROUP, version: VERSION, namespace, plural: PLURAL };
      return {
        get: async (name) => (await custom.getNamespacedCustomObject({ ...ref, name })) as Widget,
        async patchStatus(name, observed) {
          // The generated patch call sends application/json-patch+json.
          await custom.patchNamespacedCustomObjectStatus({ ...ref, name, body: [{ op: 'add', path: '/status', value: { observed } }] });
        },
      };
    },

    close: async () => {},
  };
}
