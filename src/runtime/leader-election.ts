/**
 * Leader election on a `coordination.k8s.io/v1` Lease, the way client-go does it:
 * replicas campaign for one Lease, the holder renews it every retry period, and
 * the others take it over once it has not changed for a lease duration.
 *
 * Two rules make "never two leaders at once" hold without trusting clocks:
 *
 * - A follower judges expiry by its own monotonic clock, from when it last saw
 *   the lease record change (client-go's `observedTime`), never by the
 *   timestamps in the record: the holder's clock may be skewed.
 * - A leader stops leading `renewDeadlineMs` after it *sent* its last successful
 *   renewal. That write happened after the send, and a follower saw it even
 *   later, so the leader is gone at least `leaseDurationMs - renewDeadlineMs`
 *   before any follower can take the lease over.
 *
 * Every write is a replace with the resourceVersion last read: a 409 means
 * someone else wrote the Lease first.
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Lease, LeaseSpec } from 'kubernetes-types/coordination/v1.js';
import { Leases } from '../core/builtin.js';
import { ApiError, KubeloopError, isApiError } from '../core/errors.js';
import { Api } from '../client/api.js';
import type { Client } from '../client/client.js';
import { logger } from '../telemetry/log.js';
import { leaderElectionStatus } from '../telemetry/metrics.js';
import { withSpan } from '../telemetry/span.js';

const log = logger('kubeloop::leader');

/** client-go's JitterFactor: the renew deadline must leave room for more than one retry. */
const JITTER_FACTOR = 1.2;

export interface LeaderElectorOptions {
  /** The Lease's name, e.g. the operator's name. */
  name: string;
  /** The Lease's namespace, usually the operator's own (`POD_NAMESPACE`). */
  namespace: string;
  /** This replica's `holderIdentity`; unique per replica. Default: the hostname, `-`, and a random suffix. */
  identity?: string;
  /** How long followers wait, after they last saw the Lease change, before taking it over. Whole seconds. Default 15000. */
  leaseDurationMs?: number;
  /** The leader stops leading when it has not renewed for this long. Default 10000. */
  renewDeadlineMs?: number;
  /** How often the leader renews and followers check the Lease. Default 2000. */
  retryPeriodMs?: number;
  /** Labels the Lease gets when this elector creates it (a shard ring finds its members' Leases by them). */
  labels?: Record<string, string>;
}

export type ResolvedLeaderElectorOptions = Readonly<Required<LeaderElectorOptions>>;

/** Invalid leader election options. */
export class LeaderElectionConfigError extends KubeloopError {
  constructor(message: string) {
    super('ERR_LEADER_ELECTION_CONFIG', message);
  }
}

/** Why leadership ended: renewals failed for the renew deadline, another replica holds the Lease, or this replica stepped down. */
export type LeadershipLossReason = 'renew-deadline' | 'taken' | 'stepped-down';

/** The reason of the leadership signal when it aborts. */
export class LeadershipLostError extends KubeloopError {
  constructor(
    readonly reason: LeadershipLossReason,
    message: string,
  ) {
    super('ERR_LEADERSHIP_LOST', message);
  }
}

/** Events of a `LeaderElector`. */
export interface LeaderElectorEvents {
  /** This replica leads from now on. */
  leading: [];
  /** This replica stopped leading; emitted right after the leadership signal aborted. */
  lost: [error: LeadershipLostError];
  /** The Lease's holder changed, as observed by this replica (`''` when released). */
  leader: [identity: string];
  /** The Lease was handed back by `release()`. */
  released: [];
  /** An attempt to acquire or renew got no verdict (an API or transport error); the elector retries. */
  attemptFailed: [error: Error, phase: 'acquire' | 'renew'];
}

