/**
 * Memory sizing (docs/deploy.md, "Memory"): the rule measured by bench/memory,
 * the Deployment's settings derived from it, and the operator held to it — it
 * survives the number of Documents the rule allows and, above it, stops with
 * V8's heap-out-of-memory error instead of being killed by the kernel. A test of
 * the deployed 256 MiB would need tens of thousands of Documents, which takes
 * many minutes to create on a CI machine; it runs the same rule at a 24 MiB heap.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Api, Namespaces } from '../../src/index.js';
import { createDocuments } from '../../bench/memory/documents.js';
import { installCrd } from '../../bench/memory/measure.js';
import { MemoryCgroup, OperatorProcess } from '../../bench/memory/operator-process.js';
import { until, useCluster } from '../support/cluster.js';
import { kustomize, only } from './render.js';

const MiB = 2 ** 20;
/** The rule (docs/deploy.md): heap used with nothing cached, and per cached Document with its ConfigMap. */
const BASELINE_HEAP_MIB = 14;
const HEAP_PER_DOCUMENT_KIB = 2.7;
/** What RSS holds outside the V8 heap (Node's code, buffers, TLS): measured up to 84 MiB. */
const NON_HEAP_MIB = 88;
/** The young generation: V8 keeps three semi-spaces' worth. */
const youngMiB = (semiSpaceMiB: number) => 3 * semiSpaceMiB;

/** Documents a heap limit holds by the rule: a relist holds the old and the new state at once, and the GC wants 20% room. */
function capacity(heapLimitMiB: number): number {
  return Math.floor(((heapLimitMiB * 0.8 - BASELINE_HEAP_MIB) * 1024) / (2 * HEAP_PER_DOCUMENT_KIB));
}

const t = useCluster();

describe('memory sizing', () => {
  test('the Deployment sets V8 heap limits (old space and semi-space), and its memory limit holds them plus what Node uses besides', () => {
    const container = only(kustomize('deploy'), 'Deployment').spec.template.spec.containers[0];
    const nodeOptions: string = container.env.find((e: { name: string }) => e.name === 'NODE_OPTIONS')?.value ?? '';
    const heap = Number(/--max-old-space-size=(\d+)/.exec(nodeOptions)?.[1]);
    // Without it Node 24 lets the young generation grow to 192 MiB besides the old space.
    const semi = Number(/--max-semi-space-size=(\d+)/.exec(nodeOptions)?.[1]);
    assert.ok(heap > 0 && semi > 0, `NODE_OPTIONS sets --max-old-space-size and --max-semi-space-size (${nodeOptions})`);
    const limit = quantityMiB(container.resources.limits.memory);
    const request = quantityMiB(container.resources.requests.memory);
    assert.ok(heap + youngMiB(semi) + NON_HEAP_MIB <= limit, `old space ${heap} + young ${youngMiB(semi)} + ${NON_HEAP_MIB} MiB fit the ${limit} MiB limit`);
    assert.ok(request >= BASELINE_HEAP_MIB + NON_HEAP_MIB, `the request (${request} MiB) covers an idle operator`);
    assert.ok(capacity(heap) >= 19_000, `the deployed heap holds ${capacity(heap)} Documents by the rule (documented: 19,000)`);
  });

  test('at a 24 MiB heap the operator holds the Documents the rule allows, and at seven times as many stops with a heap-out-of-memory error, not an OOM kill', { timeout: 600_000 }, async () => {
    const heapMiB = 24;
    const allowed = capacity(heapMiB);
    assert.ok(allowed > 800, `${allowed} Documents allowed`);
    // A container limit of heap + the non-heap allowance, when this machine lets us make a memory cgroup.
    const semiMiB = 8;
    const memoryLimit = MemoryCgroup.available() ? (heapMiB + youngMiB(semiMiB) + NON_HEAP_MIB) * MiB : undefined;
    await installCrd(t.client);
    await Api.all(t.client, Namespaces).create({ metadata: { name: 'memory' } });
    const run = () => new OperatorProcess({ kubeconfig: t.cluster.kubeconfigPath, nodeArgs: [`--max-old-space-size=${heapMiB}`, `--max-semi-space-size=${semiMiB}`], memoryLimit });

    await createDocuments(t.client, 'memory', 0, allowed);
    const fits = run();
    try {
      await fits.listening();
      await until('/readyz', async () => (await fetch(`http://127.0.0.1:${fits.port}/readyz`)).ok, 120_000, 250);
      await until(`${allowed} reconciles`, async () => (await fits.metric('reconcile_total', 'result="success"')) >= allowed && (await fits.metric('reconcile_active')) === 0, 300_000, 250);
      const sample = await fits.sample();
      assert.ok(sample.heapUsed < heapMiB * 0.8 * MiB, `heap used ${(sample.heapUsed / MiB).toFixed(1)} MiB leaves the GC room`);
    } finally {
      const exit = await fits.stop();
      assert.deepEqual(exit, { code: 0, signal: null }, `a clean stop (stderr: ${fits.stderr.slice(-500)})`);
      if (memoryLimit) assert.ok(fits.memoryPeak! < memoryLimit, `the cgroup's peak ${((fits.memoryPeak ?? 0) / MiB).toFixed(0)} MiB stayed under its limit`);
    }

    // Seven times: the rule keeps room for a relist (twice the state), for the GC (20%) and for Node 22's
    // larger baseline, so the first list of three times as many may still fit on Node 20; seven is past it.
    const total = 7 * allowed;
    await createDocuments(t.client, 'memory', allowed, total);
    const tooMany = run();
    // Either it dies, or it reconciles them all (and the rule's claim fails): whichever comes first.
    const reconciledAll = (async () => {
      await tooMany.listening();
      await until(`${total} reconciles`, async () => (await tooMany.metric('reconcile_total', 'result="success"')) >= total, 300_000, 250);
      return 'reconciled all' as const;
    })().catch(() => new Promise<never>(() => {})); // a metrics read failing as the process dies: wait for the exit
    const exit = await Promise.race([tooMany.exited, reconciledAll]);
    if (exit === 'reconciled all') {
      await tooMany.stop();
      assert.fail(`with ${total} Documents (seven times what the rule allows for a ${heapMiB} MiB heap) the operator should have run out of heap, but it reconciled them all`);
    }
    assert.match(tooMany.stderr, /JavaScript heap out of memory/, 'V8 says why');
    assert.ok(exit.signal === 'SIGABRT' || exit.code === 134, `V8 aborts (exit ${JSON.stringify(exit)}), rather than the kernel killing it (SIGKILL, 137)`);
  });
});

function quantityMiB(q: string): number {
  const m = /^(\d+)(Mi|Gi)$/.exec(q);
  assert.ok(m, `a memory quantity in Mi or Gi: ${q}`);
  return Number(m[1]) * (m[2] === 'Gi' ? 1024 : 1);
}
