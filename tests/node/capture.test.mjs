// Issue 16: recording captures in JS and hands the journal to the core in batches. These
// tests run the real package (pkg/, built by npm test) in Node; the serializer and the
// lifecycle machine are also tested on their own (js/capture/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tracker } from '../../pkg/node.js';
import { boundedJson } from '../../js/capture/serialize.js';
import { Lifecycle } from '../../js/capture/lifecycle.js';
import { newId } from '../../js/capture/ids.js';
import { KnownArguments } from '../../js/capture/known.js';
import { CaptureRecorder } from '../../js/capture/recorder.js';

async function open(options = {}) {
  const tracker = await Tracker.open({ storage: 'memory', ...options });
  const errors = [];
  tracker.on('error', (e) => errors.push(e));
  return { tracker, errors };
}

/** Counts the real wasm calls the capture layer makes (the methods still run). */
function countCoreCalls(tracker) {
  const counts = { applyBatch: 0, checkArg: 0 };
  const apply = tracker.__applyBatch, check = tracker.__checkArg;
  tracker.__applyBatch = function (...args) { counts.applyBatch++; return apply.apply(this, args); };
  tracker.__checkArg = function (...args) { counts.checkArg++; return check.apply(this, args); };
  return counts;
}

function record(tracker, i) {
  const run = tracker.start({ workflowId: 'wf', userId: `u${i % 3}` });
  for (let n = 0; n < 10; n++) run.node({ id: `n${n}`, type: 'map' }, { i, n }).succeed({ rows: n });
  run.succeed();
  return run.id;
}

test('recording calls make no wasm call: one batch per task, repeated definitions checked once', async () => {
  const { tracker, errors } = await open();
  const calls = countCoreCalls(tracker);
  const ids = [];
  for (let i = 0; i < 20; i++) ids.push(record(tracker, i));
  assert.equal(calls.applyBatch, 0, 'nothing is handed over during the task');
  // spec × 3 users + the 10 node definitions: each distinct one checked once.
  assert.equal(calls.checkArg, 13);
  await Promise.resolve();
  assert.equal(calls.applyBatch, 1, 'one batch at the end of the task');
  await tracker.flush();
  const back = await tracker.get(ids[7]);
  assert.equal(back.status, 'success');
  // Its spec was written from fields known from earlier specs (no check, no whole read).
  assert.deepEqual([back.workflowId, back.userId], ['wf', 'u1']);
  assert.deepEqual(back.nodes.map((n) => [n.id, n.input, n.output]),
    Array.from({ length: 10 }, (_, n) => [`n${n}`, { i: 7, n }, { rows: n }]));
  assert.deepEqual(errors, []);
  await tracker.close();
});

test('misuse still throws typed errors at the call, with the core\'s messages', async () => {
  const { tracker } = await open();
  const run = tracker.start({ workflowId: 'w' });
  const node = run.node({ id: 'a' });
  node.succeed(1);
  assert.throws(() => node.succeed(2), { name: 'LifecycleError', message: /node a \(attempt 1\) of execution .* cannot go from success to success: it has already finished/ });
  run.succeed();
  assert.throws(() => run.succeed(), { name: 'LifecycleError', message: /cannot go from success to success: it has already finished/ });
  assert.throws(() => run.fail(new Error('late')), { name: 'LifecycleError', message: /cannot go from success to failed/ });
  assert.throws(() => run.node({ id: 'b' }), { name: 'LifecycleError', message: /node b of execution .* cannot start: the execution has already finished \(success\)/ });
  assert.throws(() => run.output({ name: 'o' }), { name: 'LifecycleError' });
  assert.throws(() => tracker.start({ id: run.id }), { name: 'ValidationError', field: 'id' });
  // A bad structural argument is the core's own ValidationError, with its path.
  const other = tracker.start({ workflowId: 'w2' });
  assert.throws(() => other.node({ id: 'n', nmae: 'x' }), { name: 'ValidationError', field: 'node.nmae', message: /did you mean `name`/ });
  assert.throws(() => other.externalId('airflow', 42), { name: 'ValidationError', field: 'externalId' });
  other.cancel('enough');
  await tracker.close();
  assert.throws(() => tracker.start({ workflowId: 'after' }), { name: 'StoreError', message: /closed/ });
  assert.throws(() => other.node({ id: 'late' }), { name: 'StoreError' });
});

