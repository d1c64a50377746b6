/**
 * The floor again, with `node:https` instead of undici for the list and the watch,
 * and no undici loaded at all: the watch scenario's answer to "which HTTP stack
 * reads a long-lived watch response more cheaply". (Measured while choosing
 * kubeloop's watch transport: a process that has sent even one request through
 * undici pays ~20–25 µs more per watch event on a `node:https` watch too, so the
 * choice is about the whole process, not the watch connection alone.)
 */
import { get, type RequestOptions } from 'node:https';
import type { ChildTask } from '../protocol.js';
import type { Contender } from './types.js';

interface Listed {
  metadata: { resourceVersion?: string; continue?: string };
  items: { metadata: { name: string } }[];
}

function options(task: ChildTask, path: string): RequestOptions {
  const url = new URL(task.target.server);
  return { host: url.hostname, port: url.port, path, ca: task.target.caPem, headers: { authorization: `Bearer ${task.target.token}`, accept: 'application/json' } };
}

function fetchText(task: ChildTask, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get(options(task, path), (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`GET ${path}: HTTP ${res.statusCode}`))));
      res.on('error', reject);
    }).on('error', reject);
  });
}

export function setup(task: ChildTask): Contender {
  return {
    async cache(namespace, opts) {
      const objects = new Map<string, unknown>();
      const path = `/api/v1/namespaces/${namespace}/configmaps`;
      let cont = '';
      let rv = '';
      do {
        const page = JSON.parse(await fetchText(task, `${path}?limit=500${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`)) as Listed;
        for (const item of page.items) objects.set(item.metadata.name, item);
        cont = page.metadata.continue ?? '';
        rv = page.metadata.resourceVersion ?? rv;
      } while (cont);
      let stop = async () => {};
      if (opts.watch) {
        const onChange = opts.onChange;
        await new Promise<void>((resolve, reject) => {
          const req = get(options(task, `${path}?watch=true&allowWatchBookmarks=true&resourceVersion=${rv}`), (res) => {
            if (res.statusCode !== 200) return reject(new Error(`watch ${path}: HTTP ${res.statusCode}`));
            res.setEncoding('utf8');
            let pending = '';
            res.on('data', (chunk: string) => {
              const text = pending + chunk;
              let start = 0;
              let nl = text.indexOf('\n');
              while (nl !== -1) {
                const event = JSON.parse(text.slice(start, nl)) as { type: string; object: { metadata: { name: string } } };
                if (event.type === 'DELETED') objects.delete(event.object.metadata.name);
                else if (event.type !== 'BOOKMARK') objects.set(event.object.metadata.name, event.object);
                if (event.type !== 'BOOKMARK') onChange?.(event.object);
                start = nl + 1;
                nl = text.indexOf('\n', start);
              }
              pending = text.slice(start);
            });
            res.on('error', () => {});
            resolve();
          });
          req.on('error', reject);
          stop = async () => void req.destroy();
        });
      }
      return { size: () => objects.size, stop: () => stop() };
    },
    close: async () => {},
  };
}
