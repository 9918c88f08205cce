// A record the ingest server would refuse for size is flagged when it is recorded (an
// `error` event naming --max-body-bytes), and the flag is right: the real server binary, at
// its default body limit, refuses that record (413) and sync dead-letters it, while a record
// just under the limit lands. pkg/node.js over loopback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tracker } from '../../pkg/node.js';
import { sqlite, startServer } from '../server/engines.mjs';

const KB64 = 'x'.repeat(60 * 1024);

/** A run with `nodes` node runs of about 60 KiB of input each (under maxValueBytes). */
function record(tracker, workflowId, nodes) {
  const run = tracker.start({ workflowId });
  for (let i = 0; i < nodes; i++) run.node({ id: `n${i}` }, { blob: KB64 }).succeed();
  run.succeed();
  return run.id;
}

test('a record over the server body limit is flagged at record time; the server indeed refuses it', async () => {
  const db = sqlite();
  const server = await startServer(['--db', db.url]);   // default --max-body-bytes: 8 MiB
  try {
    const tracker = await Tracker.open({ storage: 'memory', endpoint: server.base, sync: { debounceMs: 60_000 } });
    const errors = [];
    tracker.on('error', (e) => errors.push(e));
    // About 6.6 MiB: under the limit, not flagged.
    const fits = record(tracker, 'fits', 110);
    await tracker.flush();
    assert.deepEqual(errors.map((e) => e.message), [], 'a record under the limit is not flagged');
    // About 9 MiB: flagged once, by the core's batch step measuring it, before any sync.
    const big = record(tracker, 'too-big', 150);
    await tracker.flush();
    assert.equal(errors.length, 1, errors.map((e) => e.message).join(' | '));
    assert.equal(errors[0].name, 'SyncError');
    assert.match(errors[0].message, new RegExp(`execution ${big} is [0-9.]+ MiB as JSON`));
    assert.match(errors[0].message, /--max-body-bytes/);
    assert.equal(tracker.syncState().inFlight, 0, 'flagged before anything was sent');
    // The server agrees: the flagged record is refused for size and dead-lettered, the
    // other one is stored.
    await tracker.sync().catch(() => {});
    const dead = await tracker.deadLetters();
    assert.deepEqual(dead.map((d) => d.id), [big]);
    assert.match(dead[0].reason, /larger than the server accepts/);
    assert.equal((await fetch(`${server.base}/api/v1/execution/${fits}`)).status, 200);
    assert.equal((await fetch(`${server.base}/api/v1/execution/${big}`)).status, 404);
    await tracker.close();
  } finally {
    await server.stop();
    await db.stop();
  }
});

test('worker: true flags the same record (the core on the worker measures it), and the server agrees', async () => {
  const db = sqlite();
  const server = await startServer(['--db', db.url]);   // default --max-body-bytes: 8 MiB
  try {
    const tracker = await Tracker.open({ storage: 'memory', endpoint: server.base, sync: { debounceMs: 60_000 }, worker: true });
    const errors = [];
    tracker.on('error', (e) => errors.push(e));
    const fits = record(tracker, 'fits', 110);
    const big = record(tracker, 'too-big', 150);
    await tracker.flush();
    assert.equal(errors.length, 1, errors.map((e) => e.message).join(' | '));
    assert.equal(errors[0].name, 'SyncError');
    assert.match(errors[0].message, new RegExp(`execution ${big} is [0-9.]+ MiB as JSON`));
    assert.match(errors[0].message, /--max-body-bytes/);
    await tracker.sync().catch(() => {});
    assert.deepEqual((await tracker.deadLetters()).map((d) => d.id), [big]);
    assert.equal((await fetch(`${server.base}/api/v1/execution/${fits}`)).status, 200);
    await tracker.close();
  } finally {
    await server.stop();
    await db.stop();
  }
});

test('without an endpoint nothing is flagged: a big local record is fine', async () => {
  const tracker = await Tracker.open({ storage: 'memory' });
  const errors = [];
  tracker.on('error', (e) => errors.push(e));
  const id = record(tracker, 'local', 150);
  await tracker.flush();
  assert.deepEqual(errors, []);
  assert.equal((await tracker.get(id))?.nodes?.length, 150);
  await tracker.close();
});

test('log(): a whole record over the server body limit is flagged at the call, once; one under it is not', async () => {
  const db = sqlite();
  const server = await startServer(['--db', db.url]);   // default --max-body-bytes: 8 MiB
  try {
    const tracker = await Tracker.open({ storage: 'memory', endpoint: server.base, sync: { debounceMs: 60_000 } });
    const errors = [];
    tracker.on('error', (e) => errors.push(e));
    const T0 = Date.now() - 60_000;
    const whole = (nodes) => ({
      status: 'success', startedAt: T0, completedAt: T0 + 1000,
      nodes: Array.from({ length: nodes }, (_, i) => ({ id: `n${i}`, startedAt: T0, completedAt: T0 + 1, status: 'success', input: { blob: KB64 } })),
    });
    const fits = tracker.log(whole(110));   // about 6.6 MiB: not flagged
    assert.deepEqual(errors.map((e) => e.message), []);
    const big = tracker.log(whole(150));    // about 9 MiB: flagged before log() returns
    assert.equal(errors.length, 1, errors.map((e) => e.message).join(' | '));
    assert.equal(errors[0].name, 'SyncError');
    assert.match(errors[0].message, new RegExp(`execution ${big} is [0-9.]+ MiB as JSON`));
    assert.match(errors[0].message, /--max-body-bytes/);
    // Kept locally; the server agrees when it is sent.
    await tracker.flush();
    assert.equal((await tracker.get(big))?.nodes?.length, 150);
    await tracker.sync().catch(() => {});
    assert.deepEqual((await tracker.deadLetters()).map((d) => d.id), [big]);
    assert.equal((await fetch(`${server.base}/api/v1/execution/${fits}`)).status, 200);
    // Discarded: gone from the dead letters and from the sync counts at once, never sent
    // again; the run stays in the history.
    assert.equal(tracker.syncState().deadLettered, 1);
    assert.equal(await tracker.discardDeadLetters([big]), 1);
    assert.equal(tracker.syncState().deadLettered, 0);
    assert.deepEqual(await tracker.deadLetters(), []);
    assert.equal(await tracker.discardDeadLetters([big]), 0, 'nothing left to discard');
    assert.equal((await tracker.get(big))?.nodes?.length, 150);
    await tracker.sync();
    assert.equal(tracker.syncState().pending, 0);
    assert.equal((await fetch(`${server.base}/api/v1/execution/${big}`)).status, 404);
    await tracker.close();
  } finally {
    await server.stop();
    await db.stop();
  }
});
