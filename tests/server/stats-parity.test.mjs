// The same records, counted twice: by the client (`tracker.stats()` in Node, pkg/node.js)
// and by the real server binary's REST API after the client synced them over HTTP, on SQLite
// and on PostgreSQL. Every figure must agree, and must be the right one: nearest-rank
// percentiles, exact min and max, running runs left out of the success rate, timeouts
// counted per database type, no float noise.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Tracker } from '../../pkg/node.js';
import { sqlite, postgres, startServer } from './engines.mjs';

const MIN = 60_000;
const DAY = 24 * 60 * MIN;
const KEY = 'parity-key';

/** Records of the issue's examples, all started within the last hours. */
function record(tracker, now) {
  const at = (i) => now - 3 * 60 * MIN + i * MIN;
  const log = (workflowId, status, durationMs, i, extra = {}) => tracker.log({
    workflowId, status, durationMs, userId: 'ana', startedAt: at(i), completedAt: at(i) + durationMs, ...extra,
  });
  // Two runs of 100 and 300 ms: p50 100, p95 = p99 = 300.
  log('two-runs', 'success', 100, 0);
  log('two-runs', 'success', 300, 1);
  // Ten runs of 100…1000 ms, one failed: p95 = p99 = 1000.
  for (let i = 1; i <= 10; i++) log('ten-runs', i === 4 ? 'failed' : 'success', i * 100, 1 + i, { userId: 'ben' });
  // One run of 3000 ms: min = max = 3000, not the bucket's 3011.6.
  log('one-run', 'success', 3000, 20);
  // Durations with many decimals: the average must come out rounded, not 0.9900000000000001.
  for (let i = 0; i < 3; i++) log('thirds', 'success', 1 / 3 + i * 0.33, 30 + i);
  // Queries: 5 on bigquery (2 succeeded, 1 failed, 2 timed out), 2 on kdb.
  const queries = [['bigquery', 'success'], ['bigquery', 'success'], ['bigquery', 'failed'],
    ['bigquery', 'timeout'], ['bigquery', 'timeout'], ['kdb', 'success'], ['kdb', 'error']];
  queries.forEach(([databaseType, status], i) => tracker.logQuery({
    query: `select ${i}`, databaseType, status, userId: 'ana', executionTime: 0.25 + i / 7,
    totalRows: 10 * i, startedAt: at(40 + i),
  }));
  // One run still running: not a failure.
  const running = tracker.start({ workflowId: 'ten-runs', userId: 'ben' });
  return { running };
}

const round = (x, decimals) => Math.round(x * 10 ** decimals) / 10 ** decimals;

