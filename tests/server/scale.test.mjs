// The server at team scale, on the real binary over real HTTP, both engines: set-based
// ingest keeps the stats equal to an exact recount whatever the overlap and concurrency,
// a re-sent version under a new batch id changes nothing, a batch in flight at SIGTERM
// commits, offsets are bounded and cursors walk every row, and two server processes on one
// PostgreSQL behave as one service.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { sqlite, postgres, startServer } from './engines.mjs';
import { subscribe } from './push-stream.mjs';

const client = { id: 'scale-client', sdk: 'runledger-test/0' };
const HOUR = 3_600_000;
const NOW = Date.now();
const STATUSES = ['success', 'failed', 'error', 'timeout'];

// Execution `i` at version `v`: a status, duration and rows that change with the version,
// spread over 20 days, 5 users, 3 workflows and 2 database types.
function record(i, v = 1) {
  const startedAt = NOW - (i % 480) * HOUR - 60_000;
  const status = STATUSES[(i + v) % STATUSES.length];
  return {
    id: `x${i}`, version: v, status, kind: 'query', workflowId: `wf${i % 3}`, userId: `u${i % 5}`,
    startedAt, completedAt: startedAt + 100 * ((i % 7) + v),
    query: { databaseType: i % 2 ? 'kdb' : 'postgres', totalRows: (i % 11) + v },
    nodes: [{ id: 'n1', status: 'success', startedAt, completedAt: startedAt + 5 }],
  };
}

/** The stats `GET …/stats/global?days=` must answer, recounted from the latest versions. */
function recount(latest, days, filter = () => true) {
  const since = Date.now() - days * 86_400_000;
  const rows = [...latest.values()].filter((r) => r.startedAt >= Math.floor(since / 1_800_000) * 1_800_000 && filter(r));
  const count = (s) => rows.filter((r) => r.status === s).length;
  return {
    total_executions: rows.length,
    success_count: count('success'),
    failed_count: count('failed'),
    error_count: count('error'),
    timeout_count: count('timeout'),
    total_rows_processed: rows.reduce((n, r) => n + r.query.totalRows, 0),
  };
}

const pick = (body) => Object.fromEntries(['total_executions', 'success_count', 'failed_count', 'error_count', 'timeout_count', 'total_rows_processed'].map((k) => [k, body[k]]));

async function post(base, batch_id, records) {
  const r = await fetch(`${base}/v1/ingest`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ batch_id, client, records }) });
  assert.equal(r.status, 200, `batch ${batch_id}: ${r.status}`);
  return r.json();
}

const getJson = async (base, path) => {
  const r = await fetch(`${base}${path}`);
  return { status: r.status, body: await r.json() };
};

