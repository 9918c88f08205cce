// The read API of the real runledger-server binary over HTTP, on SQLite and on PostgreSQL:
// DOMAIN.md C's paths and shapes, cursor pagination, workflow stats, lineage, limits, read
// keys and retention. The same suite for both engines; expected numbers are computed here
// from the seeded records.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { sqlite, postgres, startServer } from './engines.mjs';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NOW = Date.now();
const client = { id: 'api-test', sdk: 'runledger-test/0' };
const STATUSES = ['success', 'success', 'failed', 'timeout', 'error', 'success'];

/** 24 query executions over the last six days, two users, two database types. */
const queries = Array.from({ length: 24 }, (_, i) => ({
  id: `q${String(i).padStart(2, '0')}`, version: 1, kind: 'query', status: STATUSES[i % 6],
  userId: i % 2 ? 'u2' : 'u1', startedAt: NOW - i * 6 * HOUR, completedAt: NOW - i * 6 * HOUR + (i + 1) * 100,
  durationMs: (i + 1) * 100, query: { text: 'select 1', databaseType: i % 3 ? 'starburst' : 'kdb', totalRows: i * 10 },
}));
const old = { ...queries[0], id: 'old', startedAt: NOW - 20 * DAY, completedAt: NOW - 20 * DAY + 50, durationMs: 50 };
const reports = [0, 1, 2].map((i) => ({
  id: `r${i}`, version: 1, kind: 'workflow', workflowId: 'report', status: 'success', userId: 'u3',
  startedAt: NOW - (3 - i) * HOUR, completedAt: NOW - (3 - i) * HOUR + (i + 1) * 1000, durationMs: (i + 1) * 1000,
  externalIds: { airflow: `dag-${i}` }, outputs: [{ name: i < 2 ? 'weekly' : 'daily', kind: 'table', rows: 5, role: 'primary' }],
}));

function expectedStats(records) {
  const n = (s) => records.filter((e) => e.status === s).length;
  const durations = records.map((e) => e.durationMs);
  return {
    total_executions: records.length, success_count: n('success'), failed_count: n('failed'), error_count: n('error'),
    timeout_count: n('timeout'), success_rate: Math.round((n('success') * 10000) / records.length) / 100,
    avg_execution_time: durations.reduce((a, b) => a + b, 0) / durations.length / 1000,
    max_execution_time: Math.max(...durations) / 1000,
    // A query's totalRows, else the rows of its primary outputs.
    total_rows_processed: records.reduce((a, e) => a + (e.query?.totalRows
      ?? (e.outputs ?? []).filter((o) => o.role === 'primary').reduce((s, o) => s + o.rows, 0)), 0),
  };
}

function assertStats(actual, expected) {
  for (const [k, v] of Object.entries(expected)) {
    if (k === 'max_execution_time') assert.ok(Math.abs(actual[k] - v) <= v * 0.01 + 1e-9, `${k}: ${actual[k]} vs ${v}`);
    // Rounded at the edge to 0.00001 s.
    else if (k === 'avg_execution_time') assert.ok(Math.abs(actual[k] - v) <= 5e-6, `${k}: ${actual[k]} vs ${v}`);
    else assert.equal(actual[k], v, k);
  }
}

