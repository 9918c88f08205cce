// The receivers for clients that do not speak the batch protocol (generated code, scripts,
// curl): `POST /api/executions` (DOMAIN.md E) and `POST /api/v1/executions` (DOMAIN.md C),
// against the real server binary over HTTP, on SQLite and on a throwaway PostgreSQL.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { sqlite, postgres, startServer } from './engines.mjs';

const T0 = Date.UTC(2026, 10, 1);
const iso = (ms) => new Date(ms).toISOString();

/** One workflow execution in the editor's shape (DOMAIN.md E). */
const workflowRun = (id, status, extra = {}) => ({
  id, workflowId: 'wf-recv', workflowName: 'Nightly', status, startedAt: iso(T0),
  trigger: { type: 'http', data: { path: '/hook' } },
  nodeExecutions: [
    { nodeId: 'load', nodeName: 'Load', nodeType: 'http', status: 'success', startedAt: iso(T0), completedAt: iso(T0 + 40), input: { url: 'https://x' }, output: { rows: 3 } },
  ],
  ...extra,
});

/** One query execution in the data API's shape (DOMAIN.md C). */
const queryRun = (id, extra = {}) => ({
  execution_id: id, user_id: 'u-recv', conversation_id: 'c1', query: 'select * from trades',
  database_type: 'kdb', query_complexity: 'simple', status: 'success', execution_time: 0.25,
  total_rows: 100, returned_rows: 10, page: 1, page_size: 10, started_at: iso(T0), completed_at: iso(T0 + 250),
  connection_params: { host: 'kdb.internal', password: 'hunter2' }, request_metadata: { route: '/q' }, response_metadata: { cached: false },
  ...extra,
});

