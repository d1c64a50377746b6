import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A PEM certificate and its private key. */
export interface CertPair {
  certPem: string;
  keyPem: string;
}

function ecKeyPem(): string {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** An RSA key pair for service-account token signing. */
export function serviceAccountKeys(): { publicPem: string; privatePem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

/** A self-signed CA, made with the openssl command line (Node cannot sign certificates). */
export async function createCa(dir: string, commonName: string): Promise<CertPair & { certPath: string; keyPath: string }> {
  const keyPem = ecKeyPem();
  const keyPath = join(dir, `${commonName}.key`);
  const certPath = join(dir, `${commonName}.crt`);
  await writeFile(keyPath, keyPem, { mode: 0o600 });
  await run('openssl', ['req', '-x509', '-new', '-key', keyPath, '-days', '30', '-subj', `/CN=${commonName}`, '-out', certPath,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature']);
  return { keyPem, certPem: await readFile(certPath, 'utf8'), certPath, keyPath };
}

/**
 * A client certificate for `user` in `groups`, signed by the CA in `caCertPath`/`caKeyPath`.
 * Kubernetes reads the user from CN and groups from O.
 */
export async function issueClientCert(dir: string, ca: { certPath: string; keyPath: string }, user: string, groups: string[]): Promise<CertPair> {
  const keyPem = ecKeyPem();
  const base = join(dir, `client-${user.replace(/[^a-zA-Z0-9_.-]/g, '_')}-${Date.now()}`);
  await writeFile(`${base}.key`, keyPem, { mode: 0o600 });
  const subject = `/CN=${user}${groups.map((g) => `/O=${g}`).join('')}`;
  await run('openssl', ['req', '-new', '-key', `${base}.key`, '-subj', subject, '-out', `${base}.csr`]);
  await writeFile(`${base}.ext`, 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n');
  await run('openssl', ['x509', '-req', '-in', `${base}.csr`, '-CA', ca.certPath, '-CAkey', ca.keyPath, '-CAcreateserial',
    '-days', '30', '-extfile', `${base}.ext`, '-out', `${base}.crt`]);
  return { keyPem, certPem: await readFile(`${base}.crt`, 'utf8') };
}