for (const [engine, makeDb] of [['sqlite', sqlite], ['postgres', postgres]]) {
  describe(`read API on ${engine}`, () => {
    let db;
    let server;
    let batchNo = 0;
    const ingest = async (records, base = server.base, key) => {
      const r = await fetch(`${base}/v1/ingest`, {
        method: 'POST', headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
        body: JSON.stringify({ batch_id: `api-${engine}-${batchNo++}`, client, records }),
      });
      return r;
    };
    const get = async (path, base = server.base, key) => {
      const r = await fetch(`${base}${path}`, { headers: key ? { authorization: `Bearer ${key}` } : {} });
      return { status: r.status, body: await r.json() };
    };

    before(async () => {
      db = await makeDb();
      server = await startServer(['--db', db.url]);
      assert.equal((await ingest([...queries, old, ...reports])).status, 200);
    });
    after(async () => {
      await server?.stop();
      await db?.stop();
    });

    test('GET /api/v1/executions/{user_id}: newest first, filters, limit and offset', async () => {
      const u1 = queries.filter((e) => e.userId === 'u1');
      const page = await get('/api/v1/executions/u1?limit=5');
      assert.equal(page.status, 200);
      assert.deepEqual(Object.keys(page.body).sort(), ['count', 'executions', 'limit', 'offset', 'user_id']);
      assert.deepEqual([page.body.user_id, page.body.count, page.body.limit, page.body.offset], ['u1', 5, 5, 0]);
      assert.deepEqual(page.body.executions.map((e) => e.id), u1.slice(0, 5).map((e) => e.id));
      const next = await get('/api/v1/executions/u1?limit=5&offset=5');
      assert.deepEqual(next.body.executions.map((e) => e.id), [...u1, old].slice(5, 10).map((e) => e.id));
      const failedKdb = await get('/api/v1/executions/u1?status=success&database_type=kdb');
      assert.deepEqual(failedKdb.body.executions.map((e) => e.id),
        u1.filter((e) => e.status === 'success' && e.query.databaseType === 'kdb').map((e) => e.id).concat(['old']));
      assert.equal(page.body.executions[0].nodes, undefined, 'summaries, without node payloads');
    });

    test('stats per user and global, over N days, in the shape of DOMAIN.md C', async () => {
      const u2 = await get('/api/v1/executions/u2/stats?days=7');
      assert.equal(u2.status, 200);
      assert.equal(u2.body.user_id, 'u2');
      assert.equal(u2.body.period_days, 7);
      assertStats(u2.body, expectedStats(queries.filter((e) => e.userId === 'u2')));
      const week = await get('/api/v1/executions/stats/global?days=7');
      assertStats(week.body, expectedStats([...queries, ...reports]));
      const month = await get('/api/v1/executions/stats/global?days=30');
      assert.equal(month.body.total_executions, queries.length + reports.length + 1, 'the 20-day-old one counts');
    });

    test('database stats per user and global', async () => {
      const byDb = (records) => ['kdb', 'starburst'].map((d) => {
        const rs = records.filter((e) => e.query?.databaseType === d);
        const n = (s) => rs.filter((e) => e.status === s).length;
        const finished = rs.length - n('running');
        // Every status is counted; the average is rounded at the edge (0.00001 s).
        return { database_type: d, execution_count: rs.length, success_count: n('success'), failed_count: n('failed'),
          error_count: n('error'), timeout_count: n('timeout'), running_count: n('running'), cancelled_count: n('cancelled'),
          interrupted_count: n('interrupted'), success_rate: Math.round((n('success') * 10000) / finished) / 100,
          avg_execution_time: Math.round(rs.reduce((a, e) => a + e.durationMs, 0) / rs.length / 1000 * 1e5) / 1e5 };
      });
      const global = await get('/api/v1/executions/database-stats/global');
      assert.deepEqual(global.body.database_stats, byDb([...queries, old]));
      const u1 = await get('/api/v1/executions/u1/database-stats');
      assert.equal(u1.body.user_id, 'u1');
      assert.deepEqual(u1.body.database_stats, byDb([...queries, old].filter((e) => e.userId === 'u1')));
    });

    test('workflow stats with percentiles, and lineage with external ids', async () => {
      const wf = await get('/api/v1/workflows/report/stats?days=1');
      assert.equal(wf.status, 200);
      assert.deepEqual([wf.body.workflow_id, wf.body.total, wf.body.by_status.success, wf.body.success_rate], ['report', 3, 3, 100]);
      assert.ok(Math.abs(wf.body.duration_ms.p50 - 2000) <= 20, JSON.stringify(wf.body.duration_ms));
      // Nearest rank ⌈q × n⌉: of three, p50 is the second, p99 the third (the exact max).
      assert.equal(wf.body.duration_ms.p99, 3000, JSON.stringify(wf.body.duration_ms));
      assert.equal(wf.body.duration_ms.max, 3000);
      assert.equal(wf.body.duration_ms.min, 1000);
      assert.equal(wf.body.relative_error, 0.01);
      const lineage = await get('/api/v1/lineage/weekly');
      assert.deepEqual(lineage.body.executions.map((e) => [e.id, e.external_ids.airflow]), [['r1', 'dag-1'], ['r0', 'dag-0']]);
      assert.equal(lineage.body.output_name, 'weekly');
    });

    test('a newer version moves its execution between the counts', async () => {
      const before = (await get('/api/v1/executions/u1/stats?days=7')).body;
      const changed = { ...queries[0], version: 2, status: 'failed' };
      await ingest([changed]);
      await ingest([{ ...queries[0], version: 1 }]); // a late older version changes nothing
      const after = (await get('/api/v1/executions/u1/stats?days=7')).body;
      assert.equal(after.success_count, before.success_count - 1);
      assert.equal(after.failed_count, before.failed_count + 1);
      assert.equal(after.total_executions, before.total_executions);
      await ingest([{ ...queries[0], version: 3 }]); // and back
    });

    test('cursor pages stay stable while new executions arrive', async () => {
      const seen = [];
      let cursor;
      let page = 0;
      do {
        const q = `/api/v1/executions?limit=7${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
        const r = await get(q);
        assert.equal(r.status, 200);
        seen.push(...r.body.items.map((e) => e.id));
        cursor = r.body.next_cursor;
        if (page++ === 0) await ingest([{ ...queries[1], id: `late-${engine}`, startedAt: NOW + HOUR }]);
      } while (cursor && page < 20);
      const all = [...queries, old, ...reports].sort((a, b) => b.startedAt - a.startedAt || (a.id < b.id ? 1 : -1)).map((e) => e.id);
      assert.deepEqual(seen, all, 'no gap, no repeat, the late one not mixed in');
      const byWorkflow = await get('/api/v1/executions?workflow_id=report&limit=2');
      assert.deepEqual(byWorkflow.body.items.map((e) => e.id), ['r2', 'r1']);
      const rest = await get(`/api/v1/executions?workflow_id=report&limit=2&cursor=${encodeURIComponent(byWorkflow.body.next_cursor)}`);
      assert.deepEqual(rest.body.items.map((e) => e.id), ['r0']);
      assert.equal(rest.body.next_cursor, null);
    });

    test('bad parameters get a 400 that names them', async () => {
      for (const [path, name] of [
        ['/api/v1/executions/u1?limit=0', 'limit'], ['/api/v1/executions/u1?limit=1001', 'limit'],
        ['/api/v1/executions/u1?limit=ten', 'limit'], ['/api/v1/executions/u1?offset=-1', 'offset'],
        ['/api/v1/executions/u1/stats?days=0', 'days'], ['/api/v1/executions/stats/global?days=x', 'days'],
        ['/api/v1/executions/u1?status=done', 'status'], ['/api/v1/executions?cursor=nope', 'cursor'],
        ['/api/v1/executions?since=yesterday', 'since'], ['/api/v1/workflows/report/stats?days=-3', 'days'],
      ]) {
        const r = await get(path);
        assert.equal(r.status, 400, path);
        assert.equal(r.body.error.code, 'bad_request');
        assert.match(r.body.error.message, new RegExp(`\`${name}\``), path);
      }
    });

    test('with keys configured, reading needs a read key and writing a write key', async () => {
      const keyed = await startServer(['--db', db.url, '--api-key', 'writer', '--read-key', 'reader']);
      try {
        assert.equal((await get('/api/v1/executions/stats/global', keyed.base)).status, 401);
        assert.equal((await get('/api/v1/executions/stats/global', keyed.base, 'reader')).status, 200);
        assert.equal((await get('/api/v1/execution/q00', keyed.base, 'writer')).status, 200);
        assert.equal((await ingest([queries[2]], keyed.base, 'reader')).status, 403, 'a read key lacks the write scope');
        assert.equal((await ingest([queries[2]], keyed.base, 'writer')).status, 200);
      } finally {
        await keyed.stop();
      }
    });

    test('--retention-days removes what is older, and the stats follow', async () => {
      const before = (await get('/api/v1/executions/stats/global?days=30')).body.total_executions;
      const pruning = await startServer(['--db', db.url, '--retention-days', '10']);
      try {
        for (let i = 0; i < 200 && (await get('/api/v1/execution/old', pruning.base)).status !== 404; i++) {
          await new Promise((r) => setTimeout(r, 50));
        }
        assert.equal((await get('/api/v1/execution/old', pruning.base)).status, 404);
        assert.equal((await get('/api/v1/executions/stats/global?days=30', pruning.base)).body.total_executions, before - 1);
        assert.equal((await get('/api/v1/execution/q05', pruning.base)).status, 200, 'recent ones stay');
      } finally {
        await pruning.stop();
      }
    });
  });
}
