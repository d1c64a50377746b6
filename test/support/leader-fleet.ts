import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Waiter } from './controller.js';

const fixture = fileURLToPath(new URL('../fixtures/leader-child.js', import.meta.url));

/** The wall clock every process on this machine shares, in ms (what the fixture stamps its lines with). */
export const wallClock = (): number => performance.timeOrigin + performance.now();

/** One line of a replica: `<kind> <t> <rest...>` (the `identity <id>` line only sets `identity`). */
export interface ReplicaLine {
  kind: string;
  t: number;
  rest: string[];
}

/** A leadership interval of one replica: from `leading` to `stopped`, or to its exit when it was killed. */
export interface Interval {
  replica: string;
  start: number;
  end: number;
}

/** One fixture process (test/fixtures/leader-child.ts). */
export class Replica {
  readonly lines: ReplicaLine[] = [];
  /** Its JSON log lines (kubeloop::leader at info), for failure messages. */
  readonly logs: string[] = [];
  identity = '';
  /** When the test saw it exit (stdio closed), on the wall clock. */
  exitedAt?: number;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly name: string,
    readonly proc: ChildProcess,
    waiter: Waiter,
  ) {
    createInterface({ input: proc.stdout! }).on('line', (l) => {
      if (l.startsWith('{')) this.logs.push(l);
      else {
        const [kind = '', t = '', ...rest] = l.split(' ');
        if (kind === 'identity') this.identity = t;
        else this.lines.push({ kind, t: Number(t), rest });
      }
      waiter.notify();
    });
    this.exited = new Promise((resolve) => {
      proc.on('close', (code, signal) => {
        this.exitedAt = wallClock();
        waiter.notify();
        resolve({ code, signal });
      });
    });
  }

  /** Lines of `kind` stamped after `after`. */
  all(kind: string, after = 0): ReplicaLine[] {
    return this.lines.filter((l) => l.kind === kind && l.t > after);
  }

  first(kind: string, after = 0): ReplicaLine | undefined {
    return this.lines.find((l) => l.kind === kind && l.t > after);
  }

  get alive(): boolean {
    return this.exitedAt === undefined;
  }

  /** Leading now, as far as its own lines tell. */
  get leading(): boolean {
    const marks = this.lines.filter((l) => l.kind === 'leading' || l.kind === 'stopped');
    return this.alive && marks.at(-1)?.kind === 'leading';
  }

  /**
   * Its leadership intervals. One ends at `stopped`, or — if it was killed while
   * leading — when it exited; with onLost 'recampaign' a reconcile already running
   * may finish after `stopped`, so the interval lasts until then.
   */
  intervals(): Interval[] {
    const out: Interval[] = [];
    let start: number | undefined;
    for (const l of this.lines) {
      if (l.kind === 'leading') start = l.t;
      if (l.kind === 'stopped' && start !== undefined) {
        const inside = (kind: string) => this.lines.filter((x) => x.kind === kind && x.t >= start! && x.t <= l.t).length;
        const unfinished = inside('reconcile') > inside('reconciled');
        const finishedAt = unfinished ? this.first('reconciled', l.t)?.t : undefined;
        out.push({ replica: this.name, start, end: unfinished ? (finishedAt ?? this.exitedAt ?? Number.POSITIVE_INFINITY) : l.t });
        start = undefined;
      }
    }
    if (start !== undefined) out.push({ replica: this.name, start, end: this.exitedAt ?? Number.POSITIVE_INFINITY });
    return out;
  }

  /** Reconciles it started while not leading (should be none). */
  reconcilesOutsideLeadership(): ReplicaLine[] {
    const led = this.intervals();
    return this.all('reconcile').filter((r) => !led.some((i) => r.t >= i.start && r.t <= i.end && !this.lines.some((s) => s.kind === 'stopped' && s.t > i.start && s.t < r.t)));
  }

  kill(signal: NodeJS.Signals): number {
    const at = wallClock();
    this.proc.kill(signal);
    return at;
  }

  describe(): string {
    return `${this.name} (${this.identity}):\n  ${this.lines.map((l) => `${l.kind} ${l.t.toFixed(0)} ${l.rest.join(' ')}`).join('\n  ')}\n  logs:\n  ${this.logs.join('\n  ')}`;
  }
}

/** The replicas of one test, with one waiter that every line of every replica notifies. */
export class Fleet {
  readonly replicas: Replica[] = [];
  private readonly waiter = new Waiter();
  private count = 0;

  constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly namespace: string,
    private readonly lease: string,
  ) {}

  /** Starts a replica; `server` points it at another URL (a proxy) than the kubeconfig's. */
  start(options: { mode?: 'exit' | 'recampaign'; server?: string } = {}): Replica {
    const args = [fixture, this.namespace, this.lease, options.mode ?? 'exit', ...(options.server ? [options.server] : [])];
    const proc = spawn(process.execPath, args, { env: { ...this.env, KUBELOOP_LOG: 'error,kubeloop::leader=info' }, stdio: ['ignore', 'pipe', 'inherit'] });
    const replica = new Replica(`r${++this.count}`, proc, this.waiter);
    this.replicas.push(replica);
    return replica;
  }

  /** Resolves once `check` holds (checked after every line and exit); rejects after `timeoutMs` with every replica's lines. */
  async until<T>(what: string, check: () => T | undefined | false, timeoutMs = 20_000): Promise<T> {
    let value: T | undefined | false;
    try {
      await this.waiter.until(what, () => Boolean((value = check())), timeoutMs);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${this.replicas.map((r) => r.describe()).join('\n')}`);
    }
    return value as T;
  }

  /** The replica that printed `leading` after `after`, once one did. */
  nextLeader(after: number, timeoutMs = 20_000): Promise<Replica> {
    return this.until(`a replica leading after ${after.toFixed(0)}`, () => this.replicas.find((r) => r.first('leading', after)), timeoutMs);
  }

  /** Every leadership interval of every replica, by start. */
  intervals(): Interval[] {
    return this.replicas.flatMap((r) => r.intervals()).sort((a, b) => a.start - b.start);
  }

  /** Kills whatever still runs and waits for the exits. For after hooks. */
  async stop(): Promise<void> {
    for (const r of this.replicas) if (r.alive) r.proc.kill('SIGKILL');
    await Promise.all(this.replicas.map((r) => r.exited));
  }
}

/** Pairs of intervals that overlap (should be none). */
export function overlaps(intervals: Interval[]): string[] {
  const problems: string[] = [];
  for (const [i, a] of intervals.entries()) {
    for (const b of intervals.slice(i + 1)) {
      if (a.start < b.end && b.start < a.end) problems.push(`${a.replica} led ${a.start.toFixed(1)}..${a.end.toFixed(1)} and ${b.replica} led ${b.start.toFixed(1)}..${b.end.toFixed(1)}`);
    }
  }
  return problems;
}
