// Sync from Node (pkg/node.js, real fetch) against bad or hostile servers: small node:http
// servers on loopback that answer what a misconfigured or malicious server (or proxy) would.
// Requests are counted over a bounded window: the count is the behaviour under test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { Tracker } from '../../pkg/node.js';

/** A loopback HTTP server answering every request with `answer(req, res)`; counts them. */
async function hostile(answer) {
  const server = createServer((req, res) => {
    server.requests += 1;
    req.resume();
    req.on('end', () => answer(req, res));
  });
  server.requests = 0;
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.base = `http://127.0.0.1:${server.address().port}`;
  server.stop = () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); });
  return server;
}

const wait = (ms) => new Promise((r) => setTimeout(r, ms));

function record(tracker, n) {
  for (let i = 0; i < n; i++) {
    const run = tracker.start({ workflowId: 'wf' });
    run.succeed();
  }
}

/** Everything written to console.warn / console.error while `body` runs, and Node warnings. */
async function capturingConsole(body) {
  const lines = [];
  const { warn, error } = console;
  const onWarning = (w) => lines.push(`process warning ${w.name}: ${w.message}`);
  console.warn = (...args) => lines.push(args.map((a) => (a instanceof Error ? `${a.name}: ${a.message}\n${a.stack}` : String(a))).join(' '));
  console.error = console.warn;
  process.on('warning', onWarning);
  try {
    await body();
  } finally {
    console.warn = warn;
    console.error = error;
    process.off('warning', onWarning);
  }
  return lines;
}

test('Retry-After: 2592000 (30 days) waits an hour: one request, not a flood', async () => {
  const server = await hostile((req, res) => {
    res.writeHead(503, { 'retry-after': '2592000', 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { code: 'maintenance', message: 'come back next month' } }));
  });
  let tracker;
  const lines = await capturingConsole(async () => {
    tracker = await Tracker.open({ storage: 'memory', endpoint: server.base, sync: { debounceMs: 10 } });
    record(tracker, 3);
    await tracker.flush();
    await wait(3_000); // a bounded window: the old client sent hundreds of requests in it
  });
  try {
    assert.equal(server.requests, 1, `${server.requests} requests in the window`);
    const state = tracker.syncState();
    assert.equal(state.pending, 3);
    const wait = state.nextAttemptAt - Date.now();
    assert.ok(wait > 3_000_000 && wait <= 3_600_000, `next attempt in ${wait} ms, not about an hour`);
    assert.ok(!lines.some((l) => l.includes('TimeoutOverflowWarning')), lines.join('\n'));
  } finally {
    await tracker.close();
    await server.stop();
  }
});

test('a server answering 503 at once, forever, with a 1 ms backoff: requests stay within the pacer (10 at once, then 5 a second)', async () => {
  const server = await hostile((req, res) => {
    res.writeHead(503, { 'retry-after': '0' });
    res.end();
  });
  const tracker = await Tracker.open({
    storage: 'memory', endpoint: server.base, sync: { debounceMs: 0, retry: { baseMs: 1, capMs: 1 } },
  });
  tracker.on('error', () => {});
  const quiet = console.warn;
  console.warn = () => {};
  try {
    record(tracker, 2);
    await tracker.flush();
    await wait(3_000);
    const sent = server.requests;
    // The old client sent thousands; the cap allows 10 + 5 × 3 s (+1 for a boundary).
    assert.ok(sent <= 26, `${sent} requests in 3 s`);
    assert.ok(sent >= 2, `only ${sent} request(s): it must keep retrying`);
  } finally {
    console.warn = quiet;
    await tracker.close();
    await server.stop();
  }
});

test('an endpoint with credentials is refused with a ConfigError that does not show them', async () => {
  let failure;
  const lines = await capturingConsole(async () => {
    failure = await Tracker.open({ storage: 'memory', endpoint: 'http://admin:PASS@127.0.0.1:9' }).then(() => null, (e) => e);
  });
  assert.equal(failure?.name, 'ConfigError');
  assert.match(failure.message, /holds credentials/);
  assert.match(failure.message, /127\.0\.0\.1:9/);
  for (const text of [failure.message, failure.stack ?? '', ...lines]) {
    assert.ok(!text.includes('PASS') && !text.includes('admin:'), text);
  }
});

test('credentials and tokens a server echoes never reach errors, warnings, the sync state or the console', async () => {
  const echo = 'upstream http://admin:PASS@10.0.0.1:5432/db refused: Authorization: Bearer SECRETTOKEN';
  const server = await hostile((req, res) => {
    res.writeHead(500, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { code: 'internal', message: echo } }));
  });
  const errors = [];
  let tracker;
  let rejected;
  const lines = await capturingConsole(async () => {
    tracker = await Tracker.open({ storage: 'memory', endpoint: server.base, apiKey: 'k', sync: { debounceMs: 0 } });
    tracker.on('error', (e) => errors.push(e));
    record(tracker, 2);
    await tracker.flush();
    rejected = await tracker.sync().then(() => null, (e) => e);
  });
  try {
    assert.equal(rejected?.name, 'SyncError');
    assert.match(rejected.message, /500/);
    assert.ok(errors.length > 0 && lines.length > 0, 'the failure is reported');
    const seen = [rejected.message, ...errors.map((e) => `${e.message}\n${e.stack}`), ...lines, JSON.stringify(tracker.syncState())];
    assert.ok(seen.some((t) => t.includes('10.0.0.1')), 'the server message is still shown');
    for (const text of seen) {
      assert.ok(!text.includes('PASS') && !text.includes('SECRETTOKEN'), text);
    }
  } finally {
    await tracker.close();
    await server.stop();
  }
});

test('a server that never answers: the request is abandoned after sync.timeoutMs and the records stay queued', async () => {
  // Accepts, reads the body, never answers (a hung server or proxy).
  const hung = await hostile(() => {});
  const tracker = await Tracker.open({ storage: 'memory', endpoint: hung.base, sync: { debounceMs: 60_000, timeoutMs: 2_000, retry: { baseMs: 60_000, capMs: 60_000 } } });
  const errors = [];
  tracker.on('error', (e) => errors.push(e));
  try {
    record(tracker, 2);
    await tracker.flush();
    // Bounded by the test runner's own timeout if the sync never gave up.
    const outcome = await tracker.sync().then(() => 'resolved', (e) => e);
    assert.notEqual(outcome, 'resolved');
    assert.equal(outcome.name, 'SyncError');
    assert.equal(hung.requests, 1, 'one request, abandoned');
    const state = tracker.syncState();
    assert.equal(state.pending, 2, 'kept for the next try');
    assert.equal(state.inFlight, 0, 'nothing left in flight');
    assert.match(state.lastError, /tim(e|ed) ?out/i);
    assert.ok(errors.length >= 1 && errors.every((e) => e.name === 'SyncError'), errors.map((e) => e.message).join(' | '));
  } finally {
    await tracker.close().catch(() => {});
    await hung.stop();
  }
});
