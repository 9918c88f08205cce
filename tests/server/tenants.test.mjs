// Tenants, keys, scopes, bounded versions, batch ids tied to their records, and rate limits:
// the real runledger-server binary over real HTTP, on SQLite and on PostgreSQL. Two teams'
// keys on one server: each finding of the issue is one test below.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sqlite, postgres, startServer, SERVER_BIN } from './engines.mjs';
import { subscribe } from './push-stream.mjs';

const sha256 = (key) => createHash('sha256').update(key).digest('hex');
const T0 = Date.now() - 3_600_000;
const client = { id: 'tenants-test', sdk: 'runledger-test/0' };
const record = (id, version, status = 'success', extra = {}) => ({
  id, version, status, kind: 'workflow', workflowId: 'wf-shared', userId: 'u-shared', startedAt: T0, completedAt: T0 + 50,
  durationMs: 50, outputs: [{ name: 'out-shared', kind: 'table', rows: 3, role: 'primary' }], ...extra,
});

// Keys: team A (read+write, read only, write only, admin), team B (read+write).
const KEYS = { a: 'key-team-a', aRead: 'key-a-read', aWrite: 'key-a-write', aAdmin: 'key-a-admin', b: 'key-team-b' };
const KEYS_FILE = [
  '# tenant:scopes:sha256 of the key',
  `team-a:read,write:${sha256(KEYS.a)}`,
  `team-a:read:${sha256(KEYS.aRead)}`,
  `team-a:write:${sha256(KEYS.aWrite)}`,
  `team-a:admin:${sha256(KEYS.aAdmin)}`,
  `team-b:read, write:${sha256(KEYS.b)}`,
  '',
].join('\n');

const READ_ROUTES = [
  '/api/v1/execution/run-1', '/api/v1/executions', '/api/v1/executions/u-shared', '/api/v1/executions/u-shared/stats',
  '/api/v1/executions/u-shared/database-stats', '/api/v1/executions/stats/global', '/api/v1/executions/database-stats/global',
  '/api/v1/workflows/wf-shared/stats', '/api/v1/lineage/out-shared',
];

