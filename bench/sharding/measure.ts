/**
 * The sharding benchmark of issue 14: objects per second converged with 1, 2 and
 * 3 ring members for a reconciler that spends CPU, the sharder's assignment
 * delay, and heap per replica — against the same controller without sharding.
 *
 *   node dist/bench/sharding/measure.js [objects] [cpu ms]      default: 2000 objects, 20 ms
 *
 * (`SHARD_BENCH_REPS=n`, default 3: repetitions of each row, medians reported;
 * `SHARD_BENCH_SETUPS=unsharded,1,2,3`: the rows; `SHARD_BENCH_DATA_BYTES=n`: n bytes of data
 * in each ConfigMap, default none; `SHARD_BENCH_OUT=path`: where to write (from the repository root), default
 * bench/sharding/results.json; `SHARD_BENCH_SPIN=1`: reconciles that never yield;
 * `SHARD_BENCH_VERBOSE=1`: the steps of each trial.)
 *
 * One local control plane (etcd and kube-apiserver, `LocalCluster`). Each trial
 * has a namespace and a ring of its own. For k = 1, 2, 3 it starts k members
 * (bench/sharding/bench-replica.ts: the controller of test/fixtures/shard-replica.ts,
 * each in its own process; a reconcile yields once, then spins `cpu ms` of process
 * CPU time) and waits until all k hold their member Leases, the sharder has logged
 * all k as the ring, and each answers /readyz; the `unsharded` row starts one
 * process of the same controller without a ring. A trial in which a member lost
 * its Lease is recorded under `failures` and run once more. Each process is sampled (SIGUSR2: heap
 * used after a forced GC) while idle, then `objects` ConfigMaps labelled
 * `app=sharded` are created, 50 at a time. Measured from the first create:
 *
 * - converged: until every object's first reconcile finished (from the
 *   processes' own `reconciled` lines, stamped with the machine's shared wall
 *   clock), so objects/s = objects / converged;
 * - labelled: create (its response) → the shard label seen on a watch this process
 *   keeps on the namespace: the sharder's assignment delay, p50 and p99;
 * - first reconcile: create → the object's first reconcile starting (its owner's
 *   queue included), p50 and p99;
 * - CPU seconds spent over the convergence window by the members, by the API
 *   server and etcd, and by this process (creates and the watch), from /proc;
 * - heap used after a forced GC and objects cached, per process, once converged;
 * - then 20 objects created one at a time: the same delays without a backlog.
 *
 * Rows run interleaved (unsharded, 1, 2, 3, then again), so drift on a shared
 * machine spreads over all of them. Writes bench/sharding/results.json and prints
 * Markdown tables.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Api, Client, ConfigMaps, Leases, Namespaces, RING_LABEL, shardLabel } from '../../src/index.js';
import { LocalCluster } from '../../src/testing/index.js';
import { Waiter } from '../../test/support/controller.js';
import { Replica, wallClock } from '../../test/support/leader-fleet.js';
import { adminClient, waitFor } from '../memory/measure.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const replicaScript = fileURLToPath(new URL('./bench-replica.js', import.meta.url));
const MiB = 2 ** 20;
const BATCH = 50;
const RING = 'bench';
const TRICKLE = 20;
const TICKS = 100; // USER_HZ: /proc reports CPU time in 1/100 s on Linux

/** A row's setting: k ring members, or the controller without sharding. */
type Setup = { kind: 'sharded'; members: number } | { kind: 'unsharded' };

export interface ProcessSample {
  name: string;
  sharder: boolean;
  idleHeap: number;
  heap: number;
  objects: number;
  reconciled: number;
}

export interface Trial {
  setup: string;
  members: number;
  objects: number;
  cpuMs: number;
  convergedMs: number;
  objectsPerSecond: number;
  createMs: number;
  labelledMs?: { p50: number; p99: number; max: number };
  firstReconcileMs: { p50: number; p99: number; max: number };
  /** The same delays for objects created one at a time into the converged, idle ring (no backlog). */
  quiet: { labelledP50?: number; labelledMax?: number; firstReconcileP50: number; firstReconcileMax: number };
  /** Objects reconciled by more than one process (should be 0 with a stable ring). */
  byMoreThanOne: number;
  reconciles: number;
  cpuSeconds: { members: number; controlPlane: number; harness: number; total: number; coresBusy: number };
  processes: ProcessSample[];
  load: number[];
}

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? Number.NaN;
};
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