/** Checks and fills in the options; throws a `LeaderElectionConfigError` naming what is wrong. */
export function resolveLeaderElectorOptions(options: LeaderElectorOptions): ResolvedLeaderElectorOptions {
  const resolved = {
    identity: `${hostname()}-${randomBytes(4).toString('hex')}`,
    leaseDurationMs: 15_000,
    renewDeadlineMs: 10_000,
    retryPeriodMs: 2_000,
    labels: {},
    ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
  } as Required<LeaderElectorOptions>;
  const { name, namespace, identity, leaseDurationMs, renewDeadlineMs, retryPeriodMs } = resolved;
  if (typeof name !== 'string' || name === '') throw new LeaderElectionConfigError('leader election needs the name of the Lease.');
  if (typeof namespace !== 'string' || namespace === '') throw new LeaderElectionConfigError(`leader election on Lease ${name} needs its namespace.`);
  if (typeof identity !== 'string' || identity === '') throw new LeaderElectionConfigError('the leader election identity must not be empty.');
  for (const [key, value] of Object.entries({ leaseDurationMs, renewDeadlineMs, retryPeriodMs })) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new LeaderElectionConfigError(`${key} must be a positive number of milliseconds, not ${value}.`);
  }
  if (leaseDurationMs % 1000 !== 0) {
    throw new LeaderElectionConfigError(`leaseDurationMs must be a whole number of seconds (a Lease stores leaseDurationSeconds), not ${leaseDurationMs}.`);
  }
  if (leaseDurationMs <= renewDeadlineMs) {
    throw new LeaderElectionConfigError(`leaseDurationMs (${leaseDurationMs}) must be greater than renewDeadlineMs (${renewDeadlineMs}), so that a leader gives up before its lease expires for the others.`);
  }
  if (renewDeadlineMs <= JITTER_FACTOR * retryPeriodMs) {
    throw new LeaderElectionConfigError(`renewDeadlineMs (${renewDeadlineMs}) must be greater than ${JITTER_FACTOR} × retryPeriodMs (${JITTER_FACTOR} × ${retryPeriodMs} = ${+(JITTER_FACTOR * retryPeriodMs).toFixed(3)}), so that a leader gets more than one try to renew.`);
  }
  return Object.freeze(resolved);
}

/** A Lease timestamp: RFC 3339 with microseconds, as the API server's MicroTime wants it. */
const microTime = (): string => new Date().toISOString().replace(/Z$/, '000Z');

type Verdict = { kind: 'ours'; sentAt: number } | { kind: 'held'; holder: string; retryInMs: number } | { kind: 'conflict' } | { kind: 'taken'; holder: string };

/**
 * Campaigns for a Lease and keeps it while leading. One elector per Lease per process.
 *
 * @example
 * const elector = new LeaderElector(client, { name: 'my-operator', namespace: 'operators' });
 * const leadership = await elector.acquire(shutdown.signal); // resolves once leading
 * leadership.addEventListener('abort', () => process.exit(1)); // lost: stop at once
 * // ... lead ...
 * await elector.release(); // on graceful shutdown, after the work stopped: a follower takes over at once
 */
export class LeaderElector extends EventEmitter<LeaderElectorEvents> {
  readonly options: ResolvedLeaderElectorOptions;
  private readonly leases: Api<Lease>;
  private readonly gauge;
  private readonly fields: Record<string, string>;
  /** The last Lease read or written, and when (performance.now()) its current version was first seen. */
  private observed?: Lease;
  private observedAt = 0;
  private observedHolder?: string;
  private leadership?: AbortController;
  /** While leading: the instant (performance.now()) leadership ends unless a renewal succeeds first. */
  private leadingUntil = 0;
  private deadlineTimer?: NodeJS.Timeout;
  private campaigning = false;
  /** Each attempt gets half the renew deadline, so a leader whose connection stalled still gets another try. */
  private readonly attemptTimeoutMs: number;

  constructor(client: Client, options: LeaderElectorOptions) {
    super();
    this.options = resolveLeaderElectorOptions(options);
    this.leases = Api.namespaced(client, Leases, this.options.namespace);
    this.fields = { lease: `${this.options.namespace}/${this.options.name}`, identity: this.options.identity };
    this.gauge = leaderElectionStatus.labels({ lease: this.fields.lease! });
    this.gauge.set(0);
    this.attemptTimeoutMs = this.options.renewDeadlineMs / 2;
  }

  get identity(): string {
    return this.options.identity;
  }

  /** True while this replica leads: it holds the Lease and renewed it within the renew deadline. */
  get isLeader(): boolean {
    return this.leadership !== undefined && !this.leadership.signal.aborted && performance.now() < this.leadingUntil;
  }

  /** The holder of the Lease as last observed (`''` when nobody holds it), if it was read yet. */
  get leader(): string | undefined {
    return this.observedHolder;
  }