test('a batch step that fails as a whole is an error event and a log line, and the records stay', async () => {
  const { tracker, errors } = await open();
  const id = record(tracker, 1);
  // Simulated failure: the real __applyBatch is made to throw once (nothing in the core fails
  // a well-formed batch on demand); the second hand-over goes to the real method.
  const apply = tracker.__applyBatch;
  let failed = 0;
  tracker.__applyBatch = function (text) {
    if (failed++ === 0) throw Object.assign(new Error('simulated batch failure'), { name: 'StoreError' });
    return apply.call(this, text);
  };
  const warned = [];
  const warn = console.warn;
  console.warn = (...args) => warned.push(args.join(' '));
  try {
    await Promise.resolve();
  } finally {
    console.warn = warn;
  }
  assert.equal(errors.length, 1);
  assert.match(errors[0].message, /simulated batch failure/);
  assert.ok(warned.some((w) => /could not be handed to the core.*kept/.test(w)), warned.join('\n'));
  await tracker.flush();
  assert.equal((await tracker.get(id)).nodes.length, 10, 'the records of the failed batch were handed over again');
  await tracker.close();
});

test('values are read at the end of the task; snapshot() reads one at the call', async () => {
  const { tracker } = await open();
  const run = tracker.start({ workflowId: 'w' });
  const rows = [1, 2];
  const live = run.node({ id: 'live' }, rows);
  const snap = run.node({ id: 'snap' }, tracker.snapshot(rows));
  rows.push(3);                        // same task: the live one sees it, the snapshot does not
  live.succeed(rows);
  snap.succeed(tracker.snapshot(rows));
  await Promise.resolve();             // the task ends: the batch reads the values
  rows.push(4);                        // too late for anything recorded before
  run.succeed();
  await tracker.flush();
  const back = await tracker.get(run.id);
  assert.deepEqual(back.nodes[0].input, [1, 2, 3]);
  assert.deepEqual(back.nodes[0].output, [1, 2, 3]);
  assert.deepEqual(back.nodes[1].input, [1, 2]);
  assert.deepEqual(back.nodes[1].output, [1, 2, 3]);
  await tracker.close();
});

test('strange values become markers, never a throw, a hang or a lost record', async () => {
  const { tracker, errors } = await open();
  const circular = { name: 'loop' };
  circular.self = circular;
  const boom = () => { throw new Error('getter says no'); };
  const value = {
    circular, big: 12n, fn: function named() {}, sym: Symbol('s'), bytes: new Uint8Array(3), buf: new ArrayBuffer(8),
    when: new Date(Date.UTC(2026, 0, 2)), bad: new Date(NaN), map: new Map([['k', 1]]), set: new Set([1, 2]),
    get thrower() { return boom(); },
    proxy: new Proxy({}, { ownKeys: boom, get: boom, getOwnPropertyDescriptor: boom, getPrototypeOf: boom }),
  };
  const run = tracker.start({ workflowId: 'w' });
  run.node({ id: 'n' }, value).succeed({ toJSON: boom });
  run.succeed();
  await tracker.flush();
  const back = await tracker.get(run.id);
  const m = (type, text) => ({ $unsupported: { type, text } });
  const input = back.nodes[0].input;
  assert.deepEqual(input.circular, { name: 'loop', self: m('circular', 'a reference to an enclosing value') });
  assert.deepEqual(input.big, m('bigint', '12'));
  assert.deepEqual(input.fn, m('function', 'function named'));
  assert.deepEqual(input.sym, m('symbol', 'Symbol(s)'));
  assert.deepEqual(input.bytes, m('Uint8Array', 'Uint8Array(3)'));
  assert.deepEqual(input.buf, m('ArrayBuffer', 'ArrayBuffer(8)'));
  assert.equal(input.when, '2026-01-02T00:00:00.000Z');
  assert.deepEqual(input.bad, m('Date', 'Invalid Date'));
  assert.deepEqual(input.map, { $unsupported: { type: 'Map', text: 'Map(1)', entries: [['k', 1]] } });
  assert.deepEqual(input.set, { $unsupported: { type: 'Set', text: 'Set(2)', values: [1, 2] } });
  assert.deepEqual(input.thrower, m('thrown', 'the getter threw: getter says no'));
  assert.equal(input.proxy.$unsupported.type, 'thrown');
  assert.equal(back.nodes[0].output.$unsupported.type, 'thrown');
  assert.match(back.nodes[0].output.$unsupported.text, /getter says no/);
  assert.deepEqual(errors, []);
  await tracker.close();
});

