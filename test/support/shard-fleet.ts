/**
 * Shard ring members as OS processes (test/fixtures/shard-replica.ts), and the
 * checks the sharding tests make on what they printed: which object each
 * reconciled when, and whether two ever reconciled one object at once.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Waiter } from './controller.js';
import { Replica, wallClock } from './leader-fleet.js';

const fixture = fileURLToPath(new URL('../fixtures/shard-replica.js', import.meta.url));

/** One reconcile of one object by one replica, from its start to its end (or the replica's exit). */
export interface Run {
  replica: Replica;
  key: string;
  start: number;
  end: number;
}

export class ShardFleet {
  readonly replicas: Replica[] = [];
  private readonly waiter = new Waiter();
  private count = 0;

  constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly namespace: string,
    readonly ring: string,
    private readonly workMs = 5,
    private readonly workMode: 'sleep' | 'cpu' = 'sleep',
  ) {}

  start(): Replica {
    const n = ++this.count;
    const proc = spawn(process.execPath, ['--expose-gc', fixture, this.namespace, this.ring, `member-${n}`, String(this.workMs), this.workMode], {
      env: { ...this.env, KUBELOOP_LOG: process.env.SHARD_LOG ?? 'error,kubeloop::sharding=info,kubeloop::leader=warn' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const replica = new Replica(`member-${n}`, proc, this.waiter);
    this.replicas.push(replica);
    return replica;
  }

  /** The replica's /metrics URL, once it printed its port. */
  metricsUrl(replica: Replica): string | undefined {
    const port = replica.first('metrics-port')?.t;
    return port === undefined ? undefined : `http://127.0.0.1:${port}/metrics`;
  }

  get alive(): Replica[] {
    return this.replicas.filter((r) => r.alive);
  }

  byIdentity(identity: string): Replica | undefined {
    return this.replicas.find((r) => r.name === identity);
  }

  /** The replica holding the sharder role now, as their own lines tell. */
  sharder(): Replica | undefined {
    return this.alive.find((r) => r.lines.filter((l) => l.kind === 'sharder').at(-1)?.rest[0] === 'on');
  }

  /** Whether the sharder (whoever it is) has logged `members` as the ring's members. */
  sharderSees(members: string[]): boolean {
    const want = [...members].sort().join(',');
    return this.alive.some((r) => {
      const changes = r.logs.map((l) => JSON.parse(l) as { msg?: string; members?: string }).filter((l) => l.msg === 'ring members changed');
      return changes.at(-1)?.members === want && r === this.sharder();
    });
  }

  async until<T>(what: string, check: () => T | undefined | false, timeoutMs = 30_000): Promise<T> {
    let value: T | undefined | false;
    try {
      await this.waiter.until(what, () => Boolean((value = check())), timeoutMs);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${this.replicas.map((r) => `${r.name}: ${r.lines.length} lines, alive ${r.alive}; last logs:\n  ${r.logs.slice(-5).join('\n  ')}`).join('\n')}`);
    }
    return value as T;
  }

  /** Every reconcile every replica ran, by object. */
  runs(): Map<string, Run[]> {
    const out = new Map<string, Run[]>();
    for (const replica of this.replicas) {
      const open = new Map<string, number>();
      for (const l of replica.lines) {
        const key = l.rest[0]!;
        if (l.kind === 'reconcile') open.set(key, l.t);
        if (l.kind === 'reconciled' && open.has(key)) {
          push(out, { replica, key, start: open.get(key)!, end: l.t });
          open.delete(key);
        }
      }
      // Killed mid-reconcile: the run lasted until the process was gone.
      for (const [key, start] of open) push(out, { replica, key, start, end: replica.exitedAt ?? Number.POSITIVE_INFINITY });
    }
    return out;
  }

  /** Reconciles of one object by two replicas at once (should be none). */
  overlaps(): string[] {
    const problems: string[] = [];
    for (const [key, runs] of this.runs()) {
      const sorted = runs.sort((a, b) => a.start - b.start);
      for (const [i, a] of sorted.entries()) {
        for (const b of sorted.slice(i + 1)) {
          if (b.start >= a.end) break;
          if (a.replica !== b.replica) problems.push(`${key}: ${a.replica.name} ${a.start.toFixed(1)}..${a.end.toFixed(1)} and ${b.replica.name} ${b.start.toFixed(1)}..${b.end.toFixed(1)}`);
        }
      }
    }
    return problems;
  }

  /** Per object, the replica that reconciled it last (one pass over the lines: called while children wait to be read). */
  lastRuns(): Map<string, Run> {
    const out = new Map<string, Run>();
    for (const [key, runs] of this.runs()) out.set(key, runs.reduce((a, b) => (b.start > a.start ? b : a)));
    return out;
  }

  async stop(): Promise<void> {
    for (const r of this.replicas) if (r.alive) r.proc.kill('SIGKILL');
    await Promise.all(this.replicas.map((r) => r.exited));
  }
}

function push(map: Map<string, Run[]>, run: Run): void {
  const list = map.get(run.key);
  if (list) list.push(run);
  else map.set(run.key, [run]);
}

export { wallClock };