  /** `leaseTransitions` of the Lease as last observed: how many times it changed hands. */
  get transitions(): number | undefined {
    return this.observed?.spec?.leaseTransitions;
  }

  /**
   * Campaigns until this replica leads, then renews the Lease in the background.
   * Resolves with a signal that aborts (reason: a `LeadershipLostError`) when
   * leadership ends; stop leading work at once then. Aborting `signal` ends the
   * campaign (the promise rejects with its reason); it does not end leadership
   * once acquired — `release()` does.
   */
  async acquire(signal?: AbortSignal): Promise<AbortSignal> {
    if (this.isLeader) return this.leadership!.signal;
    if (this.campaigning) throw new Error(`acquire() is already campaigning for Lease ${this.fields.lease}; await that call.`);
    this.campaigning = true;
    const { retryPeriodMs, renewDeadlineMs } = this.options;
    log.info(this.fields, 'campaigning for the lease');
    let failures = 0;
    let lastError = '';
    try {
      for (;;) {
        signal?.throwIfAborted();
        const attempt = new Attempt(signal, this.attemptTimeoutMs);
        let verdict: Verdict;
        try {
          verdict =
            failures === 0
              ? await this.tryAcquireOrRenew(attempt.signal)
              : await withSpan('acquiring lease', { ...this.fields, failures, 'previous.error': lastError }, () => this.tryAcquireOrRenew(attempt.signal));
        } catch (e) {
          if (signal?.aborted) throw signal.reason;
          const error = attempt.error(e, 'acquire');
          failures++;
          lastError = error.message;
          log[failures === 1 ? 'warn' : 'debug']({ ...this.fields, error: error.message, failures }, 'failed to acquire the lease; retrying');
          this.emit('attemptFailed', error, 'acquire');
          await sleep(retryPeriodMs, undefined, { signal });
          continue;
        } finally {
          attempt.end();
        }
        if (failures > 0) log.info({ ...this.fields, failures }, 'reached the lease again');
        failures = 0;
        // The attempt's timeout keeps this true unless the event loop stalled; then the next attempt renews.
        signal?.throwIfAborted(); // cut short: a write that landed is for release() to hand back
        if (verdict.kind === 'ours' && verdict.sentAt + renewDeadlineMs > performance.now()) return this.becomeLeader(verdict.sentAt);
        await sleep(verdict.kind === 'held' ? verdict.retryInMs : retryPeriodMs, undefined, { signal });
      }
    } catch (e) {
      throw signal?.aborted ? signal.reason : e; // the abort's own reason, not the timer's AbortError
    } finally {
      this.campaigning = false;
    }
  }

  /**
   * Makes sure this replica no longer holds the Lease. When leading, it stops
   * (the leadership signal aborts with reason `stepped-down`); then, if the Lease
   * names this replica — also after a campaign cut short by its signal, whose
   * last write may have landed unanswered — it hands it back as client-go's
   * ReleaseOnCancel does: no holder and a duration of 1 s, so a follower takes
   * over at its next check instead of waiting for expiry. Call it only once
   * leading work has stopped and no `acquire()` is pending. Resolves true when the Lease was handed back; a
   * failed write is logged and resolves false (the Lease then expires).
   */
  async release(): Promise<boolean> {
    if (this.leadership && !this.leadership.signal.aborted && !this.isLeader) this.expire(); // the deadline passed, its timer is late
    let lease: Lease | undefined;
    if (this.isLeader) {
      lease = this.observed!;
      this.lose('stepped-down', 'this replica stepped down and released the lease');
    } else {
      try {
        lease = await this.leases.getOpt(this.options.name, { signal: AbortSignal.timeout(this.attemptTimeoutMs) });
      } catch (e) {
        log.debug({ ...this.fields, error: (e as Error).message }, 'could not read the lease to release it');
        return false;
      }
      if (!lease) return false;
      this.observe(lease);
      if (lease.spec?.holderIdentity !== this.identity) return false;
    }
    try {
      // An aborted renewal may still have reached the server and moved the resourceVersion.
      for (let tries = 0; tries < 3; tries++) {
        const spec = lease.spec ?? {};
        const now = microTime();
        const released: LeaseSpec = { holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now, leaseTransitions: spec.leaseTransitions ?? 0 };
        try {
          this.observe(await this.leases.replace(this.options.name, { ...lease, spec: released }, { signal: AbortSignal.timeout(this.attemptTimeoutMs) }));
          log.info(this.fields, 'released the lease');
          this.emit('released');
          return true;
        } catch (e) {
          if (!isApiError(e, 409)) throw e;
          lease = await this.leases.get(this.options.name, { signal: AbortSignal.timeout(this.attemptTimeoutMs) });
          this.observe(lease);
          if (lease.spec?.holderIdentity !== this.identity) return false;
        }
      }
      throw new Error('the lease kept changing under the release');
    } catch (e) {
      log.warn({ ...this.fields, error: (e as Error).message }, 'could not release the lease; the others take it over once it expires');
      return false;
    }
  }