for (const [engine, makeDb] of [['sqlite', sqlite], ['postgres', postgres]]) {
  describe(`the server at scale on ${engine}`, () => {
    let db;
    let server;
    before(async () => {
      db = await makeDb();
      server = await startServer(['--db', db.url, '--test-faults']);
    });
    after(async () => {
      await server?.stop();
      await db?.stop();
    });

    test('concurrent overlapping batches leave stats equal to an exact recount', async () => {
      const latest = new Map();
      // 8 clients at once, each sending batches that overlap the others' ids at other versions.
      const batches = [];
      for (let c = 0; c < 8; c++) {
        for (let b = 0; b < 3; b++) {
          const records = [];
          for (let i = 0; i < 120; i++) records.push(record((c * 37 + b * 53 + i * 3) % 400, 1 + ((c + b + i) % 4)));
          batches.push({ id: `ov-${c}-${b}`, records });
        }
      }
      await Promise.all(Array.from({ length: 8 }, async (_, c) => {
        for (const b of batches.filter((x) => x.id.startsWith(`ov-${c}-`))) await post(server.base, b.id, b.records);
      }));
      // The highest version of each id wins whatever the order (same version: same content).
      for (const b of batches) for (const r of b.records) if (!latest.has(r.id) || latest.get(r.id).version < r.version) latest.set(r.id, r);
      for (const days of [1, 7, 30]) {
        const { body } = await getJson(server.base, `/api/v1/executions/stats/global?days=${days}`);
        assert.deepEqual(pick(body), recount(latest, days), `global, ${days} days`);
        const user = await getJson(server.base, `/api/v1/executions/u3/stats?days=${days}`);
        assert.deepEqual(pick(user.body), recount(latest, days, (r) => r.userId === 'u3'), `user, ${days} days`);
      }
      const wf = await getJson(server.base, '/api/v1/workflows/wf1/stats?days=30');
      assert.equal(wf.body.total, recount(latest, 30, (r) => r.workflowId === 'wf1').total_executions);
      const dbs = await getJson(server.base, '/api/v1/executions/database-stats/global');
      const kdb = dbs.body.database_stats.find((d) => d.database_type === 'kdb');
      assert.equal(kdb.execution_count, [...latest.values()].filter((r) => r.query.databaseType === 'kdb').length);
      // Every stored record is its latest version.
      for (const id of ['x0', 'x17', 'x399']) {
        const stored = await getJson(server.base, `/api/v1/execution/${id}`);
        if (latest.has(id)) assert.equal(stored.body.version, latest.get(id).version, id);
      }
    });

    test('the same version re-sent under a new batch id leaves the stats unchanged', async () => {
      const records = Array.from({ length: 50 }, (_, i) => record(1000 + i, 2));
      await post(server.base, 'resend-1', records);
      const before = (await getJson(server.base, '/api/v1/executions/stats/global?days=30')).body;
      const again = await post(server.base, 'resend-2', records);
      assert.deepEqual(again, { accepted: records.map((r) => r.id), rejected: [] });
      // And an older version of the same ids: accepted, nothing changes.
      await post(server.base, 'resend-3', records.map((r) => record(Number(r.id.slice(1)), 1)));
      const afterwards = (await getJson(server.base, '/api/v1/executions/stats/global?days=30')).body;
      assert.deepEqual(pick(afterwards), pick(before));
    });

    test('one batch carrying the same id twice is judged in order, as two batches would be', async () => {
      const a = record(2000, 1);
      const b = record(2000, 3);
      const clash = { ...record(2000, 3), status: b.status === 'failed' ? 'success' : 'failed' };
      const answer = await post(server.base, 'twice', [a, b, record(2000, 2), clash]);
      assert.deepEqual(answer.accepted, ['x2000', 'x2000', 'x2000']);
      assert.equal(answer.rejected.length, 1);
      assert.match(answer.rejected[0].reason, /^conflict: version 3/);
      assert.equal((await getJson(server.base, '/api/v1/execution/x2000')).body.status, b.status);
      const wf = (await getJson(server.base, '/api/v1/executions/u0/stats?days=30')).body;
      assert.ok(wf.total_executions > 0);
    });

    test('offsets beyond the bound are refused in favour of cursors, and cursors walk every row', async () => {
      const refused = await getJson(server.base, '/api/v1/executions/u1?offset=5001');
      assert.equal(refused.status, 400);
      assert.match(refused.body.error.message, /`offset` must be from 0 to 5000; got 5001\. Deeper pages: GET \/api\/v1\/executions\?user_id=u1&cursor=/);
      assert.equal((await getJson(server.base, '/api/v1/executions/u1?offset=5000')).status, 200);
      const seen = [];
      let cursor = null;
      for (let page = 0; page < 100; page++) {
        const { body } = await getJson(server.base, `/api/v1/executions?limit=37${cursor ? `&cursor=${cursor}` : ''}`);
        seen.push(...body.items.map((e) => [e.startedAt, e.id]));
        cursor = body.next_cursor;
        if (!cursor) break;
      }
      assert.equal(cursor, null, 'the walk ended');
      const all = await (await fetch(`${server.base}/v1/__test/stats`)).json();
      assert.equal(seen.length, all.rows, 'every stored execution once');
      assert.equal(new Set(seen.map(([, id]) => id)).size, seen.length);
      for (let i = 1; i < seen.length; i++) {
        const [t0, id0] = seen[i - 1];
        const [t1, id1] = seen[i];
        assert.ok(t0 > t1 || (t0 === t1 && id0 > id1), `newest first at ${i}`);
      }
    });

    test('SIGTERM with a batch in flight answers 200 and commits it', async () => {
      const extra = await startServer(['--db', db.url, '--test-faults']);
      await fetch(`${extra.base}/v1/__test/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ delayMs: 700 }) });
      const inFlight = fetch(`${extra.base}/v1/ingest`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ batch_id: 'in-flight', client, records: [record(3000, 1)] }) });
      for (let i = 0; i < 100; i++) {
        const s = await (await fetch(`${extra.base}/v1/__test/stats?rows=false`)).json();
        if (s.requests >= 1) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      const stopped = extra.stop();
      const answer = await inFlight;
      assert.equal(answer.status, 200);
      assert.deepEqual((await answer.json()).accepted, ['x3000']);
      assert.equal((await stopped).code, 0);
      assert.equal((await getJson(server.base, '/api/v1/execution/x3000')).body.id, 'x3000');
    });
  });
}

describe('two server processes on one PostgreSQL', () => {
  let db;
  let a;
  let b;
  before(async () => {
    db = await postgres();
    [a, b] = [await startServer(['--db', db.url]), await startServer(['--db', db.url])];
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    await db?.stop();
  });

  test('clients alternating between them see one service', async () => {
    const streamA = await subscribe(`${a.base}/api/v1/events`);
    const streamB = await subscribe(`${b.base}/api/v1/events`);
    await streamA.waitFor(() => streamA.events.some((e) => e.event === 'ready'), 'A ready');
    await streamB.waitFor(() => streamB.events.some((e) => e.event === 'ready'), 'B ready');
    const latest = new Map();
    // Clients alternate between the instances, concurrently, with overlapping ids.
    await Promise.all(Array.from({ length: 6 }, async (_, c) => {
      for (let n = 0; n < 4; n++) {
        const records = Array.from({ length: 60 }, (_, i) => record((c * 11 + n * 29 + i) % 150, 1 + ((c + n) % 3)));
        await post(((c + n) % 2 ? a : b).base, `two-${c}-${n}`, records);
      }
    }));
    for (let c = 0; c < 6; c++) for (let n = 0; n < 4; n++) for (let i = 0; i < 60; i++) {
      const r = record((c * 11 + n * 29 + i) % 150, 1 + ((c + n) % 3));
      if (!latest.has(r.id) || latest.get(r.id).version < r.version) latest.set(r.id, r);
    }
    for (const server of [a, b]) {
      const { body } = await getJson(server.base, '/api/v1/executions/stats/global?days=30');
      assert.deepEqual(pick(body), recount(latest, 30));
    }
    // Each stream announces the commits made on the other instance too.
    const announced = (s) => new Set(s.events.filter((e) => e.event === 'ingested').flatMap((e) => e.data.accepted));
    await streamA.waitFor(() => announced(streamA).size === latest.size, 'A to announce every id');
    await streamB.waitFor(() => announced(streamB).size === latest.size, 'B to announce every id');
    // The batch-id memory is shared: a replay on the other instance gets the first answer,
    // other content under that id is a 409 there.
    const first = await post(a.base, 'shared-id', [record(500, 1)]);
    assert.deepEqual(await post(b.base, 'shared-id', [record(500, 1)]), first);
    const clash = await fetch(`${b.base}/v1/ingest`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ batch_id: 'shared-id', client, records: [record(501, 1)] }) });
    assert.equal(clash.status, 409);
    streamA.stop();
    streamB.stop();
  });

  test('retention runs once for the service, on one instance', async () => {
    // Both started with --retention-days at once, each round held 2 s after deciding to run
    // (test-only), so the two rounds overlap: without the lock both would decide to run.
    // Each old execution is removed once, exactly one round runs (its log line is the
    // server's count of rounds) and the other instance says it skipped.
    const old = Array.from({ length: 30 }, (_, i) => ({ ...record(700 + i, 1), startedAt: NOW - 40 * 86_400_000, completedAt: NOW - 40 * 86_400_000 + 10 }));
    await post(a.base, 'old-ones', old);
    const flags = ['--db', db.url, '--retention-days', '30', '--test-faults', '--test-retention-hold', '2s'];
    const [r1, r2] = await Promise.all([startServer(flags), startServer(flags)]);
    try {
      const rounds = () => (r1.log() + r2.log()).match(/retention (round ran|skipped)/g) || [];
      for (let i = 0; i < 200 && rounds().length < 2; i++) await new Promise((r) => setTimeout(r, 50));
      for (const e of old) assert.equal((await getJson(a.base, `/api/v1/execution/${e.id}`)).status, 404);
      const logs = r1.log() + r2.log();
      assert.equal((logs.match(/retention round ran/g) || []).length, 1, logs);
      assert.equal((logs.match(/retention skipped/g) || []).length, 1, logs);
      assert.match(logs, /removed(\x1b\[[0-9;]*m)*=(\x1b\[[0-9;]*m)*30\b/);
    } finally {
      await r1.stop();
      await r2.stop();
    }
  });
});
