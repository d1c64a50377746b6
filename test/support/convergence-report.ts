/**
 * Figures of the convergence suite: per fault kind, the trials run, objects
 * checked, misses and the worst time to converge. Each test file prints one line
 * per fault kind when it ends; with `KUBELOOP_CHAOS_REPORT` set (npm run chaos
 * sets it) each trial is also appended to that file as a JSON line, which
 * scripts/chaos.sh sums up.
 */
import { appendFileSync } from 'node:fs';

/** How many trials of each fault kind to run: `KUBELOOP_CHAOS_TRIALS`, default 1 (the normal suite). */
export function trialCount(): number {
  const n = Number(process.env.KUBELOOP_CHAOS_TRIALS ?? '1');
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`KUBELOOP_CHAOS_TRIALS must be a positive whole number, not ${process.env.KUBELOOP_CHAOS_TRIALS}.`);
  return n;
}

/** One trial's outcome. */
export interface TrialOutcome {
  fault: string;
  trial: number;
  objects: number;
  misses: string[];
  /** Not misses: the API server's own finalizer race (see `Verdict.excused` in convergence-oracle.ts). */
  excused: string[];
  converged: boolean;
  convergeMs: number;
  /** The trial's fault did not (provably) happen: the trial proves nothing. */
  faultProblems: string[];
  /** What shows the fault happened (counter deltas, pids, cuts …). */
  evidence: Record<string, number | string | boolean>;
}

interface Tally {
  trials: number;
  objects: number;
  misses: number;
  excused: number;
  /** The worst time to converge among the trials that converged; the others are counted in `notConverged`. */
  worstConvergeMs: number;
  notConverged: number;
  unproven: number;
}

export class ChaosReport {
  private readonly tallies = new Map<string, Tally>();
  readonly outcomes: TrialOutcome[] = [];

  add(outcome: TrialOutcome): void {
    this.outcomes.push(outcome);
    const t = this.tallies.get(outcome.fault) ?? { trials: 0, objects: 0, misses: 0, excused: 0, worstConvergeMs: 0, notConverged: 0, unproven: 0 };
    t.trials++;
    t.objects += outcome.objects;
    t.misses += outcome.misses.length;
    t.excused += outcome.excused.length;
    if (outcome.converged) t.worstConvergeMs = Math.max(t.worstConvergeMs, outcome.convergeMs);
    else t.notConverged++;
    if (outcome.faultProblems.length > 0) t.unproven++;
    this.tallies.set(outcome.fault, t);
    const file = process.env.KUBELOOP_CHAOS_REPORT;
    if (file) appendFileSync(file, `${JSON.stringify(outcome)}\n`);
    console.log(`[convergence] ${outcome.fault} trial ${outcome.trial}: objects=${outcome.objects} misses=${outcome.misses.length} excused=${outcome.excused.length} ` +
      `converged=${outcome.converged} convergeMs=${outcome.convergeMs} ${Object.entries(outcome.evidence).map(([k, v]) => `${k}=${v}`).join(' ')}`);
    for (const line of outcome.excused) console.log(`[convergence]   excused: ${line}`);
  }

  /** The problems of every trial of `fault`, one line each: empty when all of them passed. */
  problems(fault: string): string[] {
    return this.outcomes
      .filter((o) => o.fault === fault)
      .flatMap((o) => [...o.faultProblems.map((p) => `trial ${o.trial}: the fault did not happen: ${p}`), ...o.misses.map((m) => `trial ${o.trial}: ${m}`)]);
  }

  /** One line per fault kind. */
  summary(): string {
    return [...this.tallies]
      .map(([fault, t]) => `[convergence] ${fault}: trials=${t.trials} objects=${t.objects} misses=${t.misses} excused=${t.excused} worstConvergeMs=${t.worstConvergeMs} notConverged=${t.notConverged} unproven=${t.unproven}`)
      .join('\n');
  }
}