  /**
   * Stops leading without writing the Lease: it stays held until it expires for
   * the others. For a forced shutdown, when work may still be running.
   */
  stepDown(): void {
    this.lose('stepped-down', 'this replica stepped down without releasing the lease');
  }

  private becomeLeader(sentAt: number): AbortSignal {
    const leadership = new AbortController();
    this.leadership = leadership;
    this.extend(sentAt);
    this.gauge.set(1);
    log.info({ ...this.fields, transitions: this.transitions }, 'became leader');
    this.emit('leading');
    void this.renewLoop(leadership.signal);
    return leadership.signal;
  }

  /** Leadership lasts until `renewDeadlineMs` after the last successful write was sent. */
  private extend(sentAt: number): void {
    this.leadingUntil = sentAt + this.options.renewDeadlineMs;
    clearTimeout(this.deadlineTimer);
    this.deadlineTimer = setTimeout(() => this.expire(), Math.max(0, this.leadingUntil - performance.now()));
  }

  private expire(): void {
    this.lose('renew-deadline', `the lease was not renewed for ${this.options.renewDeadlineMs} ms (the renew deadline)`);
  }

  private lose(reason: LeadershipLossReason, message: string): void {
    const leadership = this.leadership;
    if (!leadership || leadership.signal.aborted) return;
    clearTimeout(this.deadlineTimer);
    this.leadingUntil = 0;
    this.gauge.set(0);
    const error = new LeadershipLostError(reason, message);
    if (reason === 'stepped-down') log.info({ ...this.fields, reason }, 'stopped leading');
    else log.error({ ...this.fields, reason, error: message }, 'lost leadership');
    leadership.abort(error);
    this.emit('lost', error);
  }

  /** Renews every retry period until leadership ends; `signal` aborts then, cancelling a renewal in flight. */
  private async renewLoop(signal: AbortSignal): Promise<void> {
    let failures = 0;
    let lastError = '';
    while (!signal.aborted) {
      try {
        await sleep(this.options.retryPeriodMs, undefined, { signal });
      } catch {
        return;
      }
      const sentAt = performance.now();
      const attempt = new Attempt(signal, this.attemptTimeoutMs);
      try {
        const verdict =
          failures === 0
            ? await this.renewOnce(attempt.signal)
            : await withSpan('renewing lease', { ...this.fields, failures, 'previous.error': lastError }, () => this.renewOnce(attempt.signal));
        if (signal.aborted) return;
        if (verdict.kind === 'taken') return this.lose('taken', `the lease is held by ${verdict.holder} now`);
        this.extend(sentAt);
        if (failures > 0) log.info({ ...this.fields, failures }, 'renewed the lease again');
        failures = 0;
      } catch (e) {
        if (signal.aborted) return;
        const error = attempt.error(e, 'renew');
        failures++;
        lastError = error.message;
        const left = Math.max(0, Math.round(this.leadingUntil - performance.now()));
        log[failures === 1 ? 'warn' : 'debug']({ ...this.fields, error: lastError, failures, deadline_in_ms: left }, 'failed to renew the lease; retrying until the renew deadline');
        this.emit('attemptFailed', error, 'renew');
      } finally {
        attempt.end();
      }
    }
  }

