/**
 * The writer of the convergence suite: creates, changes and deletes ConfigMaps
 * while faults are injected. Every object gets a name never used before, so a
 * name identifies one object for the whole trial (an `ObjectNotFoundError` for
 * a name can be judged against what happened to that one object), and every
 * change sets `data.gen` to a number never written before.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import { ApiError, Patch, type Api, type Status } from '../../src/index.js';
import { Waiter } from './controller.js';
import { wallClock } from './leader-fleet.js';

export interface WriterOptions {
  /** Concurrent writers. Default 2. */
  workers?: number;
  /** Below this many live objects the writer only creates; above `maxLive` it only deletes. Default 8 and 20. */
  minLive?: number;
  maxLive?: number;
  /** Pause between one writer's operations: a random delay up to this. Default 40 ms. */
  maxPauseMs?: number;
  /** Stops the writers too (a test context's `signal`). */
  signal?: AbortSignal;
}

export class Writer {
  /** Writes the server accepted. */
  writes = 0;
  /** Writes that failed other than by a miss (the server was down or cut off). */
  failures = 0;
  /** When the last write was sent (wall clock, ms). */
  lastWriteAt = 0;
  /** Name → when its delete was sent (wall clock, ms). */
  readonly deletedAt = new Map<string, number>();
  /** Names whose delete answered that the object was removed at once (no finalizer held it). */
  readonly deletedAtOnce = new Set<string>();
  /** Name → the writes to it, as `[wall clock ms, what]`, for the details of a miss. */
  readonly history = new Map<string, [number, string][]>();
  /** Notified after every write attempt. */
  readonly waiter = new Waiter();
  private readonly live: string[] = [];
  private seq = 0;
  private gen = 0;
  private running = false;
  private loops: Promise<void>[] = [];

  constructor(
    private readonly api: Api<ConfigMap>,
    private readonly prefix: string,
    private readonly options: WriterOptions = {},
  ) {}

  /** Creates `n` objects before the controller starts. */
  async seed(n: number): Promise<void> {
    await Promise.all(Array.from({ length: n }, () => this.create()));
  }

  start(): this {
    this.running = true;
    this.loops = Array.from({ length: this.options.workers ?? 2 }, () => this.loop());
    return this;
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  /** Resolves once `n` more writes were accepted than when it was called. */
  async accepted(n: number, timeoutMs = 30_000): Promise<void> {
    const target = this.writes + n;
    await this.waiter.until(`${n} accepted writes`, () => this.writes >= target, timeoutMs);
  }

  /**
   * The last writes of a trial, made one by one once the churn stopped: objects
   * created, changed and deleted. Returns their names.
   */
  async finalRound(counts = { create: 2, change: 2, delete: 1 }): Promise<{ created: string[]; changed: string[]; deleted: string[] }> {
    const changed = this.pick(counts.change);
    const deleted = this.pick(counts.delete, changed);
    const created: string[] = [];
    for (let i = 0; i < counts.create; i++) created.push(await this.create(true));
    for (const name of changed) await this.change(name, true);
    for (const name of deleted) await this.delete(name, true);
    return { created, changed, deleted };
  }

  /** Names of objects the writer believes live now. */
  names(): string[] {
    return [...this.live];
  }

  private pick(n: number, except: string[] = []): string[] {
    return this.live.filter((name) => !except.includes(name)).sort(() => Math.random() - 0.5).slice(0, n);
  }

  private async loop(): Promise<void> {
    const { minLive = 8, maxLive = 20, maxPauseMs = 40, signal } = this.options;
    while (this.running && !signal?.aborted) {
      const r = Math.random();
      const name = this.live[Math.floor(Math.random() * this.live.length)];
      try {
        if (this.live.length < minLive || name === undefined || (r < 0.3 && this.live.length < maxLive)) await this.create();
        else if (this.live.length > maxLive || r > 0.85) await this.delete(name);
        else await this.change(name);
      } catch {
        this.failures++;
        await sleep(100);
      }
      this.waiter.notify();
      await sleep(Math.random() * maxPauseMs);
    }
  }

  private async create(strict = false): Promise<string> {
    const name = `${this.prefix}-${String(++this.seq).padStart(3, '0')}`;
    const gen = String(++this.gen);
    await this.write(name, `create gen ${gen}`, strict, () => this.api.create({ metadata: { name }, data: { gen } }));
    this.live.push(name);
    return name;
  }

  private async change(name: string, strict = false): Promise<void> {
    const gen = String(++this.gen);
    await this.write(name, `change to gen ${gen}`, strict, () => this.api.patch(name, Patch.merge({ data: { gen } })));
  }

  private async delete(name: string, strict = false): Promise<void> {
    // Out of the pool first: nobody changes an object that is going.
    this.live.splice(this.live.indexOf(name), 1);
    this.deletedAt.set(name, wallClock());
    await this.write(name, 'delete', strict, async () => {
      const answer = await this.api.delete(name);
      if (answer.kind === 'Status' || !(answer as ConfigMap).metadata?.deletionTimestamp) this.deletedAtOnce.add(name);
      return answer;
    });
  }

  /** Counts an accepted write; a 404 is a miss (the object went meanwhile). Other errors throw. */
  private async write(name: string, what: string, strict: boolean, op: () => Promise<ConfigMap | Status>): Promise<void> {
    const h = this.history.get(name) ?? [];
    this.history.set(name, h);
    this.lastWriteAt = wallClock();
    h.push([this.lastWriteAt, `${what} sent`]);
    try {
      const answer = await op();
      const m = answer.kind === 'Status' ? undefined : (answer as ConfigMap).metadata;
      h.push([wallClock(), `${what} done${m ? `: rv ${m.resourceVersion}${m.deletionTimestamp ? ', deleting' : ''} finalizers ${JSON.stringify(m.finalizers ?? [])}` : ''}`]);
      this.writes++;
    } catch (e) {
      h.push([wallClock(), `${what} failed: ${(e as Error).message}`]);
      if (strict || !(e instanceof ApiError && e.code === 404)) throw e;
    }
  }
}
