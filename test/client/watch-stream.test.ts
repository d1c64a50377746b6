/**
 * The watch body decoder on its own (pure logic, a PassThrough standing in for the
 * response body): lines split across chunks and inside multi-byte characters,
 * batches per chunk, bad lines, the end without a newline, abort, a broken body,
 * and pausing the body while nobody reads.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { TransportError } from '../../src/index.js';
import { WatchEventStream, type WatchEvent } from '../../src/client/watch-stream.js';

type Obj = { metadata: { name: string }; data?: Record<string, string> };
const line = (name: string, extra = '') => `{"type":"ADDED","object":{"metadata":{"name":"${name}"}${extra}}}\n`;
const names = (events: WatchEvent<Obj>[]) => events.map((e) => ('object' in e ? (e.object as Obj).metadata.name : e.type));

async function all(stream: WatchEventStream<Obj>): Promise<WatchEvent<Obj>[][]> {
  const out: WatchEvent<Obj>[][] = [];
  for await (const batch of stream) out.push(batch);
  return out;
}

test('every event of one chunk comes in one batch, in order', async () => {
  const body = new PassThrough();
  const stream = new WatchEventStream<Obj>(body, 'https://x');
  body.write(line('a') + line('b') + line('c'));
  const first = await stream.next();
  assert.deepEqual(names(first.value as WatchEvent<Obj>[]), ['a', 'b', 'c']);
  body.end(line('d'));
  assert.deepEqual((await all(stream)).map(names), [['d']]);
});

test('a line split across chunks, even inside a multi-byte character, is decoded whole', async () => {
  const body = new PassThrough();
  const stream = new WatchEventStream<Obj>(body, 'https://x');
  const text = Buffer.from(line('grüße-€', ',"data":{"k":"日本語"}') + line('next'));
  const cut = text.indexOf(Buffer.from('€')) + 1; // inside the three bytes of €
  const done = all(stream);
  body.write(text.subarray(0, 5));
  body.write(text.subarray(5, cut));
  body.write(text.subarray(cut));
  body.end();
  const events = (await done).flat();
  assert.deepEqual(names(events), ['grüße-€', 'next']);
  assert.equal((events[0] as { object: Obj }).object.data?.k, '日本語');
});

test('a last line without a newline is still an event; blank lines are skipped', async () => {
  const body = new PassThrough();
  const stream = new WatchEventStream<Obj>(body, 'https://x');
  body.end(`\n  \n${line('a')}${line('b').trimEnd()}`);
  assert.deepEqual((await all(stream)).flat().map((e) => ('object' in e ? (e.object as Obj).metadata.name : e.type)), ['a', 'b']);
});

test('a bad line is an INVALID event that does not quote the line, and the stream goes on', async () => {
  const body = new PassThrough();
  const stream = new WatchEventStream<Obj>(body, 'https://x');
  body.end(`{not json hunter2\n{"kind":"NotAWatchEvent"}\n${line('after')}`);
  const events = (await all(stream)).flat();
  assert.deepEqual(events.map((e) => e.type), ['INVALID', 'INVALID', 'ADDED']);
  for (const e of events.slice(0, 2)) {
    assert.ok(e.type === 'INVALID');
    assert.ok(!e.error.message.includes('hunter2'));
    assert.match(e.error.message, /^watch stream line [12] /);
  }
});

test('after the signal aborts nothing more is handed out, and the body is destroyed', async () => {
  const body = new PassThrough();
  const ac = new AbortController();
  const stream = new WatchEventStream<Obj>(body, 'https://x', ac.signal);
  body.write(line('a'));
  await new Promise((r) => setImmediate(r));
  ac.abort();
  assert.deepEqual(await stream.next(), { done: true, value: undefined });
  assert.ok(body.destroyed);
});

test('a waiting consumer is released by an abort', async () => {
  const body = new PassThrough();
  const ac = new AbortController();
  const stream = new WatchEventStream<Obj>(body, 'https://x', ac.signal);
  const waiting = stream.next();
  ac.abort();
  assert.deepEqual(await waiting, { done: true, value: undefined });
});

test('a broken body is a TransportError after the events that came before it', async () => {
  const body = new PassThrough();
  const stream = new WatchEventStream<Obj>(body, 'https://x');
  body.write(line('a'));
  await new Promise((r) => setImmediate(r));
  body.destroy(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
  assert.deepEqual(names((await stream.next()).value as WatchEvent<Obj>[]), ['a']);
  await assert.rejects(stream.next(), (e: Error) => e instanceof TransportError && /the watch stream broke: connection reset by peer/.test(e.message));
});

test('the body is paused while 1,024 decoded events wait, and resumed when they are taken', async () => {
  const body = new PassThrough();
  const stream = new WatchEventStream<Obj>(body, 'https://x');
  body.write(Array.from({ length: 1100 }, (_, i) => line(`o${i}`)).join(''));
  await new Promise((r) => setImmediate(r));
  assert.ok(body.isPaused(), 'paused with 1,100 events untaken');
  const batch = (await stream.next()).value as WatchEvent<Obj>[];
  assert.equal(batch.length, 1100);
  assert.ok(!body.isPaused(), 'resumed once taken');
  body.end();
  assert.deepEqual(await all(stream), []);
});

test('leaving the loop destroys the body', async () => {
  const body = new PassThrough();
  const stream = new WatchEventStream<Obj>(body, 'https://x');
  body.write(line('a') + line('b'));
  for await (const batch of stream) {
    assert.equal(batch.length, 2);
    break;
  }
  assert.ok(body.destroyed);
});
