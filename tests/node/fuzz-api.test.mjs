// Property-based fuzzing of the JS API in Node, against pkg/: thousands of random values of
// every JS type and shape (undefined, null, booleans, numbers with NaN/±Infinity/-0, bigints,
// strings with lone surrogates, NUL and multi-byte characters, symbols, functions, arrays,
// nested and cyclic objects, getters, toJSON and Proxies that throw, huge strings, and valid
// inputs with one field replaced) go into every public method. The property: nothing crashes
// or traps, every failure is a typed error (ValidationError, LifecycleError, ConfigError) with
// a message, and the tracker stays usable: a normal run recorded afterwards flushes and reads
// back whole.
//
// Fixed seed and a short budget in `npm test`. Longer runs:
//   RUNLEDGER_FUZZ_SEED=123 RUNLEDGER_FUZZ_RUNS=200000 node --test tests/node/fuzz-api.test.mjs
// A failure prints the seed and the step: rerun with that seed to reproduce it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tracker } from '../../pkg/node.js';

const SEED = Number(process.env.RUNLEDGER_FUZZ_SEED ?? 0x14);
const RUNS = Number(process.env.RUNLEDGER_FUZZ_RUNS ?? 3000);
const TYPED = new Set(['ValidationError', 'LifecycleError', 'ConfigError']);
const T0 = Date.parse('2026-11-20T10:00:00Z');

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const KEYS = ['id', 'kind', 'workflowId', 'workflowName', 'userId', 'sessionId', 'parentId', 'planId', 'externalIds',
  'trigger', 'type', 'data', 'query', 'text', 'databaseType', 'metadata', 'connection', 'request', 'response', 'tags',
  'startedAt', 'completedAt', 'durationMs', 'status', 'error', 'message', 'stack', 'nodeId', 'nodes', 'name', 'input',
  'output', 'attempt', 'outputs', 'rows', 'columns', 'role', 'executionTime', 'totalRows', 'limit', 'cursor', 'since',
  'until', 'groupBy', 'filter', 'timeZone', 'failedNode', 'system', 'maxAgeDays', 'before', '$truncated', '$unsupported',
  'password', 'token', '__proto__', 'constructor', 'toJSON', 'workflowID', 'database_type', 'x'];
const WORDS = ['success', 'failed', 'error', 'timeout', 'cancelled', 'running', 'interrupted', 'workflow', 'query',
  'manual', 'http', 'table', 'primary', 'auxiliary', 'day', 'user', 'UTC', '+05:30', '2026-11-20T10:00:00Z',
  '2024-01-01T00:00:00+0é00', '2024-02-30T00:00:00Z', '9999-12-31T23:59:59Z', '10000-01-01T00:00:00Z', '1970-01-01',
  'postgres://u:pw@h/db', '', ' ', 'é', '日本語', '🦀', '\u0000', 'a\ud800', '\udc00b', '\ud83e', 'null', '{}'];
const NUMBERS = [0, -0, 1, -1, 0.5, 2 ** 31, 2 ** 32, 2 ** 53, -(2 ** 53), 1e308, -1e308, 5e-324, NaN, Infinity, -Infinity,
  T0, T0 / 1000, 946_684_800_000, 253_402_300_800_000, 8.64e15];

/** Sets an own enumerable field (even `__proto__`) without running any setter. */
function put(o, key, value) {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
}

