// One request must never take the server down, and the web surface gives nothing away: the
// real runledger-server binary (the production build, target/server/) over real HTTP and raw
// TCP, on SQLite and on PostgreSQL. Issue 15's findings, one test each.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { request } from 'node:http';
import { sqlite, postgres, startServer } from './engines.mjs';

const client = { id: 'robust-test', sdk: 'runledger-test/0' };
const NOW = Date.now();
const record = (id, extra = {}) => ({
  id, version: 1, kind: 'query', status: 'success', userId: 'robust', startedAt: NOW - 1000, completedAt: NOW - 900, durationMs: 100, ...extra,
});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A GET on a connection of its own, closed after the answer (no keep-alive pool to race). */
function getOnce(url) {
  return new Promise((res, rej) => {
    const req = request(url, { agent: false, headers: { connection: 'close' } }, (r) => {
      let text = '';
      r.on('data', (d) => { text += d; });
      r.on('end', () => res({ status: r.statusCode, body: JSON.parse(text) }));
    });
    req.on('error', rej);
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer from ${url} in 10 s`)));
    req.end();
  });
}

/** A raw TCP connection to `base`: what it sent, what came back, and whether it closed. */
function rawSocket(base) {
  const { hostname, port } = new URL(base);
  const socket = connect({ host: hostname, port: Number(port) });
  const state = { received: '', closed: false, socket };
  state.connected = new Promise((res, rej) => { socket.once('connect', res); socket.once('error', rej); });
  socket.on('data', (d) => { state.received += d; });
  socket.on('error', () => {});
  state.closedAt = new Promise((res) => socket.once('close', () => { state.closed = true; res(); }));
  return state;
}

/** Resolves true when `promise` settles within `ms`, false otherwise. */
const within = (promise, ms) => Promise.race([promise.then(() => true), sleep(ms).then(() => false)]);

for (const [engine, makeDb] of [['sqlite', sqlite], ['postgres', postgres]]) {
  describe(`robustness on ${engine}`, () => {
    let db;
    let server;
    let batchNo = 0;
    const post = (body, { base = server.base, headers = {}, raw } = {}) => fetch(`${base}/v1/ingest`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: raw ?? JSON.stringify(body),
    });
    const ingest = (records, options) => post({ batch_id: `robust-${engine}-${batchNo++}`, client, records }, options);
    const get = async (path, base = server.base) => {
      const r = await fetch(`${base}${path}`);
      return { status: r.status, headers: r.headers, body: await r.json() };
    };
    const healthy = async (base = server.base) => assert.equal((await getOnce(`${base}/health`)).status, 200);

    before(async () => {
      db = await makeDb();
      server = await startServer(['--db', db.url, '--test-faults', '--cors-origin', 'http://editor.example']);
    });
    after(async () => {
      await server?.stop();
      await db?.stop();
    });

    test('the binary under test unwinds on panic (the server profile)', () => {
      assert.doesNotMatch(server.log(), /panic = "abort"/);
    });

    test('a multi-byte character or an impossible date in a timestamp is a 400 naming it, never a crash', async () => {
      for (const name of ['since', 'until']) {
        for (const value of ['2024-01-01T00:00:00%2B0%C3%A900', '2024-02-30T00:00:00Z', '2024-01-01T00:00:00%C3%A9']) {
          const r = await get(`/api/v1/executions?${name}=${value}`);
          assert.equal(r.status, 400, `${name}=${value}`);
          assert.equal(r.body.error.code, 'bad_request');
          assert.match(r.body.error.message, new RegExp(`\`${name}\``));
        }
      }
      for (const startedAt of ['2024-01-01T00:00:00+0é00', '2024-02-30T00:00:00Z', '2024-01-01T00:00:00é']) {
        const r = await ingest([record('ts', { startedAt, completedAt: undefined, status: 'running' })]);
        assert.equal(r.status, 400, startedAt);
        const body = await r.json();
        assert.equal(body.error.code, 'malformed_body');
        assert.match(body.error.message, /records\[0\]\.startedAt/);
      }
      await healthy();
    });

    test('a panic in a request is answered 500 in the error shape, rolled back, and the server serves on', async () => {
      const program = await fetch(`${server.base}/v1/__test/faults`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ panic: true }),
      });
      assert.equal(program.status, 204);
      // --test-faults makes this request panic inside its transaction, just before the commit.
      const batch = { batch_id: `panic-${engine}`, client, records: [record('panicked')] };
      const r = await post(batch);
      assert.equal(r.status, 500);
      assert.equal((await r.json()).error.code, 'internal');
      assert.match(server.log(), /a request panicked; answered 500/);
      assert.equal((await get('/api/v1/execution/panicked')).status, 404, 'nothing of it was stored');
      // The same batch again: not remembered, so it is stored now.
      const again = await post(batch);
      assert.equal(again.status, 200);
      assert.deepEqual((await again.json()).accepted, ['panicked']);
      await healthy();
    });

    test('a value one engine cannot store (NUL in query.databaseType) is a per-record rejection; its neighbours land', async () => {
      const r = await ingest([record('nul-before'), record('nul', { query: { databaseType: 'pg\u0000' } }), record('nul-after')]);
      assert.equal(r.status, 200);
      const body = await r.json();
      assert.deepEqual(body.accepted, ['nul-before', 'nul-after']);
      assert.equal(body.rejected.length, 1);
      assert.equal(body.rejected[0].id, 'nul');
      assert.match(body.rejected[0].reason, /query\.databaseType/);
      assert.equal((await get('/api/v1/execution/nul-after')).status, 200);
      const kind = await ingest([record('nul-kind', { kind: 'q\u0000' })]);
      assert.match((await kind.json()).rejected[0].reason, /`kind`/);
      // The batch id is the batch's own: a 400 naming it, not a 503 on every retry.
      const id = await post({ batch_id: `nul\u0000${engine}`, client, records: [record('nul-batch')] });
      assert.equal(id.status, 400);
      assert.match((await id.json()).error.message, /`batch_id`/);
    });

    test('ingest takes application/json only', async () => {
      for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', undefined]) {
        const r = await fetch(`${server.base}/v1/ingest`, {
          method: 'POST', headers: type ? { 'content-type': type } : {},
          body: new Blob([JSON.stringify({ batch_id: `ct-${engine}`, client, records: [record('ct')] })]),
        });
        assert.equal(r.status, 415, String(type));
        const body = await r.json();
        assert.equal(body.error.code, 'unsupported_media_type');
        assert.match(body.error.message, /application\/json/);
      }
      assert.equal((await get('/api/v1/execution/ct')).status, 404);
      const ok = await ingest([record('ct-ok')], { headers: { 'content-type': 'Application/JSON; charset=utf-8' } });
      assert.equal(ok.status, 200);
    });

    test('a server without keys refuses writes from origins not listed by --cors-origin', async () => {
      for (const origin of ['http://evil.example', 'null']) {
        const r = await ingest([record('csrf')], { headers: { origin } });
        assert.equal(r.status, 403, origin);
        assert.equal((await r.json()).error.code, 'forbidden_origin');
      }
      assert.equal((await get('/api/v1/execution/csrf')).status, 404);
      const listed = await ingest([record('listed')], { headers: { origin: 'http://editor.example' } });
      assert.equal(listed.status, 200);
      // With keys, the key is what protects the server: a keyed write from any origin lands.
      const keyed = await startServer(['--db', db.url, '--api-key', 'k']);
      try {
        const r = await ingest([record('keyed-origin')], { base: keyed.base, headers: { origin: 'http://other.example', authorization: 'Bearer k' } });
        assert.equal(r.status, 200);
      } finally {
        await keyed.stop();
      }
    });

    test('404, 405 and undecodable paths answer the error shape', async () => {
      for (const [method, path, status, code] of [
        ['GET', '/nope', 404, 'not_found'],
        ['GET', '/v1/ingest', 405, 'method_not_allowed'],
        ['DELETE', '/api/v1/executions', 405, 'method_not_allowed'],
        ['GET', '/api/v1/execution/%FF%FE', 400, 'bad_request'],
        ['GET', '/api/v1/lineage/%C3', 400, 'bad_request'],
        ['GET', '/api/v1/events?key=a&key=b', 400, 'bad_request'],
      ]) {
        const r = await fetch(`${server.base}${path}`, { method });
        assert.equal(r.status, status, `${method} ${path}`);
        assert.match(r.headers.get('content-type'), /^application\/json/, `${method} ${path}`);
        const body = await r.json();
        assert.equal(body.error.code, code, `${method} ${path}`);
        assert.equal(typeof body.error.message, 'string');
      }
    });

    test('trailing garbage after the JSON body is a 400', async () => {
      const json = JSON.stringify({ batch_id: `trail-${engine}`, client, records: [record('trail')] });
      for (const tail of ['x', '{}', ',[]']) {
        const r = await post(null, { raw: json + tail });
        assert.equal(r.status, 400, tail);
        const body = await r.json();
        assert.equal(body.error.code, 'malformed_body');
        assert.match(body.error.message, /more after/);
      }
      assert.equal((await get('/api/v1/execution/trail')).status, 404);
      assert.equal((await post(null, { raw: `${json}\n` })).status, 200, 'trailing whitespace is fine');
    });

    test('out-of-range counters are refused at the door, naming the field, and sums do not wrap', async () => {
      // Raw text: 2^64 − 1 is beyond what a JS number holds exactly.
      const big = JSON.stringify({ batch_id: `big-${engine}`, client, records: [record('huge-rows', { userId: 'sums', query: { totalRows: 1 } })] })
        .replace('"totalRows":1', '"totalRows":18446744073709551615');
      const r = await post(null, { raw: big });
      assert.equal(r.status, 200);
      const body = await r.json();
      assert.deepEqual(body.rejected.map((x) => x.id), ['huge-rows']);
      assert.match(body.rejected[0].reason, /query\.totalRows/);
      const durations = await ingest([record('long1', { userId: 'sums', durationMs: 1e308 }), record('long2', { userId: 'sums', durationMs: 6.4e12 })]);
      const rejected = (await durations.json()).rejected;
      assert.equal(rejected.length, 2);
      assert.match(rejected[0].reason, /durationMs/);
      for (const version of ['9007199254740992', '18446744073709551615']) {
        const v = await post(null, { raw: JSON.stringify({ batch_id: `v-${version}-${engine}`, client, records: [record('big-version')] }).replace('"version":1', `"version":${version}`) });
        assert.match((await v.json()).rejected[0].reason, /`version`/);
      }
      // The largest accepted values, three times: the sums are exact, the mean is positive.
      const MAX_COUNT = 2 ** 53 - 1;
      const MAX_DURATION = 7_258_118_400_000 - 946_684_800_000;
      const maxed = [1, 2, 3].map((i) => record(`max${i}`, { userId: 'sums', durationMs: MAX_DURATION, query: { totalRows: MAX_COUNT } }));
      assert.deepEqual((await (await ingest(maxed)).json()).accepted, ['max1', 'max2', 'max3']);
      const stats = await fetch(`${server.base}/api/v1/executions/sums/stats?days=7`);
      const text = await stats.text();
      assert.match(text, /"total_rows_processed":27021597764222973\b/, text);
      const parsed = JSON.parse(text);
      assert.equal(parsed.total_executions, 3);
      assert.equal(parsed.avg_execution_time, MAX_DURATION / 1000);
    });

    test('batch ids are remembered for --batch-id-window, then forgotten', async () => {
      const windowed = await startServer(['--db', db.url, '--batch-id-window', '2s']);
      try {
        const first = await ingest([record('window-a')], { base: windowed.base });
        assert.equal(first.status, 200);
        const batchId = `robust-${engine}-${batchNo - 1}`;
        // Other records under a remembered batch id are a conflict (409); once the window has
        // passed the id is forgotten and the same body is a new batch.
        const replay = () => post({ batch_id: batchId, client, records: [record('window-b')] }, { base: windowed.base })
          .then(async (r) => ({ status: r.status, body: await r.json() }));
        assert.equal((await replay()).status, 409, 'within the window: the id is remembered');
        let answer;
        for (let i = 0; i < 100; i++) {
          await sleep(100);
          answer = await replay();
          if (answer.status === 200) break;
        }
        assert.equal(answer.status, 200, 'after the window: the id was forgotten');
        assert.deepEqual(answer.body.accepted, ['window-b'], 'after the window: the batch is new');
        assert.match(windowed.log(), /forgot batch ids older than the window/);
      } finally {
        await windowed.stop();
      }
    });

    describe('slow and idle connections', () => {
      let limited;
      before(async () => {
        limited = await startServer(['--db', db.url, '--max-connections', '20', '--header-timeout', '1s', '--body-timeout', '1s']);
      });
      after(async () => {
        await limited?.stop();
      });

      test('/health answers while slow-header connections hold the connection limit', async () => {
        const slow = Array.from({ length: 30 }, () => rawSocket(limited.base));
        await Promise.all(slow.map((s) => s.connected));
        for (const s of slow) s.socket.write('POST /v1/ingest HTTP/1.1\r\nHost: x\r\n');
        await healthy(limited.base);
        assert.match(limited.log(), /connection limit reached: closed the longest-idle connection/);
        for (const s of slow) s.socket.destroy();
      });

      test('a connection sending its headers slowly, or nothing, is closed after --header-timeout', async () => {
        const trickle = rawSocket(limited.base);
        const idle = rawSocket(limited.base);
        await Promise.all([trickle.connected, idle.connected]);
        trickle.socket.write('GET /health HTTP/1.1\r\nHost: x\r\n');
        const drip = setInterval(() => { if (!trickle.closed) trickle.socket.write('X-Slow: 1\r\n'); }, 200);
        try {
          assert.ok(await within(trickle.closedAt, 15_000), 'the slow-header connection was closed');
          assert.ok(await within(idle.closedAt, 15_000), 'the idle connection was closed');
        } finally {
          clearInterval(drip);
        }
        assert.doesNotMatch(trickle.received, /200 OK/);
        await healthy(limited.base);
      });

      test('a body that does not arrive within --body-timeout is a 408 in the error shape', async () => {
        const s = rawSocket(limited.base);
        await s.connected;
        s.socket.write('POST /v1/ingest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"batch_id"');
        assert.ok(await within(s.closedAt, 15_000), 'answered and closed');
        assert.match(s.received, /^HTTP\/1\.1 408/);
        assert.match(s.received, /"code":"timeout"/);
      });

      test('by default the connection limit stays below the file limit, so idle connections cannot starve /health', async () => {
        // 100 open files: the default limit is 36 connections; 120 idle ones would exhaust the
        // descriptors of a server without a limit.
        const small = await startServer(['--db', db.url], { fileLimit: 100 });
        const idle = Array.from({ length: 120 }, () => rawSocket(small.base));
        try {
          await Promise.all(idle.map((s) => s.connected));
          await healthy(small.base);
          const r = await ingest([record('under-the-limit')], { base: small.base });
          assert.deepEqual((await r.json()).accepted, ['under-the-limit']);
          assert.match(small.log().replace(/\x1b\[[0-9;]*m/g, ''), /max_connections=36 file_limit=100/);
          assert.match(small.log(), /connection limit reached/);
        } finally {
          for (const s of idle) s.socket.destroy();
          await small.stop();
        }
        await assert.rejects(startServer(['--db', db.url, '--max-connections', '500'], { fileLimit: 100 }), /raise `ulimit -n`/);
      });

      test('SIGTERM with slow clients connected exits after --shutdown-grace', async () => {
        const stopping = await startServer(['--db', db.url, '--header-timeout', '60s', '--body-timeout', '60s', '--shutdown-grace', '1s']);
        // Five send their headers slowly; five send a body slowly, so their requests are in
        // flight and cannot finish on their own (--body-timeout is long here too).
        const slow = Array.from({ length: 10 }, () => rawSocket(stopping.base));
        await Promise.all(slow.map((s) => s.connected));
        for (const [i, s] of slow.entries()) {
          s.socket.write(i < 5 ? 'GET /health HTTP/1.1\r\nHost: x\r\n'
            : 'POST /v1/ingest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{');
        }
        await sleep(200);
        process.kill(stopping.pid, 'SIGTERM');
        const exited = await within(stopping.exited, 15_000);
        if (!exited) process.kill(stopping.pid, 'SIGKILL');
        assert.ok(exited, 'the server exited');
        assert.equal((await stopping.exited).code, 0);
        assert.match(stopping.log(), /closing connections still open after the shutdown grace period/);
        assert.match(stopping.log(), /stopped/);
        for (const s of slow) s.socket.destroy();
      });
    });
  });
}
