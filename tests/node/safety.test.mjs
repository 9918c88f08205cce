// Issue 14 in Node, one test per finding: caller code that throws, timestamps with
// multi-byte characters, unsupported values, strings without limits, unknown keys. Each
// test runs against pkg/ (npm test builds it first) and checks that the tracker still records
// and reads back afterwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tracker } from '../../pkg/node.js';

const T0 = Date.parse('2026-11-20T10:00:00Z');

async function open(options = {}) {
  const tracker = await Tracker.open({ storage: 'memory', ...options });
  const errors = [];
  tracker.on('error', (e) => errors.push(e));
  return { tracker, errors };
}

/** A normal run recorded after the abuse: it must flush and read back whole. */
async function stillRecords(tracker) {
  const run = tracker.start({ workflowId: 'after' });
  run.node({ id: 'ok' }, { a: 1 }).succeed({ b: 2 });
  run.succeed();
  await tracker.flush();
  const back = await tracker.get(run.id);
  assert.equal(back.status, 'success');
  assert.deepEqual(back.nodes.map((n) => [n.id, n.status, n.input, n.output]), [['ok', 'success', { a: 1 }, { b: 2 }]]);
}

function throwsTyped(fn, name, field) {
  let caught;
  try { fn(); } catch (e) { caught = e; }
  assert.ok(caught, 'expected a throw');
  assert.equal(caught.name, name, `${caught.name}: ${caught.message}`);
  if (field !== undefined) assert.equal(caught.field, field, caught.message);
  return caught;
}

test('nodeRun.fail(e) with a throwing message getter is a ValidationError and the tracker lives on', async () => {
  const { tracker, errors } = await open();
  const run = tracker.start({ workflowId: 'wf' });
  const node = run.node({ id: 'n' });
  const e = new Error('x');
  Object.defineProperty(e, 'message', { get() { throw new Error('getter says no'); } });
  const err = throwsTyped(() => node.fail(e), 'ValidationError', 'error');
  assert.match(err.message, /getter says no/);
  // The same node can still be ended: nothing was left half-done.
  node.fail(new Error('readable'));
  run.fail({ message: 'done' });
  // This is where the old build crashed the process (~50 ms later, on the next flush).
  await new Promise((r) => setTimeout(r, 120));
  await tracker.flush();
  assert.equal((await tracker.get(run.id)).nodes[0].error.message, 'readable');
  await stillRecords(tracker);
  assert.deepEqual(errors, []);
});

test('getters, toJSON and Proxies that throw in any argument are ValidationErrors', async () => {
  const { tracker } = await open();
  const boom = () => { throw new Error('boom'); };
  const getter = { get x() { return boom(); } };
  const toJson = { toJSON: boom };
  const proxy = new Proxy({}, { ownKeys: boom, get: boom, getOwnPropertyDescriptor: boom, getPrototypeOf: boom });
  for (const bad of [getter, toJson, proxy]) {
    throwsTyped(() => tracker.start(bad), 'ValidationError', 'spec');
    throwsTyped(() => tracker.start({ workflowId: 'w', metadata: { request: bad } }), 'ValidationError', 'spec');
    const run = tracker.start({ workflowId: 'w' });
    throwsTyped(() => run.node(bad), 'ValidationError', 'node');
    // Payloads are read at the end of the task (issue 16): what throws is stored as a marker.
    const marked = run.node({ id: 'n' }, bad);
    marked.succeed(bad);
    const node = run.node({ id: 'n' });
    throwsTyped(() => node.fail(bad), 'ValidationError', 'error');
    throwsTyped(() => run.output(bad), 'ValidationError', 'output');
    throwsTyped(() => run.fail(bad), 'ValidationError', 'error');
    throwsTyped(() => tracker.log(bad), 'ValidationError', 'execution');
    throwsTyped(() => tracker.logQuery(bad), 'ValidationError', 'query');
    await assert.rejects(tracker.history(bad), { name: 'ValidationError' });
    await assert.rejects(tracker.stats(bad), { name: 'ValidationError' });
    node.succeed({ fine: true });
    run.succeed();
  }
  await assert.rejects(Tracker.open(new Proxy({}, { get: boom, ownKeys: boom })), { name: 'ConfigError' });
  await stillRecords(tracker);
});