test('a 50 MB value is cut while it is read: a marker with a preview, and the record is whole', async () => {
  const { tracker } = await open({ maxValueBytes: 64 * 1024, previewBytes: 256 });
  const rows = Array.from({ length: 500_000 }, (_, i) => ({ id: i, name: `row ${i} ${'x'.repeat(60)}`, amount: i * 1.5 }));
  const huge = 'y'.repeat(50 * 2 ** 20);
  const run = tracker.start({ workflowId: 'big' });
  run.node({ id: 'load' }, rows).succeed({ sample: rows, text: huge });
  run.node({ id: 'str' }, huge).succeed(huge);
  run.succeed();
  await tracker.flush();
  const back = await tracker.get(run.id);
  for (const v of [back.nodes[0].input, back.nodes[0].output, back.nodes[1].input, back.nodes[1].output]) {
    const marker = v.$truncated;
    assert.ok(marker, JSON.stringify(v).slice(0, 200));
    assert.ok(marker.preview.length <= 256);
    assert.ok((marker.originalBytesAtLeast ?? marker.originalBytes) > 64 * 1024);
    assert.ok(JSON.stringify(v).length < 64 * 1024);
  }
  assert.equal(back.nodes[0].input.$truncated.type, 'Array');
  assert.equal(back.nodes[0].input.$truncated.length, 500_000);
  assert.ok(back.nodes[0].input.$truncated.preview.startsWith('[{"id":0,"name":"row 0'));
  assert.equal(back.nodes[1].input.$truncated.type, 'string');
  await tracker.close();
});

test('a loop that never yields hands the journal over in bounded batches at the call', async () => {
  const { tracker } = await open();
  const calls = countCoreCalls(tracker);
  const ids = [];
  for (let i = 0; i < 1000; i++) ids.push(record(tracker, i));   // 22,000 entries
  assert.ok(calls.applyBatch >= 5, `${calls.applyBatch} batches during the loop`);
  assert.ok(tracker.pending > 0);
  await tracker.flush();
  assert.equal(tracker.pending, 0);
  for (const id of [ids[0], ids[500], ids[999]]) assert.equal((await tracker.get(id)).nodes.length, 10);
  await tracker.close();
});

test('log() and logQuery() after captured calls keep their order and ids', async () => {
  const { tracker } = await open();
  const run = tracker.start({ id: 'mine-1', workflowId: 'w' });
  run.succeed();
  assert.throws(() => tracker.log({ id: 'mine-1', status: 'success', startedAt: Date.now() }), { name: 'ValidationError', field: 'id' });
  const logged = tracker.log({ id: 'mine-2', status: 'failed', startedAt: Date.now() });
  assert.throws(() => tracker.start({ id: logged }), { name: 'ValidationError', field: 'id' });
  await tracker.flush();
  assert.equal((await tracker.get('mine-1')).status, 'success');
  assert.equal((await tracker.get('mine-2')).status, 'failed');
  await tracker.close();
});

test('serializer on its own: bounded cost, markers, native output for plain values', () => {
  const plain = { a: [1, 'two', null, true], b: { c: 1.5 } };
  assert.equal(boundedJson(plain, 1024, 64), JSON.stringify(plain));
  assert.equal(boundedJson(undefined, 1024, 64), undefined);
  const cut = JSON.parse(boundedJson(Array.from({ length: 1e6 }, (_, i) => i), 1000, 50));
  assert.equal(cut.$truncated.length, 1e6);
  assert.equal(cut.$truncated.preview.length, 50);
  assert.ok(cut.$truncated.originalBytesAtLeast > 1000 && cut.$truncated.originalBytesAtLeast < 1100);
  // Deep nesting ends in a marker instead of a stack overflow.
  let deep = {};
  for (let i = 0; i < 10_000; i++) deep = { deep };
  assert.match(boundedJson(deep, 1e6, 64), /"type":"depth"/);
  const lone = JSON.parse(boundedJson({ ['k\ud800']: 'v\udc00' }, 1024, 64));
  assert.deepEqual(lone, { 'k\ufffd': { $unsupported: { type: 'string', text: 'v\ufffd' } } });
});