/** CPU seconds a process has used so far (user + system), or 0 once it is gone. */
function cpuOf(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS;
  } catch {
    return 0;
  }
}

/** The trial's processes (bench-replica.js), with one waiter every line of every one notifies. */
class Processes {
  readonly replicas: Replica[] = [];
  private readonly waiter = new Waiter();

  constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly namespace: string,
    private readonly cpuMs: number,
    private readonly mode: 'yield' | 'spin',
  ) {}

  /** A ring member, or (ring `-`) the controller without sharding. */
  start(ring: string, name: string): Replica {
    const proc = spawn(process.execPath, ['--expose-gc', replicaScript, this.namespace, ring, name, String(this.cpuMs), this.mode], { env: this.env, stdio: ['ignore', 'pipe', 'inherit'] });
    const replica = new Replica(name, proc, this.waiter);
    this.replicas.push(replica);
    return replica;
  }

  async until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
    try {
      await this.waiter.until(what, check, timeoutMs);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${this.replicas.map((r) => `${r.name}: alive ${r.alive}, last logs:\n  ${r.logs.slice(-5).join('\n  ')}`).join('\n')}`);
    }
  }

  /** The process holding the sharder role now, as its own lines tell. */
  sharder(): Replica | undefined {
    return this.replicas.find((r) => r.alive && r.lines.filter((l) => l.kind === 'sharder').at(-1)?.rest[0] === 'on');
  }

  /** Whether the sharder has logged `members` as the ring's members. */
  sharderSees(members: string[]): boolean {
    const want = [...members].sort().join(',');
    const changes = (this.sharder()?.logs ?? []).map((l) => JSON.parse(l) as { msg?: string; members?: string }).filter((l) => l.msg === 'ring members changed');
    return changes.at(-1)?.members === want;
  }

  async stop(): Promise<void> {
    for (const r of this.replicas) if (r.alive) r.proc.kill('SIGKILL');
    await Promise.all(this.replicas.map((r) => r.exited));
  }
}

/** Resolves once `check` holds, checked after every line of every process. */
type Until = (what: string, check: () => boolean, timeoutMs: number) => Promise<unknown>;

/** Sends SIGUSR2 to each process and waits for the `heap` line it prints after `after`. */
async function sampleHeaps(replicas: Replica[], until: Until): Promise<{ heap: number; objects: number }[]> {
  const after = wallClock();
  for (const r of replicas) r.proc.kill('SIGUSR2');
  await until('heap lines', () => replicas.every((r) => r.first('heap', after)), 30_000);
  return replicas.map((r) => {
    const l = r.first('heap', after)!;
    return { heap: Number(l.rest[0]), objects: Number(l.rest[1]) };
  });
}

const step = (what: string) => {
  if (process.env.SHARD_BENCH_VERBOSE) console.error(`[sharding] ${new Date().toISOString()} ${what}`);
};

async function trial(cluster: LocalCluster, client: Client, setup: Setup, rep: number, objects: number, cpuMs: number, mode: 'yield' | 'spin', dataBytes: number): Promise<Trial> {
  const label = setup.kind === 'sharded' ? `${setup.members} member${setup.members > 1 ? 's' : ''}` : 'unsharded';
  const ns = `shard-bench-${setup.kind === 'sharded' ? setup.members : 'none'}-${rep}`;
  step(`${label} #${rep}: namespace ${ns}`);
  await Api.all(client, Namespaces).create({ metadata: { name: ns } });
  const cms = Api.namespaced(client, ConfigMaps, ns);
  const env = { ...process.env, KUBECONFIG: cluster.kubeconfigPath };
  const L = shardLabel(RING);

  // The processes, ready to work before the first object exists.
  const procs = new Processes({ ...env, KUBELOOP_LOG: 'error,kubeloop::sharding=info,kubeloop::leader=warn' }, ns, cpuMs, mode);
  const until: Until = (what, check, timeoutMs) => procs.until(what, check, timeoutMs);
  const replicas = setup.kind === 'sharded' ? Array.from({ length: setup.members }, (_, i) => procs.start(RING, `member-${i + 1}`)) : [procs.start('-', 'unsharded')];
  let sharderName = '';
  try {
    if (setup.kind === 'sharded') {
      const leases = Api.namespaced(client, Leases, ns);
      await waitFor(`${setup.members} member Leases held`, async () => (await leases.list({ labelSelector: `${RING_LABEL}=${RING}` })).items.filter((l) => l.spec?.holderIdentity).length === setup.members, 60_000);
      step('member Leases held');
      await until('the sharder to see every member', () => procs.sharderSees(replicas.map((r) => r.name)), 60_000);
      sharderName = procs.sharder()?.name ?? '';
    }
    await until('probe ports', () => replicas.every((r) => r.first('metrics-port')), 30_000);
    await waitFor('/readyz of every process', async () => {
      const codes = await Promise.all(replicas.map(async (r) => (await fetch(`http://127.0.0.1:${r.first('metrics-port')!.t}/readyz`)).status));
      return codes.every((c) => c === 200);
    }, 60_000);
    step('ready');
    const idle = await sampleHeaps(replicas, until);

    // When each object first carries its shard label, from a watch of our own.
    const labelledAt = new Map<string, number>();
    const watchAbort = new AbortController();
    const start = await cms.listMetadata({ labelSelector: 'app=sharded' });
    const watching = (async () => {
      if (setup.kind !== 'sharded') return;
      for await (const e of cms.watchMetadata({ labelSelector: 'app=sharded', resourceVersion: start.metadata?.resourceVersion, signal: watchAbort.signal })) {
        if (e.type !== 'ADDED' && e.type !== 'MODIFIED') continue;
        const name = e.object.metadata?.name ?? '';
        if (e.object.metadata?.labels?.[L] && !labelledAt.has(name)) labelledAt.set(name, wallClock());
      }
    })().catch((e: Error) => {
      if (!watchAbort.signal.aborted) console.error(`[sharding] watch failed: ${e.message}`);
    });

    const pids = replicas.flatMap((r) => (r.proc.pid === undefined ? [] : [r.proc.pid]));
    const cpu = () => ({ members: pids.reduce((s, p) => s + cpuOf(p), 0), controlPlane: cluster.pids().reduce((s, p) => s + cpuOf(p), 0), harness: process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6 });
    const cpu0 = cpu();
    const load = [loadavg()[0]!];

    const names = Array.from({ length: objects }, (_, i) => `obj-${String(i).padStart(5, '0')}`);
    const createdAt = new Map<string, number>();
    const t0 = wallClock();
    for (let i = 0; i < names.length; i += BATCH) {
      await Promise.all(
        names.slice(i, i + BATCH).map(async (name) => {
          await cms.create({ metadata: { name, labels: { app: 'sharded' } }, ...(dataBytes > 0 ? { data: { payload: 'x'.repeat(dataBytes) } } : {}) });
          createdAt.set(name, wallClock());
        }),
      );
    }
    const createMs = wallClock() - t0;
    step('created');

    // Every object's first reconcile finished, as the processes' own lines tell.
    const firsts = () => {
      const started = new Map<string, number>();
      const finished = new Map<string, number>();
      const by = new Map<string, Set<string>>();
      let reconciles = 0;
      for (const r of replicas) {
        for (const l of r.lines) {
          const key = l.rest[0]!;
          if (l.kind === 'reconcile') {
            reconciles++;
            if (!(started.get(key)! <= l.t)) started.set(key, l.t);
            (by.get(key) ?? by.set(key, new Set()).get(key)!).add(r.name);
          } else if (l.kind === 'reconciled' && !(finished.get(key)! <= l.t)) finished.set(key, l.t);
        }
      }
      return { started, finished, by, reconciles };
    };
    // A process that exits (a member that lost its Lease) fails the trial rather than stalling it.
    for (const deadline = Date.now() + 600_000; firsts().finished.size < objects; await new Promise((r) => setTimeout(r, 250))) {
      const dead = replicas.filter((r) => !r.alive);
      if (dead.length > 0) throw new Error(`${label} #${rep}: ${dead.map((r) => `${r.name} exited (${r.all('member-lost').map((l) => l.rest.join(' ')).join('; ') || 'no member-lost line'})`).join(', ')}`);
      if (Date.now() > deadline) throw new Error(`${label} #${rep}: timed out waiting for ${objects} objects reconciled (${firsts().finished.size} were)`);
    }
    const cpu1 = cpu();
    step('converged');
    const { started, finished, by, reconciles } = firsts();
    const convergedMs = Math.max(...finished.values()) - t0;
    // Settle a moment (the last reconciles' garbage), then sample the heap once converged.
    await new Promise((r) => setTimeout(r, 1000));
    const heaps = await sampleHeaps(replicas, until);
    const reconciledBy = replicas.map((r) => new Set(r.all('reconcile').map((l) => l.rest[0])).size);
    load.push(loadavg()[0]!);

    // The assignment delay without a backlog: objects created one at a time into the idle ring.
    step('trickle');
    const quiet = { labelled: [] as number[], reconcile: [] as number[] };
    for (let i = 0; i < TRICKLE; i++) {
      const name = `quiet-${String(i).padStart(3, '0')}`;
      const sent = wallClock();
      await cms.create({ metadata: { name, labels: { app: 'sharded' } } });
      const at = wallClock();
      const first = () => replicas.flatMap((r) => r.all('reconcile', sent)).find((l) => l.rest[0] === `${ns}/${name}`);
      await until(`${name} reconciled`, () => Boolean(first()), 30_000);
      quiet.reconcile.push(first()!.t - at);
      if (setup.kind === 'sharded') {
        for (let w = 0; !labelledAt.has(name) && w < 250; w++) await new Promise((r) => setTimeout(r, 20));
        if (labelledAt.has(name)) quiet.labelled.push(labelledAt.get(name)! - at);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    watchAbort.abort();
    await watching;
    step('watch closed');

    const key = (n: string) => `${ns}/${n}`;
    const delays = (at: Map<string, number>, k: (n: string) => string) => {
      const d = names.filter((n) => at.has(k(n))).map((n) => at.get(k(n))! - createdAt.get(n)!);
      return { p50: round(quantile(d, 0.5)), p99: round(quantile(d, 0.99)), max: round(Math.max(...d)) };
    };
    const members = cpu1.members - cpu0.members;
    const controlPlane = cpu1.controlPlane - cpu0.controlPlane;
    const harness = cpu1.harness - cpu0.harness;
    const result: Trial = {
      setup: label,
      members: setup.kind === 'sharded' ? setup.members : 1,
      objects,
      cpuMs,
      convergedMs: round(convergedMs),
      objectsPerSecond: round(objects / (convergedMs / 1000)),
      createMs: round(createMs),
      ...(setup.kind === 'sharded' ? { labelledMs: delays(labelledAt, (n) => n) } : {}),
      firstReconcileMs: delays(started, key),
      quiet: { ...(setup.kind === 'sharded' ? { labelledP50: round(quantile(quiet.labelled, 0.5)), labelledMax: round(Math.max(...quiet.labelled)) } : {}), firstReconcileP50: round(quantile(quiet.reconcile, 0.5)), firstReconcileMax: round(Math.max(...quiet.reconcile)) },
      byMoreThanOne: [...by.values()].filter((s) => s.size > 1).length,
      reconciles,
      cpuSeconds: { members: round(members, 2), controlPlane: round(controlPlane, 2), harness: round(harness, 2), total: round(members + controlPlane + harness, 2), coresBusy: round((members + controlPlane + harness) / (convergedMs / 1000), 2) },
      processes: replicas.map((r, i) => ({
        name: r.name,
        sharder: r.name === sharderName,
        idleHeap: idle[i]!.heap,
        heap: heaps[i]!.heap,
        objects: heaps[i]!.objects,
        reconciled: reconciledBy[i]!,
      })),
      load: load.map((x) => round(x, 2)),
    };
    const heapText = result.processes.map((p) => `${p.name}${p.sharder ? '*' : ''} ${(p.heap / MiB).toFixed(1)} MiB/${p.objects}`).join(', ');
    console.error(
      `[sharding] ${label} #${rep}: ${objects} converged in ${(convergedMs / 1000).toFixed(2)} s (${result.objectsPerSecond}/s), created in ${(createMs / 1000).toFixed(2)} s, ` +
        `labelled p50 ${result.labelledMs?.p50 ?? '-'} ms p99 ${result.labelledMs?.p99 ?? '-'} ms, first reconcile p50 ${result.firstReconcileMs.p50} ms p99 ${result.firstReconcileMs.p99} ms, one at a time: labelled ${result.quiet.labelledP50 ?? '-'} ms, first reconcile ${result.quiet.firstReconcileP50} ms, ` +
        `cpu members ${result.cpuSeconds.members} s, control plane ${result.cpuSeconds.controlPlane} s, harness ${result.cpuSeconds.harness} s (${result.cpuSeconds.coresBusy} cores busy); heap ${heapText}; load ${result.load.join(' → ')}`,
    );
    return result;
  } finally {
    step('stopping');
    await procs.stop();
    step('stopped');
    await client.request({ verb: 'deletecollection', method: 'DELETE', path: `/api/v1/namespaces/${ns}/configmaps`, headers: {} }).catch(() => undefined);
    await Api.all(client, Namespaces).delete(ns).catch(() => undefined);
    step('deleted');
  }
}

interface Summary {
  setup: string;
  members: number;
  objectsPerSecond: number;
  convergedMs: number;
  speedup: number;
  labelledP50?: number;
  labelledP99?: number;
  firstReconcileP50: number;
  firstReconcileP99: number;
  quietLabelledP50?: number;
  quietFirstReconcileP50: number;
  cpu: Trial['cpuSeconds'];
  /** Heap after GC and objects cached per process, medians over the repetitions, the sharder first. */
  processes: { role: string; idleHeap: number; heap: number; objects: number; reconciled: number }[];
}

export function summarize(trials: Trial[]): Summary[] {
  const setups = [...new Set(trials.map((t) => t.setup))];
  const out = setups.map((setup): Summary => {
    const ts = trials.filter((t) => t.setup === setup);
    const med = (f: (t: Trial) => number) => round(median(ts.map(f)), 2);
    // Per role: the sharder (when there is one), then the other members ordered by objects cached.
    const ordered = ts.map((t) => [...t.processes].sort((a, b) => Number(b.sharder) - Number(a.sharder) || b.objects - a.objects));
    const processes = ordered[0]!.map((p, i) => ({
      role: setup === 'unsharded' ? 'all objects' : p.sharder ? 'sharder + member' : 'member',
      idleHeap: median(ordered.map((o) => o[i]!.idleHeap)),
      heap: median(ordered.map((o) => o[i]!.heap)),
      objects: median(ordered.map((o) => o[i]!.objects)),
      reconciled: median(ordered.map((o) => o[i]!.reconciled)),
    }));
    return {
      setup,
      members: ts[0]!.members,
      objectsPerSecond: med((t) => t.objectsPerSecond),
      convergedMs: med((t) => t.convergedMs),
      speedup: 0,
      ...(ts[0]!.labelledMs ? { labelledP50: med((t) => t.labelledMs!.p50), labelledP99: med((t) => t.labelledMs!.p99) } : {}),
      firstReconcileP50: med((t) => t.firstReconcileMs.p50),
      firstReconcileP99: med((t) => t.firstReconcileMs.p99),
      ...(ts[0]!.quiet.labelledP50 !== undefined ? { quietLabelledP50: med((t) => t.quiet.labelledP50!) } : {}),
      quietFirstReconcileP50: med((t) => t.quiet.firstReconcileP50),
      cpu: {
        members: med((t) => t.cpuSeconds.members),
        controlPlane: med((t) => t.cpuSeconds.controlPlane),
        harness: med((t) => t.cpuSeconds.harness),
        total: med((t) => t.cpuSeconds.total),
        coresBusy: med((t) => t.cpuSeconds.coresBusy),
      },
      processes,
    };
  });
  const one = out.find((s) => s.setup === '1 member');
  for (const s of out) s.speedup = one ? round(s.objectsPerSecond / one.objectsPerSecond, 2) : Number.NaN;
  return out;
}

export function tables(summary: Summary[], objects: number, cpuMs: number): string {
  const mib = (n: number) => (n / MiB).toFixed(1);
  const ms = (n: number | undefined) => (n === undefined ? '–' : n.toFixed(0));
  return [
    `${objects} ConfigMaps, a reconcile spends ${cpuMs} ms on the CPU; medians over the repetitions.`,
    '',
    '| setup | objects/s converged | converged after, s | vs 1 member | labelled p50 / p99, ms | first reconcile p50 / p99, ms | one at a time: labelled / first reconcile p50, ms | CPU s: members / API server + etcd / harness | cores busy |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...summary.map(
      (s) =>
        `| ${s.setup} | ${s.objectsPerSecond.toFixed(0)} | ${(s.convergedMs / 1000).toFixed(2)} | ${s.speedup.toFixed(2)}× | ${ms(s.labelledP50)} / ${ms(s.labelledP99)} | ${ms(s.firstReconcileP50)} / ${ms(s.firstReconcileP99)} | ${ms(s.quietLabelledP50)} / ${ms(s.quietFirstReconcileP50)} | ${s.cpu.members.toFixed(1)} / ${s.cpu.controlPlane.toFixed(1)} / ${s.cpu.harness.toFixed(1)} | ${s.cpu.coresBusy.toFixed(2)} |`,
    ),
    '',
    '| setup | process | heap used after GC, idle → converged, MiB | objects cached | objects reconciled |',
    '| --- | --- | ---: | ---: | ---: |',
    ...summary.flatMap((s) => s.processes.map((p) => `| ${s.setup} | ${p.role} | ${mib(p.idleHeap)} → ${mib(p.heap)} | ${p.objects} | ${p.reconciled} |`)),
  ].join('\n');
}

async function main(): Promise<void> {
  const objects = Number(process.argv[2] ?? 2000);
  const cpuMs = Number(process.argv[3] ?? 20);
  const reps = Number(process.env.SHARD_BENCH_REPS ?? 3);
  const mode = process.env.SHARD_BENCH_SPIN ? 'spin' : 'yield';
  const dataBytes = Number(process.env.SHARD_BENCH_DATA_BYTES ?? 0);
  const setups: Setup[] = (process.env.SHARD_BENCH_SETUPS ?? 'unsharded,1,2,3').split(',').map((s) => (s === 'unsharded' ? { kind: 'unsharded' } : { kind: 'sharded', members: Number(s) }));
  const loadBefore = loadavg().map((x) => round(x, 2));
  const cluster = await LocalCluster.start();
  const client = adminClient(cluster);
  const trials: Trial[] = [];
  const failures: { setup: string; rep: number; attempt: number; error: string }[] = [];
  try {
    for (let rep = 1; rep <= reps; rep++) {
      for (const setup of setups) {
        // A trial in which a member lost its Lease (CPU starvation on a shared machine) is recorded and run again, once.
        for (let attempt = 1; attempt <= 2; attempt++) {
          try {
            trials.push(await trial(cluster, client, setup, rep + (attempt - 1) * 100, objects, cpuMs, mode, dataBytes));
            break;
          } catch (e) {
            failures.push({ setup: setup.kind === 'sharded' ? `${setup.members} members` : 'unsharded', rep, attempt, error: (e as Error).message.split('\n')[0]! });
            console.error(`[sharding] trial failed: ${(e as Error).message.split('\n')[0]}`);
          }
        }
      }
    }
  } finally {
    await client.close();
    await cluster.stop();
  }
  const summary = summarize(trials);
  const loadAfter = loadavg().map((x) => round(x, 2));
  writeFileSync(
    join(root, process.env.SHARD_BENCH_OUT ?? 'bench/sharding/results.json'),
    `${JSON.stringify({ node: process.version, date: new Date().toISOString(), objects, cpuMs, mode, dataBytes, reps, cores: (await import('node:os')).availableParallelism(), load: { before: loadBefore, after: loadAfter }, summary, failures, trials }, null, 2)}\n`,
  );
  console.log(tables(summary, objects, cpuMs));
  if (failures.length > 0) console.log(`\nfailed trials (each run again): ${failures.map((f) => `${f.setup} #${f.rep}: ${f.error}`).join('; ')}`);
  console.log(`\nload average (1/5/15 min) before ${loadBefore.join(' ')}, after ${loadAfter.join(' ')}`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
