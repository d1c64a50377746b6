/**
 * The leadership gate of one controller run: campaigns for the Lease, opens
 * while it is held, and closes — before anything else happens — when it is
 * lost. Kept apart from the runner as client-go keeps leader election apart
 * from its controllers: the runner only asks `open`.
 *
 * On taking the lease the gate asks for every object to be scheduled (a new
 * leader cannot know what the old one finished); on losing it, the queue is
 * cleared, then the process exits (`exit`) or the gate campaigns again
 * (`recampaign`).
 */
import { logger } from '../telemetry/log.js';
import type { LeaderElector } from './leader-election.js';

const log = logger('kubeloop::controller');

/** Electors guarding a running controller: one elector guards one controller (its release ends that controller's leadership only). */
const electorsInUse = new Map<LeaderElector, string>();

export interface LeadershipHooks {
  /** The lease was taken: schedule every object. */
  onLead(): void;
  /** The lease was lost: drop the queue and look again (nothing may start now). */
  onLoss(): void;
}

export class LeadershipGate {
  private leading = false;

  private constructor(
    readonly elector: LeaderElector,
    private readonly onLost: 'exit' | 'recampaign',
    private readonly controller: string,
  ) {}

  /** Claims `elector` for `controller`; throws when another running controller already uses it. */
  static claim(elector: LeaderElector, onLost: 'exit' | 'recampaign', controller: string): LeadershipGate {
    const other = electorsInUse.get(elector);
    if (other !== undefined) {
      throw new Error(`the LeaderElector for Lease ${elector.options.namespace}/${elector.options.name} already guards controller ${other}; give each controller its own elector and Lease.`);
    }
    electorsInUse.set(elector, controller);
    return new LeadershipGate(elector, onLost, controller);
  }

  /**
   * Throws unless the lease is held and renewed right now (by the clock, not by the
   * deadline timer, which runs late when the event loop was blocked): the fence
   * of every API call a reconcile makes.
   */
  check(): void {
    if (!this.open) {
      throw new Error(`this replica no longer holds Lease ${this.elector.options.namespace}/${this.elector.options.name}; the reconcile's API call was not sent.`);
    }
  }

  /** True while reconciles may start: the lease is held and renewed. */
  get open(): boolean {
    return this.leading && this.elector.isLeader;
  }

  /** Campaigns, holds the gate open while leading, and on a loss exits or campaigns again, until `signal` aborts. */
  async run(signal: AbortSignal, hooks: LeadershipHooks): Promise<void> {
    while (!signal.aborted) {
      let leadership: AbortSignal;
      try {
        leadership = await this.elector.acquire(signal);
      } catch {
        return; // shut down while campaigning
      }
      this.leading = true;
      log.info({ controller: this.controller, identity: this.elector.identity }, 'leading: reconciling every object');
      hooks.onLead();
      const lost = await new Promise<Error>((resolve) => {
        if (leadership.aborted) resolve(leadership.reason as Error);
        else leadership.addEventListener('abort', () => resolve(leadership.reason as Error), { once: true });
      });
      // Before anything else: no reconcile may start from now on.
      this.leading = false;
      hooks.onLoss();
      if (signal.aborted) return; // our own graceful shutdown released the lease
      if (this.onLost === 'exit') {
        log.error({ controller: this.controller, error: lost.message }, 'leadership lost; exiting');
        process.exit(1);
      }
      log.warn({ controller: this.controller, error: lost.message }, 'leadership lost; reconciling paused, campaigning again');
    }
  }

  /** Graceful end: hands the lease back (after the running reconciles finished) and frees the elector. */
  async release(): Promise<void> {
    try {
      await this.elector.release();
    } finally {
      electorsInUse.delete(this.elector);
    }
  }

  /** Forceful end: stops renewing and leaves the lease to expire (reconciles may still be running). */
  stepDown(): void {
    this.elector.stepDown();
    electorsInUse.delete(this.elector);
  }
}
