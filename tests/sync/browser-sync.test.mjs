// Offline-first sync end to end: pkg/browser.js in headless Chromium (Debian's
// /usr/bin/chromium through playwright-core) against the real runledger-server binary over
// loopback HTTP, with real IndexedDB, real Web Locks and real tabs. The server's
// --test-faults switch injects 503s and slow commits; the keepalive test sets the page's
// visibilityState (headless Chromium never hides a page); nothing else is simulated.
// Needs pkg/ and target/server/runledger-server (npm test builds both first).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, postgres, sqlite, startServer } from '../server/engines.mjs';
import { syncPages } from './harness.mjs';

const harness = syncPages();
let dbNumber = 0;

/** The real server on a fresh database, with fault injection, reachable from the pages. */
async function server(args = [], { port, engine = sqlite } = {}) {
  const db = await engine();
  const s = await startServer(['--db', db.url, '--cors-origin', harness.origin, '--test-faults', ...args], { port });
  return {
    ...s,
    stats: async () => (await fetch(`${s.base}/v1/__test/stats`)).json(),
    // Without the row count: answers while a slow batch holds the database's write lock.
    requests: async () => (await (await fetch(`${s.base}/v1/__test/stats?rows=false`)).json()).requests,
    faults: (plan) => fetch(`${s.base}/v1/__test/faults`, { method: 'POST', body: JSON.stringify(plan) }),
    record: async (id, key) => {
      const r = await fetch(`${s.base}/api/v1/execution/${id}`, { headers: key ? { authorization: `Bearer ${key}` } : {} });
      return r.status === 200 ? r.json() : null;
    },
    stop: async () => { await s.stop(); await db.stop(); },
  };
}

/** Fast retries so that tests finish quickly; each test gets its own database name. */
function options(endpoint, extra = {}) {
  dbNumber += 1;
  return {
    name: `sync-${process.pid}-${dbNumber}`,
    endpoint,
    sync: { debounceMs: 50, retry: { baseMs: 100, capMs: 400 }, ...extra.sync },
    ...extra,
  };
}

const openTab = (context, opts) => harness.openTab(context, opts);
const state = (page) => page.evaluate(() => window.tracker.syncState());
const until = (page, predicate, arg) => page.waitForFunction(predicate, arg, { timeout: 20_000, polling: 50 });

