/** The child's side of the IPC channel, and measuring helpers used by every contender. */
import { writeFileSync } from 'node:fs';
import type { Message } from './protocol.js';

const inbox: Message[] = [];
let waiter: (() => void) | undefined;

export function listen(): void {
  process.on('message', (m: Message) => {
    inbox.push(m);
    waiter?.();
  });
  // The parent went away: nothing to report to.
  process.on('disconnect', () => process.exit(3));
}

export function send(message: Message): void {
  process.send?.(message);
}

/** The next message of this type from the parent. */
export async function receive(type: string): Promise<Message> {
  for (;;) {
    const i = inbox.findIndex((m) => m.type === type);
    if (i >= 0) return inbox.splice(i, 1)[0]!;
    await new Promise<void>((resolve) => (waiter = resolve));
    waiter = undefined;
  }
}

/** Whether a message of this type has arrived (without taking it). */
export function has(type: string): boolean {
  return inbox.some((m) => m.type === type);
}

/** Full collection (twice, with a turn of the event loop between, so finalizers and weak maps settle). */
export async function fullGc(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run the child with --expose-gc');
  gc();
  await new Promise((r) => setImmediate(r));
  gc();
}

export function heapUsed(): number {
  return process.memoryUsage().heapUsed;
}

/** Process CPU time (user + system) in ms. */
export function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Process CPU time split into user and system, in ms. */
export function cpuSplit(): { user: number; system: number } {
  const u = process.cpuUsage();
  return { user: u.user / 1000, system: u.system / 1000 };
}

/** Monotonic time in ms on a clock every process of this machine shares (CLOCK_MONOTONIC). */
export function monoMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Resolves once `check` holds, polling every `everyMs`; rejects after `timeoutMs`. */
export async function until(what: string, check: () => boolean, timeoutMs = 120_000, everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/**
 * Under `BENCH_PROFILE`, records the measured window (CLOCK_MONOTONIC µs, the
 * clock of V8's CPU profiles) so that profile-summary can leave out start-up.
 */
export function markWindow(startMs: number, endMs: number): void {
  const file = process.env.BENCH_WINDOW_FILE;
  if (file) writeFileSync(file, JSON.stringify({ startUs: Math.round(startMs * 1000), endUs: Math.round(endMs * 1000) }));
}
