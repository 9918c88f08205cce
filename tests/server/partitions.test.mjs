// PostgreSQL's executions table is partitioned by month of `startedAt` (the real server
// binary over real HTTP, a real PostgreSQL 15 started by the test, its catalog read with
// psql): partitions appear as batches need them, a run whose startedAt changes month moves
// (one row per id), retention drops the partitions wholly before its cutoff (their runs,
// lineage and stats go with them) and deletes the expired rows of a partly expired month one
// by one, and a database whose executions table was not partitioned is moved into one.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { postgres, startServer } from './engines.mjs';

const PG_BIN = '/usr/lib/postgresql/15/bin';
const DAY = 86_400_000;
const NOW = Date.now();
const client = { id: 'partitions-client', sdk: 'runledger-test/0' };

/** The partition a time falls in, named as the server names it. */
const partitionOf = (ms) => {
  const d = new Date(ms);
  return `executions_${String(d.getUTCFullYear()).padStart(4, '0')}_${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
};
const monthStart = (ms) => { const d = new Date(ms); return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1); };

const run = (id, startedAt, extra = {}) => ({
  id, version: 1, status: 'success', kind: 'query', workflowId: 'wf', userId: 'ana',
  startedAt, completedAt: startedAt + 50, query: { databaseType: 'kdb', totalRows: 1 }, nodes: [], ...extra,
});

async function post(base, batch_id, records) {
  const r = await fetch(`${base}/v1/ingest`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ batch_id, client, records }) });
  const text = await r.text();
  assert.equal(r.status, 200, `batch ${batch_id}: ${text}`);
  return JSON.parse(text);
}
const getJson = async (base, path) => {
  const r = await fetch(`${base}${path}`);
  return { status: r.status, body: await r.json() };
};
const psql = (url, sql) => String(execFileSync(join(PG_BIN, 'psql'), [url, '-At', '-v', 'ON_ERROR_STOP=1', '-c', sql])).trim();
const partitions = (url) => psql(url, "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'executions'::regclass ORDER BY 1").split('\n').filter(Boolean);

describe('executions partitioned by month on PostgreSQL', () => {
  let db;
  before(async () => { db = await postgres(); });
  after(async () => db?.stop());

  test('partitions are created as batches need them, retention drops the expired ones whole', async () => {
    const cutoff = NOW - 30 * DAY;
    // Runs in a month wholly before the cutoff, on each side of the cutoff in its month,
    // and now.
    const old = NOW - 100 * DAY;
    const partlyOld = monthStart(cutoff) + Math.floor((cutoff - monthStart(cutoff)) / 2);
    const partlyKept = cutoff + Math.min(DAY, Math.floor((monthStart(cutoff + 40 * DAY) - cutoff) / 2));
    const server = await startServer(['--db', db.url]);
    try {
      await post(server.base, 'b1', [
        run('old', old, { outputs: [{ name: 'old-table', kind: 'table', rows: 1, role: 'primary' }] }),
        run('partly-old', partlyOld), run('partly-kept', partlyKept), run('recent', NOW - 3_600_000),
        run('moving', NOW - 3_600_000),
      ]);
      for (const t of [old, cutoff, NOW]) assert.ok(partitions(db.url).includes(partitionOf(t)), `${partitionOf(t)} in ${partitions(db.url)}`);
      assert.match(server.log(), /created a partition of executions/);
      // A new version whose startedAt is in another month moves: one row for the id.
      await post(server.base, 'b2', [run('moving', old + 60_000, { version: 2 })]);
      assert.equal(psql(db.url, "SELECT count(*) FROM executions WHERE id = 'moving'"), '1');
      assert.equal(psql(db.url, `SELECT count(*) FROM ${partitionOf(old)} WHERE id = 'moving'`), '1');
      assert.equal((await getJson(server.base, '/api/v1/execution/moving')).body.startedAt, old + 60_000);
      assert.equal((await getJson(server.base, '/api/v1/executions/stats/global?days=365')).body.total_executions, 5);
      assert.deepEqual((await getJson(server.base, '/api/v1/lineage/old-table')).body.executions.map((e) => e.id), ['old']);
    } finally {
      await server.stop();
    }

    const pruning = await startServer(['--db', db.url, '--retention-days', '30']);
    try {
      for (let i = 0; i < 200 && !/retention round ran/.test(pruning.log()); i++) await new Promise((r) => setTimeout(r, 50));
      const log = pruning.log();
      assert.match(log, /retention dropped a partition/, log);
      assert.match(log, /removed(\x1b\[[0-9;]*m)*=(\x1b\[[0-9;]*m)*3\b/, log);
      // The old month is gone as a table; the partly expired month stays, without its old row.
      assert.ok(!partitions(db.url).includes(partitionOf(old)), String(partitions(db.url)));
      assert.ok(partitions(db.url).includes(partitionOf(cutoff)));
      for (const id of ['old', 'moving', 'partly-old']) assert.equal((await getJson(pruning.base, `/api/v1/execution/${id}`)).status, 404, id);
      for (const id of ['partly-kept', 'recent']) assert.equal((await getJson(pruning.base, `/api/v1/execution/${id}`)).status, 200, id);
      // Its stats cells and lineage went with it.
      assert.equal((await getJson(pruning.base, '/api/v1/executions/stats/global?days=365')).body.total_executions, 2);
      assert.equal(psql(db.url, `SELECT count(*) FROM rollups WHERE slot < ${Math.floor(monthStart(old + 31 * DAY) / 1_800_000)} AND slot >= ${Math.floor(monthStart(old) / 1_800_000)}`), '0');
      assert.deepEqual((await getJson(pruning.base, '/api/v1/lineage/old-table')).body.executions, []);
      // A late run of that month is stored again: its partition is created anew.
      await post(pruning.base, 'late', [run('late', old)]);
      assert.ok(partitions(db.url).includes(partitionOf(old)));
      assert.equal((await getJson(pruning.base, '/api/v1/execution/late')).status, 200);
    } finally {
      await pruning.stop();
    }
  });

  test('an unpartitioned executions table of the current schema is moved into partitions', async () => {
    const url = db.url.replace(/\/postgres$/, '/unpartitioned');
    psql(db.url, 'CREATE DATABASE unpartitioned');
    const at = NOW - 45 * DAY;
    const stored = run('before-partitions', at);
    psql(url, `CREATE TABLE executions (tenant TEXT NOT NULL, id TEXT NOT NULL, version BIGINT NOT NULL, kind TEXT NOT NULL,
      workflow_id TEXT, user_id TEXT, status TEXT NOT NULL, database_type TEXT, started_at BIGINT NOT NULL, completed_at BIGINT,
      duration_ms DOUBLE PRECISION, record TEXT NOT NULL, received_at BIGINT NOT NULL, PRIMARY KEY (tenant, id));
      CREATE INDEX executions_by_user ON executions (tenant, user_id, started_at);
      INSERT INTO executions VALUES ('', 'before-partitions', 1, 'query', 'wf', 'ana', 'success', 'kdb', ${at}, ${at + 50}, 50,
        '${JSON.stringify(stored)}', ${at})`);
    assert.equal(psql(url, "SELECT relkind FROM pg_class WHERE relname = 'executions'"), 'r');
    const server = await startServer(['--db', url]);
    try {
      assert.match(server.log(), /partitioned the executions table by month/);
      assert.equal(psql(url, "SELECT relkind FROM pg_class WHERE relname = 'executions'"), 'p');
      assert.deepEqual(partitions(url), [partitionOf(at)]);
      assert.equal((await getJson(server.base, '/api/v1/execution/before-partitions')).body.id, 'before-partitions');
      assert.equal((await getJson(server.base, '/api/v1/executions/ana')).body.count, 1);
      assert.equal((await getJson(server.base, '/api/v1/executions/stats/global?days=60')).body.total_executions, 1);
      // The indexes are back, on the partitioned table.
      assert.match(psql(url, "SELECT string_agg(indexname, ',') FROM pg_indexes WHERE tablename = 'executions'"), /executions_by_user/);
      // It keeps working: a new version is upserted in place.
      await post(server.base, 'after', [run('before-partitions', at, { version: 2, status: 'failed' })]);
      assert.equal(psql(url, "SELECT count(*) || ':' || max(status) FROM executions WHERE id = 'before-partitions'"), '1:failed');
    } finally {
      await server.stop();
    }
    const again = await startServer(['--db', url]);
    try {
      assert.doesNotMatch(again.log(), /partitioned the executions table/);
    } finally {
      await again.stop();
    }
  });
});