test('non-string ids and names are ValidationErrors, never coerced', async () => {
  const { tracker } = await open();
  const run = tracker.start({ workflowId: 'w' });
  throwsTyped(() => run.externalId(Symbol('s'), 'x'), 'ValidationError', 'system');
  throwsTyped(() => run.externalId('airflow', 42), 'ValidationError', 'externalId');
  throwsTyped(() => run.externalId('airflow', { toString() { throw new Error('no'); } }), 'ValidationError', 'externalId');
  throwsTyped(() => tracker.setSyncEnabled('yes'), 'ValidationError', 'enabled');
  throwsTyped(() => tracker.on('error', 'not a function'), 'ValidationError', 'listener');
  await assert.rejects(tracker.get(12), { name: 'ValidationError', field: 'id' });
  await assert.rejects(tracker.delete(Symbol('x')), { name: 'ValidationError', field: 'id' });
  await assert.rejects(tracker.byExternalId('a', null), { name: 'ValidationError', field: 'id' });
  throwsTyped(() => run.node({ id: 'n' }).skip(42), 'ValidationError', 'reason');
  run.succeed();
  await stillRecords(tracker);
});

test('a timestamp with a multi-byte character is a ValidationError in log(), history({ since }) and records', async () => {
  const { tracker } = await open();
  const bad = ['2024-01-01T00:00:00+0é00', '2024-01-01T00:00:00é', '2024-01-01T00:00:0é', 'é', '２０２４-01-01T00:00:00Z'];
  // Many of them: the old build corrupted the module after ~200 traps.
  for (let i = 0; i < 300; i++) {
    const ts = bad[i % bad.length];
    throwsTyped(() => tracker.log({ status: 'success', startedAt: ts }), 'ValidationError', 'execution.startedAt');
    throwsTyped(() => tracker.log({ status: 'success', startedAt: T0, completedAt: ts }), 'ValidationError', 'execution.completedAt');
    throwsTyped(() => tracker.log({ status: 'success', startedAt: T0, completedAt: T0 + 5, nodes: [{ id: 'n', startedAt: ts }] }),
      'ValidationError', 'execution.nodes[0].startedAt');
    throwsTyped(() => tracker.start({ startedAt: ts }), 'ValidationError', 'spec.startedAt');
    throwsTyped(() => tracker.logQuery({ query: 'q', status: 'success', startedAt: ts }), 'ValidationError', 'query.startedAt');
    await assert.rejects(tracker.history({ since: ts }), { name: 'ValidationError', field: 'query.since' });
    await assert.rejects(tracker.stats({ until: ts }), { name: 'ValidationError' });
  }
  // Impossible dates and years past 9999 are refused as well.
  for (const ts of ['2023-02-30T00:00:00Z', '2024-13-01T00:00:00Z', '+275760-09-13T00:00:00Z', '10000-01-01T00:00:00Z']) {
    throwsTyped(() => tracker.log({ status: 'success', startedAt: ts }), 'ValidationError', 'execution.startedAt');
  }
  // Durations that would overflow a timestamp are refused, not wrapped around.
  throwsTyped(() => tracker.logQuery({ query: 'q', status: 'success', executionTime: 1e300, startedAt: T0 }), 'ValidationError');
  throwsTyped(() => tracker.log({ status: 'success', startedAt: T0, durationMs: 1e300 }), 'ValidationError');
  const ok = tracker.log({ status: 'success', startedAt: '2026-11-20T10:00:00+01:00', completedAt: '2026-11-20T10:00:01+01:00' });
  await tracker.flush();
  assert.equal((await tracker.get(ok)).startedAt, T0 - 3_600_000);
  await stillRecords(tracker);
});

