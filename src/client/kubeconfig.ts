import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { parse, YAMLParseError } from 'yaml';
import { ConfigError } from '../core/errors.js';
import type { ConnectionConfig, ExecConfig } from './config.js';

interface NamedEntry<T> {
  name?: string;
  [key: string]: unknown;
  value?: T;
}

interface LoadedFile {
  path: string;
  doc: Record<string, unknown>;
}

/** The files a kubeconfig comes from: the `KUBECONFIG` list, else `~/.kube/config`. */
export function kubeconfigPaths(env: NodeJS.ProcessEnv = process.env): string[] {
  const list = env.KUBECONFIG?.split(delimiter).filter((p) => p.length > 0) ?? [];
  return list.length > 0 ? list : [join(env.HOME ?? homedir(), '.kube', 'config')];
}

function loadFile(path: string, optional: boolean): LoadedFile | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if (optional && (e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError(`kubeconfig ${path} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}).`);
  }
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    // The parser's message quotes the offending line, which may hold a token: keep only the position.
    const where = e instanceof YAMLParseError && e.linePos ? ` at line ${e.linePos[0].line}, column ${e.linePos[0].col}` : '';
    throw new ConfigError(`kubeconfig ${path} is not valid YAML${where}.`);
  }
  if (doc === null || doc === undefined) doc = {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(`kubeconfig ${path} is not a YAML mapping.`);
  return { path, doc: doc as Record<string, unknown> };
}

interface Found<T> {
  value: T;
  file: string;
}

/** Merges named lists across files the way kubectl does: the first file to define a name wins. */
function findNamed(files: LoadedFile[], list: string, field: string, name: string): Found<Record<string, unknown>> | undefined {
  for (const f of files) {
    const entries = f.doc[list];
    if (entries === undefined || entries === null) continue;
    if (!Array.isArray(entries)) throw new ConfigError(`kubeconfig ${f.path}: field ${list} is not a list.`);
    for (const entry of entries as NamedEntry<unknown>[]) {
      if (entry?.name === name) {
        const value = entry[field];
        if (value !== undefined && (typeof value !== 'object' || value === null)) {
          throw new ConfigError(`kubeconfig ${f.path}: ${list}[name=${name}].${field} is not a mapping.`);
        }
        return { value: (value ?? {}) as Record<string, unknown>, file: f.path };
      }
    }
  }
  return undefined;
}

function str(v: unknown, file: string, field: string): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new ConfigError(`kubeconfig ${file}: field ${field} must be a string.`);
  return v;
}

function readReferenced(file: string, field: string, path: string): Buffer {
  const full = isAbsolute(path) ? path : resolve(dirname(file), path);
  try {
    return readFileSync(full);
  } catch (e) {
    throw new ConfigError(`kubeconfig ${file}: ${field} points at ${full}, which cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'}).`);
  }
}

function decodeData(file: string, field: string, data: string): Buffer {
  const buf = Buffer.from(data, 'base64');
  if (buf.length === 0) throw new ConfigError(`kubeconfig ${file}: ${field} is not valid base64.`);
  return buf;
}

/**
 * Reads a kubeconfig (merging a `KUBECONFIG` list in order, first value wins)
 * and resolves one context into a connection config.
 */