  /** The leader's renewal: a replace of the Lease last written, falling back to a full read on a conflict. */
  private async renewOnce(signal: AbortSignal): Promise<Verdict> {
    const lease = this.observed!;
    const sentAt = performance.now();
    try {
      this.observe(await this.leases.replace(this.options.name, { ...lease, spec: { ...lease.spec, renewTime: microTime() } }, { signal }));
      return { kind: 'ours', sentAt };
    } catch (e) {
      if (!isApiError(e, 409) && !isApiError(e, 404)) throw e;
    }
    const verdict = await this.tryAcquireOrRenew(signal);
    if (verdict.kind === 'conflict') throw new Error('the lease changed while renewing it');
    return verdict;
  }

  /** client-go's tryAcquireOrRenew: read (or create) the Lease, and write it if it is ours or free. */
  private async tryAcquireOrRenew(signal: AbortSignal): Promise<Verdict> {
    const { name, identity, leaseDurationMs } = this.options;
    const current = await this.leases.getOpt(name, { signal });
    const now = microTime();
    if (!current) {
      const sentAt = performance.now();
      try {
        const spec: LeaseSpec = { holderIdentity: identity, leaseDurationSeconds: leaseDurationMs / 1000, acquireTime: now, renewTime: now, leaseTransitions: 0 };
        this.observe(await this.leases.create({ metadata: { name, ...(Object.keys(this.options.labels).length ? { labels: { ...this.options.labels } } : {}) }, spec }, { signal }));
        return { kind: 'ours', sentAt };
      } catch (e) {
        if (isApiError(e, 409)) return { kind: 'conflict' };
        throw e;
      }
    }
    this.observe(current);
    const spec = current.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const mine = holder === identity;
    const leading = this.leadership !== undefined && !this.leadership.signal.aborted;
    if (leading && !mine) return { kind: 'taken', holder };
    if (!mine && holder !== '') {
      const expiresInMs = this.observedAt + (spec.leaseDurationSeconds ?? 0) * 1000 - performance.now();
      // Check again right when it would expire, and every retry period meanwhile.
      if (expiresInMs > 0) return { kind: 'held', holder, retryInMs: Math.min(this.options.retryPeriodMs, expiresInMs + 1) };
    }
    const next: LeaseSpec = {
      holderIdentity: identity,
      leaseDurationSeconds: leaseDurationMs / 1000,
      acquireTime: mine ? (spec.acquireTime ?? now) : now,
      renewTime: now,
      leaseTransitions: mine ? (spec.leaseTransitions ?? 0) : (spec.leaseTransitions ?? 0) + 1,
    };
    const sentAt = performance.now();
    try {
      this.observe(await this.leases.replace(name, { ...current, spec: next }, { signal }));
      return { kind: 'ours', sentAt };
    } catch (e) {
      if (isApiError(e, 409)) return { kind: 'conflict' };
      throw e;
    }
  }

  /** Records a Lease read or written; a new resourceVersion restarts the expiry clock. */
  private observe(lease: Lease): void {
    if (lease.metadata?.resourceVersion !== this.observed?.metadata?.resourceVersion) this.observedAt = performance.now();
    this.observed = lease;
    const holder = lease.spec?.holderIdentity ?? '';
    if (holder !== this.observedHolder) {
      this.observedHolder = holder;
      if (holder !== '' && holder !== this.identity) log.info({ ...this.fields, leader: holder }, 'new leader observed');
      this.emit('leader', holder);
    }
  }
}

/**
 * One acquire or renew attempt: aborted by its parent signal or by its own
 * timeout, so a stalled connection cannot hold the elector up. (A listener
 * added and removed per attempt, rather than `AbortSignal.any`, so that a
 * long-lived parent does not collect dependants.)
 */
class Attempt {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private timedOut = false;
  private readonly onAbort = () => this.controller.abort(this.parent!.reason);

  constructor(
    private readonly parent: AbortSignal | undefined,
    private readonly timeoutMs: number,
  ) {
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.controller.abort(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    if (parent?.aborted) this.onAbort();
    else parent?.addEventListener('abort', this.onAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The attempt's error, saying so when its own timeout ended it. */
  error(e: unknown, phase: 'acquire' | 'renew'): Error {
    if (this.timedOut && !(e instanceof ApiError)) return new Error(`the ${phase} attempt got no answer within ${this.timeoutMs} ms`, { cause: e });
    return e instanceof Error ? e : new Error(String(e));
  }

  end(): void {
    clearTimeout(this.timer);
    this.parent?.removeEventListener('abort', this.onAbort);
  }
}
