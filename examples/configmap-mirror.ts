/**
 * Example: for each ConfigMap labelled `kubeloop.dev/mirror=true`, keep an owned
 * copy named `<name>-mirror` in step (server-side apply). Deleting the source
 * lets the garbage collector remove the copy; deleting the copy recreates it.
 *
 *   KUBECONFIG=... node dist/examples/configmap-mirror.js
 */
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import { Action, Api, Client, ConfigMaps, Controller, Patch, backoffErrorPolicy, logger } from 'kubeloop';

const log = logger('configmap_mirror');
const client = Client.infer();
const configMaps = Api.all(client, ConfigMaps);

async function reconcile(source: ConfigMap): Promise<Action> {
  const { name, namespace, uid } = source.metadata!;
  if (name!.endsWith('-mirror')) return Action.awaitChange();
  const mirror: ConfigMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: `${name}-mirror`,
      ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: name!, uid: uid!, controller: true }],
    },
    data: source.data ?? {},
  };
  await configMaps.inNamespace(namespace!).patch(`${name}-mirror`, Patch.apply(mirror), { fieldManager: 'configmap-mirror', force: true });
  log.info({ keys: Object.keys(source.data ?? {}).length }, 'mirrored');
  return Action.requeue(5 * 60_000);
}

const controller = new Controller(configMaps, { labelSelector: 'kubeloop.dev/mirror=true' })
  .owns(configMaps)
  .shutdownOnSignal();

for await (const result of controller.run(reconcile, backoffErrorPolicy(ConfigMaps), {})) {
  if (!result.ok) log.warn({ error: result.error.message }, 'reconcile failed');
}