for (const [engine, makeDb] of [['sqlite', sqlite], ['postgres', postgres]]) {
  describe(`client and server stats agree on ${engine}`, () => {
    let db;
    let server;
    let tracker;
    const get = async (path) => {
      const r = await fetch(`${server.base}${path}`, { headers: { authorization: `Bearer ${KEY}` } });
      assert.equal(r.status, 200, `${path}: ${r.status}`);
      return r.json();
    };

    before(async () => {
      db = await makeDb();
      server = await startServer(['--db', db.url, '--api-key', KEY]);
      tracker = await Tracker.open({ storage: 'memory', endpoint: server.base, apiKey: KEY, sync: { debounceMs: 20 } });
      record(tracker, Date.now());
      await tracker.flush();
      const state = await tracker.sync();
      assert.equal(state.pending, 0, 'every record reached the server');
    });
    after(async () => {
      await tracker?.close();
      await server?.stop();
      await db?.stop();
    });

    test('per workflow: the same numbers, and the right ones', async () => {
      const expected = {
        'two-runs': { total: 2, rate: 100, d: { min: 100, max: 300, p50: 100, p95: 300, p99: 300, avg: 200 } },
        'ten-runs': { total: 11, rate: 90, d: { min: 100, max: 1000, p95: 1000, p99: 1000, avg: 550 } },
        'one-run': { total: 1, rate: 100, d: { min: 3000, max: 3000, p50: 3000, p95: 3000, p99: 3000, avg: 3000 } },
        thirds: { total: 3, rate: 100, d: { min: 0.33, max: 0.99, avg: 0.66 } },
      };
      for (const [workflowId, want] of Object.entries(expected)) {
        const local = await tracker.stats({ since: Date.now() - 7 * DAY, filter: { workflowId } });
        assert.equal(local.groups.length, 1, workflowId);
        const mine = local.groups[0];
        const remote = await get(`/api/v1/workflows/${workflowId}/stats?days=7`);
        assert.equal(remote.total, mine.total, workflowId);
        assert.deepEqual(remote.by_status, mine.byStatus, workflowId);
        assert.equal(remote.success_rate, mine.successRate, workflowId);
        assert.deepEqual(remote.duration_ms, mine.durationMs, workflowId);
        assert.equal(remote.total_rows, mine.totalRows, workflowId);

        assert.equal(mine.total, want.total, workflowId);
        assert.equal(mine.successRate, want.rate, `${workflowId}: running runs are not failures`);
        for (const [k, v] of Object.entries(want.d)) assert.equal(mine.durationMs[k], v, `${workflowId} ${k}`);
        assert.ok(mine.durationMs.avg <= mine.durationMs.max, workflowId);
        for (const v of Object.values(mine.durationMs)) assert.equal(v, round(v, 2), `${workflowId}: ${v} is rounded`);
      }
    });

    test('per database type: every status counted, timeouts included', async () => {
      const local = await tracker.stats({ groupBy: ['databaseType'] });
      const mine = local.groups.filter((g) => g.key.databaseType);
      const remote = (await get('/api/v1/executions/database-stats/global')).database_stats;
      assert.deepEqual(remote.map((r) => r.database_type), mine.map((g) => g.key.databaseType));
      for (const [i, g] of mine.entries()) {
        const r = remote[i];
        const n = (s) => g.byStatus[s] ?? 0;
        assert.equal(r.execution_count, g.total);
        for (const s of ['success', 'failed', 'error', 'timeout', 'running', 'cancelled', 'interrupted']) {
          assert.equal(r[`${s}_count`], n(s), `${g.key.databaseType} ${s}`);
        }
        assert.equal(r.success_rate, g.successRate);
        assert.ok(Math.abs(r.avg_execution_time - g.durationMs.avg / 1000) < 1e-9);
      }
      const bigquery = remote.find((r) => r.database_type === 'bigquery');
      assert.deepEqual([bigquery.execution_count, bigquery.success_count, bigquery.failed_count, bigquery.timeout_count],
        [5, 2, 1, 2]);
      assert.equal(bigquery.success_rate, 40);
    });

    test('per user (DOMAIN.md C shape, seconds): the same numbers', async () => {
      for (const user of ['ana', 'ben']) {
        const [mine] = (await tracker.stats({ since: Date.now() - 7 * DAY, filter: { userId: user } })).groups;
        const remote = await get(`/api/v1/executions/${user}/stats?days=7`);
        assert.equal(remote.total_executions, mine.total, user);
        assert.equal(remote.success_count, mine.byStatus.success ?? 0, user);
        assert.equal(remote.timeout_count, mine.byStatus.timeout ?? 0, user);
        assert.equal(remote.success_rate, mine.successRate, user);
        assert.ok(Math.abs(remote.avg_execution_time - mine.durationMs.avg / 1000) < 1e-9, user);
        assert.equal(remote.max_execution_time, mine.durationMs.max / 1000, user);
        assert.equal(remote.total_rows_processed, mine.totalRows, user);
        assert.equal(remote.avg_execution_time, round(remote.avg_execution_time, 5), 'rounded at the edge');
      }
      const ben = await get('/api/v1/executions/ben/stats?days=7');
      // Nine of ten finished runs succeeded; the running one is not a failure.
      assert.deepEqual([ben.total_executions, ben.success_count, ben.success_rate, ben.max_execution_time], [11, 9, 90, 1]);
    });

    test('GET /api/v1/stats answers exactly what tracker.stats() answers; facets list what exists', async () => {
      for (const [groupBy, param] of [[['workflow'], 'workflow'], [['databaseType', 'user'], 'database_type,user'], [[], '']]) {
        const mine = await tracker.stats({ since: Date.now() - 7 * DAY, groupBy });
        const remote = await get(`/api/v1/stats?days=7${param ? `&group_by=${param}` : ''}`);
        assert.deepEqual(remote, mine, `grouped by ${param || 'nothing'}`);
      }
      const facets = await get('/api/v1/facets');
      assert.deepEqual(facets.workflows, ['one-run', 'ten-runs', 'thirds', 'two-runs']);
      assert.deepEqual(facets.users, ['ana', 'ben']);
      assert.deepEqual(facets.database_types, ['bigquery', 'kdb']);
      for (const bad of ['/api/v1/stats?group_by=planet', '/api/v1/stats?days=0', '/api/v1/stats?workflow=x', '/api/v1/facets?days=abc', '/api/v1/stats?time_zone=Mars', '/api/v1/stats?group_by=workflow,user', '/api/v1/stats?workflow_id=ten-runs&user_id=ana']) {
        const r = await fetch(`${server.base}${bad}`, { headers: { authorization: `Bearer ${KEY}` } });
        assert.equal(r.status, 400, bad);
        const body = await r.json();
        assert.equal(body.error.code, 'bad_request', bad);
        assert.ok(body.error.message.length > 10, bad);
      }
    });
  });
}
