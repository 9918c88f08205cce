// The viewer (www/, built by Vite into www/dist) in headless Chromium (Debian's /usr/bin/chromium
// through playwright-core), syncing to the real runledger-server binary on SQLite over loopback.
// Each test drives the page as a person would and saves a screenshot under test-results/.
// Needs www/dist and target/server/runledger-server (npm test builds both first).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { localRows as rows, shot, startStack, until } from './harness.mjs';

let stack;
let server;

before(async () => {
  // --test-faults: the dead-letter test has the server refuse requests.
  stack = await startStack({ serverArgs: ['--test-faults'] });
  ({ server } = stack);
});

after(() => stack?.stop());

/** A fresh browser profile (its own IndexedDB) with the viewer open; demo waits run 20× faster. */
const openViewer = ({ hash = '#runs', ...options } = {}) => stack.open({ hash, ...options });

const waitRows = (page, predicate, what) => until(page, rows, predicate, what);

const indicator = (page) => page.textContent('#sync-indicator');
async function waitIndicator(page, pattern) {
  await page.waitForFunction((source) => new RegExp(source).test(document.querySelector('#sync-indicator').textContent), pattern.source, { timeout: 15_000 })
    .catch(async () => assert.fail(`sync indicator never matched ${pattern}: "${await indicator(page)}"`));
}

const serverIds = async () => (await (await fetch(`${server.base}/api/v1/executions?limit=1000`)).json()).items.map((e) => e.id);

test('a workflow run appears live while it runs, then its detail shows the timeline', async () => {
  // At full speed the run takes about two seconds: long enough to watch it run.
  const { context, page } = await openViewer({ speed: 1 });
  await page.click('[data-workflow=enrich-customers]');
  // Live: the row shows up as running before the run ends, then turns to success.
  const running = await waitRows(page, (r) => r.some((x) => x.status === 'running'), 'a running row');
  const id = running.find((x) => x.status === 'running').id;
  await waitRows(page, (r) => r.some((x) => x.id === id && x.status === 'success'), 'the run to succeed');
  assert.match((await rows(page)).find((x) => x.id === id).text, /Enrich customers/);

  await page.click(`#history tr[data-id="${id}"]`);
  await page.waitForSelector('#detail[open] [data-testid=gantt] canvas');
  const nodes = await page.$$eval('#detail details.node', (ds) => ds.map((d) => d.dataset.node));
  assert.deepEqual(nodes, ['split', 'geo', 'credit', 'merge']);
  // The chart really drew: the canvas has a size and non-blank pixels.
  const drawn = await page.$eval('#gantt', (c) => {
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let inked = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] > 0) inked++;
    return { width: c.width, inked };
  });
  assert.ok(drawn.width > 100 && drawn.inked > 500, `the Gantt chart drew nothing: ${JSON.stringify(drawn)}`);
  // A redacted secret is shown as redacted, and outputs have lineage.
  assert.ok(await page.$('#detail details[data-node=credit] mark.redacted'), 'the token input is shown as redacted');
  await page.click('#detail details[data-node=credit] summary');
  await page.click('#detail button:has-text("Lineage")');
  await page.waitForSelector('#detail .lineage li button');
  await shot(page, 'detail-timeline');
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('a failing workflow shows its error node, with the stack; a large value is marked truncated', async () => {
  const { context, page } = await openViewer();
  await page.click('[data-workflow=sync-invoices]');
  const done = await waitRows(page, (r) => r.some((x) => x.status === 'failed'), 'the failed run');
  await page.click(`#history tr[data-id="${done.find((x) => x.status === 'failed').id}"]`);
  await page.waitForSelector('#detail[open] details.node-error[data-node=validate]');
  const error = await page.textContent('#detail details[data-node=validate] [data-testid=error]');
  assert.match(error, /ValidationError: Invoice INV-\d+ has no customer id/);
  assert.match(error, /Stack/);
  const skipped = await page.$eval('#detail details[data-node=load]', (d) => d.className);
  assert.match(skipped, /node-skipped/);
  await shot(page, 'failed-run');
  await page.keyboard.press('Escape');

  await page.click('[data-workflow=import-orders]');
  const ok = await waitRows(page, (r) => r.some((x) => x.text.includes('Import orders') && x.status === 'success'), 'the import');
  await page.click(`#history tr[data-id="${ok.find((x) => x.text.includes('Import orders')).id}"]`);
  await page.waitForSelector('#detail[open] details[data-node=load]');
  await page.click('#detail details[data-node=transform] summary');
  assert.match(await page.textContent('#detail details[data-node=transform] .truncated'), /Truncated: (at least )?[\d,]+ bytes of JSON.*preview/);
  await page.click('#detail details[data-node=load] summary');
  const load = await page.textContent('#detail details[data-node=load]');
  assert.equal(await page.$$eval('#detail details[data-node=load] mark.redacted', (m) => m.length), 2, 'the connection URL and the password are visibly redacted');
  assert.doesNotMatch(load, /hunter2|s3cret/);
  await shot(page, 'truncated-and-redacted');
  await page.keyboard.press('Escape');

  // The fetch node fails and is retried in some runs (seeded): the detail shows both attempts.
  let retried = null;
  for (let i = 0; i < 6 && !retried; i++) {
    const known = new Set((await rows(page)).map((x) => x.id));
    await page.click('[data-workflow=import-orders]');
    const now = await waitRows(page, (r) => r.some((x) => !known.has(x.id) && x.status === 'success'), 'another import');
    const id = now.find((x) => !known.has(x.id)).id;
    await page.click(`#history tr[data-id="${id}"]`);
    await page.waitForSelector('#detail[open] details[data-node=load]');
    const summaries = await page.$$eval('#detail details.node > summary', (ss) => ss.map((x) => x.textContent));
    if (summaries.some((t) => t.includes('attempt 2'))) retried = summaries;
    await page.keyboard.press('Escape');
  }
  assert.ok(retried, 'one of six seeded imports retried its fetch');
  assert.match(retried[0], /error.*Fetch orders/);
  assert.match(retried[1], /success.*Fetch orders \(attempt 2\)/);
  await context.close();
});