test('functions, symbols, bigints, NaN, Infinity and lone surrogates are marked, NUL is kept', async () => {
  const { tracker } = await open();
  const run = tracker.start({ workflowId: 'w', trigger: { type: 'api', data: { cb: function callback() {} } } });
  const input = { fn: () => 1, sym: Symbol('tag'), big: 2n ** 70n, nan: NaN, inf: -Infinity, lone: 'a\ud800b', nul: 'a\u0000b', list: [Symbol.iterator, undefined] };
  run.node({ id: 'n' }, input).succeed('x\u0000y');
  run.succeed();
  await tracker.flush();
  const back = await tracker.get(run.id);
  const marked = (type, text) => ({ $unsupported: { type, text } });
  assert.deepEqual(back.trigger.data, { cb: marked('function', 'function callback') });
  assert.deepEqual(back.nodes[0].input, {
    fn: marked('function', 'function fn'),
    sym: marked('symbol', 'Symbol(tag)'),
    big: marked('bigint', (2n ** 70n).toString()),
    nan: marked('number', 'NaN'),
    inf: marked('number', '-Infinity'),
    lone: marked('string', 'a\ufffdb'),
    nul: 'a\u0000b',
    list: [marked('symbol', 'Symbol(Symbol.iterator)'), null],
  });
  assert.equal(back.nodes[0].output, 'x\u0000y');
  // In a field that must be a string or a number, such a value is refused, with its path.
  throwsTyped(() => tracker.start({ workflowName: 'a\udc00' }), 'ValidationError', 'spec.workflowName');
  throwsTyped(() => tracker.logQuery({ query: 'q', status: 'success', executionTime: NaN }), 'ValidationError', 'query.executionTime');
  throwsTyped(() => tracker.start({ userId: 'a\u0000b' }), 'ValidationError', 'userId');
  // A payload is read at the end of the task (issue 16): a lone surrogate in a key is replaced.
  const lone = tracker.start({ workflowId: 'lone-key' });
  lone.node({ id: 'n' }, { ['k\ud800']: 1 }).succeed();
  lone.succeed();
  await tracker.flush();
  assert.deepEqual((await tracker.get(lone.id)).nodes[0].input, { 'k\ufffd': 1 });
  await stillRecords(tracker);
});

test('every string the caller gives has a limit: 10 MB names, ids and tags are cut with a marker or refused', async () => {
  const { tracker } = await open({ maxValueBytes: 4096 });
  const tenMb = 'x'.repeat(10 * 2 ** 20);
  throwsTyped(() => tracker.start({ id: tenMb }), 'ValidationError', 'id');
  throwsTyped(() => tracker.start({ workflowId: tenMb }), 'ValidationError', 'workflowId');
  // 1 MiB is as far over the limits as 10 and keeps the test quick.
  const huge = 'x'.repeat(2 ** 20);
  const run = tracker.start({ workflowId: 'w', workflowName: tenMb, kind: huge, tags: [huge, 'small'],
    query: { text: huge, databaseType: huge } });
  throwsTyped(() => run.node({ id: huge }), 'ValidationError', 'node.id');
  run.node({ id: 'n', name: huge, type: huge }).fail({ message: huge, type: huge, stack: huge });
  run.node({ id: 'm' }).skip(huge);
  throwsTyped(() => run.externalId('airflow', huge), 'ValidationError', 'externalId');
  throwsTyped(() => run.output({ name: huge }), 'ValidationError', 'output.name');
  run.output({ name: 'out', columns: [{ name: huge, type: huge }] });
  run.fail(new Error(huge));
  throwsTyped(() => tracker.start({ tags: Array.from({ length: 300 }, (_, i) => `t${i}`) }), 'ValidationError', 'tags');
  await tracker.flush();
  const back = await tracker.get(run.id);
  const cut = (s, limit) => {
    assert.ok(s.length <= limit, `${s.length} > ${limit}`);
    assert.match(s, /…\[truncated: \d+ of \d+ bytes dropped\]$/);
  };
  for (const s of [back.workflowName, back.kind, back.tags[0], back.query.databaseType, back.nodes[0].name, back.nodes[0].type,
    back.nodes[0].error.type, back.outputs[0].columns[0].name, back.outputs[0].columns[0].type]) cut(s, 1024);
  for (const s of [back.query.text, back.nodes[0].error.message, back.nodes[0].error.stack, back.nodes[1].error.message, back.error.message]) cut(s, 4096);
  assert.equal(back.tags[1], 'small');
  assert.ok(JSON.stringify(back).length < 64 * 1024, `${JSON.stringify(back).length} bytes stored`);
  await stillRecords(tracker);
});

test('a payload shaped like the truncation marker does not bypass maxValueBytes', async () => {
  const { tracker } = await open({ maxValueBytes: 1024, previewBytes: 64 });
  const run = tracker.start({ workflowId: 'w', metadata: { response: { $truncated: 'y'.repeat(100_000) } } });
  const fake = { $truncated: { bytesKept: 100_000, bytesDropped: 0, originalBytes: 100_000, preview: 'z'.repeat(100_000) } };
  run.node({ id: 'n' }, fake).succeed({ $truncated: 'w'.repeat(100_000) });
  run.succeed();
  await tracker.flush();
  const back = await tracker.get(run.id);
  for (const v of [back.metadata.response, back.nodes[0].input, back.nodes[0].output]) {
    assert.ok(JSON.stringify(v).length < 1024, JSON.stringify(v).slice(0, 200));
    // The spec's metadata is cut by the core (originalBytes); payloads by the bounded
    // serializer while they are read, which stops past the limit (originalBytesAtLeast).
    assert.ok(v.$truncated.originalBytes > 100_000 || v.$truncated.originalBytesAtLeast > 1024, JSON.stringify(v).slice(0, 200));
    assert.ok(v.$truncated.preview.length <= 64);
  }
});

