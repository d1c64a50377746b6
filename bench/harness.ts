/**
 * The parent's side of a child process: spawn, talk over IPC (or, to a child
 * that is not Node, JSON lines over its stdin and stdout), and always reap it.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ChildTask, Message } from './protocol.js';

const CHILD = fileURLToPath(new URL('./child.js', import.meta.url));

export interface ChildOptions {
  /** Write a V8 CPU profile of the child into this directory. */
  profileDir?: string;
  /** Extra environment for the child. */
  env?: Record<string, string>;
  /** Give up on any single wait after this long. Default 10 minutes. */
  timeoutMs?: number;
  /**
   * Run this executable instead of `node child.js` (a contender in another
   * language): the same messages, one JSON object a line, on its stdin and stdout.
   */
  exec?: string;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export class Child {
  private readonly proc: ChildProcess;
  private readonly inbox: Message[] = [];
  private waiter?: () => void;
  private exited = false;
  private readonly exit: Promise<number | null>;
  private readonly timeoutMs: number;

  constructor(task: ChildTask, options: ChildOptions = {}) {
    const execArgv = ['--expose-gc'];
    const env: Record<string, string> = { ...options.env };
    if (options.profileDir) {
      mkdirSync(options.profileDir, { recursive: true });
      const name = `${task.scenario}-${task.contender}-${process.hrtime.bigint()}.cpuprofile`;
      execArgv.push('--cpu-prof', `--cpu-prof-dir=${options.profileDir}`, `--cpu-prof-name=${name}`);
      // The child notes there which part of its life was measured (profile-summary reads it).
      env.BENCH_WINDOW_FILE = join(options.profileDir, `${name}.window.json`);
    }
    this.timeoutMs = options.timeoutMs ?? 600_000;
    const received = (m: Message) => {
      this.inbox.push(m);
      this.waiter?.();
    };
    if (options.exec) {
      this.proc = spawn(options.exec, [], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, ...env } });
      // Writes to a child that has exited fail here, not as an uncaught error.
      this.proc.stdin!.on('error', () => {});
      createInterface({ input: this.proc.stdout! }).on('line', (line) => {
        try {
          received(JSON.parse(line) as Message);
        } catch {
          received({ type: 'error', message: `not a message: ${line}` });
        }
      });
    } else {
      this.proc = fork(CHILD, [], {
        execArgv,
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        env: { ...process.env, ...env },
      });
      this.proc.on('message', received);
    }
    live.add(this.proc);
    this.exit = new Promise((resolve) => {
      const exited = (code: number | null) => {
        this.exited = true;
        live.delete(this.proc);
        this.waiter?.();
        resolve(code);
      };
      this.proc.once('exit', exited);
      // A child that could not start (no such executable) reports an error and never exits.
      this.proc.once('error', (e) => {
        received({ type: 'error', message: e.message });
        if (this.proc.pid === undefined) exited(null);
      });
    });
    this.send({ type: 'task', task });
  }

  send(message: Message): void {
    if (this.exited) return;
    if (this.proc.stdin) this.proc.stdin.write(JSON.stringify(message) + '\n');
    else if (this.proc.connected) this.proc.send(message);
  }

  /** The next message of this type (earlier messages of other types are kept). Throws on a child error or exit. */
  async next(type: string): Promise<Message> {
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      const error = this.inbox.find((m) => m.type === 'error');
      if (error) throw new Error(`child failed: ${String(error.message)}`);
      const i = this.inbox.findIndex((m) => m.type === type);
      if (i >= 0) return this.inbox.splice(i, 1)[0]!;
      if (this.exited) throw new Error(`child exited before sending "${type}"`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`child sent no "${type}" within ${this.timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          this.waiter = undefined;
          resolve();
        };
      });
    }
  }

  /** Waits for the child to exit by itself (it does after sending its result), killing it after `graceMs`. */
  async close(graceMs = 10_000): Promise<void> {
    if (this.exited) return;
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    try {
      this.send({ type: 'exit' });
      await this.exit;
    } finally {
      clearTimeout(timer);
    }
  }

  kill(): Promise<void> {
    if (!this.exited) this.proc.kill('SIGKILL');
    return this.exit.then(() => undefined);
  }
}

/** Runs `fn` with a fresh child and always reaps it. */
export async function withChild<T>(task: ChildTask, options: ChildOptions, fn: (child: Child) => Promise<T>): Promise<T> {
  const child = new Child(task, options);
  try {
    return await fn(child);
  } finally {
    await child.close().catch(() => child.kill());
  }
}
