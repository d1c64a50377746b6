/**
 * The demo operator as a child process, the way a container runs it: its own
 * Node flags and environment, optionally inside a memory cgroup (cgroup v1 or
 * v2, when this process may create one), with its probe port learned from its
 * first log lines, its metrics read over HTTP, and heap samples taken through
 * `heap-probe`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));
export const operatorScript = join(root, 'dist/examples/document-controller/operator.js');
export const heapProbe = join(root, 'dist/bench/memory/heap-probe.js');

export interface HeapSample {
  heapUsed: number;
  heapTotal: number;
  external: number;
  rss: number;
  peakRss: number;
  heapLimit: number;
}

export interface OperatorOptions {
  kubeconfig: string;
  /** Extra environment (NODE_OPTIONS, KUBELOOP_LOG …). */
  env?: Record<string, string>;
  /** Node flags before the script. `heap-probe` is added unless `probe: false`. */
  nodeArgs?: string[];
  probe?: boolean;
  /** Run inside a memory cgroup with this limit (bytes), as a container limit would. */
  memoryLimit?: number;
}

export class OperatorProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything the process wrote to stderr (V8's fatal errors land here). */
  stderr = '';
  private readonly lines: string[] = [];
  private readonly waiters: { match: (line: string) => boolean; resolve: (line: string) => void }[] = [];
  private cgroup?: MemoryCgroup;
  port = 0;

  constructor(options: OperatorOptions) {
    const args = [...(options.probe === false ? [] : ['--expose-gc', '--import', heapProbe]), ...(options.nodeArgs ?? []), operatorScript];
    const env = { ...process.env, KUBECONFIG: options.kubeconfig, PROBE_PORT: '0', KUBELOOP_LOG: 'info', KUBELOOP_LOG_FORMAT: 'json', ...options.env };
    if (options.memoryLimit !== undefined) {
      this.cgroup = MemoryCgroup.create(options.memoryLimit);
      // The shell joins the cgroup, then becomes node: everything the operator allocates is charged to it.
      this.child = spawn('/bin/sh', ['-c', `echo $$ > "${this.cgroup.procsFile}" && exec "$0" "$@"`, process.execPath, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    } else {
      this.child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    }
    this.exited = once(this.child, 'exit').then(([code, signal]) => {
      this.cgroupPeak = this.cgroup?.peak();
      this.cgroup?.remove();
      return { code: code as number | null, signal: signal as NodeJS.Signals | null };
    });
    const onLine = (line: string) => {
      this.lines.push(line);
      for (const w of this.waiters.splice(0)) (w.match(line) ? w.resolve : () => this.waiters.push(w))(line);
    };
    createInterface({ input: this.child.stdout! }).on('line', onLine);
    createInterface({ input: this.child.stderr! }).on('line', (line) => {
      this.stderr += `${line}\n`;
      onLine(line);
    });
  }

  /** The first line (already written or still to come) that `match` accepts; rejects if the process exits first. */
  line(match: (line: string) => boolean): Promise<string> {
    const seen = this.lines.find(match);
    if (seen) return Promise.resolve(seen);
    return Promise.race([
      new Promise<string>((resolve) => this.waiters.push({ match, resolve })),
      this.exited.then(({ code, signal }) => Promise.reject(new Error(`the operator exited (code ${code}, signal ${signal}) before the line expected:\n${this.stderr.slice(-2000)}`))),
    ]);
  }

  /** Resolves with the probe port once the probe server listens. */
  async listening(): Promise<number> {
    const line = await this.line((l) => l.includes('"probe server listening"'));
    this.port = (JSON.parse(line) as { port: number }).port;
    return this.port;
  }

  /** The sum of the samples of one metric family on `/metrics`, filtered by a label substring. */
  async metric(name: string, labels = ''): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${this.port}/metrics`)).text();
    return text
      .split('\n')
      .filter((l) => l.startsWith(`${name}{`) && l.includes(labels))
      .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  }

  /** Heap and RSS after two forced collections (needs `heap-probe`). */
  async sample(): Promise<HeapSample> {
    const reply = this.line((l) => l.startsWith('heap-probe ') && !this.taken.has(l));
    this.child.kill('SIGUSR2');
    const line = await reply;
    this.taken.add(line);
    return JSON.parse(line.slice('heap-probe '.length)) as HeapSample;
  }
  private readonly taken = new Set<string>();

  /** The cgroup's own account of the most memory it charged (what a container limit is held against); read while running or after the exit. */
  get memoryPeak(): number | undefined {
    return this.cgroupPeak ?? this.cgroup?.peak();
  }
  private cgroupPeak?: number;

  async stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    return this.exited;
  }
}

/**
 * A memory cgroup of this process's own making, standing in for a container's
 * memory limit: cgroup v2 (`memory.max`) when the unified hierarchy has the memory
 * controller, else v1 (`memory.limit_in_bytes`).
 */
export class MemoryCgroup {
  private constructor(
    readonly dir: string,
    private readonly v2: boolean,
  ) {}

  get procsFile(): string {
    return join(this.dir, 'cgroup.procs');
  }

  /** Whether this process may make one here (root, and a writable memory hierarchy). */
  static available(): boolean {
    return MemoryCgroup.base() !== undefined;
  }

  private static base(): { dir: string; v2: boolean } | undefined {
    const v2 = '/sys/fs/cgroup';
    if (existsSync(join(v2, 'cgroup.controllers')) && readFileSync(join(v2, 'cgroup.controllers'), 'utf8').includes('memory')) return { dir: v2, v2: true };
    const v1 = '/sys/fs/cgroup/memory';
    if (existsSync(join(v1, 'memory.limit_in_bytes'))) return { dir: v1, v2: false };
    return undefined;
  }

  static create(limit: number): MemoryCgroup {
    const base = MemoryCgroup.base();
    if (!base) throw new Error('no writable memory cgroup hierarchy under /sys/fs/cgroup: cannot stand in for a container memory limit here');
    const dir = join(base.dir, `kubeloop-memory-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
    mkdirSync(dir);
    writeFileSync(join(dir, base.v2 ? 'memory.max' : 'memory.limit_in_bytes'), String(limit));
    if (base.v2) writeFileSync(join(dir, 'memory.swap.max'), '0');
    return new MemoryCgroup(dir, base.v2);
  }

  peak(): number | undefined {
    try {
      return Number(readFileSync(join(this.dir, this.v2 ? 'memory.peak' : 'memory.max_usage_in_bytes'), 'utf8'));
    } catch {
      return undefined;
    }
  }

  remove(): void {
    try {
      rmdirSync(this.dir);
    } catch {
      // Still busy for a moment after the last process left, or already gone.
    }
  }
}
