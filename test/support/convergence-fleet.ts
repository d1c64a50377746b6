/**
 * Replicas of test/fixtures/convergence-replica.ts, each its own OS process, whose
 * lines feed one Ledger: the oracle then judges what the replicas reconciled
 * together, by the wall clock they all stamp their lines with.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Ledger } from './convergence-oracle.js';
import { Waiter } from './controller.js';
import { wallClock } from './leader-fleet.js';

const fixture = fileURLToPath(new URL('../fixtures/convergence-replica.js', import.meta.url));

export class ConvergenceReplica {
  identity = '';
  /** Its leadership as its own lines tell: when it last started leading, and when that ended. */
  leadingAt?: number;
  stoppedAt?: number;
  /** When the test saw it exit (wall clock). */
  exitedAt?: number;
  /** Lines that are not reconcile reports, for failure messages. */
  readonly log: string[] = [];
  readonly exited: Promise<void>;

  constructor(
    readonly name: string,
    readonly proc: ChildProcess,
    ledger: Ledger,
    waiter: Waiter,
  ) {
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const [kind = '', t = '', ...rest] = line.split(' ');
      const at = Number(t);
      switch (kind) {
        case 'identity': this.identity = t; break;
        case 'leading': this.leadingAt = at; this.stoppedAt = undefined; break;
        case 'stopped': this.stoppedAt = at; break;
        case 'saw': {
          const [uid = '', objName = '', resourceVersion = '', gen = ''] = rest;
          ledger.saw({ uid, name: objName, resourceVersion, gen }, at);
          break;
        }
        case 'finalized': ledger.finalized(rest[0]!, rest[1]!, at); break;
        case 'cleanup': ledger.cleanedUp(rest[0]!, rest[1]!, at); break;
        case 'concurrent': ledger.concurrent(`${rest[0]} (in ${this.name})`, at); break;
        case 'notfound': ledger.objectNotFound(rest[0]!, at); break;
      }
      if (kind !== 'saw' && kind !== 'finalized' && kind !== 'cleanup') this.log.push(line);
      waiter.notify();
    });
    this.exited = new Promise((resolve) => {
      proc.on('close', () => {
        this.exitedAt = wallClock();
        waiter.notify();
        resolve();
      });
    });
  }

  get alive(): boolean {
    return this.exitedAt === undefined;
  }

  /** Leading now, as far as its own lines tell. */
  get leading(): boolean {
    return this.alive && this.leadingAt !== undefined && this.stoppedAt === undefined;
  }

  /** When its last leadership ended: its `stopped` line, or its exit. */
  get leadershipEndedAt(): number | undefined {
    return this.stoppedAt ?? this.exitedAt;
  }
}

export class ConvergenceFleet {
  readonly replicas: ConvergenceReplica[] = [];
  private readonly waiter = new Waiter();

  constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly namespace: string,
    private readonly lease: string,
    private readonly ledger: Ledger,
  ) {}

  start(): ConvergenceReplica {
    const proc = spawn(process.execPath, [fixture, this.namespace, this.lease], { env: { ...this.env, KUBELOOP_LOG: 'error' }, stdio: ['ignore', 'pipe', 'inherit'] });
    const replica = new ConvergenceReplica(`r${this.replicas.length + 1}`, proc, this.ledger, this.waiter);
    this.replicas.push(replica);
    return replica;
  }

  /** The replica leading now, once one does (checked after every line and exit). */
  async leader(what: string, accept: (r: ConvergenceReplica) => boolean = () => true, timeoutMs = 20_000): Promise<ConvergenceReplica> {
    const find = () => this.replicas.find((r) => r.leading && accept(r));
    try {
      await this.waiter.until(what, () => find() !== undefined, timeoutMs);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${this.describe()}`);
    }
    return find()!;
  }

  describe(): string {
    return this.replicas.map((r) => `${r.name} (${r.identity}, exited ${r.exitedAt?.toFixed(0) ?? 'no'}):\n  ${r.log.join('\n  ')}`).join('\n');
  }

  /** Kills whatever still runs and waits for the exits. */
  async stop(): Promise<void> {
    for (const r of this.replicas) if (r.alive) r.proc.kill('SIGKILL');
    await Promise.all(this.replicas.map((r) => r.exited));
  }
}