/** Reads SSE events of `url` until `stop()`. */
for (const [engine, makeDb] of [['sqlite', sqlite], ['postgres', postgres]]) {
  describe(`tenants and keys on ${engine}`, () => {
    let db;
    let dir;
    let server;
    let batchNo = 0;
    const auth = (key) => (key ? { authorization: `Bearer ${key}` } : {});
    const postRaw = (raw, key, base = server.base) => fetch(`${base}/v1/ingest`, {
      method: 'POST', headers: { 'content-type': 'application/json', ...auth(key) }, body: raw,
    });
    const ingest = async (key, records, { batchId = `t-${engine}-${batchNo++}`, base } = {}) => {
      const r = await postRaw(JSON.stringify({ batch_id: batchId, client, records }), key, base);
      return { status: r.status, headers: r.headers, body: await r.json() };
    };
    const get = async (path, key, base = server.base) => {
      const r = await fetch(`${base}${path}`, { headers: auth(key) });
      return { status: r.status, body: await r.json() };
    };

    before(async () => {
      db = await makeDb();
      dir = mkdtempSync(join(tmpdir(), 'runledger-keys-'));
      writeFileSync(join(dir, 'keys.txt'), KEYS_FILE);
      server = await startServer(['--db', db.url, '--api-keys-file', join(dir, 'keys.txt')]);
    });
    after(async () => {
      await server?.stop();
      await db?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    test('team B cannot read team A\'s runs on any read route, nor hear them on the push stream', async () => {
      const streamA = await subscribe(`${server.base}/api/v1/events?key=${KEYS.a}`);
      const streamB = await subscribe(`${server.base}/api/v1/events`, { headers: auth(KEYS.b) });
      assert.deepEqual([streamA.status, streamB.status], [200, 200]);
      await streamA.waitFor(() => streamA.events.length > 0, 'A ready');
      await streamB.waitFor(() => streamB.events.length > 0, 'B ready');
      const a = await ingest(KEYS.a, [record('run-1', 1)]);
      assert.deepEqual(a.body, { accepted: ['run-1'], rejected: [] });
      for (const path of READ_ROUTES) assert.equal((await get(path, KEYS.a)).status, 200, path);
      assert.equal((await get('/api/v1/execution/run-1', KEYS.a)).body.version, 1);

      assert.equal((await get('/api/v1/execution/run-1', KEYS.b)).status, 404);
      assert.deepEqual((await get('/api/v1/executions', KEYS.b)).body.items, []);
      assert.deepEqual((await get('/api/v1/executions/u-shared', KEYS.b)).body.executions, []);
      assert.equal((await get('/api/v1/executions/u-shared/stats', KEYS.b)).body.total_executions, 0);
      assert.equal((await get('/api/v1/executions/stats/global', KEYS.b)).body.total_executions, 0);
      assert.equal((await get('/api/v1/workflows/wf-shared/stats', KEYS.b)).body.total, 0);
      assert.deepEqual((await get('/api/v1/lineage/out-shared', KEYS.b)).body.executions, []);
      assert.equal((await get('/api/v1/executions/stats/global', KEYS.a)).body.total_executions, 1);
      assert.deepEqual((await get('/api/v1/lineage/out-shared', KEYS.a)).body.executions.map((e) => e.id), ['run-1']);

      // B's stream hears B's own batch first: A's batch was never sent to it.
      await streamA.waitFor(() => streamA.events.some((e) => e.event === 'ingested'), 'A hears its batch');
      await ingest(KEYS.b, [record('b-only', 1)]);
      await streamB.waitFor(() => streamB.events.some((e) => e.event === 'ingested'), 'B hears its batch');
      assert.deepEqual(streamB.events.filter((e) => e.event === 'ingested').map((e) => e.data.accepted), [['b-only']]);
      assert.deepEqual(streamA.events.filter((e) => e.event === 'ingested').map((e) => e.data.accepted), [['run-1']]);
      streamA.stop();
      streamB.stop();
    });

    test('team B writing A\'s id with version+1 lands in B\'s tenant; A\'s run is untouched', async () => {
      await ingest(KEYS.a, [record('run-2', 1)]);
      const b = await ingest(KEYS.b, [record('run-2', 2, 'failed')]);
      assert.deepEqual(b.body.accepted, ['run-2']);
      const ofA = (await get('/api/v1/execution/run-2', KEYS.a)).body;
      assert.deepEqual([ofA.version, ofA.status], [1, 'success']);
      const ofB = (await get('/api/v1/execution/run-2', KEYS.b)).body;
      assert.deepEqual([ofB.version, ofB.status], [2, 'failed']);
    });

    test('a pinning version (2^63−1, u64::MAX) or a far jump is refused with a reason; later real versions land', async () => {
      await ingest(KEYS.a, [record('run-3', 1)]);
      const big = (version, key) => {
        const raw = JSON.stringify({ batch_id: `t-${engine}-big-${version}-${key}`, client, records: [record('run-3', 'BIG', 'failed')] })
          .replace('"BIG"', version);
        return postRaw(raw, key).then((r) => r.json());
      };
      for (const [version, key] of [['9223372036854775807', KEYS.b], ['9223372036854775807', KEYS.a], ['18446744073709551615', KEYS.a]]) {
        const answer = await big(version, key);
        assert.deepEqual(answer.accepted, [], version);
        assert.equal(answer.rejected[0].id, 'run-3');
        assert.match(answer.rejected[0].reason, /^`version` is invalid: \d+ is larger than the limit of 9007199254740991/);
      }
      const jump = await ingest(KEYS.a, [record('run-3', 1_000_002, 'failed')]);
      assert.match(jump.body.rejected[0].reason, /jumps more than 1000000 above the stored version 1/);
      assert.equal((await get('/api/v1/execution/run-3', KEYS.b)).status, 404, 'nothing pinned in B\'s tenant either');
      const later = await ingest(KEYS.a, [record('run-3', 2, 'failed')]);
      assert.deepEqual(later.body, { accepted: ['run-3'], rejected: [] });
      const stored = (await get('/api/v1/execution/run-3', KEYS.a)).body;
      assert.deepEqual([stored.version, stored.status], [2, 'failed']);
      assert.equal((await get('/api/v1/executions/stats/global', KEYS.a)).body.failed_count >= 1, true);
    });

    test('team B registering A\'s batch id first does not stop A\'s records', async () => {
      const batchId = `t-${engine}-shared-batch`;
      const b = await ingest(KEYS.b, [record('b-run', 1)], { batchId });
      assert.deepEqual(b.body.accepted, ['b-run']);
      const a = await ingest(KEYS.a, [record('a-run', 1)], { batchId });
      assert.equal(a.status, 200);
      assert.deepEqual(a.body, { accepted: ['a-run'], rejected: [] });
      assert.equal((await get('/api/v1/execution/a-run', KEYS.a)).status, 200);
      // A's replay of its own batch is still answered from memory; other records under it are 409.
      assert.deepEqual((await ingest(KEYS.a, [record('a-run', 1)], { batchId })).body.accepted, ['a-run']);
      const reused = await ingest(KEYS.a, [record('a-run', 2)], { batchId });
      assert.equal(reused.status, 409);
      assert.equal(reused.body.error.code, 'conflict');
    });

    test('the same id and version with different content is rejected as a conflict, not dropped', async () => {
      const first = await ingest(KEYS.a, [record('run-5', 4)]);
      assert.deepEqual(first.body.accepted, ['run-5']);
      // Another team-A key sends other content at the same version.
      const clash = await ingest(KEYS.aWrite, [record('run-5', 4, 'failed'), record('run-6', 1)]);
      assert.deepEqual(clash.body.accepted, ['run-6'], 'its neighbour lands');
      assert.equal(clash.body.rejected.length, 1);
      assert.equal(clash.body.rejected[0].id, 'run-5');
      assert.match(clash.body.rejected[0].reason, /^conflict: version 4 of this execution is already stored with different content/);
      assert.equal((await get('/api/v1/execution/run-5', KEYS.a)).body.status, 'success');
      // The same content again is a plain duplicate: accepted, nothing changes.
      assert.deepEqual((await ingest(KEYS.aWrite, [record('run-5', 4)])).body, { accepted: ['run-5'], rejected: [] });
    });

    test('scopes are enforced on every route, the push stream included', async () => {
      // A read key cannot write; a write key cannot read; unknown keys are 401.
      const readOnly = await ingest(KEYS.aRead, [record('scoped', 1)]);
      assert.equal(readOnly.status, 403);
      assert.equal(readOnly.body.error.code, 'forbidden');
      assert.match(readOnly.body.error.message, /`write` scope/);
      for (const path of READ_ROUTES) {
        const r = await get(path, KEYS.aWrite);
        assert.equal(r.status, 403, path);
        assert.match(r.body.error.message, /`read` scope/, path);
        assert.equal((await get(path, KEYS.aRead)).status, 200, path);
        assert.equal((await get(path, KEYS.aAdmin)).status, 200, path);
        assert.equal((await get(path, 'not-a-key')).status, 401, path);
        assert.equal((await get(path)).status, 401, path);
      }
      assert.equal((await subscribe(`${server.base}/api/v1/events?key=${KEYS.aWrite}`)).status, 403);
      assert.equal((await subscribe(`${server.base}/api/v1/events`, { headers: auth(KEYS.aWrite) })).status, 403);
      assert.equal((await subscribe(`${server.base}/api/v1/events?key=nope`)).status, 401);
      const admin = await ingest(KEYS.aAdmin, [record('by-admin', 1)]);
      assert.deepEqual(admin.body.accepted, ['by-admin']);
      assert.equal((await get('/api/v1/execution/by-admin', KEYS.aRead)).status, 200, 'admin writes into its tenant');
      assert.equal((await ingest('not-a-key', [record('x', 1)])).status, 401);
    });

    test('deleting an execution needs the admin scope and stays within the tenant', async () => {
      const del = (id, key) => fetch(`${server.base}/api/v1/execution/${id}`, { method: 'DELETE', headers: auth(key) });
      await ingest(KEYS.a, [record('to-delete', 1)]);
      const total = async () => (await get('/api/v1/executions/stats/global', KEYS.a)).body.total_executions;
      const before = await total();
      for (const key of [KEYS.a, KEYS.aRead, KEYS.aWrite]) {
        const r = await del('to-delete', key);
        assert.equal(r.status, 403, key);
        assert.match((await r.json()).error.message, /`admin` scope/);
      }
      assert.equal((await del('to-delete')).status, 401);
      assert.equal((await del('b-only', KEYS.aAdmin)).status, 404, 'B\'s run is not in A\'s tenant');
      assert.equal((await get('/api/v1/execution/b-only', KEYS.b)).status, 200);
      assert.equal((await del('to-delete', KEYS.aAdmin)).status, 204);
      assert.equal((await get('/api/v1/execution/to-delete', KEYS.a)).status, 404);
      assert.equal(await total(), before - 1, 'its stats go with it');
      assert.equal((await del('to-delete', KEYS.aAdmin)).status, 404);
    });

    test('retention prunes every tenant and takes each run out of its own tenant\'s stats', async () => {
      const OLD = Date.now() - 20 * 86_400_000;
      const old = (id) => record(id, 1, 'success', { startedAt: OLD, completedAt: OLD + 50 });
      await ingest(KEYS.a, [old('old-run')]);
      await ingest(KEYS.b, [old('old-run')]);
      const month = async (key, base = server.base) => (await get('/api/v1/executions/stats/global?days=30', key, base)).body.total_executions;
      const before = { a: await month(KEYS.a), b: await month(KEYS.b) };
      const pruning = await startServer(['--db', db.url, '--api-keys-file', join(dir, 'keys.txt'), '--retention-days', '10']);
      try {
        for (let i = 0; i < 200 && (await get('/api/v1/execution/old-run', KEYS.b, pruning.base)).status !== 404; i++) {
          await new Promise((r) => setTimeout(r, 50));
        }
        for (const [team, key] of [['a', KEYS.a], ['b', KEYS.b]]) {
          assert.equal((await get('/api/v1/execution/old-run', key, pruning.base)).status, 404, team);
          assert.equal(await month(key, pruning.base), before[team] - 1, team);
        }
      } finally {
        await pruning.stop();
      }
    });

    test('rate limits per key: requests and bytes per second, 429 with Retry-After', async () => {
      const slow = await startServer(['--db', db.url, '--api-keys-file', join(dir, 'keys.txt'), '--rate-limit-requests', '0.01']);
      const thin = await startServer(['--db', db.url, '--api-keys-file', join(dir, 'keys.txt'), '--rate-limit-requests', '0', '--rate-limit-bytes', '10', '--max-body-bytes', '2000']);
      try {
        // One request per 100 s: the second in a row waits.
        assert.equal((await get('/api/v1/executions', KEYS.a, slow.base)).status, 200);
        const r = await fetch(`${slow.base}/api/v1/executions`, { headers: auth(KEYS.a) });
        assert.equal(r.status, 429);
        const retryAfter = Number(r.headers.get('retry-after'));
        assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 100, `Retry-After ${retryAfter}`);
        const body = await r.json();
        assert.equal(body.error.code, 'rate_limited');
        assert.equal((await ingest(KEYS.a, [record('rl', 1)], { base: slow.base })).status, 429, 'writes count too');
        assert.equal((await get('/api/v1/executions', KEYS.b, slow.base)).status, 200, 'another key has its own bucket');
        // 10 bytes a second: a batch of several hundred bytes passes, the next waits its bytes off.
        const first = await ingest(KEYS.a, [record('rl-1', 1)], { base: thin.base });
        assert.equal(first.status, 200);
        const second = await ingest(KEYS.a, [record('rl-2', 1)], { base: thin.base });
        assert.equal(second.status, 429);
        assert.ok(Number(second.headers.get('retry-after')) >= 2, second.headers.get('retry-after'));
        assert.equal((await ingest(KEYS.b, [record('rl-3', 1)], { base: thin.base })).status, 200);
        // A body over --max-body-bytes is refused (413) but still costs the bytes read.
        const huge = await ingest(KEYS.aAdmin, [record('rl-4', 1, 'success', { tags: ['x'.repeat(5000)] })], { base: thin.base });
        assert.equal(huge.status, 413);
        assert.equal((await ingest(KEYS.aAdmin, [record('rl-5', 1)], { base: thin.base })).status, 429);
      } finally {
        await slow.stop();
        await thin.stop();
      }
    });
  });
}

describe('keys configuration', () => {
  test('hash-key prints the SHA-256 a keys file stores', () => {
    const out = execFileSync(SERVER_BIN, ['hash-key'], { input: 'my secret key\n' }).toString().trim();
    assert.equal(out, sha256('my secret key'));
  });

  test('plain keys file lines of the older form still work as default-tenant keys, with a warning', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runledger-keys-'));
    const db = sqlite();
    writeFileSync(join(dir, 'keys.txt'), `plain-writer\nread:plain-reader\nteam-z:read,write:${sha256('z-key')}\n`);
    const server = await startServer(['--db', db.url, '--api-keys-file', join(dir, 'keys.txt')]);
    try {
      assert.match(server.log(), /keys file holds plain-text keys/);
      const post = (key, id) => fetch(`${server.base}/v1/ingest`, {
        method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ batch_id: `plain-${id}`, client, records: [record(id, 1)] }),
      });
      const read = (key, id) => fetch(`${server.base}/api/v1/execution/${id}`, { headers: { authorization: `Bearer ${key}` } });
      assert.equal((await post('plain-writer', 'p1')).status, 200);
      assert.equal((await post('plain-reader', 'p2')).status, 403);
      assert.equal((await read('plain-reader', 'p1')).status, 200);
      assert.equal((await read('z-key', 'p1')).status, 404, 'a named tenant does not see the default one');
    } finally {
      await server.stop();
      await db.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a bad keys file line stops the server with the line and the reason', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runledger-keys-'));
    const db = sqlite();
    try {
      for (const [line, reason] of [
        [`team-a:delete:${sha256('k')}`, /line 2: scope `delete` is not one of read, write, admin/],
        ['team-a:read:not-a-hash', /line 2: the third field must be the key's SHA-256/],
        [`team a:read:${sha256('k')}`, /line 2: tenant `team a`/],
      ]) {
        writeFileSync(join(dir, 'keys.txt'), `team-b:read:${sha256('ok')}\n${line}\n`);
        await assert.rejects(startServer(['--db', db.url, '--api-keys-file', join(dir, 'keys.txt')]), reason);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await db.stop();
    }
  });
});