test('filters combine: status, workflow, user and database type', async () => {
  const { context, page } = await openViewer();
  await page.selectOption('#acting-user', 'bob');
  await page.click('[data-workflow=sync-invoices]');
  await page.click('[data-workflow=nightly-report]');
  await page.selectOption('#acting-user', 'carol');
  await page.click('[data-workflow=query-runner]');
  await waitRows(page, (r) => r.length >= 6 && !r.some((x) => x.status === 'running'), 'all runs to finish');

  await page.selectOption('#filters [name=status]', 'timeout');
  const timeouts = await waitRows(page, (r) => r.length > 0 && r.every((x) => x.status === 'timeout'), 'only timeouts');
  assert.ok(timeouts.some((x) => x.text.includes('Nightly report')));
  await page.selectOption('#filters [name=status]', '');
  await page.selectOption('#filters [name=workflowId]', 'sync-invoices');
  const invoices = await waitRows(page, (r) => r.length === 1, 'one invoice run');
  assert.match(invoices[0].text, /failed.*Sync invoices.*bob/);
  await page.selectOption('#filters [name=workflowId]', '');
  await page.selectOption('#filters [name=userId]', 'carol');
  const carol = await waitRows(page, (r) => r.length === 4 && r.every((x) => x.text.includes('carol')), 'carol\'s four queries');
  assert.equal(carol.length, 4);
  // Pick a database type carol's queries used; the filter keeps exactly those.
  const type = /(postgres|duckdb|starburst|kdb):/.exec(carol[0].text)[1];
  const expected = carol.filter((x) => x.text.includes(`${type}:`)).length;
  await page.selectOption('#filters [name=databaseType]', type);
  await waitRows(page, (r) => r.length === expected && r.every((x) => x.text.includes(`${type}:`)), `only ${type} queries`);
  await page.selectOption('#filters [name=range]', '900000');
  await waitRows(page, (r) => r.length === expected, 'the same rows within the last 15 minutes');
  await shot(page, 'filters');
  await page.click('#filters button[type=reset]');
  await waitRows(page, (r) => r.length >= 6, 'everything again');
  await context.close();
});

test('offline: runs wait as pending and are not sent; online: they sync and appear in the team view', async () => {
  const { context, page } = await openViewer();
  await waitIndicator(page, /Synced/);
  const requests = [];
  page.on('request', (r) => { if (r.url().includes('/v1/ingest')) requests.push(r.url()); });
  await page.check('#offline');
  await page.click('[data-workflow=import-orders]');
  await page.click('[data-workflow=sync-invoices]');
  const done = await waitRows(page, (r) => r.length === 2 && !r.some((x) => x.status === 'running'), 'both runs to end');
  await waitIndicator(page, /Offline: 2 pending/);
  await page.waitForTimeout(800); // longer than the debounce: a sync would have started by now
  assert.deepEqual(requests, [], 'working offline sends nothing');
  const before = await serverIds();
  for (const r of done) assert.ok(!before.includes(r.id), 'not on the server while offline');
  await shot(page, 'offline-pending');

  await page.click('#tab-team');
  await page.waitForSelector('#team-live[data-state=live]');
  await page.uncheck('#offline');
  await waitIndicator(page, /Synced/);
  const after = await serverIds();
  for (const r of done) assert.ok(after.includes(r.id), `${r.id} reached the server`);
  // The team view updates from the server's push stream, without a reload.
  await page.waitForFunction((ids) => ids.every((id) => document.querySelector(`#team-history tr[data-id="${id}"]`)), done.map((r) => r.id), { timeout: 15_000 });
  await page.waitForSelector('#team-cards [data-testid=team-total]');
  await page.click(`#team-history tr[data-id="${done[0].id}"]`);
  await page.waitForSelector('#detail[open] [data-testid=gantt] canvas');
  const detail = await page.textContent('#detail');
  assert.match(detail, /Copy id/);
  assert.doesNotMatch(detail, /Version|Source/, 'no internal fields in the detail');
  await page.keyboard.press('Escape');
  await shot(page, 'team-view');
  await context.close();
});

