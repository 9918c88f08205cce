// close() and Node's exit try a last sync; an outage is one `error` event, not one per
// retry. pkg/node.js (real fetch) against the real server binary over loopback; deliveries
// are counted by the server (`--test-faults` counters: ingest requests and stored rows).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { Tracker } from '../../pkg/node.js';
import { freePort, sqlite, startServer } from '../server/engines.mjs';

const counters = async (server) => (await fetch(`${server.base}/v1/__test/stats`)).json();

test('close() sends what is queued, without a sync() call', async () => {
  const db = sqlite();
  const server = await startServer(['--db', db.url, '--test-faults']);
  try {
    const tracker = await Tracker.open({ storage: 'memory', endpoint: server.base, sync: { debounceMs: 60_000 } });
    const ids = [];
    for (let i = 0; i < 3; i++) {
      const run = tracker.start({ workflowId: 'close-sync' });
      run.succeed();
      ids.push(run.id);
    }
    const before = await counters(server);
    await tracker.close();
    const after = await counters(server);
    assert.equal(after.rows - before.rows, 3, 'each record stored once');
    assert.equal(after.requests - before.requests, 1, 'in one request');
    for (const id of ids) assert.equal((await fetch(`${server.base}/api/v1/execution/${id}`)).status, 200);
  } finally {
    await server.stop();
    await db.stop();
  }
});

test('close() with the server down gives up after sync.closeTimeoutMs and says what is left', async () => {
  const port = await freePort();
  const tracker = await Tracker.open({
    storage: 'memory', endpoint: `http://127.0.0.1:${port}`,
    sync: { debounceMs: 10, closeTimeoutMs: 300, retry: { baseMs: 20, capMs: 40 } },
  });
  const errors = [];
  const warnings = [];
  tracker.on('error', (e) => errors.push(e));
  tracker.on('warning', (w) => warnings.push(String(w)));
  tracker.start({ workflowId: 'down' }).succeed();
  tracker.start({ workflowId: 'down' }).succeed();
  await tracker.flush();
  // Several retries while the server is down (backoff 20–40 ms).
  await new Promise((r) => setTimeout(r, 600));
  assert.equal(errors.length, 1, `one error event per outage, not per retry: ${errors.map((e) => e.message).join(' | ')}`);
  assert.match(errors[0].message, /cannot be reached/);
  assert.ok(tracker.syncState().lastError, 'the retries still update the state');
  const started = Date.now();
  await tracker.close();
  assert.ok(Date.now() - started < 5_000, 'close is bounded');
  assert.equal(warnings.length, 1, warnings.join(' | '));
  assert.match(warnings[0], /2 execution\(s\) not sent/);
  assert.match(warnings[0], /closeTimeoutMs \(300 ms\)/);
});

test('a new outage after a recovery is reported again', async () => {
  const port = await freePort();
  const tracker = await Tracker.open({
    storage: 'memory', endpoint: `http://127.0.0.1:${port}`, sync: { debounceMs: 10, closeTimeoutMs: 0, retry: { baseMs: 20, capMs: 40 } },
  });
  const errors = [];
  tracker.on('error', (e) => errors.push(e));
  tracker.start({ workflowId: 'flap' }).succeed();
  await tracker.flush();
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(errors.length, 1);
  const db = sqlite();
  let server = await startServer(['--db', db.url], { port });
  try {
    for (let i = 0; i < 100 && tracker.syncState().pending > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(tracker.syncState().pending, 0, 'recovered');
    await server.stop();
    server = null;
    tracker.start({ workflowId: 'flap' }).succeed();
    await tracker.flush();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(errors.length, 2, 'the second outage is a new event');
  } finally {
    await tracker.close();
    await server?.stop();
    await db.stop();
  }
});

test("a script that forgets close(): Node's beforeExit closes the tracker and the record lands", async () => {
  const db = sqlite();
  const server = await startServer(['--db', db.url, '--test-faults']);
  try {
    const script = `
      import { Tracker } from ${JSON.stringify(new URL('../../pkg/node.js', import.meta.url).href)};
      const tracker = await Tracker.open({ storage: 'memory', endpoint: ${JSON.stringify(server.base)}, sync: { debounceMs: 60000 } });
      const run = tracker.start({ workflowId: 'forgot-close' });
      run.succeed();
      console.log(run.id);`;
    const id = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 }).trim();
    const r = await fetch(`${server.base}/api/v1/execution/${id}`);
    assert.equal(r.status, 200, `the run ${id} reached the server`);
    assert.equal((await counters(server)).rows, 1);
  } finally {
    await server.stop();
    await db.stop();
  }
});
