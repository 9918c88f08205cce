// The push stream of the real server binary: GET /api/v1/events (Server-Sent Events) announces
// each committed batch, not replays; read keys apply (as ?key= for EventSource); an open
// stream does not hold up a graceful stop.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { sqlite, startServer } from './engines.mjs';
import { subscribe } from './push-stream.mjs';

const client = { id: 'events-test', sdk: 'runledger-test/0' };
const record = (id) => ({ id, version: 1, kind: 'workflow', workflowId: 'wf', status: 'success', startedAt: Date.now(), completedAt: Date.now() + 5, durationMs: 5 });

/** Reads SSE events from `url` into an array until `stop()`; resolves once the stream is open. */
let db;
let server;
const ingest = (batchId, records, key) => fetch(`${server.base}/v1/ingest`, {
  method: 'POST', headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
  body: JSON.stringify({ batch_id: batchId, client, records }),
});

before(async () => {
  db = sqlite();
  server = await startServer(['--db', db.url]);
});
after(async () => {
  await server?.stop();
  await db?.stop();
});

test('a committed batch is announced with its accepted ids; a replayed batch is not', async () => {
  const stream = await subscribe(`${server.base}/api/v1/events`);
  assert.equal(stream.status, 200);
  await stream.waitFor(() => stream.events.some((e) => e.event === 'ready'), 'the ready event');
  const first = [record('e1'), record('e2'), { ...record('bad'), completedAt: 1 }];
  assert.equal((await ingest('b1', first)).status, 200);
  await stream.waitFor(() => stream.events.some((e) => e.event === 'ingested'), 'the ingested event');
  const ingested = stream.events.filter((e) => e.event === 'ingested');
  assert.deepEqual(ingested[0].data.accepted, ['e1', 'e2'], 'rejected records are not announced');
  assert.equal(typeof ingested[0].data.at, 'number');
  // The replay answers from the remembered batch: nothing new, so nothing announced. A later
  // batch is announced, which proves the stream was still listening after the replay.
  assert.equal((await ingest('b1', first)).status, 200);
  assert.equal((await ingest('b2', [record('e3')])).status, 200);
  await stream.waitFor(() => stream.events.filter((e) => e.event === 'ingested').length === 2, 'the second batch');
  assert.deepEqual(stream.events.filter((e) => e.event === 'ingested').map((e) => e.data.accepted), [['e1', 'e2'], ['e3']]);
  stream.stop();
});

test('with keys configured the stream needs a read key, as a header or ?key=', async () => {
  const dbKeys = sqlite();
  const keyed = await startServer(['--db', dbKeys.url, '--api-key', 'writer', '--read-key', 'reader']);
  try {
    const none = await subscribe(`${keyed.base}/api/v1/events`);
    assert.equal(none.status, 401);
    const wrong = await subscribe(`${keyed.base}/api/v1/events?key=nope`);
    assert.equal(wrong.status, 401);
    const byQuery = await subscribe(`${keyed.base}/api/v1/events?key=reader`);
    assert.equal(byQuery.status, 200);
    const byHeader = await subscribe(`${keyed.base}/api/v1/events`, { headers: { authorization: 'Bearer reader' } });
    assert.equal(byHeader.status, 200);
    byQuery.stop();
    byHeader.stop();
  } finally {
    await keyed.stop();
    await dbKeys.stop();
  }
});

test('SIGTERM stops the server cleanly while a stream is open, and the stream ends', async () => {
  const dbStop = sqlite();
  const other = await startServer(['--db', dbStop.url]);
  try {
    const stream = await subscribe(`${other.base}/api/v1/events`);
    await stream.waitFor(() => stream.events.length > 0, 'the ready event');
    const exit = await Promise.race([other.stop(), new Promise((r) => setTimeout(() => r('hung'), 10_000))]);
    assert.deepEqual(exit, { code: 0, signal: null }, `the server should exit 0 by itself:\n${other.log()}`);
    await stream.waitFor(() => stream.ended(), 'the stream to end');
  } finally {
    await dbStop.stop();
  }
});