/** Polls `check` every 50 ms until it returns truthy, for at most 20 s. */
async function eventually(check, what) {
  for (let i = 0; i < 400; i++) {
    const value = await check();
    if (value) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Every id is on the server exactly at the version stored locally. */
async function assertLandedAtLocalVersions(page, srv, ids, key) {
  const local = await page.evaluate((ids) => Promise.all(ids.map((id) => window.tracker.get(id))), ids);
  for (const e of local) {
    const remote = await srv.record(e.id, key);
    assert.ok(remote, `execution ${e.id} reached the server`);
    assert.equal(remote.version, e.version);
    assert.equal(remote.nodes.length, 3);
    assert.equal(remote.nodes[0].input.token, '[REDACTED]', 'secrets never leave redacted');
  }
}

for (const [engineName, engine] of [['SQLite', sqlite], ['PostgreSQL', postgres]]) {
  test(`records made while the server is down land exactly once when it comes up (${engineName})`, async () => {
    const port = await freePort();
    const context = await harness.browser.newContext();
    const page = await openTab(context, options(`http://127.0.0.1:${port}`));
    const ids = await page.evaluate(() => window.record(30));
    await until(page, () => window.tracker.syncState().lastError?.includes('cannot be reached'));
    const down = await state(page);
    assert.equal(down.pending, 30);
    assert.ok(down.nextAttemptAt > Date.now() - 5_000);
    const errors = await page.evaluate(() => window.errors);
    assert.ok(errors.some((e) => e.name === 'SyncError' && /cannot be reached/.test(e.message)), JSON.stringify(errors));

    const srv = await server([], { port, engine });
    try {
      await until(page, () => window.tracker.syncState().pending === 0);
      const up = await state(page);
      assert.equal(up.lastError, undefined);
      assert.ok(up.lastSuccessAt > 0);
      // Sent once, not only stored once (rows are keyed by id): one request carried all 30.
      assert.deepEqual(await srv.stats().then(({ rows, requests }) => ({ rows, requests })), { rows: 30, requests: 1 });
      await assertLandedAtLocalVersions(page, srv, ids);
      // The observers saw it: pending went up, then to zero.
      const seen = await page.evaluate(() => window.states.map((s) => s.pending));
      assert.ok(seen.includes(30) && seen.at(-1) === 0, JSON.stringify(seen));
    } finally {
      await context.close();
      await srv.stop();
    }
  });
}

test('500s and 503 with Retry-After are waited out; a record too big is dead-lettered alone and can be retried', async () => {
  const srv = await server(['--max-body-bytes', '30000']);
  const context = await harness.browser.newContext();
  try {
    await srv.faults({ fail: [{ status: 503, retryAfter: 1, count: 2 }, { status: 500, count: 1 }] });
    const page = await openTab(context, options(srv.base, { maxValueBytes: 100_000, sync: { debounceMs: 60_000 } }));
    const small = await page.evaluate(() => window.record(5));
    const [big] = await page.evaluate(() => window.record(1, 'wf-big', { output: { blob: 'x'.repeat(40_000) } }));
    const t0 = Date.now();
    const first = await page.evaluate(() => window.tracker.sync().then(() => 'resolved', (e) => `${e.name}: ${e.message}`));
    assert.match(first, /^SyncError: .*503/);
    await until(page, () => window.tracker.syncState().pending === 0);
    assert.ok(Date.now() - t0 >= 1_000, 'the second 503 asked for a second; it was waited out');
    // 503, 503, 500, then the batches that went through (the big one split off).
    assert.ok((await srv.stats()).requests >= 5, JSON.stringify(await srv.stats()));
    const s = await state(page);
    assert.equal(s.deadLettered, 1);
    const letters = await page.evaluate(() => window.tracker.deadLetters());
    assert.equal(letters.length, 1);
    assert.equal(letters[0].id, big);
    assert.match(letters[0].reason, /larger than the server accepts/);
    assert.equal((await srv.stats()).rows, 5, 'its neighbours were not held back');
    await assertLandedAtLocalVersions(page, srv, small);
    assert.ok(await page.evaluate((id) => window.tracker.get(id), big), 'a dead letter is kept locally');
    const errors = await page.evaluate(() => window.errors.map((e) => e.message));
    assert.ok(errors.some((m) => m.includes('refused') && m.includes(big)), JSON.stringify(errors));
    // Retrying sends it again; it is still too big, so it comes back with its reason.
    assert.equal(await page.evaluate(() => window.tracker.retryDeadLetters()), 1);
    await until(page, () => window.tracker.syncState().deadLettered === 1 && window.tracker.syncState().pending === 0);
  } finally {
    await context.close();
    await srv.stop();
  }
});

test('a refused key pauses sync with an error event until the key changes', async () => {
  const srv = await server(['--api-key', 'right-key']);
  const context = await harness.browser.newContext();
  try {
    const page = await openTab(context, options(srv.base, { apiKey: 'wrong-key' }));
    const ids = await page.evaluate(() => window.record(3));
    await until(page, () => window.tracker.syncState().paused === true);
    const errors = await page.evaluate(() => window.errors);
    assert.ok(errors.some((e) => e.name === 'SyncAuthError'), JSON.stringify(errors));
    // Paused means paused: no retries in the background.
    const requestsWhilePaused = (await srv.stats()).requests;
    await new Promise((r) => setTimeout(r, 600));
    assert.equal((await srv.stats()).requests, requestsWhilePaused);
    assert.equal((await state(page)).pending, 3);
    await page.evaluate(() => window.tracker.setApiKey('right-key'));
    await until(page, () => window.tracker.syncState().pending === 0);
    assert.equal((await state(page)).paused, false);
    await assertLandedAtLocalVersions(page, srv, ids, 'right-key');
  } finally {
    await context.close();
    await srv.stop();
  }
});

test('two tabs of one editor: one syncs at a time; a tab closed mid-batch and reopened: no loss, no duplicate', async () => {
  const srv = await server();
  const context = await harness.browser.newContext();
  try {
    await srv.faults({ delayMs: 300 });
    const opts = options(srv.base, { sync: { debounceMs: 20, maxBatchRecords: 5 } });
    const a = await openTab(context, opts);
    const b = await openTab(context, opts);
    const ids = (await Promise.all([a.evaluate(() => window.record(20, 'wf-a')), b.evaluate(() => window.record(20, 'wf-b'))])).flat();
    await eventually(async () => (await srv.stats()).rows === 40, '40 rows on the server');
    const stats = await srv.stats();
    assert.equal(stats.maxConcurrent, 1, 'never two sync requests at once');
    await assertLandedAtLocalVersions(b, srv, ids);
    await b.close();

    // Tab a sends a slow batch and is closed while the server works on it.
    await srv.faults({ delayMs: 1_500 });
    const before = await srv.requests();
    const late = await a.evaluate(() => window.record(5, 'wf-late'));
    await eventually(async () => (await srv.requests()) > before, 'tab a sending');
    assert.equal((await state(a)).inFlight, 5, 'closed while its batch is in flight');
    await a.close();
    await srv.faults({ delayMs: 0 });
    // Reopened: the records are still in the outbox and go first, without being asked.
    const reopened = await openTab(context, opts);
    await until(reopened, () => window.tracker.syncState().pending === 0 && window.tracker.syncState().lastSuccessAt > 0);
    assert.equal((await srv.stats()).rows, 45, 'every record once, none twice');
    // Rows are keyed by id, so they cannot show a batch applied twice; the server's stats
    // (rollups updated by each applied record) would count it twice.
    const global = await (await fetch(`${srv.base}/api/v1/executions/stats/global?days=1`)).json();
    assert.equal(global.total_executions, 45, 'the re-sent batch was not applied twice');
    await assertLandedAtLocalVersions(reopened, srv, late);
  } finally {
    await context.close();
    await srv.stop();
  }
});

test('offline is what a failed request says; the online event syncs at once', async () => {
  const srv = await server();
  const context = await harness.browser.newContext();
  try {
    // A long backoff: only the online event can explain a quick sync afterwards.
    const page = await openTab(context, options(srv.base, { sync: { debounceMs: 20, retry: { baseMs: 60_000, capMs: 60_000 } } }));
    // The requests fail (Chromium aborts them as a lost connection would) while the browser
    // still says it is online: only the failed request can tell the tracker.
    const toServer = `${srv.base}/**`;
    await context.route(toServer, (route) => route.abort('internetdisconnected'));
    const ids = await page.evaluate(() => window.record(4));
    await until(page, () => window.tracker.syncState().lastError !== undefined);
    assert.equal(await page.evaluate(() => navigator.onLine), true, 'navigator.onLine never said offline');
    assert.equal((await state(page)).pending, 4);
    await context.unroute(toServer);
    // The connection back: Chromium going offline and online fires a real `online` event.
    await context.setOffline(true);
    await context.setOffline(false);
    await until(page, () => window.tracker.syncState().pending === 0);
    await assertLandedAtLocalVersions(page, srv, ids);
  } finally {
    await context.close();
    await srv.stop();
  }
});

test('work offline: switched off, no request is made; switched on, everything goes', async () => {
  const srv = await server();
  const context = await harness.browser.newContext();
  try {
    const page = await openTab(context, options(srv.base, { syncEnabled: false }));
    const ids = await page.evaluate(() => window.record(3));
    await until(page, () => window.tracker.syncState().pending === 3);
    assert.equal((await state(page)).enabled, false);
    assert.equal((await srv.stats()).requests, 0);
    const refused = await page.evaluate(() => window.tracker.sync().then(() => 'resolved', (e) => e.name));
    assert.equal(refused, 'SyncError');
    await page.evaluate(() => window.tracker.setSyncEnabled(true));
    await until(page, () => window.tracker.syncState().pending === 0);
    await assertLandedAtLocalVersions(page, srv, ids);
  } finally {
    await context.close();
    await srv.stop();
  }
});

test('when the page is hidden, pending records go out with a keepalive request', async () => {
  const srv = await server();
  const context = await harness.browser.newContext();
  try {
    // No debounced sync within the test: only the hidden page can send.
    const page = await openTab(context, options(srv.base, { sync: { debounceMs: 600_000 } }));
    // The pass every open schedules must be over before the records exist: run late (a loaded
    // machine), it would send them itself. sync() takes its place (or waits for it) and, with
    // nothing stored, sends nothing.
    await page.evaluate(() => window.tracker.sync());
    const ids = await page.evaluate(() => window.record(3));
    assert.equal((await srv.stats()).requests, 0);
    // Headless Chromium never hides a page by itself, so the test sets visibilityState and
    // sends the event the browser would. The requests themselves are real: fetch is only
    // watched (its options noted, then the real fetch called).
    await page.evaluate(() => {
      const realFetch = window.fetch;
      window.sent = [];
      window.fetch = (url, init) => {
        window.sent.push({ keepalive: init?.keepalive === true, bytes: new Blob([init?.body ?? '']).size });
        return realFetch(url, init);
      };
      Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true });
      document.dispatchEvent(new Event('visibilitychange'));
    });
    await eventually(async () => (await srv.stats()).rows === 3, 'the keepalive batch');
    await assertLandedAtLocalVersions(page, srv, ids);
    const sent = await page.evaluate(() => window.sent);
    assert.equal(sent.length, 1, `exactly one request: ${JSON.stringify(sent)}`);
    assert.equal(sent[0].keepalive, true, 'sent with keepalive, so it outlives the page');
    assert.ok(sent[0].bytes > 0 && sent[0].bytes <= 64 * 1024, `within the 64 KiB keepalive cap: ${sent[0].bytes}`);
    assert.equal((await srv.stats()).requests, 1);
  } finally {
    await context.close();
    await srv.stop();
  }
});

test('Chromium: a Retry-After of 30 days waits an hour, one request instead of a flood (issue 14)', async () => {
  const srv = await server();
  const context = await harness.browser.newContext();
  try {
    await srv.faults({ fail: [{ status: 503, retryAfter: 2_592_000, count: 100_000 }] });
    const page = await openTab(context, options(srv.base, { sync: { debounceMs: 20 } }));
    await page.evaluate(() => window.record(3));
    await until(page, () => window.tracker.syncState().nextAttemptAt !== undefined);
    // A bounded window: the old client sent hundreds of requests in it (setTimeout overflow).
    await new Promise((r) => setTimeout(r, 3_000));
    assert.equal((await srv.stats()).requests, 1);
    const s = await state(page);
    assert.equal(s.pending, 3);
    const wait = s.nextAttemptAt - Date.now();
    assert.ok(wait > 3_000_000 && wait <= 3_600_000, `next attempt in ${wait} ms, not about an hour`);
  } finally {
    await context.close();
    await srv.stop();
  }
});