test('unknown keys are refused with their path and a did-you-mean in every object the API takes', async () => {
  const { tracker } = await open();
  const cases = [
    [() => tracker.start({ workflowID: 'wf' }), 'spec.workflowID', /did you mean `workflowId`/],
    [() => tracker.start({ databaseType: 'kdb' }), 'spec.databaseType', /did you mean `query.databaseType`/],
    [() => tracker.start({ query: { databse_type: 'kdb' } }), 'spec.query.databse_type', /did you mean `databaseType`/],
    [() => tracker.start({ trigger: { type: 'api', payload: 1 } }), 'spec.trigger.payload', /unknown field `payload`/],
    [() => tracker.start({ metadata: { headers: {} } }), 'spec.metadata.headers', /unknown field `headers`/],
    [() => tracker.log({ status: 'success', startedAt: T0, nodeExecutions: [] }), 'execution.nodeExecutions', /did you mean `nodes`/],
    [() => tracker.log({ status: 'success', startedAt: T0, nodes: [{ id: 'n', startedAt: T0, outptu: 1 }] }), 'execution.nodes[0].outptu', /did you mean `output`/],
    [() => tracker.log({ status: 'success', startedAt: T0, error: { message: 'm', code: 'E' } }), 'execution.error.code', /unknown field `code`/],
    [() => tracker.logQuery({ query: 'q', status: 'success', database_type: 'kdb' }), 'query.database_type', /did you mean `databaseType`/],
    [() => tracker.logQuery({ query: 'q', status: 'success', execution_time: 1 }), 'query.execution_time', /did you mean `executionTime`/],
  ];
  for (const [call, field, hint] of cases) {
    const err = throwsTyped(call, 'ValidationError', field);
    assert.match(err.message, hint);
  }
  const run = tracker.start({ workflowId: 'w' });
  assert.match(throwsTyped(() => run.node({ id: 'n', nmae: 'x' }), 'ValidationError', 'node.nmae').message, /did you mean `name`/);
  assert.match(throwsTyped(() => run.output({ name: 'o', row: 1 }), 'ValidationError', 'output.row').message, /did you mean `rows`/);
  assert.match(throwsTyped(() => run.output({ name: 'o', columns: [{ name: 'c', typ: 'int' }] }), 'ValidationError', 'output.columns[0].typ').message, /did you mean `type`/);
  const node = run.node({ id: 'n' });
  throwsTyped(() => node.fail({ message: 'm', nodeID: 'n' }), 'ValidationError', 'error.nodeID');
  node.succeed();
  // The aliases the API documents are still accepted.
  tracker.log({ status: 'success', startedAt: T0, completedAt: T0 + 1, pipelineId: 'p', pipelineName: 'P', conversationId: 'c' });
  run.succeed();
  await stillRecords(tracker);
});

test('a run of 10,000 node runs (the default limit) records with the right attempts and failed nodes', async () => {
  // The speed is the bench's (`node runs per execution`); this checks what the constant-cost
  // bookkeeping produces at the limit, against a recount.
  const { tracker } = await open();
  const run = tracker.start({ workflowId: 'wide' });
  for (let i = 0; i < 10_000; i++) {
    const node = run.node({ id: `n${i % 97}` }, { i });
    if (i % 7 === 0) node.fail({ message: `failed ${i}` }); else node.succeed({ i });
  }
  throwsTyped(() => run.node({ id: 'one-too-many' }), 'ValidationError', 'nodes');
  run.fail({ message: 'done' });
  await tracker.flush();
  const back = await tracker.get(run.id);
  assert.equal(back.nodes.length, 10_000);
  const attempts = new Map();
  const last = new Map();
  for (const n of back.nodes) {
    attempts.set(n.id, (attempts.get(n.id) ?? 0) + 1);
    assert.equal(n.attempt, attempts.get(n.id));
    last.set(n.id, n.status);
  }
  const failed = [...last].filter(([, s]) => s === 'error').map(([id]) => id).sort();
  assert.deepEqual(back.failedNodes, failed);
  assert.equal(back.nodeCount, 10_000);
  await stillRecords(tracker);
});
