// OTLP out: the real server binary forwards committed batches to a collector as OTLP/HTTP
// JSON, validated by the official OpenTelemetry protobuf schema (Python opentelemetry-proto,
// json_format). No OpenTelemetry Collector or Jaeger build can be installed from the
// registries this project may use (npm, PyPI, crates.io, Debian: none ships one; Jaeger is
// only a Go module, which would be built from source), so the collector here is a loopback
// receiver this test controls, and the schema check is the official library's.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { sqlite, postgres, startServer } from '../server/engines.mjs';
import { consumer, ingest, python, until, sampleRecords } from './helpers.mjs';

const spansIn = async (requests) => python('validate_otlp.py', [], JSON.stringify(requests.map((r) => r.body)));

for (const [engine, makeDb] of [['sqlite', sqlite], ['postgres', postgres]]) {
  describe(`OTLP forwarder on ${engine}`, () => {
    let db;
    before(async () => { db = await makeDb(); });
    after(async () => { await db?.stop(); });

    test('committed executions reach the collector as schema-valid OTLP JSON', async () => {
      const collector = await consumer();
      const server = await startServer(['--db', db.url, '--otlp-endpoint', collector.url]);
      try {
        const running = { id: `${engine}-running`, version: 1, status: 'running', startedAt: Date.parse('2026-11-02T08:00:00Z') };
        await ingest(server.base, [...sampleRecords(`${engine}-a`), running]);
        let spans = [];
        await until(async () => (spans = await spansIn(collector.requests)).length >= 5, 20_000, 'five spans');
        assert.equal(spans.length, 5, 'two roots and three node attempts; the running execution is not exported');
        assert.ok(collector.requests.every((r) => r.path === '/v1/traces' && r.headers['content-type'] === 'application/json'));
        const root = spans.find((s) => s.name === 'Nightly ETL');
        assert.equal(root.status, 2, 'failed run: STATUS_CODE_ERROR');
        assert.deepEqual(root.events, ['exception']);
        assert.equal(root.service, 'runledger');
        assert.equal(root.attributes['runledger.external_id.airflow'].stringValue, 'dag-run-7');
        const loads = spans.filter((s) => s.name === 'load');
        assert.equal(loads.length, 2, 'each attempt is its own span');
        assert.deepEqual(loads.map((s) => s.attributes['runledger.node.attempt'].intValue).sort(), ['1', '2']);
        for (const child of spans.filter((s) => s.parentSpanId)) {
          assert.equal(child.parentSpanId, root.spanId);
          assert.equal(child.traceId, root.traceId);
        }
        const query = spans.find((s) => s.attributes['db.system']);
        assert.equal(query.kind, 3, 'a query is a CLIENT span');
        assert.equal(query.attributes['db.query.text'].stringValue, 'SELECT day, count(*) FROM orders GROUP BY day');
        assert.equal(query.status, 1);
        assert.equal(BigInt(query.end) - BigInt(query.start), 250_000_000n, 'nanosecond times');

        // A new version of the same execution is exported with the same ids: idempotent.
        const before = collector.requests.length;
        const [wf] = sampleRecords(`${engine}-a`);
        await ingest(server.base, [{ ...wf, version: 2, tags: ['again'] }]);
        await until(async () => collector.requests.length > before, 20_000, 'the re-export');
        const again = await spansIn(collector.requests.slice(before));
        assert.deepEqual(again.map((s) => s.spanId).sort(), spans.filter((s) => s.traceId === root.traceId).map((s) => s.spanId).sort());
      } finally {
        await server.stop();
        await collector.close();
      }
    });

    test('a collector outage loses nothing, Retry-After is honoured, a partial success is never retried', async () => {
      // Two 503s asking for a 1 s wait, then a partial success, then plain successes.
      const collector = await consumer((_, n) => (n <= 2 ? { status: 503, headers: { 'retry-after': '1' }, body: '{}' }
        : n === 3 ? { body: JSON.stringify({ partialSuccess: { rejectedSpans: '1', errorMessage: 'span too old' } }) } : {}));
      const times = [];
      const server = await startServer(['--db', db.url, '--otlp-endpoint', collector.url]);
      try {
        const watch = setInterval(() => { while (times.length < collector.requests.length) times.push(Date.now()); }, 5);
        await ingest(server.base, sampleRecords(`${engine}-b`));
        await until(async () => collector.requests.length >= 3, 20_000, 'three attempts');
        clearInterval(watch);
        assert.equal(collector.requests[0].body, collector.requests[1].body, 'the 503 was retried with the same body');
        assert.equal(collector.requests[1].body, collector.requests[2].body);
        assert.ok(times[1] - times[0] >= 900, `waited for Retry-After (${times[1] - times[0]} ms)`);
        // Later batches go through; the partially successful body is never sent again.
        await ingest(server.base, sampleRecords(`${engine}-c`));
        await until(async () => collector.requests.length >= 4, 20_000, 'the next batch');
        const partial = collector.requests[2].body;
        assert.equal(collector.requests.filter((r) => r.body === partial).length, 3, 'sent twice for the 503s, once taken: never again');
        const spans = await spansIn(collector.requests.slice(3));
        assert.ok(spans.some((s) => s.attributes['runledger.execution.id']?.stringValue === `${engine}-c-wf`));
        assert.match(server.log(), /retrying/);
        assert.match(server.log(), /partial success is never retried/);
      } finally {
        await server.stop();
        await collector.close();
      }
    });

    test('what is queued while the collector is down survives a restart of the server', async () => {
      const down = await consumer(() => ({ status: 503, headers: { 'retry-after': '1' } }));
      let server = await startServer(['--db', db.url, '--otlp-endpoint', down.url]);
      await ingest(server.base, sampleRecords(`${engine}-d`));
      await until(async () => down.requests.length >= 1, 20_000, 'a first attempt');
      await server.stop();
      await down.close();
      const up = await consumer();
      server = await startServer(['--db', db.url, '--otlp-endpoint', up.url]);
      try {
        let spans = [];
        await until(async () => (spans = await spansIn(up.requests)).some((s) => s.attributes['runledger.execution.id']?.stringValue === `${engine}-d-q`), 20_000, 'the queued batch');
        assert.ok(spans.some((s) => s.attributes['runledger.execution.id']?.stringValue === `${engine}-d-wf`));
      } finally {
        await server.stop();
        await up.close();
      }
    });
  });
}

test('a forwarding URL the server cannot use is refused at start with the flag named', async () => {
  const db = sqlite();
  try {
    await assert.rejects(startServer(['--db', db.url, '--otlp-endpoint', 'https://collector.example:4318']), /--otlp-endpoint.*https/s);
  } finally {
    await db.stop();
  }
});
