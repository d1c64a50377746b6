/**
 * The floor: the least work any client can do. A plain paged list with undici
 * and JSON.parse into a Map (and, for the watch scenarios, one raw watch whose
 * lines are parsed and put into the same Map). No layers, no events, no retries.
 */
import { Agent, Client as HttpClient, request } from 'undici';
import type { ChildTask } from '../protocol.js';
import type { Contender, Kind } from './types.js';

interface Listed {
  metadata: { resourceVersion?: string; continue?: string };
  items: { metadata: { name: string; resourceVersion?: string } }[];
}

async function list(task: ChildTask, dispatcher: Agent, path: string, into: Map<string, unknown>): Promise<string> {
  const headers = { authorization: `Bearer ${task.target.token}`, accept: 'application/json' };
  let cont = '';
  let rv = '';
  do {
    const res = await request(`${task.target.server}${path}?limit=500${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`, { dispatcher, headers });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`list ${path}: HTTP ${res.statusCode}`);
    const page = JSON.parse(text) as Listed;
    for (const item of page.items) into.set(item.metadata.name, item);
    cont = page.metadata.continue ?? '';
    rv = page.metadata.resourceVersion ?? rv;
  } while (cont);
  return rv;
}

/** A raw watch: lines split by hand, each JSON.parse'd and handed on. */
function watch(task: ChildTask, path: string, resourceVersion: string, onEvent: (type: string, obj: { metadata: { name: string } }) => void): { ready: Promise<void>; stop(): Promise<void> } {
  const dispatcher = new HttpClient(task.target.server, { connect: { ca: task.target.caPem } });
  const abort = new AbortController();
  let resolveReady!: () => void;
  const ready = new Promise<void>((r) => (resolveReady = r));
  const done = (async () => {
    const res = await dispatcher.request({
      method: 'GET',
      path: `${path}?watch=true&allowWatchBookmarks=true&resourceVersion=${resourceVersion}`,
      headers: { authorization: `Bearer ${task.target.token}`, accept: 'application/json' },
      signal: abort.signal,
      bodyTimeout: 0,
    });
    if (res.statusCode !== 200) throw new Error(`watch ${path}: HTTP ${res.statusCode}`);
    resolveReady();
    let pending = '';
    for await (const chunk of res.body) {
      const text = pending + (chunk as Buffer).toString('utf8');
      let start = 0;
      let nl = text.indexOf('\n');
      while (nl !== -1) {
        const event = JSON.parse(text.slice(start, nl)) as { type: string; object: { metadata: { name: string } } };
        onEvent(event.type, event.object);
        start = nl + 1;
        nl = text.indexOf('\n', start);
      }
      pending = text.slice(start);
    }
  })().catch((e: Error) => {
    if (!abort.signal.aborted) throw e;
  });
  return {
    ready: Promise.race([ready, done]),
    async stop() {
      abort.abort();
      await done.catch(() => {});
      await dispatcher.destroy();
    },
  };
}

const pathOf = (namespace: string, kind: Kind) => (kind === 'configmaps' ? `/api/v1/namespaces/${namespace}/configmaps` : `/apis/bench.kubeloop.dev/v1/namespaces/${namespace}/widgets`);

export function setup(task: ChildTask): Contender {
  const dispatcher = new Agent({ connect: { ca: task.target.caPem } });
  return {
    async cache(namespace, options) {
      const objects = new Map<string, unknown>();
      const path = pathOf(namespace, 'configmaps');
      const rv = await list(task, dispatcher, path, objects);
      let w: ReturnType<typeof watch> | undefined;
      if (options.watch) {
        const onChange = options.onChange;
        w = watch(task, path, rv, (type, obj) => {
          if (type === 'BOOKMARK') return;
          if (type === 'DELETED') objects.delete(obj.metadata.name);
          else objects.set(obj.metadata.name, obj);
          onChange?.(obj);
        });
        await w.ready;
      }
      return {
        size: () => objects.size,
        stop: async () => w?.stop(),
      };
    },

    /** Not a controller: the watch callback calls reconcile directly (a reference for the latency scenario). */
    async controller(namespace: string, kind: Kind, reconcile: (obj: any) => Promise<void>) {
      const objects = new Map<string, unknown>();
      const path = pathOf(namespace, kind);
      const rv = await list(task, dispatcher, path, objects);
      for (const obj of objects.values()) void reconcile(obj).catch(() => {});
      const w = watch(task, path, rv, (type, obj) => {
        if (type === 'ADDED' || type === 'MODIFIED') void reconcile(obj).catch(() => {});
      });
      await w.ready;
      return { stop: () => w.stop() };
    },

    close: () => dispatcher.close(),
  };
}
