// Retention through the public API in Node: prune() removes the oldest records by age and by
// count; records not on the ingest server yet are kept, and the background run says so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tracker } from '../../pkg/node.js';

const DAY = 86_400_000;

function logRuns(tracker, n, ageDays) {
  const ids = [];
  for (let i = 0; i < n; i++) {
    const startedAt = Date.now() - ageDays * DAY + i * 1000;
    ids.push(tracker.log({ workflowId: 'wf', status: 'success', startedAt, completedAt: startedAt + 10 }));
  }
  return ids;
}

test('prune() removes old records, then the oldest beyond the count; stats follow', async () => {
  const tracker = await Tracker.open({ storage: 'memory', retention: false });
  const old = logRuns(tracker, 5, 40);
  const recent = logRuns(tracker, 6, 1);
  const byAge = await tracker.prune({ maxAgeDays: 30 });
  assert.deepEqual(byAge, { removed: old, keptUnsynced: 0 });
  const byCount = await tracker.prune({ maxCount: 4 });
  assert.deepEqual(byCount.removed, recent.slice(0, 2));
  const left = await tracker.history();
  assert.deepEqual(left.items.map((e) => e.id), recent.slice(2).reverse());
  assert.equal((await tracker.stats()).groups[0].total, 4);
  await tracker.close();
});

test('records not yet synced are kept, with an error event from the background run', async () => {
  const tracker = await Tracker.open({
    storage: 'memory', endpoint: 'http://127.0.0.1:9', syncEnabled: false, retention: { maxAgeDays: 7 },
  });
  const errors = [];
  tracker.on('error', (e) => errors.push(e));
  logRuns(tracker, 3, 10);
  await tracker.flush();
  const report = await tracker.prune();
  assert.deepEqual(report, { removed: [], keptUnsynced: 3 });
  // The background run (3 s after open) reports it.
  for (let i = 0; i < 100 && !errors.some((e) => e.name === 'RetentionError'); i++) await new Promise((r) => setTimeout(r, 100));
  const retention = errors.find((e) => e.name === 'RetentionError');
  assert.ok(retention, errors.map((e) => e.name).join());
  assert.match(retention.message, /3 record\(s\) .* not on the ingest server yet/);
  assert.equal((await tracker.history()).items.length, 3);
  await tracker.close();
});
