import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile, appendFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { stringify } from 'yaml';
import { resolveAssets, type ControlPlaneAssets } from './assets.js';
import { createCa, issueClientCert, serviceAccountKeys, type CertPair } from './pki.js';

/** A user the API server authenticates by bearer token (its token-auth file). */
export interface TokenUser {
  name: string;
  token?: string;
  groups?: string[];
}

export interface LocalClusterOptions {
  /** Also run kube-controller-manager (garbage collector and namespace controller). Default false. */
  controllerManager?: boolean;
  /** Extra kube-apiserver flags, e.g. `['--watch-cache=false']`. */
  apiserverArgs?: string[];
  /** Extra token users besides the `admin` in `system:masters`. */
  users?: TokenUser[];
  /** Binaries to use instead of looking them up. */
  assets?: ControlPlaneAssets;
  /** How long to wait for `/readyz`. Default 60 s. */
  startTimeoutMs?: number;
}

interface Managed {
  name: string;
  args: string[];
  binary: string;
  child?: ChildProcess;
  exited?: Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** Kills a detached child and everything in its process group (the watchdog's `sleep`, too). */
function killGroup(child: ChildProcess): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}

const live = new Set<LocalCluster>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: SIGKILL is all we can do here. The
  // watchdog process covers the cases where even this does not run (kill -9).
  process.on('exit', () => {
    for (const cluster of live) cluster.killNow();
  });
}

/**
 * A real control plane on loopback: etcd, kube-apiserver and optionally
 * kube-controller-manager, the TypeScript counterpart of controller-runtime's envtest.
 *
 * @example
 * const cluster = await LocalCluster.start();
 * process.env.KUBECONFIG = cluster.kubeconfigPath;
 * // ... use Client.infer()
 * await cluster.stop();
 */
export class LocalCluster {
  /** `https://127.0.0.1:<port>` */
  readonly server: string;
  /** The `system:masters` bearer token of user `admin`. */
  readonly token: string;
  /** Path of a kubeconfig for `admin` (current context `kubeloop`). */
  readonly kubeconfigPath: string;
  /** `http://127.0.0.1:<port>` of etcd. */
  readonly etcdUrl: string;
  /** The API server's serving certificate, to use as the CA. */
  caPem = '';
  private readonly procs: Managed[] = [];
  private watchdog?: ChildProcess;
  private stopping?: Promise<void>;

  private constructor(
    readonly dir: string,
    private readonly ports: { etcd: number; peer: number; apiserver: number },
    private readonly clientCa: { certPath: string; keyPath: string },
    private readonly users: Required<TokenUser>[],
  ) {
    this.server = `https://127.0.0.1:${ports.apiserver}`;
    this.etcdUrl = `http://127.0.0.1:${ports.etcd}`;
    this.token = users[0]!.token;
    this.kubeconfigPath = join(dir, 'kubeconfig');
  }

