// OTLP in: spans from the official OpenTelemetry SDKs' OTLP/HTTP exporters (JS: JSON;
// Python: protobuf) sent to the real server binary's POST /v1/traces land as executions with
// node runs, read back over the REST API.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { context, trace, SpanStatusCode } from '@opentelemetry/api';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { sqlite, startServer } from '../server/engines.mjs';
import { python } from './helpers.mjs';

const KEY = 'interop-key-0123456789';

describe('OTLP in', () => {
  let db;
  let server;
  const auth = { authorization: `Bearer ${KEY}` };
  const execution = async (traceId) => {
    const r = await fetch(`${server.base}/api/v1/execution/otel-${traceId}`, { headers: auth });
    return r.status === 200 ? r.json() : null;
  };
  before(async () => {
    db = sqlite();
    server = await startServer(['--db', db.url, '--api-key', KEY]);
  });
  after(async () => {
    await server?.stop();
    await db?.stop();
  });

  test('spans from the OpenTelemetry JS SDK (OTLP/HTTP JSON) become an execution with node runs', async () => {
    // SimpleSpanProcessor exports each span as it ends: the children arrive before their root.
    const exporter = new OTLPTraceExporter({ url: `${server.base}/v1/traces`, headers: auth });
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'js-orders' }),
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    });
    const tracer = provider.getTracer('interop-test');
    const root = tracer.startSpan('sync-orders', { attributes: { 'enduser.id': 'js-user' } });
    const inRoot = trace.setSpan(context.active(), root);
    const first = tracer.startSpan('fetch', { attributes: { page: 1 } }, inRoot);
    first.recordException(new Error('socket hang up'));
    first.setStatus({ code: SpanStatusCode.ERROR, message: 'fetch failed' });
    first.end();
    tracer.startSpan('fetch', { attributes: { page: 1 } }, inRoot).end();
    tracer.startSpan('write', {}, inRoot).end();
    root.end();
    await provider.forceFlush();
    await provider.shutdown();
    const traceId = root.spanContext().traceId;
    const e = await execution(traceId);
    assert.ok(e, 'the trace is stored');
    assert.equal(e.status, 'success');
    assert.equal(e.workflowName, 'sync-orders');
    assert.equal(e.userId, 'js-user');
    assert.deepEqual(e.externalIds, { 'otel.service': 'js-orders', 'otel.trace_id': traceId });
    assert.deepEqual(e.nodes.map((n) => [n.id, n.attempt, n.status]), [['fetch', 1, 'error'], ['fetch', 2, 'success'], ['write', 1, 'success']]);
    assert.equal(e.nodes[0].error.message, 'socket hang up');
    assert.ok(e.version >= 2, 'merged over several requests');
    // It shows up in the history and the stats like any execution.
    const list = await (await fetch(`${server.base}/api/v1/executions/js-user`, { headers: auth })).json();
    assert.deepEqual(list.executions.map((x) => x.id), [`otel-${traceId}`]);
    const stats = await (await fetch(`${server.base}/api/v1/executions/js-user/stats?days=36500`, { headers: auth })).json();
    assert.equal(stats.total_executions, 1);
  });

  test('spans from the OpenTelemetry Python SDK (OTLP/HTTP protobuf) become an execution', async () => {
    const sent = await python('python_sdk_spans.py', [`${server.base}/v1/traces`, KEY]);
    assert.equal(sent.flushed, true);
    const e = await execution(sent.traceId);
    assert.ok(e, 'the trace is stored');
    // The root span ended without an error status: OpenTelemetry's own verdict on the run.
    assert.equal(e.status, 'success');
    assert.deepEqual(e.failedNodes, ['load']);
    assert.equal(e.userId, 'user-7');
    assert.deepEqual(e.nodes.map((n) => [n.id, n.status]), [['extract', 'success'], ['load', 'error']]);
    assert.equal(e.nodes[1].error.message, 'warehouse refused the load');
    assert.equal(e.nodes[1].error.type, 'RuntimeError');
    assert.equal(e.externalIds['otel.service'], 'py-billing');
  });

  test('a replay changes nothing, and bad requests get a clear 4xx', async () => {
    const body = {
      resourceSpans: [{ scopeSpans: [{ spans: [{
        traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', name: 'once', kind: 1,
        startTimeUnixNano: '1793000000000000000', endTimeUnixNano: '1793000000500000000', status: {},
      }] }] }],
    };
    const post = (b, headers = {}) => fetch(`${server.base}/v1/traces`, {
      method: 'POST', headers: { 'content-type': 'application/json', ...auth, ...headers }, body: typeof b === 'string' ? b : JSON.stringify(b),
    });
    assert.equal((await post(body)).status, 200);
    const first = await execution('0af7651916cd43dd8448eb211c80319c');
    assert.equal((await post(body)).status, 200);
    assert.equal((await execution('0af7651916cd43dd8448eb211c80319c')).version, first.version);
    const badId = structuredClone(body);
    badId.resourceSpans[0].scopeSpans[0].spans[0].spanId = 'xyz';
    const r = await post(badId);
    assert.equal(r.status, 400);
    assert.match((await r.json()).error.message, /spans\[0\]\.spanId/);
    assert.equal((await post('{"resourceSpans": 7}')).status, 400);
    assert.equal((await post(body, { 'content-type': 'text/plain' })).status, 400);
    assert.equal((await post(body, { authorization: 'Bearer wrong' })).status, 401);
    // A field OTLP does not define is ignored as OTLP asks, and named in the answer.
    const extra = structuredClone(body);
    extra.resourceSpans[0].scopeSpans[0].spans[0].novelField = 1;
    const warned = await (await post(extra)).json();
    assert.match(warned.partialSuccess.errorMessage, /novelField/);
    assert.equal(warned.partialSuccess.rejectedSpans, '0');
  });
});
