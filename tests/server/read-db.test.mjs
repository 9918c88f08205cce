// `--read-db`: the read API queries a second database (a replica in production) while
// writes go to `--db`. Here the "replica" is a second database that the test fills
// differently (a second SQLite file; a second database in the same PostgreSQL cluster), so
// which one answered is visible: the real binary over real HTTP, both engines.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { sqlite, postgres, startServer } from './engines.mjs';

const PG_BIN = '/usr/lib/postgresql/15/bin';
const client = { id: 'read-db-client', sdk: 'runledger-test/0' };
const NOW = Date.now();

const record = (id, userId) => ({
  id, version: 1, status: 'success', kind: 'query', workflowId: 'wf', userId,
  startedAt: NOW - 60_000, completedAt: NOW - 59_000, query: { databaseType: 'kdb', totalRows: 3 }, nodes: [],
});

async function post(base, batch_id, records) {
  const r = await fetch(`${base}/v1/ingest`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ batch_id, client, records }) });
  assert.equal(r.status, 200, `batch ${batch_id}: ${await r.text()}`);
}

const getJson = async (base, path) => {
  const r = await fetch(`${base}${path}`);
  return { status: r.status, body: await r.json() };
};

/** A second database beside `db`: another SQLite file, or another database of the cluster. */
function secondDatabase(engine, db) {
  if (engine === 'sqlite') return { url: db.url.replace(/runledger\.db$/, 'replica.db') };
  const r = execFileSync(join(PG_BIN, 'psql'), ['-q', '-v', 'ON_ERROR_STOP=1', '-d', db.url, '-c', 'CREATE DATABASE replica']);
  assert.ok(r);
  return { url: db.url.replace(/\/postgres$/, '/replica') };
}

for (const [engine, makeDb] of [['sqlite', sqlite], ['postgres', postgres]]) {
  describe(`--read-db on ${engine}`, () => {
    let db;
    let replica;
    before(async () => {
      db = await makeDb();
      replica = secondDatabase(engine, db);
      // The "replica" gets its schema and one execution of its own from a server of its own.
      const seeder = await startServer(['--db', replica.url]);
      await post(seeder.base, 'replica-only', [record('only-in-replica', 'ana')]);
      await seeder.stop();
    });
    after(async () => {
      await db?.stop();
    });

    test('reads go to the read database, writes to the main one', async () => {
      const server = await startServer(['--db', db.url, '--read-db', replica.url]);
      const plain = await startServer(['--db', db.url]);
      try {
        await post(server.base, 'main-batch', [record('written-to-main', 'bob')]);
        // History, one execution, stats: answered from the read database.
        const ids = (s) => s.body.items.map((e) => e.id);
        assert.deepEqual(ids(await getJson(server.base, '/api/v1/executions?limit=10')), ['only-in-replica']);
        assert.equal((await getJson(server.base, '/api/v1/execution/only-in-replica')).status, 200);
        assert.equal((await getJson(server.base, '/api/v1/execution/written-to-main')).status, 404);
        // The OpenLineage events of one execution too.
        assert.equal((await getJson(server.base, '/api/v1/execution/only-in-replica/openlineage')).status, 200);
        assert.equal((await getJson(server.base, '/api/v1/execution/written-to-main/openlineage')).status, 404);
        assert.equal((await getJson(plain.base, '/api/v1/execution/written-to-main/openlineage')).status, 200);
        assert.equal((await getJson(server.base, '/api/v1/executions/ana')).body.count, 1);
        assert.equal((await getJson(server.base, '/api/v1/executions/stats/global?days=1')).body.total_executions, 1);
        assert.deepEqual((await getJson(server.base, '/api/v1/facets?days=1')).body.users, ['ana']);
        // The write went to --db: a server without --read-db sees it, and not the replica's.
        assert.deepEqual(ids(await getJson(plain.base, '/api/v1/executions?limit=10')), ['written-to-main']);
        assert.deepEqual((await getJson(plain.base, '/api/v1/facets?days=1')).body.users, ['bob']);
      } finally {
        await server.stop();
        await plain.stop();
      }
    });

    test('a read database of the other engine is refused at start', async () => {
      const other = engine === 'sqlite' ? 'postgres://postgres@127.0.0.1:1/x' : 'sqlite:/tmp/nowhere.db';
      await assert.rejects(startServer(['--db', db.url, '--read-db', other]), /--read-db must name a/);
    });
  });
}