test('refused runs: the banner opens a list where each is inspected, sent again or discarded', async () => {
  const { context, page } = await openViewer();
  await waitIndicator(page, /Synced/);
  const refuse = async (workflow) => {
    await page.check('#offline');
    const before = new Set((await rows(page)).map((r) => r.id));
    await page.click(`[data-workflow=${workflow}]`);
    const [run] = (await waitRows(page, (r) => r.some((x) => !before.has(x.id) && x.status !== 'running'), `the ${workflow} run`)).filter((x) => !before.has(x.id));
    // The next ingest request is refused as malformed: the batch of this one run is refused.
    const plan = await fetch(`${server.base}/v1/__test/faults`, { method: 'POST', body: JSON.stringify({ fail: [{ status: 400 }] }) });
    assert.equal(plan.status, 204);
    await page.uncheck('#offline');
    return run;
  };
  const kept = await refuse('nightly-report');
  await waitIndicator(page, /1 refused by the server/);
  const dropped = await refuse('import-orders');
  await waitIndicator(page, /2 refused by the server/);

  // The banner speaks plainly and offers the list; so does the pill.
  const notice = await page.textContent('#notice');
  assert.match(notice, /The server refused 1 run\(s\).*kept in this browser/);
  assert.doesNotMatch(notice, /tracker|deadLetters|dead.letter|record\(s\)/i, 'no developer words in the banner');
  await page.click('#notice button:has-text("Review refused runs")');
  await page.waitForSelector('#refused[open] #dead-letters tbody tr button.link');
  const list = await page.textContent('#dead-letters tbody');
  assert.ok(list.includes(kept.id) && list.includes(dropped.id), list);
  assert.match(list, /400|refused|invalid|malformed|cannot read/i);
  await shot(page, 'refused-runs');

  // Inspect: the run opens above the list.
  await page.click(`#dead-letters button.link:has-text("${dropped.id}")`);
  await page.waitForSelector('#detail[open]');
  assert.equal(await page.textContent('#detail [data-testid=run-id]'), dropped.id);
  await page.keyboard.press('Escape');
  await page.waitForFunction(() => !document.querySelector('#detail').open);

  // Discard one: it leaves the list, stays in the history here, and is never sent.
  await page.click(`#dead-letters [data-discard="${dropped.id}"]`);
  await page.waitForFunction((id) => !document.querySelector(`#dead-letters [data-discard="${id}"]`), dropped.id);
  assert.match(await page.textContent('#retry-result'), /discarded: it stays in your history here and is not sent again/);
  await waitIndicator(page, /1 refused by the server/);
  // Send the other again: it reaches the server.
  await page.click(`#dead-letters [data-retry="${kept.id}"]`);
  await waitIndicator(page, /Synced/);
  await page.waitForSelector('#dead-letters tbody td.empty');
  await page.keyboard.press('Escape');
  const onServer = await serverIds();
  assert.ok(onServer.includes(kept.id), 'the run sent again reached the server');
  assert.ok(!onServer.includes(dropped.id), 'the discarded run was not sent');
  assert.ok((await rows(page)).some((r) => r.id === dropped.id), 'the discarded run is still in the history here');
  const letters = await page.evaluate(() => globalThis.runledgerViewer.tracker.deadLetters());
  assert.deepEqual(letters, []);
  assert.equal(await page.textContent('#notice'), '', 'the banner is cleared once everything is synced');

  // Discarded for good: a reload (the same IndexedDB) lists nothing and sends nothing.
  await page.reload();
  await page.waitForSelector('body[data-ready=true]');
  await waitIndicator(page, /Synced/);
  assert.ok(!(await serverIds()).includes(dropped.id));
  await page.click('#tab-settings');
  assert.match(await page.textContent('#refused-summary'), /None/);
  assert.ok(await page.isDisabled('#refused-review'));
  await context.close();
});