  /** Starts etcd and kube-apiserver (and kube-controller-manager when asked) and waits for `/readyz` and the `default` namespace. */
  static async start(options: LocalClusterOptions = {}): Promise<LocalCluster> {
    const assets = options.assets ?? (await resolveAssets());
    const dir = await mkdtemp(join(tmpdir(), 'kubeloop-cluster-'));
    const ports = { etcd: await freePort(), peer: await freePort(), apiserver: await freePort() };
    const clientCa = await createCa(dir, 'client-ca');
    const sa = serviceAccountKeys();
    await writeFile(join(dir, 'sa.pub'), sa.publicPem);
    await writeFile(join(dir, 'sa.key'), sa.privatePem, { mode: 0o600 });
    const users: Required<TokenUser>[] = [
      { name: 'admin', token: randomBytes(24).toString('hex'), groups: ['system:masters'] },
      ...(options.users ?? []).map((u) => ({ name: u.name, token: u.token ?? randomBytes(24).toString('hex'), groups: u.groups ?? [] })),
    ];
    await writeFile(
      join(dir, 'tokens.csv'),
      users.map((u) => `${u.token},${u.name},${u.name}${u.groups.length ? `,"${u.groups.join(',')}"` : ''}`).join('\n') + '\n',
      { mode: 0o600 },
    );
    const cluster = new LocalCluster(dir, ports, clientCa, users);
    live.add(cluster);
    installExitHook();
    try {
      cluster.startWatchdog();
      await cluster.launch({
        name: 'etcd',
        binary: assets.etcd,
        args: [
          `--data-dir=${join(dir, 'etcd')}`,
          `--listen-client-urls=${cluster.etcdUrl}`,
          `--advertise-client-urls=${cluster.etcdUrl}`,
          `--listen-peer-urls=http://127.0.0.1:${ports.peer}`,
          `--initial-advertise-peer-urls=http://127.0.0.1:${ports.peer}`,
          `--initial-cluster=default=http://127.0.0.1:${ports.peer}`,
          '--unsafe-no-fsync',
        ],
      });
      await cluster.launch({
        name: 'kube-apiserver',
        binary: assets.kubeApiserver,
        args: [
          `--etcd-servers=${cluster.etcdUrl}`,
          '--bind-address=127.0.0.1',
          `--secure-port=${ports.apiserver}`,
          `--cert-dir=${join(dir, 'certs')}`,
          `--token-auth-file=${join(dir, 'tokens.csv')}`,
          `--client-ca-file=${clientCa.certPath}`,
          '--authorization-mode=RBAC',
          '--service-account-issuer=https://kubernetes.default.svc',
          `--service-account-key-file=${join(dir, 'sa.pub')}`,
          `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
          '--service-cluster-ip-range=10.0.0.0/24',
          '--disable-admission-plugins=ServiceAccount',
          ...(options.apiserverArgs ?? []),
        ],
      });
      await cluster.waitReady(options.startTimeoutMs ?? 60_000);
      await cluster.writeKubeconfig();
      if (options.controllerManager) {
        await cluster.launch({
          name: 'kube-controller-manager',
          binary: assets.kubeControllerManager,
          args: [
            `--kubeconfig=${cluster.kubeconfigPath}`,
            '--leader-elect=false',
            '--controllers=garbagecollector,namespace',
            '--port=0',
            '--secure-port=0',
            '--concurrent-gc-syncs=5',
          ],
        });
      }
      return cluster;
    } catch (error) {
      await cluster.stop();
      throw error;
    }
  }

  /** The user with this name from the token-auth file (including `admin`). */
  user(name: string): Required<TokenUser> {
    const u = this.users.find((x) => x.name === name);
    if (!u) throw new Error(`the local cluster has no token user named ${name}.`);
    return u;
  }

  /** A client certificate the API server accepts (its `--client-ca-file` signed it). */
  issueClientCert(user: string, groups: string[] = []): Promise<CertPair> {
    return issueClientCert(this.dir, this.clientCa, user, groups);
  }

  /** A kubeconfig object for a token user, or for a client certificate. */
  kubeconfig(auth: { token: string } | CertPair = { token: this.token }): Record<string, unknown> {
    const user =
      'token' in auth
        ? { token: auth.token }
        : { 'client-certificate-data': Buffer.from(auth.certPem).toString('base64'), 'client-key-data': Buffer.from(auth.keyPem).toString('base64') };
    return {
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'kubeloop',
      clusters: [{ name: 'kubeloop', cluster: { server: this.server, 'certificate-authority-data': Buffer.from(this.caPem).toString('base64') } }],
      users: [{ name: 'kubeloop', user }],
      contexts: [{ name: 'kubeloop', context: { cluster: 'kubeloop', user: 'kubeloop', namespace: 'default' } }],
    };
  }

  /** Kills kube-apiserver (SIGKILL), as a crash would. */
  async killApiserver(): Promise<void> {
    const p = this.proc('kube-apiserver');
    p.child?.kill('SIGKILL');
    await p.exited;
  }

  /** Starts kube-apiserver again on the same port and waits for `/readyz`. */
  async startApiserver(): Promise<void> {
    await this.launch(this.proc('kube-apiserver'));
    await this.waitReady(60_000);
  }

  /** Compacts etcd up to its current revision, so older resourceVersions answer 410 Gone. */
  async compactEtcd(): Promise<number> {
    const range = await request(`${this.etcdUrl}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from('/').toString('base64') }) });
    const revision = Number(((await range.body.json()) as { header: { revision: string } }).header.revision);
    const res = await request(`${this.etcdUrl}/v3/kv/compaction`, { method: 'POST', body: JSON.stringify({ revision, physical: true }) });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`etcd compaction at revision ${revision} failed with ${res.statusCode}: ${text}`);
    return revision;
  }

  /** Stops every process it started (SIGTERM, SIGKILL after 5 s), the API server before etcd, and removes its directory. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const name of ['kube-controller-manager', 'kube-apiserver', 'etcd']) {
        const p = this.procs.find((x) => x.name === name);
        if (p?.child && p.child.exitCode === null && p.child.signalCode === null) {
          // The children are unref'd so they never keep a process alive; while we wait
          // for them to exit, they must, or Node may exit first and leave them running.
          p.child.ref();
          p.child.kill('SIGTERM');
          const timer = setTimeout(() => p.child?.kill('SIGKILL'), 5000);
          await p.exited;
          clearTimeout(timer);
        }
      }
      const watchdog = this.watchdog;
      if (watchdog && watchdog.exitCode === null && watchdog.signalCode === null) {
        const gone = new Promise((resolve) => watchdog.once('exit', resolve));
        watchdog.ref();
        killGroup(watchdog);
        await gone;
      }
      live.delete(this);
      await rm(this.dir, { recursive: true, force: true });
    })();
    return this.stopping;
  }

  /** Synchronous last resort used on process exit. */
  killNow(): void {
    for (const p of this.procs) p.child?.kill('SIGKILL');
    if (this.watchdog) killGroup(this.watchdog);
  }

  /** PIDs of the processes now running (for leak checks). */
  pids(): number[] {
    return this.procs.flatMap((p) => (p.child?.pid !== undefined && p.child.exitCode === null && p.child.signalCode === null ? [p.child.pid] : []));
  }

  private proc(name: string): Managed {
    const p = this.procs.find((x) => x.name === name);
    if (!p) throw new Error(`${name} is not part of this local cluster.`);
    return p;
  }

  private async launch(p: Managed): Promise<void> {
    if (!this.procs.includes(p)) this.procs.push(p);
    const log = createWriteStream(join(this.dir, `${p.name}.log`), { flags: 'a' });
    await new Promise((r) => log.once('open', r));
    const child = spawn(p.binary, p.args, { stdio: ['ignore', log, log], detached: true });
    p.child = child;
    p.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (e) => reject(new Error(`could not start ${p.name} (${p.binary}): ${e.message}`)));
    });
    child.unref();
    await appendFile(join(this.dir, 'pids'), `${child.pid}\n`);
  }

  // A shell loop that outlives us: if this Node process dies without stopping
  // the cluster (kill -9, a test runner's timeout), it kills what we started.
  private startWatchdog(): void {
    const script = `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; ` +
      `for p in $(cat "${this.dir}/pids" 2>/dev/null); do kill -TERM "$p" 2>/dev/null; done; sleep 3; ` +
      `for p in $(cat "${this.dir}/pids" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done; rm -rf "${this.dir}"`;
    this.watchdog = spawn('sh', ['-c', script], { stdio: 'ignore', detached: true });
    this.watchdog.unref();
  }

  private async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const apiserver = this.proc('kube-apiserver');
    let lastProblem = 'no answer yet';
    while (Date.now() < deadline) {
      if (apiserver.child?.exitCode !== null || apiserver.child?.signalCode !== null) {
        throw new Error(`kube-apiserver exited during start-up; its log is ${join(this.dir, 'kube-apiserver.log')}:\n${await this.tail('kube-apiserver')}`);
      }
      try {
        this.caPem ||= await readFile(join(this.dir, 'certs', 'apiserver.crt'), 'utf8');
        const agent = new Agent({ connect: { ca: this.caPem } });
        try {
          const res = await request(`${this.server}/readyz`, { dispatcher: agent, headers: { authorization: `Bearer ${this.token}` } });
          const text = await res.body.text();
          if (res.statusCode === 200) {
            // /readyz can pass before the bootstrap controller has created the
            // `default` namespace; tests and users expect it to exist.
            const ns = await request(`${this.server}/api/v1/namespaces/default`, { dispatcher: agent, headers: { authorization: `Bearer ${this.token}` } });
            await ns.body.text();
            if (ns.statusCode === 200) return;
            lastProblem = `namespace default answered ${ns.statusCode}`;
          } else {
            lastProblem = `/readyz answered ${res.statusCode}: ${text.slice(0, 200)}`;
          }
        } finally {
          await agent.close();
        }
      } catch (e) {
        lastProblem = (e as Error).message;
      }
      await delay(200);
    }
    throw new Error(`kube-apiserver was not ready within ${timeoutMs} ms (${lastProblem}).`);
  }

  private async tail(name: string): Promise<string> {
    const text = await readFile(join(this.dir, `${name}.log`), 'utf8').catch(() => '');
    return text.split('\n').slice(-20).join('\n');
  }

  private async writeKubeconfig(): Promise<void> {
    await writeFile(this.kubeconfigPath, stringify(this.kubeconfig()), { mode: 0o600 });
  }
}
