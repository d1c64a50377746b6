import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { request } from 'undici';
import { Api, Client, ConfigMaps, Events, isApiError, Patch } from '../src/index.js';
import { Documents } from '../examples/document-controller/document.js';
import { Waiter } from './support/controller.js';
import { until } from './support/cluster.js';
import { startHttpReceiver } from './support/otlp-receiver.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** PIDs of live processes whose environment carries `marker`. */
function processesWith(marker: string): number[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).flatMap((pid) => {
    try {
      return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(marker) ? [Number(pid)] : [];
    } catch {
      return [];
    }
  });
}

test('the demo command runs the operator through every path, serves metrics, and Ctrl+C stops everything it started', { timeout: 300_000 }, async () => {
  const marker = `KUBELOOP_DEMO_MARK=${randomBytes(6).toString('hex')}`;
  // Traces from the demo's writes and the operator's reconciles, to show the link between them.
  const receiver = await startHttpReceiver();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PROBE_PORT: '0',
    KUBELOOP_LOG: 'info',
    KUBELOOP_LOG_FORMAT: 'json',
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    OTEL_BSP_SCHEDULE_DELAY: '200',
    [marker.split('=')[0]!]: marker.split('=')[1],
  };
  delete env.KUBECONFIG;
  // Its own process group, so that SIGINT reaches it the way Ctrl+C in a terminal would.
  const demo = spawn('bash', ['scripts/demo.sh', '--local'], { cwd: root, env, detached: true, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = once(demo, 'exit');
  const lines: string[] = [];
  const waiter = new Waiter();
  const output = createInterface({ input: demo.stdout! }).on('line', (l) => {
    lines.push(l);
    waiter.notify();
  });
  const outputClosed = once(output, 'close');
  const line = async (re: RegExp, timeoutMs = 120_000) => {
    await waiter.until(`demo output ${re}`, () => lines.some((l) => re.test(l)), timeoutMs);
    return lines.find((l) => re.test(l))!.match(re)!;
  };
  let client: Client | undefined;
  try {
    const kubeconfig = (await line(/^\[demo\] KUBECONFIG=(\S+)$/, 240_000))[1]!;
    await line(/^\[demo\] operator ready: (http:\S+)\/readyz answers 200$/);
    await line(/Press Ctrl\+C to stop\.$/);
    const metricsUrl = (await line(/^\[demo\] {3}metrics: {2}(http:\S+\/metrics)$/))[1]!;
    for (const path of ['hello', 'notes', 'temporary', 'refused', 'hello-again']) assert.ok(lines.some((l) => l.startsWith(`[demo] ✓ ${path}`)), `a ✓ line for ${path}`);

    // Check what the demo claims, independently.
    client = Client.fromKubeconfig({ paths: [kubeconfig] });
    const docs = Api.namespaced(client, Documents, 'kubeloop-demo');
    const cms = Api.namespaced(client, ConfigMaps, 'kubeloop-demo');
    const hello = await docs.get('hello');
    assert.equal(hello.status?.phase, 'Ready');
    assert.match((await cms.get('hello-doc')).data?.['document.md'] ?? '', /^# Hello/);
    const notes = await docs.get('notes');
    assert.equal(notes.status?.observedGeneration, 2);
    assert.match((await cms.get('notes-doc')).data?.['document.txt'] ?? '', /second draft/);
    const refused = await docs.get('refused');
    assert.equal(refused.status?.phase, 'Refused');
    assert.match(refused.status?.message ?? '', /format pdf is not supported/);
    const events = (await Api.namespaced(client, Events, 'kubeloop-demo').list()).items;
    assert.ok(events.some((e) => e.type === 'Warning' && e.reason === 'Refused' && e.regarding?.name === 'refused'));
    assert.equal(await docs.getOpt('temporary'), undefined, 'deletion completed through the finalizer');
    assert.equal(await cms.getOpt('temporary-doc'), undefined);

    // The operator's validating webhook refused a second Document titled Hello, with the handler's message.
    assert.match(lines.find((l) => l.startsWith('[demo] ✓ hello-again'))!, /refused by the validating webhook: .*title "Hello" is already used by Document hello in namespace kubeloop-demo/);
    assert.equal(await docs.getOpt('hello-again'), undefined);
    await assert.rejects(docs.create({ apiVersion: 'example.com/v1', kind: 'Document', metadata: { name: 'hello-too' }, spec: { title: 'Hello' } }), (e: unknown) => {
      assert.ok(isApiError(e, 409), String(e));
      assert.match((e as Error).message, /admission webhook "unique-title\.documents\.example\.com" denied the request: title "Hello" is already used by Document hello/);
      return true;
    });
    // A title no other Document uses goes through, and so does an update of hello that keeps its title.
    await docs.create({ apiVersion: 'example.com/v1', kind: 'Document', metadata: { name: 'unique' }, spec: { title: 'A title of its own' } });
    await docs.patch('hello', Patch.merge({ spec: { body: 'changed, same title' } }));

    const metrics = await (await request(metricsUrl)).body.text();
    assert.match(metrics, /^webhook_requests_total\{webhook="unique-title\.documents\.example\.com",operation="CREATE",result="denied"\} [2-9]/m, 'the refusals are counted');
    const count = (result: string) => Number(metrics.match(new RegExp(`^reconcile_total\\{controller="document-controller",result="${result}"\\} (\\d+)`, 'm'))?.[1] ?? 0);
    assert.ok(count('success') > 0, 'successful reconciles counted');
    assert.ok(count('error') > 0, 'failed reconciles counted');
    assert.match(metrics, /^controller_runtime_reconcile_total\{controller="document-controller",result="success"\} [1-9]/m, "controller-runtime's names are served too");

    // The diagnostics page is on in the demo; its JSON form names what the operator did.
    const debugUrl = (await line(/^\[demo\] {3}debug: {4}(http:\S+\/debug) /))[1]!;
    const debug = (await (await request(`${debugUrl}.json`)).body.json()) as { controllers: { name: string; ready: boolean; recent: { object: string; result: string }[] }[] };
    const dc = debug.controllers.find((c) => c.name === 'document-controller');
    assert.ok(dc?.ready, 'the controller is listed and ready');
    assert.ok(dc.recent.some((r) => r.object === 'Document.v1.example.com/hello.kubeloop-demo' && r.result === 'success'), 'a recent successful reconcile of hello');
    assert.ok(processesWith(marker).length >= 4, 'demo, operator, etcd and kube-apiserver are running');

    // The demo's traced write of hello is linked from the operator's reconcile of it (two processes, one receiver).
    const write = receiver.spans.find((s) => s.name === 'demo: write document' && s.attributes.document === 'hello');
    assert.ok(write, "the demo's write span was exported");
    assert.equal(write.resource['service.name'], 'kubeloop-demo');
    const linked = await until('a reconcile of hello linked to the write', () =>
      receiver.spans.find((s) => s.name === 'reconciling object' && s.links.some((l) => l.traceId === write.traceId && l.spanId === write.spanId)),
    );
    assert.equal(linked.resource['service.name'], 'document-controller');
    assert.equal(linked.attributes['object.ref'], 'Document.v1.example.com/hello.kubeloop-demo');

    process.kill(-demo.pid!, 'SIGINT');
    const [code] = await exited;
    await outputClosed;
    assert.equal(code, 0);
    assert.ok(lines.includes('[demo] stopped. Bye.'), lines.slice(-6).join('\n'));
    const left = processesWith(marker).map((pid) => `${pid} ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').slice(0, 100)}`);
    assert.deepEqual(left, [], 'every process the demo started is gone');
  } finally {
    await client?.close();
    await receiver.close();
    for (const pid of processesWith(marker)) process.kill(pid, 'SIGKILL');
  }
});
