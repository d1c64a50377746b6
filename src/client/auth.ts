import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { ConfigError, ExecCredentialError } from '../core/errors.js';
import type { AuthConfig, ExecConfig } from './config.js';

/** Produces the `Authorization` header for a request; secrets never leave it except in that header. */
export interface Authenticator {
  authorization(signal?: AbortSignal): Promise<string | undefined>;
  /** Forget cached credentials (after a 401), so the next call fetches fresh ones. */
  invalidate(): void;
}

/** The authenticator for one auth config. */
export function authenticator(auth: AuthConfig): Authenticator {
  switch (auth.type) {
    case 'none':
      return { authorization: async () => undefined, invalidate: () => {} };
    case 'token': {
      const header = `Bearer ${auth.token}`;
      return { authorization: async () => header, invalidate: () => {} };
    }
    case 'basic': {
      const header = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
      return { authorization: async () => header, invalidate: () => {} };
    }
    case 'tokenFile':
      return new TokenFileAuthenticator(auth.path, auth.refreshMs ?? 60_000);
    case 'exec':
      return new ExecAuthenticator(auth.exec, auth.server);
  }
}

/** Re-reads a token file at most every `refreshMs` (projected service-account tokens rotate). */
class TokenFileAuthenticator implements Authenticator {
  private header?: string;
  private readAt = 0;
  constructor(
    private readonly path: string,
    private readonly refreshMs: number,
  ) {}

  async authorization(): Promise<string> {
    if (this.header === undefined || Date.now() - this.readAt >= this.refreshMs) {
      let token: string;
      try {
        token = (await readFile(this.path, 'utf8')).trim();
      } catch (e) {
        throw new ConfigError(`token file ${this.path} cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'}).`);
      }
      if (!token) throw new ConfigError(`token file ${this.path} is empty.`);
      this.header = `Bearer ${token}`;
      this.readAt = Date.now();
    }
    return this.header;
  }

  invalidate(): void {
    this.header = undefined;
  }
}

interface ExecCredential {
  apiVersion?: string;
  kind?: string;
  status?: { token?: string; expirationTimestamp?: string; clientCertificateData?: string; clientKeyData?: string };
}

/**
 * Runs a `client.authentication.k8s.io` exec plugin and caches its token until
 * `expirationTimestamp` (forever when it gives none, until a 401 invalidates it).
 */
class ExecAuthenticator implements Authenticator {
  private cached?: { header: string; expiresAt: number };
  private running?: Promise<string>;
  constructor(
    private readonly exec: ExecConfig,
    private readonly server: string,
  ) {}

  async authorization(signal?: AbortSignal): Promise<string> {
    // Refresh a little early so a token does not expire in flight.
    if (this.cached && Date.now() < this.cached.expiresAt - 10_000) return this.cached.header;
    // One run serves every caller that needs a token meanwhile, so no caller's signal
    // may end it: a caller that gives up stops waiting, the run goes on for the others
    // (and fills the cache for later ones). Its own 60 s timeout bounds it.
    this.running ??= this.run().finally(() => (this.running = undefined));
    return waitFor(this.running, signal);
  }

  invalidate(): void {
    this.cached = undefined;
  }

  private async run(): Promise<string> {
    const { command, args, apiVersion } = this.exec;
    const info = {
      apiVersion,
      kind: 'ExecCredential',
      spec: { interactive: false, ...(this.exec.provideClusterInfo ? { cluster: { server: this.server } } : {}) },
    };
    const where = `exec plugin ${command} (${this.exec.source})`;
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        command,
        args,
        { env: { ...process.env, ...this.exec.env, KUBERNETES_EXEC_INFO: JSON.stringify(info) }, timeout: 60_000, maxBuffer: 1 << 20 },
        (error, out, err) => {
          if (error) {
            const why = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'was not found' : `failed (${error.code ?? error.signal ?? 'error'}): ${String(err).trim().split('\n')[0]?.slice(0, 200) ?? ''}`;
            reject(new ExecCredentialError(`${where} ${why}`.trim() + '.'));
          } else resolve(out);
        },
      );
    });
    let cred: ExecCredential;
    try {
      cred = JSON.parse(stdout) as ExecCredential;
    } catch {
      // Never quote the output: it is meant to hold a credential.
      throw new ExecCredentialError(`${where} printed something that is not an ExecCredential JSON object.`);
    }
    if (cred.kind !== 'ExecCredential' || cred.apiVersion !== apiVersion) {
      throw new ExecCredentialError(`${where} returned kind ${cred.kind ?? '(none)'} ${cred.apiVersion ?? ''} but ExecCredential ${apiVersion} was asked for.`);
    }
    const token = cred.status?.token;
    if (!token) {
      const why = cred.status?.clientCertificateData ? 'client certificates from exec plugins are not supported yet' : 'status.token is missing';
      throw new ExecCredentialError(`${where} gave no usable credential: ${why}.`);
    }
    const exp = cred.status?.expirationTimestamp ? Date.parse(cred.status.expirationTimestamp) : Number.POSITIVE_INFINITY;
    if (Number.isNaN(exp)) throw new ExecCredentialError(`${where} returned an expirationTimestamp that is not a date.`);
    this.cached = { header: `Bearer ${token}`, expiresAt: exp };
    return this.cached.header;
  }
}

/** `promise`, or the signal's reason as soon as it aborts (the promise itself goes on). */
function waitFor<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', abort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort));
  });
}
