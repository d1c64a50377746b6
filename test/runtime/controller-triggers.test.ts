import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  Action, Api, ConfigMaps, Controller, ObjectRef, Patch, Secrets,
} from '../../src/index.js';
import { useCluster } from '../support/cluster.js';
import { currentReason, runInBackground, Waiter } from '../support/controller.js';

const t = useCluster();

interface Run {
  name: string;
  reason: string;
}

describe('controller triggers against a real API server', () => {
  test('deleting an owned child reconciles its owner with "related object updated: <child ref>"', async () => {
    const ns = await t.namespace();
    const cms = Api.namespaced(t.client, ConfigMaps, ns);
    const secrets = Api.namespaced(t.client, Secrets, ns);
    const owner = await cms.create({ metadata: { name: 'owner' } });
    await cms.create({ metadata: { name: 'bystander' } });
    await secrets.create({
      metadata: { name: 'child', ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata!.uid!, controller: true }] },
      stringData: { k: 'v' },
    });
    // Owned by a Secret that has the bystander's name: another kind, so not the bystander's child.
    await secrets.create({
      metadata: { name: 'not-ours', ownerReferences: [{ apiVersion: 'v1', kind: 'Secret', name: 'bystander', uid: '4f3c2b1a-0000-4000-8000-000000000001' }] },
      stringData: { k: 'v' },
    });
    const runs: Run[] = [];
    const waiter = new Waiter();
    const running = runInBackground(new Controller(cms).owns(secrets), async (cm) => {
      runs.push({ name: cm.metadata!.name!, reason: currentReason() });
      waiter.notify();
      return Action.awaitChange();
    }, () => Action.awaitChange(), {});
    await waiter.until('both initial reconciles', () => new Set(runs.map((r) => r.name)).size === 2);
    const before = runs.length;
    const childRef = ObjectRef.of(Secrets, 'child', ns);
    // Deleted first: had it been mapped to the bystander, that run would start no later than the owner's.
    await secrets.delete('not-ours');
    await secrets.delete('child');
    const expected = `related object updated: ${childRef}`;
    await waiter.until('the owner reconciled for the deletion', () => runs.slice(before).some((r) => r.name === 'owner' && r.reason === expected));
    await running.stop();
    assert.equal(expected, `related object updated: Secret.v1./child.${ns}`);
    assert.deepEqual(runs.slice(before).filter((r) => r.name !== 'owner'), [], 'the bystander was not reconciled for a child of another kind of owner');
  });

  test('a watches() mapper maps changes of another kind to the objects it names', async () => {
    const ns = await t.namespace();
    const cms = Api.namespaced(t.client, ConfigMaps, ns);
    const secrets = Api.namespaced(t.client, Secrets, ns);
    await cms.create({ metadata: { name: 'target' } });
    await cms.create({ metadata: { name: 'bystander' } });
    await secrets.create({ metadata: { name: 'pointer', labels: { target: 'target' } }, stringData: { k: 'v' } });
    const runs: Run[] = [];
    const waiter = new Waiter();
    const controller = new Controller(cms).watches(secrets, (s) => {
      const target = s.metadata?.labels?.target;
      return target ? [ObjectRef.of(ConfigMaps, target, s.metadata!.namespace)] : [];
    });
    const running = runInBackground(controller, async (cm) => {
      runs.push({ name: cm.metadata!.name!, reason: currentReason() });
      waiter.notify();
      return Action.awaitChange();
    }, () => Action.awaitChange(), {});
    await waiter.until('both initial reconciles', () => new Set(runs.map((r) => r.name)).size === 2);
    const before = runs.length;
    await secrets.patch('pointer', Patch.merge({ stringData: { k: 'changed' } }));
    const expected = `related object updated: Secret.v1./pointer.${ns}`;
    await waiter.until('the mapped object reconciled', () => runs.slice(before).some((r) => r.name === 'target' && r.reason === expected));
    await running.stop();
    assert.ok(!runs.slice(before).some((r) => r.name === 'bystander'), 'the object the mapper did not name was left alone');
  });

  test('reconcileAllOn reconciles every object with "bulk reconcile requested"', async () => {
    const ns = await t.namespace();
    const cms = Api.namespaced(t.client, ConfigMaps, ns);
    for (const name of ['a', 'b', 'c']) await cms.create({ metadata: { name } });
    let fire!: () => void;
    async function* trigger(): AsyncGenerator<void> {
      for (;;) {
        await new Promise<void>((r) => (fire = r));
        yield;
      }
    }
    const runs: Run[] = [];
    const waiter = new Waiter();
    const running = runInBackground(new Controller(cms).reconcileAllOn(trigger()), async (cm) => {
      runs.push({ name: cm.metadata!.name!, reason: currentReason() });
      waiter.notify();
      return Action.awaitChange();
    }, () => Action.awaitChange(), {});
    await waiter.until('the initial reconciles', () => runs.length === 3);
    fire();
    await waiter.until('a bulk reconcile of all three', () => runs.filter((r) => r.reason === 'bulk reconcile requested').length === 3);
    await running.stop();
    assert.deepEqual(runs.filter((r) => r.reason === 'bulk reconcile requested').map((r) => r.name).sort(), ['a', 'b', 'c']);
  });
});
