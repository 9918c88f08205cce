// tracker.stats() through the public API in Node: groups, rates, durations, rows, and the
// rollups following deletes; rebuildStats() agrees with what was kept incrementally.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tracker } from '../../pkg/node.js';

const day = Date.parse('2026-11-20T10:00:00Z');

test('stats group, count and time executions from the rollups', async () => {
  const tracker = await Tracker.open({ storage: 'memory' });
  const ids = [];
  for (let i = 0; i < 40; i++) {
    const status = i % 4 === 3 ? 'failed' : 'success';
    ids.push(tracker.logQuery({
      query: 'select 1', databaseType: i % 2 ? 'kdb' : 'starburst', status, userId: `u${i % 2}`,
      executionTime: (i + 1) / 10, totalRows: 100, startedAt: day + i * 3_600_000,
    }));
  }
  const all = await tracker.stats();
  assert.equal(all.groups.length, 1);
  assert.equal(all.groups[0].total, 40);
  assert.equal(all.groups[0].byStatus.success, 30);
  assert.equal(all.groups[0].successRate, 75);
  assert.equal(all.groups[0].totalRows, 4000);
  assert.ok(Math.abs(all.groups[0].durationMs.avg - 2050) < 1e-6);
  assert.ok(Math.abs(all.groups[0].durationMs.max - 4000) <= 40);
  assert.equal(all.relativeError, 0.01);

  const byDb = await tracker.stats({ groupBy: ['databaseType', 'day'], filter: { userId: 'u1' } });
  assert.deepEqual(byDb.groups.map((g) => [g.key.databaseType, g.key.day, g.total]),
    [['kdb', '2026-11-20', 7], ['kdb', '2026-11-21', 12], ['kdb', '2026-11-22', 1]]);
  const tz = await tracker.stats({ groupBy: ['day'], timeZone: '-12:00', until: day + 5 * 3_600_000 });
  assert.deepEqual(tz.groups.map((g) => [g.key.day, g.total]), [['2026-11-19', 2], ['2026-11-20', 4]]);

  assert.equal(await tracker.delete(ids[3]), true);
  const after = await tracker.stats();
  assert.equal(after.groups[0].total, 39);
  assert.equal(after.groups[0].byStatus.failed, 9);
  await tracker.rebuildStats();
  assert.deepEqual(await tracker.stats(), after);

  const bad = await tracker.stats({ timeZone: 'Mars/Olympus' }).then(() => null, (e) => e);
  assert.equal(bad.name, 'ValidationError');
  assert.equal(bad.field, 'query.timeZone');
  await tracker.close();
});

test('history finds runs where a node failed, lineage by output, runs by external id', async () => {
  const tracker = await Tracker.open({ storage: 'memory' });
  const runs = [];
  for (let i = 0; i < 4; i++) {
    const run = tracker.start({ workflowId: 'report', externalIds: { airflow: `run-${i}` } });
    run.node({ id: 'extract' }, {}).succeed({});
    const load = run.node({ id: 'load' }, {});
    if (i % 2) load.fail(new Error('disk full')); else load.succeed({});
    run.output({ name: i < 2 ? 'weekly_report' : 'daily_report', rows: 10, role: 'primary' });
    if (i % 2) run.fail(new Error('load failed')); else run.succeed();
    runs.push(run.id);
  }
  const failed = await tracker.history({ failedNode: 'load' });
  assert.deepEqual(failed.items.map((e) => e.id), [runs[3], runs[1]]);
  const lineage = await tracker.lineage('weekly_report');
  assert.deepEqual(lineage.items.map((e) => [e.id, e.externalIds.airflow]), [[runs[1], 'run-1'], [runs[0], 'run-0']]);
  const byExternal = await tracker.byExternalId('airflow', 'run-2');
  assert.deepEqual(byExternal.map((e) => e.id), [runs[2]]);
  await tracker.close();
});
