// Sync from Node (pkg/node.js, real fetch) to the real server binary over loopback: records
// made while the server is down are kept, reported, and land once it is up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tracker } from '../../pkg/node.js';
import { freePort, sqlite, startServer } from '../server/engines.mjs';

test('Node: offline, then online; every record lands once at its latest version', async () => {
  const port = await freePort();
  const tracker = await Tracker.open({
    storage: 'memory',
    endpoint: `http://127.0.0.1:${port}`,
    apiKey: 'node-key',
    sync: { debounceMs: 20, retry: { baseMs: 50, capMs: 200 } },
  });
  const errors = [];
  tracker.on('error', (e) => errors.push(e));
  const ids = [];
  for (let i = 0; i < 12; i++) {
    const run = tracker.start({ workflowId: 'nightly', userId: 'job' });
    run.node({ id: 'extract' }, { i, password: 'hunter2' }).succeed({ rows: i });
    if (i % 4 === 0) run.fail(new Error(`run ${i} failed`)); else run.succeed();
    ids.push(run.id);
  }
  await tracker.flush();
  const offline = await tracker.sync().then(() => null, (e) => e);
  assert.equal(offline?.name, 'SyncError');
  assert.match(offline.message, /cannot be reached/);
  assert.equal(tracker.syncState().pending, 12);
  assert.ok(errors.some((e) => e.name === 'SyncError'));

  const db = sqlite();
  const server = await startServer(['--db', db.url, '--api-key', 'node-key'], { port });
  try {
    const state = await tracker.sync();
    assert.equal(state.pending, 0);
    assert.equal(state.lastError, undefined);
    for (const id of ids) {
      const r = await fetch(`${server.base}/api/v1/execution/${id}`, { headers: { authorization: 'Bearer node-key' } });
      assert.equal(r.status, 200);
      const remote = await r.json();
      assert.equal(remote.version, (await tracker.get(id)).version);
      assert.equal(remote.nodes[0].input.password, '[REDACTED]');
    }
    await tracker.close();
  } finally {
    await server.stop();
    await db.stop();
  }
});