test('lifecycle machine on its own: node attempts, limits and remembered ends', () => {
  const life = new Lifecycle(2);
  life.start('r');
  assert.equal(life.nodeStart('r', 'a'), 0);
  assert.equal(life.nodeStart('r', 'a'), 1);
  assert.throws(() => life.nodeStart('r', 'b'), { name: 'ValidationError', field: 'nodes', message: '`nodes` is too large: 3 exceeds the limit of 2' });
  life.nodeEnd('r', 1, 'error');
  assert.throws(() => life.nodeEnd('r', 1, 'skipped'), { message: /node a \(attempt 2\) of execution r cannot go from error to skipped/ });
  life.finish('r', 'failed');
  assert.throws(() => life.nodeEnd('r', 0, 'success'), { message: 'node #0 of execution r cannot succeed: the execution has already finished (failed)' });
  assert.throws(() => life.finish('x', 'success'), { message: 'execution x is not being recorded by this tracker' });
  const ids = Array.from({ length: 1000 }, () => newId(1_780_000_000_000));
  assert.deepEqual([...ids].sort(), ids, 'ids made in one millisecond sort in the order they were made');
  assert.equal(new Set(ids).size, 1000);
  assert.match(ids[0], /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});

test('a node definition seen before is read at the end of the task; a bad one then is reported and the run keeps its id', async () => {
  const { tracker, errors } = await open();
  const calls = countCoreCalls(tracker);
  const run = tracker.start({ workflowId: 'w' });
  run.node({ id: 'a', name: 'first', type: 'map' }).succeed();
  const checks = calls.checkArg;
  // Same id and keys: only `id` is read at the call; the rest is read with the payloads.
  const def = { id: 'a', name: 'before', type: 'map' };
  run.node(def).succeed();
  assert.equal(calls.checkArg, checks, 'no check at the call for a known id and known keys');
  def.name = 'changed in the task';
  // A new key is read whole at the call, so a typo still throws at once.
  assert.throws(() => run.node({ id: 'a', nmae: 'x' }), { name: 'ValidationError', field: 'node.nmae', message: /did you mean `name`/ });
  // A known id and keys whose value is bad once read: an error event and a log line, and the
  // node run is recorded with its id alone (the run's node indexes stay as the caller has them).
  const bad = run.node({ id: 'a', name: 42 });
  bad.succeed('kept');
  run.succeed();
  const warned = [];
  const warn = console.warn;
  console.warn = (...args) => warned.push(args.join(' '));
  try {
    await tracker.flush();
  } finally {
    console.warn = warn;
  }
  const back = await tracker.get(run.id);
  assert.deepEqual(back.nodes.map((n) => [n.id, n.name ?? null, n.attempt, n.status]),
    [['a', 'first', 1, 'success'], ['a', 'changed in the task', 2, 'success'], ['a', null, 3, 'success']]);
  assert.equal(back.nodes[2].output, 'kept');
  assert.equal(errors.length, 1, errors.map((e) => e.message).join('\n'));
  assert.equal(errors[0].name, 'ValidationError');
  assert.match(errors[0].message, /node a of execution .*, read at the end of its task, was refused \(recorded with its id alone\)/);
  assert.ok(warned.some((w) => /was refused/.test(w)), warned.join('\n'));
  await tracker.close();
});

test('the capture serializer is the one reader: strict reads for arguments read whole at the call', async () => {
  const { jsonText, errorText } = await import('../../js/capture/serialize.js');
  const values = await import('../../js/values.js');
  assert.deepEqual(Object.keys(values).sort(), ['stringArg'], 'values.js keeps only the argument check');
  assert.equal(jsonText({ a: [1, 'x'], d: new Date(Date.UTC(2026, 0, 1)) }), '{"a":[1,"x"],"d":"2026-01-01T00:00:00.000Z"}');
  assert.equal(jsonText({ f() {}, n: NaN }), '{"f":{"$unsupported":{"type":"function","text":"function f"}},"n":{"$unsupported":{"type":"number","text":"NaN"}}}');
  const loop = {};
  loop.self = loop;
  assert.throws(() => jsonText(loop), /cannot be converted to JSON: a reference to an enclosing value/);
  assert.throws(() => jsonText({ get x() { throw new Error('no'); } }), /cannot be converted to JSON: the getter threw: no/);
  assert.throws(() => jsonText({ ['k\ud800']: 1 }), /lone surrogate/);
  const e = new TypeError('bad');
  assert.deepEqual(JSON.parse(errorText(e)), { message: 'bad', type: 'TypeError', stack: e.stack });
  assert.equal(errorText('m'), '{"message":"m"}');
  assert.throws(() => errorText(5), /expected an Error, a string/);
  // The core reads log() arguments with the same reader: a cycle is a typed error naming it.
  const { tracker } = await open();
  assert.throws(() => tracker.log({ status: 'success', startedAt: Date.now(), metadata: loop }), { name: 'ValidationError', field: 'execution', message: /enclosing value/ });
  await tracker.close();
});

test('known arguments on their own: a spec of known fields is written as read whole, anything new is read whole', () => {
  const known = new KnownArguments();
  const spec = { kind: 'workflow', workflowId: 'w1', userId: 'u1', trigger: { type: 'manual', data: { by: 'x' } } };
  assert.equal(known.specText(spec), undefined, 'nothing known yet');
  known.learnSpec(JSON.parse(JSON.stringify({ ...spec, id: 'run-1' })));
  known.learnSpec({ workflowId: 'w2', userId: 'u2' });
  // A new combination of known fields, in the caller's key order, equals JSON.stringify.
  const mixed = { workflowId: 'w2', kind: 'workflow', userId: 'u1', trigger: { type: 'manual', data: { by: 'x' } } };
  assert.equal(known.specText(mixed), JSON.stringify(mixed));
  assert.equal(known.specText({ workflowId: 'w1', id: 'run-1' }), undefined, 'an id is never known');
  assert.equal(known.specText({ workflowId: 'w3' }), undefined, 'a new value');
  assert.equal(known.specText({ workflowId: 'w1', tags: [] }), undefined, 'a new key');
  assert.equal(known.specText({ trigger: { type: 'manual', data: { by: 'y' } } }), undefined, 'a new nested value');
  const boom = () => { throw new Error('no'); };
  assert.equal(known.specText({ get workflowId() { return boom(); } }), undefined, 'a throwing getter: read whole, typed');
  assert.equal(known.specText(new Proxy({}, { getPrototypeOf: boom })), undefined);
  known.learnNode({ id: 'a', name: 'A' });
  assert.equal(known.nodeId({ id: 'a', name: 'anything' }), 'a');
  assert.equal(known.nodeId({ id: 'a', nmae: 'x' }), undefined, 'a new key is read whole');
  assert.equal(known.nodeId({ id: 'b' }), undefined, 'a new id is read whole');
  assert.equal(known.nodeId(Object.create({ id: 'a' })), undefined, 'not a plain object');
  for (let i = 0; i < 5000; i++) known.learnNode({ id: `n${i}` });
  assert.ok(known.nodeIds.size <= 4096, 'the memory is bounded');
});

test('the capture layer needs only its small core interface (limits, check, apply): a core of our own is enough', async () => {
  // A core made here, the in-process tracker's three calls behind it, watched: what the
  // capture layer asks of any core (the tracker and the worker host each implement it).
  const tracker = await Tracker.open({ storage: 'memory', maxNodeRuns: 3 });
  const checked = [], batches = [], reports = [];
  const core = {
    limits: tracker.__captureLimits,
    check: (what, text, system) => { checked.push(what); tracker.__checkArg(what, text, system); },
    apply: (text) => { batches.push(text); tracker.__applyBatch(text); },
  };
  const recorder = new CaptureRecorder(core, (error) => reports.push(error));
  assert.equal(recorder.limits.maxNodeRuns, 3, 'the limits come from the core');
  const id = recorder.start({ workflowId: 'own-core' });
  const index = recorder.nodeStart(id, { id: 'a' }, { rows: 1 });
  recorder.nodeEnd(id, index, 'success', { rows: 2 });
  recorder.finish(id, 'success');
  assert.deepEqual(checked, ['spec', 'node'], 'each new structural argument is checked by the core');
  assert.throws(() => recorder.start({ workflowID: 'typo' }), { name: 'ValidationError' });
  assert.equal(batches.length, 0, 'nothing handed over during the task');
  await Promise.resolve();
  assert.equal(batches.length, 1, 'one batch at the end of the task, through `apply`');
  assert.equal(JSON.parse(batches[0]).length, 4);
  await tracker.flush();
  const back = await tracker.get(id);
  assert.deepEqual([back.workflowId, back.status, back.nodes[0].input, back.nodes[0].output], ['own-core', 'success', { rows: 1 }, { rows: 2 }]);
  // A core whose apply fails as a whole: the failure is reported and the entries kept.
  let fail = true;
  core.apply = (text) => { if (fail) throw new Error('core unavailable'); tracker.__applyBatch(text); };
  const recorder2 = new CaptureRecorder(core, (error) => reports.push(error));
  const id2 = recorder2.start({ workflowId: 'own-core' });
  recorder2.finish(id2, 'failed');
  recorder2.journal.drain();
  assert.deepEqual(reports.map((e) => e.message), ['core unavailable']);
  fail = false;
  recorder2.journal.drain();
  await tracker.flush();
  assert.equal((await tracker.get(id2)).status, 'failed', 'kept, then applied by the next drain');
  await tracker.close();
});
