/**
 * A webhook server for tests: certificates from the dev helper in a temporary
 * directory, a loopback port, and a direct HTTPS caller that trusts its CA.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { Agent, request } from 'undici';
import { WebhookServer, type WebhookServerOptions } from '../../src/index.js';
import { createWebhookCertificates, type WebhookCertificateFiles } from '../../src/testing/index.js';

export interface TestWebhookServer {
  server: WebhookServer;
  dir: string;
  files: WebhookCertificateFiles;
  /** `https://127.0.0.1:<port>` */
  url: string;
  /** POSTs `body` (JSON unless a string) to `path`, trusting the current CA. */
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<{ status: number; json: any; headers: Record<string, unknown> }>;
  /** Replaces the certificate files with ones from a new CA; resolves with them. */
  rotate(): Promise<WebhookCertificateFiles>;
  /** The SHA-256 fingerprint of the certificate a new TLS handshake gets. */
  servedFingerprint(): Promise<string>;
  stop(): Promise<void>;
}

/** Builds the server with `configure` (adding webhooks), listens on a free loopback port. */
export async function startWebhookServer(configure: (server: WebhookServer) => void, options: Partial<WebhookServerOptions> = {}): Promise<TestWebhookServer> {
  const dir = await mkdtemp(join(tmpdir(), 'kubeloop-webhook-'));
  let files = await createWebhookCertificates(dir);
  const server = new WebhookServer({ ...files, port: 0, host: '127.0.0.1', ...options });
  configure(server);
  await server.listen();
  const url = `https://127.0.0.1:${server.port}`;
  let agent = new Agent({ connect: { ca: files.caPem } });
  return {
    server,
    dir,
    get files() {
      return files;
    },
    url,
    async post(path, body, headers = {}) {
      const res = await request(`${url}${path}`, {
        method: 'POST',
        dispatcher: agent,
        headers: { 'content-type': 'application/json', ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.body.text();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = text;
      }
      return { status: res.statusCode, json, headers: res.headers };
    },
    async rotate() {
      files = await createWebhookCertificates(dir);
      const old = agent;
      agent = new Agent({ connect: { ca: files.caPem } });
      await old.close();
      return files;
    },
    servedFingerprint() {
      return new Promise((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port: server.port, rejectUnauthorized: false }, () => {
          const raw = socket.getPeerX509Certificate();
          socket.end();
          if (!raw) reject(new Error('no peer certificate'));
          else resolve(raw.fingerprint256);
        });
        socket.once('error', reject);
      });
    },
    async stop() {
      await agent.close();
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The fingerprint of a PEM certificate. */
export function fingerprintOf(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

/** An AdmissionReview as the API server would send it for a ConfigMap. */
export function admissionReview(object: Record<string, unknown> | null, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `uid-${Math.random().toString(16).slice(2)}`,
      kind: { group: '', version: 'v1', kind: 'ConfigMap' },
      resource: { group: '', version: 'v1', resource: 'configmaps' },
      name: (object as { metadata?: { name?: string } } | null)?.metadata?.name ?? 'x',
      namespace: 'default',
      operation: 'CREATE',
      userInfo: { username: 'tester' },
      object,
      dryRun: false,
      ...overrides,
    },
  };
}