export function loadKubeconfig(options: { paths?: string[]; context?: string; env?: NodeJS.ProcessEnv } = {}): ConnectionConfig {
  const paths = options.paths ?? kubeconfigPaths(options.env);
  const explicit = options.paths !== undefined || (options.env ?? process.env).KUBECONFIG !== undefined;
  const files = paths.map((p) => loadFile(p, !explicit || paths.length > 1)).filter((f): f is LoadedFile => f !== undefined);
  const shown = paths.join(delimiter);
  if (files.length === 0) throw new ConfigError(`kubeconfig ${shown} does not exist.`);

  let contextName = options.context;
  let contextSource = 'the context option';
  if (!contextName) {
    for (const f of files) {
      const cc = str(f.doc['current-context'], f.path, 'current-context');
      if (cc) {
        contextName = cc;
        contextSource = `kubeconfig ${f.path}`;
        break;
      }
    }
  }
  if (!contextName) throw new ConfigError(`kubeconfig ${shown} sets no current-context, and no context was given.`);
  const context = findNamed(files, 'contexts', 'context', contextName);
  if (!context) throw new ConfigError(`${contextSource}: current-context "${contextName}" names no entry in contexts.`);

  const clusterName = str(context.value.cluster, context.file, `contexts[name=${contextName}].context.cluster`);
  if (!clusterName) throw new ConfigError(`kubeconfig ${context.file}: contexts[name=${contextName}].context.cluster is missing.`);
  const cluster = findNamed(files, 'clusters', 'cluster', clusterName);
  if (!cluster) throw new ConfigError(`kubeconfig ${context.file}: contexts[name=${contextName}].context.cluster "${clusterName}" names no entry in clusters.`);
  const userName = str(context.value.user, context.file, `contexts[name=${contextName}].context.user`);
  const user = userName ? findNamed(files, 'users', 'user', userName) : undefined;
  if (userName && !user) throw new ConfigError(`kubeconfig ${context.file}: contexts[name=${contextName}].context.user "${userName}" names no entry in users.`);

  const c = cluster.value;
  const cf = cluster.file;
  const cField = (f: string) => `clusters[name=${clusterName}].cluster.${f}`;
  const server = str(c.server, cf, cField('server'));
  if (!server) throw new ConfigError(`kubeconfig ${cf}: ${cField('server')} is missing.`);
  try {
    new URL(server);
  } catch {
    throw new ConfigError(`kubeconfig ${cf}: ${cField('server')} is not a URL.`);
  }

  const caData = str(c['certificate-authority-data'], cf, cField('certificate-authority-data'));
  const caFile = str(c['certificate-authority'], cf, cField('certificate-authority'));
  const ca = caData ? decodeData(cf, cField('certificate-authority-data'), caData) : caFile ? readReferenced(cf, cField('certificate-authority'), caFile) : undefined;
  const insecure = c['insecure-skip-tls-verify'] === true;

  const u = user?.value ?? {};
  const uf = user?.file ?? context.file;
  const uField = (f: string) => `users[name=${userName}].user.${f}`;
  const certData = str(u['client-certificate-data'], uf, uField('client-certificate-data'));
  const certFile = str(u['client-certificate'], uf, uField('client-certificate'));
  const keyData = str(u['client-key-data'], uf, uField('client-key-data'));
  const keyFile = str(u['client-key'], uf, uField('client-key'));
  const cert = certData ? decodeData(uf, uField('client-certificate-data'), certData) : certFile ? readReferenced(uf, uField('client-certificate'), certFile) : undefined;
  const key = keyData ? decodeData(uf, uField('client-key-data'), keyData) : keyFile ? readReferenced(uf, uField('client-key'), keyFile) : undefined;
  if ((cert === undefined) !== (key === undefined)) {
    throw new ConfigError(`kubeconfig ${uf}: ${uField(cert ? 'client-key' : 'client-certificate')} is missing while its pair is set.`);
  }

  const token = str(u.token, uf, uField('token'));
  const tokenFileRaw = str(u.tokenFile, uf, uField('tokenFile'));
  const tokenFile = tokenFileRaw ? (isAbsolute(tokenFileRaw) ? tokenFileRaw : resolve(dirname(uf), tokenFileRaw)) : undefined;
  if (tokenFile) readReferenced(uf, uField('tokenFile'), tokenFile);
  const username = str(u.username, uf, uField('username'));
  const password = str(u.password, uf, uField('password'));
  if (u['auth-provider'] !== undefined) {
    throw new ConfigError(`kubeconfig ${uf}: ${uField('auth-provider')} is not supported (auth providers were removed from Kubernetes clients); use an exec plugin.`);
  }
  let exec: ExecConfig | undefined;
  if (u.exec !== undefined) exec = parseExec(u.exec, uf, uField('exec'));

  const source = `kubeconfig ${shown} (context ${contextName})`;
  const namespace = str(context.value.namespace, context.file, `contexts[name=${contextName}].context.namespace`) ?? 'default';
  const auth: ConnectionConfig['auth'] = exec
    ? { type: 'exec', exec, server }
    : token
      ? { type: 'token', token }
      : tokenFile
        ? { type: 'tokenFile', path: tokenFile }
        : username && password
          ? { type: 'basic', username, password }
          : { type: 'none' };
  return {
    server: server.replace(/\/+$/, ''),
    namespace,
    tls: { ca, cert, key, rejectUnauthorized: !insecure, servername: str(c['tls-server-name'], cf, cField('tls-server-name')) },
    auth,
    source,
  };
}

function parseExec(raw: unknown, file: string, field: string): ExecConfig {
  if (typeof raw !== 'object' || raw === null) throw new ConfigError(`kubeconfig ${file}: ${field} is not a mapping.`);
  const e = raw as Record<string, unknown>;
  const command = str(e.command, file, `${field}.command`);
  if (!command) throw new ConfigError(`kubeconfig ${file}: ${field}.command is missing.`);
  const apiVersion = str(e.apiVersion, file, `${field}.apiVersion`);
  const supported = ['client.authentication.k8s.io/v1', 'client.authentication.k8s.io/v1beta1'];
  if (!apiVersion || !supported.includes(apiVersion)) {
    throw new ConfigError(`kubeconfig ${file}: ${field}.apiVersion must be one of ${supported.join(', ')}.`);
  }
  const args = e.args === undefined || e.args === null ? [] : e.args;
  if (!Array.isArray(args) || !args.every((a) => typeof a === 'string')) throw new ConfigError(`kubeconfig ${file}: ${field}.args must be a list of strings.`);
  const envList = e.env === undefined || e.env === null ? [] : e.env;
  if (!Array.isArray(envList)) throw new ConfigError(`kubeconfig ${file}: ${field}.env must be a list.`);
  const env: Record<string, string> = {};
  for (const item of envList as { name?: unknown; value?: unknown }[]) {
    if (typeof item?.name !== 'string' || typeof item.value !== 'string') throw new ConfigError(`kubeconfig ${file}: ${field}.env entries need a name and a value.`);
    env[item.name] = item.value;
  }
  // A bare command name is looked up on PATH; a relative path is relative to the kubeconfig.
  const resolvedCommand = command.includes('/') && !isAbsolute(command) ? resolve(dirname(file), command) : command;
  return {
    apiVersion: apiVersion as ExecConfig['apiVersion'],
    command: resolvedCommand,
    args: args as string[],
    env,
    provideClusterInfo: e.provideClusterInfo === true,
    source: `kubeconfig ${file} ${field}`,
  };
}
