// The Team history read's search (`q`) and database-type filter, on the real server binary over
// real HTTP, on SQLite and on PostgreSQL: a word found only in a node's output finds its run;
// another tenant's run with the same word is never returned; one request reads a bounded
// window and says how far it looked, and its cursor goes on; the database type is filtered by
// the server, so pages are full.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { sqlite, postgres, startServer } from './engines.mjs';

const sha256 = (key) => createHash('sha256').update(key).digest('hex');
const KEYS = { a: 'search-key-team-a', b: 'search-key-team-b' };
const T0 = Date.now() - 86_400_000;
const client = { id: 'search-test', sdk: 'runledger-test/0' };
/** The server reads at most this many runs per search request (server/src/search.rs). */
const WINDOW = 2000;

const run = (id, startedAt, extra = {}) => ({
  id, version: 1, kind: 'workflow', status: 'success', workflowId: 'nightly', startedAt, completedAt: startedAt + 10, durationMs: 10, ...extra,
});
const node = (id, input, output) => ({ id, status: 'success', startedAt: T0, completedAt: T0 + 5, durationMs: 5, input, output });
const query = (id, startedAt, databaseType) => ({
  id, version: 1, kind: 'query', status: 'success', startedAt, completedAt: startedAt + 3, durationMs: 3,
  query: { text: `select 1 -- ${id}`, databaseType },
});

for (const [engine, makeDb] of [['sqlite', sqlite], ['postgres', postgres]]) {
  describe(`history search and database type on ${engine}`, () => {
    let db;
    let server;
    let batchNo = 0;
    const ingest = async (key, records) => {
      const r = await fetch(`${server.base}/v1/ingest`, {
        method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ batch_id: `search-${engine}-${batchNo++}`, client, records }),
      });
      assert.equal(r.status, 200, await r.text());
    };
    const list = async (params, key = KEYS.a) => {
      const r = await fetch(`${server.base}/api/v1/executions?${new URLSearchParams(params)}`, { headers: { authorization: `Bearer ${key}` } });
      return { status: r.status, body: await r.json() };
    };

    before(async () => {
      db = await makeDb();
      server = await startServer(['--db', db.url, '--tenant-key', `team-a:read,write:${sha256(KEYS.a)}`, '--tenant-key', `team-b:read,write:${sha256(KEYS.b)}`]);
      // Team A: the oldest run has the invoice number in a node's output only; then more
      // runs than one search request reads, whose records never mention it.
      await ingest(KEYS.a, [run('a-needle', T0, { nodes: [node('load', { table: 'orders' }, { invoice: 'INV-8842-Q', rows: 3 })] })]);
      const filler = Array.from({ length: WINDOW + 150 }, (_, i) => run(`a-fill-${String(i).padStart(5, '0')}`, T0 + 1000 + i,
        { nodes: [node('load', { table: 'orders' }, { invoice: `INV-${i}`, rows: i })] }));
      for (let i = 0; i < filler.length; i += 500) await ingest(KEYS.a, filler.slice(i, i + 500));
      // Team B has the same invoice number: A never sees it.
      await ingest(KEYS.b, [run('b-needle', T0 + 5000, { nodes: [node('load', {}, { invoice: 'INV-8842-Q' })] })]);
      // Queries of two database types, interleaved, newest last.
      const types = ['bigquery', 'kdb', 'bigquery', 'kdb', 'bigquery'];
      await ingest(KEYS.a, types.map((t, i) => query(`q-${i}-${t}`, T0 + 10_000 + i, t)));
    });
    after(async () => {
      await server?.stop();
      await db?.stop();
    });

    test('a value only in a node output finds its run, past a full window, within the tenant', async () => {
      // The newest runs come first: the first request reads a whole window and finds nothing.
      const first = await list({ q: 'inv-8842-q', limit: 10 });
      assert.equal(first.status, 200, JSON.stringify(first.body));
      assert.deepEqual(first.body.items, []);
      assert.equal(first.body.scanned, WINDOW);
      assert.ok(first.body.next_cursor, 'the search goes on from where it stopped');
      const second = await list({ q: 'inv-8842-q', limit: 10, cursor: first.body.next_cursor });
      assert.deepEqual(second.body.items.map((e) => e.id), ['a-needle']);
      assert.equal(second.body.next_cursor, null);
      assert.ok(second.body.scanned > 0 && second.body.scanned <= WINDOW);
      // Team B's search finds B's run only.
      const b = await list({ q: 'INV-8842-Q' }, KEYS.b);
      assert.deepEqual(b.body.items.map((e) => e.id), ['b-needle']);
    });

    test('every word must match; a word only in a field name matches nothing; bad searches are 400', async () => {
      const both = await list({ q: 'orders INV-2149', limit: 5 });
      assert.deepEqual(both.body.items.map((e) => e.id), ['a-fill-02149']);
      // "durationMs" is a key of every stored record, not a value anybody wrote.
      const key = await list({ q: 'durationms', limit: 5 });
      assert.deepEqual(key.body.items, []);
      const many = await list({ q: 'a b c d e f g h i' });
      assert.equal(many.status, 400);
      assert.match(many.body.error.message, /at most 8 words/);
      // LIKE wildcards are plain characters.
      const wild = await list({ q: 'inv-%', limit: 5 });
      assert.deepEqual(wild.body.items, []);
    });

    test('the database type is filtered by the server: pages are full and the count is right', async () => {
      const page1 = await list({ database_type: 'bigquery', limit: 2 });
      assert.equal(page1.status, 200);
      assert.deepEqual(page1.body.items.map((e) => e.id), ['q-4-bigquery', 'q-2-bigquery']);
      const page2 = await list({ database_type: 'bigquery', limit: 2, cursor: page1.body.next_cursor });
      assert.deepEqual(page2.body.items.map((e) => e.id), ['q-0-bigquery']);
      assert.equal(page2.body.next_cursor, null);
      const kdb = await list({ database_type: 'kdb', limit: 50 });
      assert.deepEqual(kdb.body.items.map((e) => e.id), ['q-3-kdb', 'q-1-kdb']);
      // Together with a search.
      const searched = await list({ database_type: 'kdb', q: 'q-1-kdb' });
      assert.deepEqual(searched.body.items.map((e) => e.id), ['q-1-kdb']);
      assert.deepEqual((await list({ database_type: 'bigquery' }, KEYS.b)).body.items, []);
    });
  });
}
