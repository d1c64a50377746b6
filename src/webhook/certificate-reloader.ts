/**
 * The serving certificate, read from files and read again when they change.
 *
 * Kubernetes updates a mounted Secret by swapping a symlink in its directory, and
 * cert-manager renews certificates well before they expire, so a webhook that read
 * its certificate once serves an expired one some day. The reloader watches the
 * files' directories (a swap is a rename there, which `fs.watch` on the file itself
 * would miss) and also re-reads them every `pollMs` for file systems that send no
 * events. A change is taken only once certificate and key belong together: a
 * rotation caught half-written (new certificate, old key) keeps the old pair until
 * the next event.
 */
import { X509Certificate } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createSecureContext } from 'node:tls';
import { logger } from '../telemetry/log.js';
import { webhookMetrics } from './metrics.js';

const log = logger('kubeloop::webhook');

export interface CertificateFiles {
  /** PEM serving certificate (with its chain), e.g. `/tls/tls.crt`. */
  certFile: string;
  /** PEM private key, e.g. `/tls/tls.key`. */
  keyFile: string;
  /**
   * PEM CA certificate that signed the serving certificate, e.g. `/tls/ca.crt`: the
   * `caBundle` of the managed configuration. Default: the serving certificate
   * itself (right for a self-signed one).
   */
  caFile?: string;
  /** Re-read the files this often even without a file-system event. Default 60 s. */
  pollMs?: number;
}

/** The certificate in use. The key stays inside the reloader. */
export interface LoadedCertificate {
  certPem: string;
  /** PEM of the CA for `caBundle`. */
  caPem: string;
  /** SHA-256 fingerprint of the serving certificate. */
  fingerprint: string;
  notAfter: Date;
}

/** Thrown when the files cannot be read or do not hold a matching certificate and key; names the files, never their contents. */
export class CertificateLoadError extends Error {
  readonly code = 'CertificateLoadError';
}

export class CertificateReloader {
  private loaded?: LoadedCertificate & { keyPem: string };
  private readonly listeners = new Set<(certificate: LoadedCertificate) => void>();
  private watchers: FSWatcher[] = [];
  private poll?: NodeJS.Timeout;
  private pending?: NodeJS.Timeout;
  private reloading: Promise<void> = Promise.resolve();

  constructor(readonly files: CertificateFiles) {}

  /** The certificate in use, or undefined before the first successful load. */
  get current(): LoadedCertificate | undefined {
    if (!this.loaded) return undefined;
    const { keyPem: _key, ...certificate } = this.loaded;
    return certificate;
  }

  /** Options for `tls.createSecureContext` / `server.setSecureContext`. */
  secureContextOptions(): { cert: string; key: string } {
    if (!this.loaded) throw new CertificateLoadError('the serving certificate has not been loaded yet');
    return { cert: this.loaded.certPem, key: this.loaded.keyPem };
  }

  /** Calls `listener` after each change of certificate (not for the first load). Returns a function that removes it. */
  onChange(listener: (certificate: LoadedCertificate) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Reads the files; throws a `CertificateLoadError` when they are missing or do not match. */
  async load(): Promise<LoadedCertificate> {
    const next = await this.read();
    this.loaded = next;
    return this.current!;
  }

  /** Starts watching the files (after `load`). */
  start(): void {
    if (this.poll) return;
    const dirs = new Set([this.files.certFile, this.files.keyFile, ...(this.files.caFile ? [this.files.caFile] : [])].map((f) => dirname(f)));
    for (const dir of dirs) {
      try {
        // A burst of events (certificate, key, symlink swap) is read once, shortly after it settles.
        this.watchers.push(watch(dir, { persistent: false }, () => this.schedule(100)).on('error', () => {}));
      } catch (e) {
        log.warn({ dir, error: (e as Error).message }, 'cannot watch the certificate directory; relying on polling');
      }
    }
    this.poll = setInterval(() => this.schedule(0), this.files.pollMs ?? 60_000).unref();
  }

  stop(): void {
    for (const w of this.watchers) w.close();
    this.watchers = [];
    clearInterval(this.poll);
    clearTimeout(this.pending);
    this.poll = undefined;
  }

  /** Re-reads the files now; resolves once done. A pair that does not match is logged and skipped. */
  reload(): Promise<void> {
    this.reloading = this.reloading.then(() => this.reloadOnce());
    return this.reloading;
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.pending);
    this.pending = setTimeout(() => void this.reload(), delayMs).unref();
  }

  private async reloadOnce(): Promise<void> {
    let next: LoadedCertificate & { keyPem: string };
    try {
      next = await this.read();
    } catch (e) {
      webhookMetrics().certificateReloads.inc({ result: 'error' });
      log.warn({ error: (e as Error).message }, 'serving certificate not reloaded; keeping the one in use');
      return;
    }
    if (next.fingerprint === this.loaded?.fingerprint && next.caPem === this.loaded.caPem) return;
    this.loaded = next;
    webhookMetrics().certificateReloads.inc({ result: 'success' });
    log.info({ fingerprint: next.fingerprint, notAfter: next.notAfter.toISOString() }, 'serving certificate reloaded');
    const current = this.current!;
    for (const listener of this.listeners) {
      try {
        listener(current);
      } catch (e) {
        log.error({ error: (e as Error).message }, 'a certificate change listener threw');
      }
    }
  }

  private async read(): Promise<LoadedCertificate & { keyPem: string }> {
    const { certFile, keyFile, caFile } = this.files;
    let certPem: string, keyPem: string, caPem: string;
    try {
      [certPem, keyPem, caPem] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8'), readFile(caFile ?? certFile, 'utf8')]);
    } catch (e) {
      throw new CertificateLoadError(`cannot read the serving certificate (${certFile}, ${keyFile}${caFile ? `, ${caFile}` : ''}): ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    let x509: X509Certificate;
    try {
      x509 = new X509Certificate(certPem);
      // Throws when the key does not belong to the certificate.
      createSecureContext({ cert: certPem, key: keyPem });
    } catch (e) {
      throw new CertificateLoadError(`the serving certificate ${certFile} and key ${keyFile} do not make a usable pair: ${(e as Error).message}`);
    }
    // A CA caught mid-rotation (new CA, old certificate) would put a caBundle the server does not match into the configuration.
    // Checked for a single certificate; a chain (leaf and intermediates) is trusted as the issuer wrote it.
    if (pemCertificates(caPem).length === 0) throw new CertificateLoadError(`${caFile ?? certFile} holds no PEM certificate`);
    // ca.crt may hold several CAs (old and new during a CA rollover): any of them will do.
    if (caFile && pemCertificates(certPem).length === 1) {
      const issued = pemCertificates(caPem).some((pem) => {
        try {
          const ca = new X509Certificate(pem);
          return x509.checkIssued(ca) && x509.verify(ca.publicKey);
        } catch {
          return false;
        }
      });
      if (!issued) throw new CertificateLoadError(`the serving certificate ${certFile} was not issued by the CA in ${caFile}`);
    }
    return { certPem, keyPem, caPem, fingerprint: x509.fingerprint256, notAfter: new Date(x509.validTo) };
  }
}

function pemCertificates(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}