function generator(rand) {
  const pick = (list) => list[Math.floor(rand() * list.length)];
  const int = (n) => Math.floor(rand() * n);
  const boom = () => { throw pick([new Error('boom'), new TypeError('type boom'), 'a string', 42, Symbol('s'), null, undefined]); };

  function string() {
    switch (int(6)) {
      case 0: return pick(WORDS);
      case 1: return pick(KEYS);
      case 2: return Array.from({ length: int(12) }, () => String.fromCharCode(int(0x10000))).join('');
      case 3: return pick(WORDS) + pick(WORDS);
      case 4: return rand() < 0.05 ? 'x'.repeat(1 + int(300_000)) : String(int(1000));
      default: return `${2000 + int(9000)}-${1 + int(13)}-${1 + int(32)}T${int(25)}:${int(61)}:${int(61)}${pick(['Z', '+01:00', '+0é00', '.5Z', ''])}`;
    }
  }

  function value(depth = 0) {
    const leaf = depth > 3;
    switch (int(leaf ? 9 : 16)) {
      case 0: return undefined;
      case 1: return null;
      case 2: return rand() < 0.5;
      case 3: return pick(NUMBERS);
      case 4: return pick([0n, -1n, 2n ** 64n]);
      case 5: case 6: return string();
      case 7: return pick([Symbol('s'), Symbol.iterator, Symbol.for('k')]);
      case 8: return pick([() => 1, function named() {}, class K {}, Math.max]);
      case 9: case 10: {
        const o = {};
        for (let i = int(5); i > 0; i--) put(o, pick(KEYS), value(depth + 1));
        return o;
      }
      case 11: return Array.from({ length: int(4) }, () => value(depth + 1));
      case 12: {
        const o = { a: value(depth + 1) };
        o.self = pick([o, [o]]);
        return o;
      }
      case 13: return pick([
        () => ({ get [pick(KEYS)]() { return boom(); } }),
        () => ({ [pick(KEYS)]: value(depth + 1), toJSON: boom }),
        () => new Proxy({}, { get: boom, ownKeys: boom, getOwnPropertyDescriptor: boom, getPrototypeOf: boom, has: boom }),
        () => new Proxy([], { get: boom }),
        () => { const e = new Error('e'); Object.defineProperty(e, 'message', { get: boom }); return e; },
        () => { const e = new RangeError('e'); Object.defineProperty(e, 'name', { get: boom }); return e; },
        () => Object.create(null, { message: { get: boom, enumerable: true } }),
      ])();
      case 14: return pick([new Date(T0), new Date(NaN), new Map([[1, 2]]), new Set([1]), new Uint8Array(3), /re/g,
        new Error('plain'), new TypeError('typed'), Object.create(null), new (class Weird { get v() { return 1; } })()]);
      default: return mutate(valid(), depth + 1);
    }
  }

  function valid() {
    return pick([
      () => ({ workflowId: 'wf', workflowName: 'W', userId: 'u', tags: ['t'], trigger: { type: 'api', data: { a: 1 } },
        query: { text: 'select 1', databaseType: 'kdb' }, metadata: { request: { q: 1 } }, startedAt: T0 }),
      () => ({ id: 'n', name: 'N', type: 'http' }),
      () => ({ name: 'out', kind: 'table', rows: 3, columns: [{ name: 'c', type: 'int' }], role: 'primary' }),
      () => ({ status: 'success', startedAt: T0, completedAt: T0 + 5, workflowId: 'wf',
        nodes: [{ id: 'n', startedAt: T0, completedAt: T0 + 1, status: 'success', input: { a: 1 } }], error: { message: 'm' } }),
      () => ({ query: 'select 1', databaseType: 'kdb', status: 'success', executionTime: 0.5, startedAt: T0, connection: { password: 'p' } }),
      () => ({ workflowId: 'wf', status: 'success', since: T0, until: T0 + 1000, limit: 10, externalId: { system: 's', id: 'i' } }),
      () => ({ since: T0, groupBy: ['workflow', 'day'], filter: { userId: 'u' }, timeZone: '+01:00' }),
      () => ({ message: 'm', type: 'E', stack: 's', nodeId: 'n' }),
    ])();
  }

  /**
   * `o` with one field, at any depth, replaced by a random value. Only own data properties are
   * followed and fields are defined, not assigned, so that the fuzzer itself runs no getter
   * and never reaches a shared prototype.
   */
  function mutate(o, depth) {
    let target = o;
    for (;;) {
      const keys = Object.keys(target);
      const key = rand() < 0.2 || !keys.length ? pick(KEYS) : pick(keys);
      const next = Object.hasOwn(target, key) ? Object.getOwnPropertyDescriptor(target, key).value : undefined;
      if (next && typeof next === 'object' && rand() < 0.5) { target = next; continue; }
      put(target, key, value(depth));
      return o;
    }
  }

  return { value, valid, mutate: (o) => mutate(o, 1), pick, int };
}

