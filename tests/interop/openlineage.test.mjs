// OpenLineage out: GET /api/v1/execution/{id}/openlineage and the --openlineage-endpoint
// forwarder of the real server binary; every event is validated with the official
// openlineage-python client (see validate_openlineage.py for how, and why not a JSON Schema
// file: the package ships none).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { sqlite, startServer } from '../server/engines.mjs';
import { consumer, ingest, python, until, sampleRecords } from './helpers.mjs';

const UUID = '0190d5a3-7b1c-7def-8abc-0123456789ab';

describe('OpenLineage events', () => {
  let db;
  let lineage;
  let server;
  before(async () => {
    db = sqlite();
    lineage = await consumer(() => ({ status: 201, body: '' }));
    server = await startServer(['--db', db.url, '--openlineage-endpoint', lineage.url]);
    const [wf, q] = sampleRecords('ol');
    await ingest(server.base, [{ ...wf, id: UUID }, q]);
  });
  after(async () => {
    await server?.stop();
    await lineage?.close();
    await db?.stop();
  });

  test('a failed workflow: START, node runs as child runs, FAIL with its error, datasets', async () => {
    const r = await fetch(`${server.base}/api/v1/execution/${UUID}/openlineage`);
    assert.equal(r.status, 200);
    const events = await r.json();
    assert.deepEqual(await python('validate_openlineage.py', [], JSON.stringify(events)), { valid: events.length });
    assert.deepEqual(events.map((e) => e.eventType), ['START', 'START', 'COMPLETE', 'START', 'FAIL', 'START', 'FAIL', 'FAIL']);
    const [start, , , , , , , end] = events;
    assert.equal(start.run.runId, UUID, 'a UUID execution id is the run id');
    assert.equal(end.run.runId, UUID);
    assert.deepEqual(end.job, { namespace: 'runledger', name: 'nightly-etl', facets: {} });
    assert.equal(end.run.facets.errorMessage.message, 'node load failed');
    assert.deepEqual(end.run.facets.runledger.externalIds, { airflow: 'dag-run-7' });
    assert.deepEqual(end.outputs.map((o) => [o.name, o.outputFacets.outputStatistics.rowCount]), [['mart.daily', 42]]);
    assert.deepEqual(end.inputs, [{ namespace: 'runledger', name: 'raw.orders' }, { namespace: 'postgres://db', name: 'public.customers' }]);
    const children = events.slice(1, 7);
    for (const child of children) {
      assert.equal(child.run.facets.parent.run.runId, UUID);
      assert.equal(child.run.facets.parent.job.name, 'nightly-etl');
      assert.notEqual(child.run.runId, UUID);
    }
    assert.equal(events[6].run.facets.errorMessage.stackTrace, 'at load()');
    assert.notEqual(events[3].run.runId, events[5].run.runId, 'two attempts are two runs');
  });

  test('a query: SQL job facet and a stable UUID derived from a non-UUID id', async () => {
    const get = async () => (await fetch(`${server.base}/api/v1/execution/ol-q/openlineage`)).json();
    const events = await get();
    assert.deepEqual(await python('validate_openlineage.py', [], JSON.stringify(events)), { valid: 2 });
    assert.deepEqual(events.map((e) => e.eventType), ['START', 'COMPLETE']);
    assert.deepEqual(events[1].job.facets.sql.query, 'SELECT day, count(*) FROM orders GROUP BY day');
    assert.match(events[0].run.runId, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal((await get())[0].run.runId, events[0].run.runId, 'the same id every time');
  });

  test('an unknown execution is a 404 in the error shape', async () => {
    const r = await fetch(`${server.base}/api/v1/execution/nope/openlineage`);
    assert.equal(r.status, 404);
    assert.equal((await r.json()).error.code, 'not_found');
  });

  test('the forwarder posts every event to the lineage endpoint', async () => {
    await until(async () => lineage.requests.length >= 10, 20_000, 'ten events');
    assert.ok(lineage.requests.every((r) => r.path === '/api/v1/lineage'));
    const events = lineage.requests.map((r) => JSON.parse(r.body));
    assert.deepEqual(await python('validate_openlineage.py', [], JSON.stringify(events)), { valid: 10 });
    assert.equal(events.filter((e) => e.run.runId === UUID).length, 2);
  });
});