for (const [engine, makeDb] of [['sqlite', sqlite], ['postgres', postgres]]) {
  describe(`receivers on ${engine}`, () => {
    let db;
    let server;
    let keyed;
    const post = (path, body, { base = server.base, headers = {}, raw } = {}) => fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: raw ?? JSON.stringify(body),
    });
    const stored = async (id) => {
      const r = await fetch(`${server.base}/api/v1/execution/${id}`);
      return r.status === 404 ? null : r.json();
    };
    /** Ingest requests the server handled and rows it holds (the fault endpoint's counters). */
    const counters = async () => (await fetch(`${server.base}/v1/__test/stats`)).json();

    before(async () => {
      db = await makeDb();
      server = await startServer(['--db', db.url, '--max-body-bytes', '100000', '--test-faults']);
      keyed = await startServer(['--db', db.url, '--api-key', 'k-recv']);
    });
    after(async () => {
      await server?.stop();
      await keyed?.stop();
      await db?.stop();
    });

    test('a running post then a finished post of the same id: the finished one wins, nodes kept', async () => {
      const id = `wf-${engine}-1`;
      const running = await post('/api/executions', workflowRun(id, 'running'));
      assert.equal(running.status, 200);
      assert.deepEqual(await running.json(), { id, accepted: true });
      assert.equal((await stored(id)).status, 'running');
      const finished = workflowRun(id, 'error', {
        completedAt: iso(T0 + 100),
        nodeExecutions: [
          ...workflowRun(id, 'x').nodeExecutions,
          { nodeId: 'save', status: 'error', startedAt: iso(T0 + 40), completedAt: iso(T0 + 90), error: { message: 'disk full', stack: 'at save' } },
        ],
        error: { message: 'disk full', nodeId: 'save' },
      });
      assert.equal((await post('/api/executions', finished)).status, 200);
      const e = await stored(id);
      assert.equal(e.status, 'error');
      assert.equal(e.kind, 'workflow');
      assert.equal(e.schemaVersion, 1);
      assert.equal(e.version, 2, 'stored at the next version');
      assert.deepEqual(e.nodes.map((n) => [n.id, n.name ?? null, n.status]), [['load', 'Load', 'success'], ['save', null, 'error']]);
      assert.deepEqual(e.trigger, { type: 'http', data: { path: '/hook' } });
      // Derived by the server: what the client left out.
      assert.equal(e.durationMs, 100);
      assert.deepEqual(e.nodes.map((n) => n.durationMs), [40, 50]);
      assert.deepEqual(e.failedNodes, ['save']);
      assert.equal(e.nodeCount, 2);
      assert.equal(e.error.nodeId, 'save');
      // A late `running` (a retry that arrived after the end) never reopens it.
      assert.equal((await post('/api/executions', workflowRun(id, 'running', { workflowName: 'late' }))).status, 200);
      const after = await stored(id);
      assert.equal(after.status, 'error');
      assert.equal(after.workflowName, 'Nightly');
      assert.equal(after.version, 2);
    });

    test('between two finished posts the later completedAt wins, whatever the arrival order', async () => {
      const id = `wf-${engine}-2`;
      const late = workflowRun(id, 'success', { completedAt: iso(T0 + 500) });
      const early = workflowRun(id, 'error', { completedAt: iso(T0 + 200), error: { message: 'first try' } });
      assert.equal((await post('/api/executions', late)).status, 200);
      assert.equal((await post('/api/executions', early)).status, 200);
      assert.equal((await stored(id)).status, 'success');
      // The same completion again with other content: the later arrival wins.
      const again = workflowRun(id, 'error', { completedAt: iso(T0 + 500), error: { message: 'corrected' } });
      assert.equal((await post('/api/executions', again)).status, 200);
      const e = await stored(id);
      assert.equal(e.status, 'error');
      assert.equal(e.error.message, 'corrected');
    });

    test('a repeated identical post is stored once: one row, the ingest path counts each request', async () => {
      const id = `wf-${engine}-3`;
      const before = await counters();
      const body = workflowRun(id, 'success', { completedAt: iso(T0 + 10) });
      for (let i = 0; i < 3; i++) assert.equal((await post('/api/executions', body)).status, 200);
      const afterCounts = await counters();
      assert.equal(afterCounts.rows - before.rows, 1, 'one execution row');
      assert.equal(afterCounts.requests - before.requests, 3, 'three requests reached ingest');
      assert.equal((await stored(id)).version, 1, 'the replays changed nothing');
    });

    test('a query execution in the data API shape is stored as a query, its secrets masked', async () => {
      const id = `q-${engine}-1`;
      const r = await post('/api/v1/executions', queryRun(id, {
        status: 'failed', error_message: 'auth failed for postgres://app:s3cret@db/x', error_type: 'AuthError',
      }));
      assert.equal(r.status, 200, await r.clone().text());
      const e = await stored(id);
      assert.equal(e.kind, 'query');
      assert.equal(e.userId, 'u-recv');
      assert.equal(e.sessionId, 'c1');
      assert.equal(e.status, 'failed');
      assert.equal(e.durationMs, 250);
      assert.deepEqual(e.query, { text: 'select * from trades', databaseType: 'kdb', complexity: 'simple', totalRows: 100, returnedRows: 10, page: 1, pageSize: 10 });
      assert.equal(e.metadata.connection.host, 'kdb.internal');
      assert.notEqual(e.metadata.connection.password, 'hunter2');
      assert.doesNotMatch(JSON.stringify(e), /hunter2|s3cret/);
      assert.equal(e.error.type, 'AuthError');
      // The data API's read endpoints see it.
      const list = await (await fetch(`${server.base}/api/v1/executions/u-recv`)).json();
      assert.ok(list.executions.some((x) => (x.execution_id ?? x.id) === id), JSON.stringify(list));
    });

    test('secrets in a workflow post are masked before storage', async () => {
      const id = `wf-${engine}-secret`;
      const body = workflowRun(id, 'success', {
        completedAt: iso(T0 + 5),
        trigger: { type: 'manual', data: { apiKey: 'sk-live-abcdef' } },
        nodeExecutions: [{ nodeId: 'a', status: 'success', startedAt: iso(T0), input: { password: 'pw-123456' }, output: { token: 'tok-987654' } }],
      });
      assert.equal((await post('/api/executions', body)).status, 200);
      const text = JSON.stringify(await stored(id));
      assert.doesNotMatch(text, /sk-live-abcdef|pw-123456|tok-987654/);
      assert.match(text, /REDACTED/);
    });

    test('unknown fields are refused with a 400 naming them, and nothing is stored', async () => {
      const id = `wf-${engine}-bad`;
      const r = await post('/api/executions', { ...workflowRun(id, 'running'), workflowID: 'oops' });
      assert.equal(r.status, 400);
      const { error } = await r.json();
      assert.equal(error.code, 'malformed_body');
      assert.match(error.message, /unknown field `workflowID`; did you mean `workflowId`/);
      assert.doesNotMatch(error.message, /line \d+ column/);
      const nested = await post('/api/v1/executions', { ...queryRun(`q-${engine}-bad`), response_metadata: {}, rows: 3 });
      assert.equal(nested.status, 400);
      assert.match((await nested.json()).error.message, /unknown field `rows`/);
      assert.equal(await stored(id), null);
      assert.equal(await stored(`q-${engine}-bad`), null);
    });

    test('a record the validation refuses is a 422 saying why; limits and content type are those of ingest', async () => {
      const r = await post('/api/executions', workflowRun(`wf-${engine}-order`, 'success', { completedAt: iso(T0 - 1000) }));
      assert.equal(r.status, 422);
      const { error } = await r.json();
      assert.equal(error.code, 'invalid_record');
      assert.match(error.message, /completedAt/);
      const big = await post('/api/executions', workflowRun(`wf-${engine}-big`, 'running', { workflowName: 'x'.repeat(200_000) }));
      assert.equal(big.status, 413);
      assert.equal((await big.json()).error.code, 'too_large');
      const plain = await post('/api/v1/executions', queryRun(`q-${engine}-plain`), { headers: { 'content-type': 'text/plain' } });
      assert.equal(plain.status, 415);
      const gz = await post('/api/v1/executions', null, { raw: gzipSync(JSON.stringify(queryRun(`q-${engine}-gz`))), headers: { 'content-encoding': 'gzip' } });
      assert.equal(gz.status, 200);
      assert.equal((await stored(`q-${engine}-gz`)).kind, 'query');
    });

    test('keys apply: none or a wrong one is a 401, the right one stores', async () => {
      const body = queryRun(`q-${engine}-keyed`);
      const none = await post('/api/v1/executions', body, { base: keyed.base });
      assert.equal(none.status, 401);
      assert.equal((await none.json()).error.code, 'unauthorized');
      const wrong = await post('/api/v1/executions', body, { base: keyed.base, headers: { authorization: 'Bearer nope' } });
      assert.equal(wrong.status, 401);
      const good = await post('/api/v1/executions', body, { base: keyed.base, headers: { authorization: 'Bearer k-recv' } });
      assert.equal(good.status, 200);
    });

    test('a reused batch_id with different records is a 409 at /v1/ingest, never a replay', async () => {
      const record = { id: `b-${engine}-r`, status: 'success', startedAt: T0, completedAt: T0 + 5 };
      const batch = { batch_id: `reuse-${engine}`, client: { id: 'curl', sdk: 'curl' }, records: [record] };
      const send = (b) => post('/v1/ingest', b);
      assert.equal((await send(batch)).status, 200);
      const other = await send({ ...batch, records: [{ ...record, id: `b-${engine}-other` }] });
      assert.equal(other.status, 409);
      assert.match((await other.json()).error.message, /different records; a new batch needs a new batch_id/);
      assert.equal(await stored(`b-${engine}-other`), null);
    });

    test('an unknown route or method answers the JSON error shape', async () => {
      const missing = await fetch(`${server.base}/api/nothing-here`);
      assert.equal(missing.status, 404);
      assert.deepEqual(await missing.json(), { error: { code: 'not_found', message: 'no such route: GET /api/nothing-here' } });
      const method = await fetch(`${server.base}/api/executions`, { method: 'GET' });
      assert.equal(method.status, 405);
      const { error } = await method.json();
      assert.equal(error.code, 'method_not_allowed');
      assert.match(error.message, /GET \/api\/executions/);
    });
  });
}