/** A readable name for a value in a failure message. */
function show(v) {
  try {
    if (typeof v === 'string') return JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}…(${v.length})` : v);
    if (typeof v === 'bigint') return `${v}n`;
    if (typeof v === 'symbol' || typeof v === 'function') return String(v);
    const text = JSON.stringify(v);
    return text === undefined ? String(v) : text.slice(0, 200);
  } catch {
    return `<${Object.prototype.toString.call(v)}>`;
  }
}

async function stillRecords(tracker) {
  const run = tracker.start({ workflowId: 'fuzz-check', tags: ['check'] });
  const node = run.node({ id: 'check' }, { a: [1, 'é', null] });
  node.succeed({ ok: true });
  run.output({ name: 'checked', rows: 1 });
  run.succeed();
  await tracker.flush();
  const back = await tracker.get(run.id);
  assert.equal(back?.status, 'success');
  assert.deepEqual(back.nodes.map((n) => [n.id, n.status, n.input, n.output]), [['check', 'success', { a: [1, 'é', null] }, { ok: true }]]);
  const page = await tracker.history({ workflowId: 'fuzz-check', limit: 1 });
  assert.equal(page.items[0].id, run.id);
}

test(`fuzz: random values into every public call give typed errors only, and the tracker keeps recording (seed ${SEED}, ${RUNS} calls)`, async (t) => {
  const rand = mulberry32(SEED);
  const g = generator(rand);
  const tracker = await Tracker.open({ storage: 'memory', maxValueBytes: 8192, retention: false });
  const warnings = [];
  const warn = console.warn;
  console.warn = (...args) => warnings.push(args);
  const outcomes = {};
  const runs = [];
  const nodes = [];
  const arg = () => (rand() < 0.5 ? g.value() : g.mutate(g.valid()));
  const some = (list, make) => (list.length && rand() < 0.8 ? g.pick(list) : make());
  const anyRun = () => some(runs, () => tracker.start({ workflowId: 'wf' }));
  const anyNode = () => some(nodes, () => anyRun().node({ id: 'n' }));
  const calls = [
    ['tracker.start', () => { runs.push(tracker.start(arg())); }],
    ['run.node', () => { nodes.push(anyRun().node(arg(), arg())); }],
    ['nodeRun.succeed', () => anyNode().succeed(arg())],
    ['nodeRun.fail', () => anyNode().fail(arg())],
    ['nodeRun.skip', () => anyNode().skip(arg())],
    ['run.output', () => anyRun().output(arg())],
    ['run.externalId', () => anyRun().externalId(g.value(), g.value())],
    ['run.end', () => anyRun()[g.pick(['succeed', 'fail', 'error', 'timeout', 'cancel'])](arg())],
    ['tracker.log', () => tracker.log(arg())],
    ['tracker.logQuery', () => tracker.logQuery(arg())],
    ['tracker.history', () => tracker.history(arg())],
    ['tracker.stats', () => tracker.stats(arg())],
    ['tracker.lineage', () => tracker.lineage(g.value(), arg())],
    ['tracker.byExternalId', () => tracker.byExternalId(g.value(), g.value())],
    ['tracker.get', () => tracker.get(g.value())],
    ['tracker.delete', () => tracker.delete(g.value())],
    ['tracker.prune', () => tracker.prune(arg())],
    ['tracker.retryDeadLetters', () => tracker.retryDeadLetters(g.value())],
    ['tracker.discardDeadLetters', () => tracker.discardDeadLetters(g.value())],
    ['tracker.setSyncEnabled', () => tracker.setSyncEnabled(g.value())],
    ['tracker.setApiKey', () => tracker.setApiKey(g.value())],
    ['tracker.on/off', () => tracker[g.pick(['on', 'off'])](g.value(), g.value())],
    ['tracker.flush', () => tracker.flush()],
    ['Tracker.open', async () => {
      // Options mutated at any depth; always in memory, so the fuzzer never touches the disk.
      const options = g.mutate({ storage: 'memory', name: 'fuzz-open', maxValueBytes: 1024, retention: { maxCount: 10 },
        redact: { keys: ['secret'] }, retry: { baseMs: 10 }, sync: { debounceMs: 10 } });
      put(options, 'storage', 'memory');
      if (Object.hasOwn(options, 'endpoint')) put(options, 'endpoint', undefined);
      const opened = await Tracker.open(options);
      await opened.close();
    }],
  ];
  try {
    for (let step = 0; step < RUNS; step++) {
      const [name, call] = g.pick(calls);
      const where = `seed ${SEED}, step ${step}, ${name}`;
      let result;
      try {
        result = call();
        if (result instanceof Promise) await result;
        outcomes.ok = (outcomes.ok ?? 0) + 1;
      } catch (e) {
        outcomes[e?.name] = (outcomes[e?.name] ?? 0) + 1;
        assert.ok(e instanceof Error, `${where}: threw a non-Error ${show(e)}`);
        assert.ok(TYPED.has(e.name), `${where}: untyped ${e.name}: ${e.message}\n${e.stack}`);
        assert.ok(typeof e.message === 'string' && e.message.length > 0, `${where}: empty message`);
        if (e.name === 'ValidationError') assert.equal(typeof e.field, 'string', `${where}: no field`);
      }
      if (runs.length > 50) runs.splice(0, 25);
      if (nodes.length > 50) nodes.splice(0, 25);
      if (step % 500 === 499) await stillRecords(tracker);
    }
    await stillRecords(tracker);
    t.diagnostic(`outcomes: ${JSON.stringify(outcomes)}`);
    // The inputs reach past the first check: some calls succeed, some fail on their content.
    assert.ok(outcomes.ok > RUNS / 10, JSON.stringify(outcomes));
  } finally {
    console.warn = warn;
  }
  // Background work (flushes of what the fuzzer recorded) never failed.
  assert.deepEqual(warnings.filter((w) => !/listener threw/.test(String(w[0]))).map((w) => String(w[0])), []);
  await tracker.close();
});
