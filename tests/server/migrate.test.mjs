// A database written before tenants existed (the previous schema, created here with the
// engine's own client: sqlite3 or psql) is moved into the default tenant when the real server
// binary starts on it, on SQLite and on PostgreSQL: its runs, rollups, lineage and batch ids
// stay reachable with default-tenant keys and invisible to other tenants. Runs pinned by the
// old unbounded versions (-1 from a wrapped u64, 2^63 − 1) take the next real version again.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { sqlite, postgres, startServer } from './engines.mjs';

const sha256 = (key) => createHash('sha256').update(key).digest('hex');
const T0 = Date.now() - 3_600_000;
const legacy = {
  id: 'legacy-1', version: 1, kind: 'workflow', status: 'success', workflowId: 'wf-old', userId: 'u-old',
  startedAt: T0, completedAt: T0 + 40, durationMs: 40, outputs: [{ name: 'old-table', kind: 'table', rows: 2, role: 'primary' }],
};

/** The schema before tenants, with one run, its lineage row and one remembered batch. */
const OLD_SCHEMA = `
CREATE TABLE executions (id TEXT PRIMARY KEY, version BIGINT NOT NULL, kind TEXT NOT NULL, workflow_id TEXT,
  user_id TEXT, status TEXT NOT NULL, database_type TEXT, started_at BIGINT NOT NULL, completed_at BIGINT,
  duration_ms DOUBLE PRECISION, record TEXT NOT NULL, received_at BIGINT NOT NULL);
CREATE INDEX executions_by_user ON executions (user_id, started_at);
CREATE INDEX executions_by_time_id ON executions (started_at, id);
CREATE INDEX executions_by_workflow_time_id ON executions (workflow_id, started_at, id);
CREATE TABLE rollup_cells (id TEXT PRIMARY KEY, slot BIGINT NOT NULL, workflow_id TEXT, user_id TEXT,
  database_type TEXT, cell TEXT NOT NULL);
CREATE INDEX rollup_cells_by_slot ON rollup_cells (slot);
CREATE TABLE execution_outputs (execution_id TEXT NOT NULL, name TEXT NOT NULL, started_at BIGINT NOT NULL,
  PRIMARY KEY (execution_id, name));
CREATE INDEX execution_outputs_by_name ON execution_outputs (name, started_at, execution_id);
CREATE TABLE ingest_batches (batch_id TEXT PRIMARY KEY, response TEXT NOT NULL, received_at BIGINT NOT NULL);
INSERT INTO executions VALUES ('legacy-1', 1, 'workflow', 'wf-old', 'u-old', 'success', NULL, ${T0}, ${T0 + 40}, 40,
  '${JSON.stringify(legacy)}', ${T0});
INSERT INTO executions VALUES ('pinned-wrapped', -1, 'workflow', 'wf-old', 'u-old', 'success', NULL, ${T0}, ${T0 + 40}, 40,
  '${JSON.stringify({ ...legacy, id: 'pinned-wrapped', version: 1, outputs: [] })}', ${T0});
INSERT INTO executions VALUES ('pinned-max', 9223372036854775807, 'workflow', 'wf-old', 'u-old', 'success', NULL, ${T0}, ${T0 + 40}, 40,
  '${JSON.stringify({ ...legacy, id: 'pinned-max', version: 1, outputs: [] })}', ${T0});
INSERT INTO execution_outputs VALUES ('legacy-1', 'old-table', ${T0});
INSERT INTO ingest_batches VALUES ('old-batch', '{"accepted":["legacy-1"],"rejected":[]}', ${T0});
`;

const seed = {
  sqlite: (url) => execFileSync('sqlite3', [url.slice('sqlite:'.length)], { input: OLD_SCHEMA }),
  postgres: (url) => execFileSync('psql', [url, '-v', 'ON_ERROR_STOP=1', '-q'], { input: OLD_SCHEMA }),
};

for (const [engine, makeDb] of [['sqlite', sqlite], ['postgres', postgres]]) {
  describe(`migration into the default tenant on ${engine}`, () => {
    let db;
    before(async () => {
      db = await makeDb();
      seed[engine](db.url);
    });
    after(async () => db?.stop());

    test('old runs, rollups, lineage and batch ids belong to the default tenant after the upgrade', async () => {
      const args = ['--db', db.url, '--api-key', 'old-key', '--tenant-key', `team-x:read,write:${sha256('x-key')}`];
      const get = async (base, path, key) => {
        const r = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${key}` } });
        return { status: r.status, body: await r.json() };
      };
      const post = async (base, batchId, records) => {
        const r = await fetch(`${base}/v1/ingest`, {
          method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer old-key' },
          body: JSON.stringify({ batch_id: batchId, client: { id: 'm', sdk: 'test/0' }, records }),
        });
        return { status: r.status, body: await r.json() };
      };
      const server = await startServer(args);
      try {
        assert.match(server.log(), /moved the existing data into the default tenant/);
        // On PostgreSQL the moved table is then partitioned by month (crate::partitions).
        if (engine === 'postgres') {
          assert.match(server.log(), /partitioned the executions table by month/);
          assert.equal(String(execFileSync('psql', [db.url, '-At', '-c', "SELECT relkind FROM pg_class WHERE relname = 'executions'"])).trim(), 'p');
        }
        assert.equal((await get(server.base, '/api/v1/execution/legacy-1', 'old-key')).body.version, 1);
        assert.equal((await get(server.base, '/api/v1/executions/stats/global', 'old-key')).body.total_executions, 3, 'rollups rebuilt');
        assert.deepEqual((await get(server.base, '/api/v1/lineage/old-table', 'old-key')).body.executions.map((e) => e.id), ['legacy-1']);
        assert.equal((await get(server.base, '/api/v1/execution/legacy-1', 'x-key')).status, 404);
        // A remembered batch (stored before batch hashes) is answered from memory.
        assert.deepEqual((await post(server.base, 'old-batch', [{ ...legacy, version: 5 }])).body, { accepted: ['legacy-1'], rejected: [] });
        assert.equal((await get(server.base, '/api/v1/execution/legacy-1', 'old-key')).body.version, 1);
        assert.deepEqual((await post(server.base, 'new-batch', [{ ...legacy, version: 2, status: 'failed' }])).body.accepted, ['legacy-1']);
        const unpin = await post(server.base, 'unpin', ['pinned-wrapped', 'pinned-max'].map((id) => ({ ...legacy, id, version: 2, status: 'failed', outputs: [] })));
        assert.deepEqual(unpin.body, { accepted: ['pinned-wrapped', 'pinned-max'], rejected: [] });
        for (const id of ['pinned-wrapped', 'pinned-max']) {
          const pinned = (await get(server.base, `/api/v1/execution/${id}`, 'old-key')).body;
          assert.deepEqual([pinned.version, pinned.status], [2, 'failed'], id);
        }
      } finally {
        await server.stop();
      }
      // A second start finds nothing to move and keeps everything.
      const again = await startServer(args);
      try {
        assert.doesNotMatch(again.log(), /moved the existing data|partitioned the executions/);
        const stored = (await get(again.base, '/api/v1/execution/legacy-1', 'old-key')).body;
        assert.deepEqual([stored.version, stored.status], [2, 'failed']);
        assert.equal((await get(again.base, '/api/v1/executions/stats/global', 'old-key')).body.failed_count, 3);
      } finally {
        await again.stop();
      }
    });
  });
}
