// The real runledger-server binary over real HTTP, on SQLite and on PostgreSQL: the same
// suite for both engines.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { sqlite, postgres, startServer } from './engines.mjs';

const T0 = Date.UTC(2026, 10, 1);
const client = { id: 'test-client', sdk: 'runledger-test/0' };
const record = (id, version, status = 'success', extra = {}) => ({
  id, version, status, kind: 'workflow', workflowId: 'wf', userId: 'u1', startedAt: T0, completedAt: T0 + 50,
  nodes: [{ id: 'n1', status: 'success', startedAt: T0, completedAt: T0 + 10, input: { a: 1 }, output: { ok: true } }], ...extra,
});

for (const [engine, makeDb] of [['sqlite', sqlite], ['postgres', postgres]]) {
  describe(`ingest server on ${engine}`, () => {
    let db;
    let server;
    let keyed;
    const post = (body, { key, headers = {}, raw } = {}) => fetch(`${server.base}/v1/ingest`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers },
      body: raw ?? JSON.stringify(body),
    });
    const stored = async (id) => {
      const r = await fetch(`${server.base}/api/v1/execution/${id}`);
      return r.status === 404 ? null : r.json();
    };

    before(async () => {
      db = await makeDb();
      server = await startServer(['--db', db.url, '--max-body-bytes', '200000']);
      keyed = await startServer(['--db', db.url, '--api-key', 'k-good']);
    });
    after(async () => {
      await server?.stop();
      await keyed?.stop();
      await db?.stop();
    });

    test('health reports the database and the version', async () => {
      const r = await fetch(`${server.base}/health`);
      assert.equal(r.status, 200);
      assert.deepEqual(await r.json(), { status: 'ok', database: 'reachable', version: '0.1.0' });
    });

    test('a batch is stored and a replay of it changes nothing', async () => {
      const batch = { batch_id: `b-${engine}-1`, client, records: [record('a1', 1), record('a2', 3)] };
      const first = await post(batch);
      assert.equal(first.status, 200);
      assert.deepEqual(await first.json(), { accepted: ['a1', 'a2'], rejected: [] });
      // The same batch again, even gzipped: the remembered answer, no work.
      const replay = await post(null, { raw: gzipSync(JSON.stringify(batch)), headers: { 'content-encoding': 'gzip' } });
      assert.equal(replay.status, 200);
      assert.deepEqual(await replay.json(), { accepted: ['a1', 'a2'], rejected: [] });
      // Same batch id with different records: 409, and nothing changes.
      const other = await post({ ...batch, records: [record('a1', 9, 'failed')] });
      assert.equal(other.status, 409);
      const error = (await other.json()).error;
      assert.equal(error.code, 'conflict');
      assert.match(error.message, new RegExp(`batch \`b-${engine}-1\` was already received with different records`));
      assert.equal((await stored('a1')).version, 1);
      assert.deepEqual((await stored('a2')).nodes[0].input, { a: 1 });
    });

    test('the highest version wins, whatever the arrival order', async () => {
      await post({ batch_id: `b-${engine}-v3`, client, records: [record('v', 3, 'success')] });
      const late = await post({ batch_id: `b-${engine}-v2`, client, records: [record('v', 2, 'running', { completedAt: undefined })] });
      assert.deepEqual((await late.json()).accepted, ['v']);
      assert.equal((await stored('v')).version, 3);
      assert.equal((await stored('v')).status, 'success');
      await post({ batch_id: `b-${engine}-v4`, client, records: [record('v', 4, 'failed')] });
      assert.equal((await stored('v')).status, 'failed');
    });

    test('a pinning version is refused and later versions land; other content at a stored version is a conflict', async () => {
      await post({ batch_id: `b-${engine}-pin1`, client, records: [record('pin', 1)] });
      for (const big of ['9223372036854775807', '18446744073709551615']) {
        const raw = JSON.stringify({ batch_id: `b-${engine}-pin-${big}`, client, records: [record('pin', 'BIG', 'failed')] }).replace('"BIG"', big);
        const answer = await (await post(null, { raw })).json();
        assert.deepEqual(answer.accepted, [], big);
        assert.match(answer.rejected[0].reason, /^`version` is invalid: \d+ is larger than the limit of 9007199254740991/);
      }
      const later = await (await post({ batch_id: `b-${engine}-pin2`, client, records: [record('pin', 2, 'failed')] })).json();
      assert.deepEqual(later, { accepted: ['pin'], rejected: [] });
      assert.deepEqual([(await stored('pin')).version, (await stored('pin')).status], [2, 'failed']);
      const clash = await (await post({ batch_id: `b-${engine}-pin3`, client, records: [record('pin', 2, 'success')] })).json();
      assert.deepEqual(clash.accepted, []);
      assert.match(clash.rejected[0].reason, /^conflict: version 2 of this execution is already stored with different content/);
      assert.equal((await stored('pin')).status, 'failed');
    });

    test('an invalid record is rejected with a reason and its neighbours land', async () => {
      const bad = record('bad', 1, 'success', { completedAt: T0 - 1 });
      const r = await post({ batch_id: `b-${engine}-partial`, client, records: [record('ok1', 1), bad, record('ok2', 1)] });
      const body = await r.json();
      assert.deepEqual(body.accepted, ['ok1', 'ok2']);
      assert.equal(body.rejected.length, 1);
      assert.equal(body.rejected[0].id, 'bad');
      assert.match(body.rejected[0].reason, /completedAt/);
      assert.equal(await stored('bad'), null);
    });

    test('bad bodies get a 4xx with one error shape, and the server stays up with its data', async () => {
      const cases = [
        [{ raw: '{"batch_id": "x", ' }, 400, /not a valid ingest batch/],
        [{ raw: JSON.stringify({ batch_id: 'x', client, records: {} }) }, 400, /records/],
        [{ raw: JSON.stringify({ batch_id: 'x', client, records: [{ ...record('s', 1), status: 'weird' }] }) }, 400, /records\[0\]\.status/],
        [{ raw: Buffer.from([0xff, 0xfe, 0x00]) }, 400, /^the body is not a valid ingest batch: expected value$/],
        [{ raw: JSON.stringify({ batch_id: 'x', client, records: [record('big', 1, 'success', { tags: ['x'.repeat(300000)] })] }) }, 413, /larger than the limit/],
        [{ raw: 'x', headers: { 'content-encoding': 'br' } }, 400, /Content-Encoding/],
        // A key the record does not have is refused with where it belongs, never dropped.
        [{ raw: JSON.stringify({ batch_id: 'x', client, records: [{ ...record('nx', 1), nodeExecutions: [] }] }) }, 400, /records\[0\]\.nodeExecutions[\s\S]*nodes/],
      ];
      for (const [options, status, message] of cases) {
        const r = await post(null, options);
        assert.equal(r.status, status, `expected ${status} for ${String(options.raw).slice(0, 40)}`);
        const body = await r.json();
        assert.equal(typeof body.error.code, 'string');
        assert.match(body.error.message, message);
      }
      assert.equal((await fetch(`${server.base}/health`)).status, 200);
      assert.equal((await stored('a1')).version, 1, 'earlier data untouched');
      assert.equal(await stored('nx'), null, 'a record with an unknown key is not stored without it');
    });

    test('a gzip body is accepted', async () => {
      const raw = gzipSync(JSON.stringify({ batch_id: `b-${engine}-gz`, client, records: [record('gz', 1)] }));
      const r = await post(null, { raw, headers: { 'content-encoding': 'gzip' } });
      assert.equal(r.status, 200);
      assert.deepEqual((await r.json()).accepted, ['gz']);
    });

    test('with keys configured, a missing or wrong key is 401', async () => {
      const batch = { batch_id: `b-${engine}-auth`, client, records: [record('auth', 1)] };
      const postKeyed = (key) => fetch(`${keyed.base}/v1/ingest`, {
        method: 'POST', headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) }, body: JSON.stringify(batch),
      });
      for (const key of [undefined, 'k-bad']) {
        const r = await postKeyed(key);
        assert.equal(r.status, 401);
        assert.equal((await r.json()).error.code, 'unauthorized');
      }
      assert.equal((await postKeyed('k-good')).status, 200);
      assert.match(keyed.log(), /runledger-server ready/);
      assert.doesNotMatch(keyed.log(), /NO API KEY/);
      assert.match(server.log(), /NO API KEY CONFIGURED/, 'an open server says so loudly');
    });

    test('SIGTERM stops the server cleanly', async () => {
      const extra = await startServer(['--db', db.url]);
      const { code } = await extra.stop();
      assert.equal(code, 0);
      assert.match(extra.log(), /stopped/);
    });
  });
}