test('under npm start the viewer is up before the server: it says "server starting", then connects by itself', async () => {
  // What scripts/serve.mjs answers while start.sh still builds the server.
  stack.config.serverState = 'starting';
  try {
    const { context, page } = await openViewer({ hash: '#team' });
    await waitIndicator(page, /Server starting/);
    await page.waitForSelector('#team-error:not([hidden])');
    assert.match(await page.textContent('#team-error'), /The shared server is starting.*connects by itself/);
    assert.equal(await page.textContent('#team-live'), 'server starting…');
    assert.doesNotMatch(await page.textContent('#notice'), /unreachable|cannot be reached|could not be read/i);
    await shot(page, 'server-starting');
    // The server is up: the page notices within a few seconds, with no reload.
    stack.config.serverState = 'up';
    await page.waitForSelector('#team-live[data-state=live]', { timeout: 15_000 });
    await waitIndicator(page, /Synced/);
    assert.ok(await page.isHidden('#team-error'));
    assert.deepEqual(page.errors, []);
    await context.close();
  } finally {
    delete stack.config.serverState;
  }
});

test('two tabs stay in step: runs and the offline switch show in both', async () => {
  const { context, page: a } = await openViewer();
  const { page: b } = await openViewer({ context });
  await a.click('[data-workflow=import-orders]');
  const inA = await waitRows(a, (r) => r.some((x) => x.status === 'success'), 'the run in tab A');
  await waitRows(b, (r) => r.some((x) => x.id === inA[0].id && x.status === 'success'), 'the run in tab B');
  await b.click('[data-workflow=nightly-report]');
  await waitRows(a, (r) => r.some((x) => x.status === 'timeout'), 'tab B\'s run in tab A');
  await a.check('#offline');
  await b.waitForFunction(() => document.querySelector('#offline').checked, null, { timeout: 5000 });
  await waitIndicator(b, /Offline/);
  await a.uncheck('#offline');
  await b.waitForFunction(() => !document.querySelector('#offline').checked, null, { timeout: 5000 });
  await shot(a, 'two-tabs-a');
  await shot(b, 'two-tabs-b');
  await context.close();
});

test('stats: cards, both charts and the per-user and per-database tables', async () => {
  const { context, page } = await openViewer();
  await page.click('[data-workflow=import-orders]');
  await page.click('[data-workflow=sync-invoices]');
  await page.click('[data-workflow=query-runner]');
  await waitRows(page, (r) => r.length >= 6 && !r.some((x) => x.status === 'running'), 'all runs to finish');
  const total = (await rows(page)).length;
  await page.click('#tab-stats');
  await page.waitForFunction((n) => document.querySelector('[data-testid=stats-total] .card-value')?.textContent === String(n), total, { timeout: 10_000 });
  const rate = await page.textContent('[data-testid=stats-rate] .card-value');
  assert.match(rate, /^\d+(\.\d+)?%$/);
  const dbRows = await page.$$eval('#stats-databases tbody tr', (trs) => trs.map((tr) => tr.textContent));
  assert.ok(dbRows.length >= 1 && !dbRows[0].includes('No query'), `database table: ${dbRows}`);
  assert.match(await page.textContent('#stats-users'), /alice/);
  await page.selectOption('#stats-period', '1');
  await page.waitForFunction(() => document.querySelector('#chart-status').width > 0);
  await shot(page, 'stats');
  await context.close();
});

test('clear history asks first; cancel keeps everything, confirm deletes it', async () => {
  const { context, page } = await openViewer({ hash: '#settings' });
  await page.click('#tab-runs');
  await page.click('[data-workflow=nightly-report]');
  await waitRows(page, (r) => r.length === 1 && r[0].status === 'timeout', 'the run');
  await page.click('#tab-settings');
  await page.click('#clear');
  await page.waitForSelector('#confirm-clear[open]');
  assert.match(await page.textContent('#confirm-text'), /deletes 1 execution/);
  await shot(page, 'clear-confirm');
  await page.click('#confirm-clear button[value=cancel]');
  await page.click('#tab-runs');
  assert.equal((await rows(page)).length, 1);
  await page.click('#tab-settings');
  await page.click('#clear');
  await page.click('#confirm-clear-yes');
  await page.click('#tab-runs');
  await waitRows(page, (r) => r.length === 0, 'an empty history');
  assert.ok(await page.isVisible('#history-empty'));
  await context.close();
});

test('keyboard and phone width: tabs move with the arrow keys, a row opens with Enter', async () => {
  const { context, page } = await openViewer({ viewport: { width: 390, height: 844 } });
  await page.click('[data-workflow=import-orders]');
  await waitRows(page, (r) => r.some((x) => x.status === 'success'), 'the run');
  await page.focus('#tab-runs');
  await page.keyboard.press('ArrowRight');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'tab-stats');
  assert.ok(await page.isVisible('#view-stats'));
  await page.keyboard.press('ArrowLeft');
  assert.ok(await page.isVisible('#view-runs'));
  await page.focus('#history tr');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#detail[open]');
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `no sideways scrolling at phone width (page is ${width}px wide)`);
  await shot(page, 'phone-detail');
  await context.close();
});
