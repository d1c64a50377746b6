/**
 * A CA and a serving certificate for a webhook server, for development and tests:
 * files named as cert-manager names them in a Secret (`ca.crt`, `tls.crt`,
 * `tls.key`), so the same `WebhookServer` options work locally and in a cluster.
 * In a cluster, use cert-manager (deploy/webhook) instead.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createCa } from './pki.js';

const run = promisify(execFile);

export interface WebhookCertificateOptions {
  /** Names the certificate is valid for: IP addresses and DNS names. Default `127.0.0.1` and `localhost`. */
  hosts?: string[];
  /** Days of validity. Default 30. */
  days?: number;
}

export interface WebhookCertificateFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
  /** The CA certificate (PEM), e.g. for a client that calls the server directly. */
  caPem: string;
}

/**
 * Writes `ca.crt`, `tls.crt` and `tls.key` into `dir` (created if missing) from a
 * new CA. Called again on the same directory it replaces them (each file by a
 * rename, so a reader never sees half a file): a rotation, CA included.
 *
 * @example
 * const files = await createWebhookCertificates('/tmp/webhook-tls');
 * const server = new WebhookServer({ ...files, port: 9443 });
 */
export async function createWebhookCertificates(dir: string, options: WebhookCertificateOptions = {}): Promise<WebhookCertificateFiles> {
  await mkdir(dir, { recursive: true });
  const work = join(dir, `.work-${randomBytes(4).toString('hex')}`);
  await mkdir(work);
  const ca = await createCa(work, 'kubeloop-webhook-ca');
  const hosts = options.hosts ?? ['127.0.0.1', 'localhost'];
  const san = hosts.map((h) => (isIP(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
  const { stdout: keyPem } = await run('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1']);
  await writeFile(join(work, 'tls.key'), keyPem, { mode: 0o600 });
  await run('openssl', ['req', '-new', '-key', join(work, 'tls.key'), '-subj', `/CN=${hosts[0]}`, '-out', join(work, 'tls.csr')]);
  await writeFile(join(work, 'tls.ext'), `subjectAltName=${san}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n`);
  await run('openssl', ['x509', '-req', '-in', join(work, 'tls.csr'), '-CA', ca.certPath, '-CAkey', ca.keyPath, '-CAcreateserial',
    '-days', String(options.days ?? 30), '-extfile', join(work, 'tls.ext'), '-out', join(work, 'tls.crt')]);
  const files = { caFile: join(dir, 'ca.crt'), certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key') };
  await rename(ca.certPath, files.caFile);
  await rename(join(work, 'tls.key'), files.keyFile);
  await rename(join(work, 'tls.crt'), files.certFile);
  return { ...files, caPem: await readFile(files.caFile, 'utf8') };
}
