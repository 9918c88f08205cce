// The client's OTLP exporter (`export: { otlp }`) from Node (pkg/node.js, real fetch) to a
// loopback collector: the sync machinery's outbox, retries and dead letters with OTLP on the
// wire, every request validated by the official OpenTelemetry protobuf schema.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tracker } from '../../pkg/node.js';
import { consumer, python } from './helpers.mjs';

async function syncUntilSettled(tracker) {
  for (let i = 0; i < 20; i++) {
    const state = await tracker.sync().catch(() => null);
    if (state?.pending === 0) return state;
    await new Promise((r) => setTimeout(r, 100));
  }
  return tracker.syncState();
}

test('Node: finished runs reach the collector as valid OTLP; a 503 is retried, a partial success is not', async () => {
  const collector = await consumer((_, n) => (n === 1 ? { status: 503, headers: { 'retry-after': '0' } }
    : { body: JSON.stringify({ partialSuccess: { rejectedSpans: '1', errorMessage: 'one too old' } }) }));
  const tracker = await Tracker.open({
    storage: 'memory',
    export: { otlp: collector.url },
    sync: { debounceMs: 20, retry: { baseMs: 50, capMs: 200 } },
  });
  try {
    const run = tracker.start({ workflowId: 'nightly', workflowName: 'Nightly', userId: 'job' });
    run.node({ id: 'extract' }, { password: 'hunter2', rows: 3 }).succeed({ ok: true });
    run.fail(new Error('load failed'));
    const open = tracker.start({ workflowId: 'still-running' });
    await tracker.flush();
    // sync() reports the 503 (and leaves the batch queued); the next pass sends it again.
    const state = await syncUntilSettled(tracker);
    assert.equal(state.pending, 0, 'settled: the failed run exported, the running one waits for its end');
    assert.equal(collector.requests.length, 2, 'one 503, then one request taken (partially): never sent again');
    assert.equal(collector.requests[0].body, collector.requests[1].body);
    assert.equal(collector.requests[0].path, '/v1/traces');
    const spans = await python('validate_otlp.py', [], JSON.stringify([collector.requests[1].body]));
    assert.deepEqual(spans.map((s) => s.name).sort(), ['Nightly', 'extract']);
    const root = spans.find((s) => s.name === 'Nightly');
    assert.equal(root.status, 2);
    assert.equal(root.service, 'runledger-client');
    const extract = spans.find((s) => s.name === 'extract');
    assert.match(extract.attributes['runledger.node.input'].stringValue, /REDACTED/, 'secrets masked before they leave');
    assert.doesNotMatch(collector.requests[1].body, /hunter2/);
    // The running one is exported once it ends.
    open.succeed();
    await tracker.flush();
    assert.equal((await syncUntilSettled(tracker)).pending, 0);
    const later = await python('validate_otlp.py', [], JSON.stringify([collector.requests.at(-1).body]));
    assert.deepEqual(later.map((s) => s.name), ['still-running']);
  } finally {
    await tracker.close();
    await collector.close();
  }
});

test('export.otlp is checked like an endpoint and not combined with one', async () => {
  await assert.rejects(Tracker.open({ storage: 'memory', export: { otlp: 'ftp://x' } }), /export\.otlp/);
  await assert.rejects(Tracker.open({ storage: 'memory', export: { otlp: 'http://c' }, endpoint: 'http://a' }), /export\.otlp/);
  await assert.rejects(Tracker.open({ storage: 'memory', export: { otel: 'http://c' } }), /otel/);
});
