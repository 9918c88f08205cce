// The viewer as a team lead uses it (issue 20), in headless Chromium (playwright-core and
// /usr/bin/chromium) against the real runledger-server binary on SQLite: the server is seeded
// over its ingest API with runs the demo never made (six workflows from Node and Python
// clients, five users, four database types, ten days, distinct failures, one run still going,
// one run of 1,000 nodes). Screenshots go to test-results/viewer-*.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { inked, localRows, shot, startStack, teamRows, until } from './harness.mjs';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const NOW = Date.now();

let stack;
let server;
let browser;
let origin;
const openViewer = (options) => stack.open(options);

const WORKFLOWS = ['retrain-model', 'sync-crm', 'py-etl', 'billing-export', 'scrape-prices', 'daily-digest'];
const USERS = ['ana', 'ben', 'chen', 'dia', 'eli'];
const DATABASES = ['bigquery', 'snowflake', 'kdb', 'postgres'];

/** The seeded runs, and what the tests look for among them. */
function seed() {
  const records = [];
  let n = 0;
  const run = (extra) => {
    const startedAt = extra.startedAt;
    const durationMs = extra.durationMs ?? 300;
    const r = {
      id: `seed-${String(n++).padStart(4, '0')}`, version: 1, kind: 'workflow', status: 'success', startedAt,
      completedAt: extra.status === 'running' ? undefined : startedAt + durationMs, durationMs: extra.status === 'running' ? undefined : durationMs,
      ...extra,
    };
    records.push(r);
    return r;
  };
  // Ten days of the six workflows: retrains take ten minutes, syncs 300 ms.
  for (let d = 0; d < 10; d++) {
    for (const [i, wf] of WORKFLOWS.entries()) {
      run({ workflowId: wf, userId: USERS[(d + i) % USERS.length], startedAt: NOW - d * DAY - (i + 1) * 10 * MIN,
        durationMs: wf === 'retrain-model' ? 600_000 + d * 1000 : 300 + i * 50, status: (d + i) % 5 === 0 ? 'failed' : 'success',
        error: (d + i) % 5 === 0 ? { type: 'RuntimeError', message: `step ${wf} broke on day ${d}` } : undefined });
    }
  }
  // Queries: bigquery has 5 (2 succeeded, 1 failed, 2 timed out).
  const statuses = { bigquery: ['success', 'success', 'failed', 'timeout', 'timeout'], snowflake: ['success', 'error'], kdb: ['success'], postgres: ['success', 'success'] };
  for (const type of DATABASES) {
    for (const [i, status] of statuses[type].entries()) {
      run({ kind: 'query', status, userId: USERS[i % USERS.length], startedAt: NOW - (i + 1) * HOUR, durationMs: 120 + i,
        query: { text: `select * from ${type}_events where day = ${i}`, databaseType: type, totalRows: 10 * i } });
    }
  }
  const quota = run({ workflowId: 'billing-export', userId: 'dia', status: 'failed', startedAt: NOW - 20 * MIN, durationMs: 900,
    error: { type: 'QuotaError', message: 'Quota exceeded for project atlas' } });
  const running = run({ workflowId: 'retrain-model', userId: 'eli', status: 'running', startedAt: NOW - 3 * MIN });
  const t0 = NOW - 2 * HOUR;
  const big = run({ workflowId: 'scrape-prices', userId: 'chen', startedAt: t0, durationMs: 1000 * 700,
    nodes: Array.from({ length: 1000 }, (_, i) => ({ id: `page-${i}`, name: `page ${i}`, status: i % 97 === 0 ? 'error' : 'success',
      startedAt: t0 + i * 600, completedAt: t0 + i * 600 + 900, durationMs: 900, output: { rows: i } })) });
  big.nodeCount = 1000;
  // A value only in one node's output (the invoice number), for the Team search.
  const invoice = run({ workflowId: 'billing-export', userId: 'ana', startedAt: NOW - 9 * DAY - 5 * HOUR, durationMs: 400,
    nodes: [{ id: 'render', name: 'render', status: 'success', startedAt: NOW - 9 * DAY - 5 * HOUR, completedAt: NOW - 9 * DAY - 5 * HOUR + 400,
      durationMs: 400, input: { customer: 'acme' }, output: { invoice: 'INV-2026-77413', total: 1200 } }] });
  return { records, quota, running, big, invoice };
}
const seeded = seed();

before(async () => {
  stack = await startStack();
  ({ server, browser, origin } = stack);
  // Half the runs come from a Node client, half from a Python one.
  const half = Math.floor(seeded.records.length / 2);
  await stack.ingest(seeded.records.slice(0, half), 'runledger-node/0.1');
  await stack.ingest(seeded.records.slice(half), 'runledger-python/0.1');
});

after(() => stack?.stop());

const options = (page, sel) => page.$$eval(`${sel} option`, (os) => os.map((o) => o.value).filter(Boolean));

test('a first visit lands on the Team view: filters list what exists, trends, running now, the right numbers', async () => {
  const { context, page } = await openViewer();
  assert.equal(await page.getAttribute('#tab-team', 'aria-selected'), 'true', 'the Team view is the landing tab when this browser recorded nothing');
  await page.waitForSelector('body[data-team-stats]', { timeout: 15_000 });
  assert.deepEqual(await options(page, '#team-filters [name=workflow_id]'), [...WORKFLOWS].sort());
  assert.deepEqual(await options(page, '#team-filters [name=user_id]'), [...USERS].sort());
  assert.deepEqual(await options(page, '#team-filters [name=database_type]'), [...DATABASES].sort());
  assert.ok((await options(page, '#team-filters [name=status]')).includes('running'));

  // Per database type: timeouts and errors have columns; the counts add up.
  const bigquery = await page.$eval('#team-databases', (t) => [...t.querySelectorAll('tbody tr')].map((tr) => [...tr.children].map((td) => td.textContent)).find((r) => r[0] === 'bigquery'));
  assert.deepEqual(bigquery.slice(0, 7), ['bigquery', '5', '2', '1', '2', '0', '40%']);
  // Per workflow lists the team's workflows (not demo ids), with percentiles.
  const workflows = await page.$$eval('#team-workflows tbody tr', (trs) => trs.map((tr) => tr.firstChild.textContent));
  assert.deepEqual(workflows.sort(), [...WORKFLOWS].sort());
  const retrain = await page.$eval('#team-workflows', (t) => [...t.querySelectorAll('tbody tr')].find((tr) => tr.firstChild.textContent === 'retrain-model').textContent);
  assert.match(retrain, /10 min \d+ s/, 'ten-minute runs read as minutes');

  // The success rate of today leaves the running run out (it is not a failure).
  const today = await (await fetch(`${server.base}/api/v1/executions/stats/global?days=1`)).json();
  const finished = today.total_executions - today.running_count;
  assert.equal(today.running_count, 1);
  assert.equal(today.success_rate, Math.round((today.success_count / finished) * 10000) / 100);
  assert.equal(await page.textContent('[data-testid=team-rate] .card-value'), `${today.success_rate}%`);

  // Running now: the running run, with its elapsed time counting.
  const runningItem = `#team-running li[data-id="${seeded.running.id}"]`;
  await page.waitForSelector(runningItem);
  assert.match(await page.textContent(runningItem), /retrain-model · eli · running \d+ min \d+ s/);

  // Trends: both charts drew.
  assert.ok(await inked(page, '#team-chart-status') > 1000, 'the status chart drew');
  assert.ok(await inked(page, '#team-chart-durations') > 1000, 'the duration trend drew');
  // Rows: status first, dates with the month in words and a relative time.
  const rows = await teamRows(page);
  assert.ok(Number(await page.getAttribute('#team-history', 'data-loaded')) >= 50, 'a first page of 50 runs');
  assert.ok(rows.length >= 20, `${rows.length} rows rendered`);
  assert.match(rows[0].text, /^running\d+ min ago\d+ \w{3} \d{4}, \d\d:\d\d:\d\d/);
  assert.ok(rows.some((r) => /QuotaError|billing-export/.test(r.text)));
  await shot(page, 'team-overview');

  // One bucket: the last 24 hours is one day, and the success-rate line still shows a point.
  await page.selectOption('#team-period', '1');
  await page.waitForFunction(() => Number(document.body.dataset.teamStats) > 0);
  assert.ok(await inked(page, '#team-chart-status') > 500);
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('a link names the open run and the filters; a reload restores both; the id can be copied', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin });
  const { page } = await openViewer({ context, hash: '#team' });
  await page.waitForSelector('#team-history tr[data-id]');
  await page.selectOption('#team-filters [name=status]', 'failed');
  await page.selectOption('#team-filters [name=user_id]', 'dia');
  await until(page, teamRows, (r) => r.length > 0 && r.every((x) => x.status === 'failed' && x.text.includes('dia')), "dia's failures");
  await page.click(`#team-history tr[data-id="${seeded.quota.id}"]`);
  await page.waitForSelector('#detail[open]');
  const url = page.url();
  assert.match(url, new RegExp(`#team\\?.*run=${seeded.quota.id}`));
  assert.match(url, /t\.status=failed/);
  assert.match(url, /t\.user_id=dia/);
  await page.click('#detail .copy-id');
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), seeded.quota.id);
  assert.match(await page.textContent('#detail .copy-id'), /Copied/);

  // The same address in a new tab: the run is open and the filters are set.
  const other = await context.newPage();
  await other.goto(url);
  await other.waitForSelector('#detail[open]');
  assert.equal(await other.textContent('#detail [data-testid=run-id]'), seeded.quota.id);
  assert.match(await other.textContent('#detail'), /Quota exceeded for project atlas/);
  assert.equal(await other.inputValue('#team-filters [name=status]'), 'failed');
  await until(other, teamRows, (r) => r.length > 0 && r.every((x) => x.status === 'failed'), 'the filtered list after reload');
  await other.keyboard.press('Escape');
  await other.waitForFunction(() => !location.hash.includes('run='));
  await shot(other, 'link-restored');
  await context.close();
});

test('search finds runs by id, error message and a value in a node input or output', async () => {
  const { context, page } = await openViewer({ hash: '#team' });
  await page.waitForSelector('#team-history tr[data-id]');
  await page.fill('#team-filters [name=q]', 'quota exceeded');
  await until(page, teamRows, (r) => r.length === 1 && r[0].id === seeded.quota.id, 'the quota failure');
  await page.fill('#team-filters [name=q]', seeded.big.id);
  await until(page, teamRows, (r) => r.length >= 1 && r[0].id === seeded.big.id, 'the run by id');
  await page.fill('#team-filters [name=q]', 'no such thing anywhere');
  await page.waitForSelector('#team-empty:not([hidden])');
  assert.match(await page.textContent('#team-empty'), /No run on the server matches “no such thing anywhere”/);

  // Locally: a value inside a node's input, and one inside an output (offline: these stay
  // in this browser).
  await page.check('#offline');
  await page.click('#tab-runs');
  await page.evaluate(async (now) => {
    const { tracker } = globalThis.runledgerViewer;
    const node = (id, input, output) => ({ id, status: 'success', startedAt: now - 5000, completedAt: now - 4000, durationMs: 1000, input, output });
    tracker.log({ workflowId: 'crm-import', status: 'success', startedAt: now - 5000, durationMs: 1000, nodes: [node('fetch', { customer: 'customer-4711' }, { rows: 3 })] });
    tracker.log({ workflowId: 'crm-import', status: 'success', startedAt: now - 4000, durationMs: 1000, nodes: [node('fetch', { customer: 'customer-1' }, { invoice: 'INV-99321' })] });
    tracker.log({ workflowId: 'crm-import', status: 'failed', startedAt: now - 3000, durationMs: 1000, error: { type: 'Error', message: 'ledger locked by nightly job' } });
    await tracker.flush();
  }, NOW);
  await page.evaluate(() => document.querySelector('#filters').dispatchEvent(new Event('change')));
  await until(page, localRows, (r) => r.length === 3, 'the three local runs');
  for (const [text, what] of [['customer-4711', 'a node input'], ['INV-99321', 'a node output'], ['ledger locked', 'an error message']]) {
    await page.fill('#filters [name=q]', text);
    // The one row left is the run whose whole record holds the text.
    const withRecord = async (p) => Promise.all((await localRows(p)).map(async (r) => ({ ...r, record: JSON.stringify(await p.evaluate((id) => globalThis.runledgerViewer.tracker.get(id), r.id)) })));
    const found = await until(page, withRecord, (r) => r.length === 1 && r[0].record.includes(text), `one run by ${what}`);
    assert.equal(found.length, 1, `${what}: ${text}`);
  }
  assert.match(page.url(), /q=ledger\+locked|q=ledger%20locked/);
  await shot(page, 'search');
  await context.close();
});

test('Team search asks the server, which looks into node outputs: a run found by a value only in its output', async () => {
  const { context, page } = await openViewer({ hash: '#team' });
  await page.waitForSelector('#team-history tr[data-id]');
  const asked = [];
  page.on('request', (r) => { if (r.url().includes('/api/v1/executions?')) asked.push(new URL(r.url()).searchParams); });
  // Nine days old: far below the first page, and the value is in no summary the list shows.
  assert.ok(!(await teamRows(page)).some((r) => r.id === seeded.invoice.id));
  await page.fill('#team-filters [name=q]', 'inv-2026-77413');
  const found = await until(page, teamRows, (r) => r.length === 1, 'the run whose node output holds the invoice number');
  assert.equal(found[0].id, seeded.invoice.id);
  assert.ok(asked.some((p) => p.get('q') === 'inv-2026-77413'), 'the search words went to the server');
  assert.equal(await page.textContent('#team-count'), '(1)');
  await shot(page, 'team-search-node-output');
  await page.click(`#team-history tr[data-id="${seeded.invoice.id}"]`);
  await page.waitForSelector('#detail[open]');
  assert.match(await page.textContent('#detail'), /INV-2026-77413/);
  await context.close();
});

test('the Team database-type filter is applied by the server: full pages, the right count', async () => {
  const { context, page } = await openViewer({ hash: '#team' });
  await page.waitForSelector('#team-history tr[data-id]');
  const asked = [];
  page.on('request', (r) => { if (r.url().includes('/api/v1/executions?')) asked.push(new URL(r.url()).searchParams); });
  await page.selectOption('#team-filters [name=database_type]', 'bigquery');
  const rows = await until(page, teamRows, (r) => r.length > 0 && r.every((x) => /bigquery_events/.test(x.text)), 'bigquery queries only');
  assert.equal(rows.length, 5, 'all five bigquery queries, and nothing else');
  assert.equal(await page.textContent('#team-count'), '(5)', 'no "more" left: the server filtered, not the page');
  assert.ok(asked.some((p) => p.get('database_type') === 'bigquery'));
  assert.ok(await page.isHidden('#team-more'));
  await shot(page, 'team-database-type');
  await context.close();
});

test('dates read with times and relative times; a date range picks runs between two times', async () => {
  const { context, page } = await openViewer({ hash: '#runs' });
  await page.check('#offline');
  const now = Date.now();
  await page.evaluate(async (t) => {
    const { tracker } = globalThis.runledgerViewer;
    for (const [i, ago] of [[0, 3 * 86_400_000], [1, 2 * 3_600_000], [2, 5 * 60_000]].entries()) {
      tracker.log({ id: `dated-${i}`, workflowId: 'dated', status: 'success', startedAt: t - ago[1], durationMs: 10 });
    }
    await tracker.flush();
  }, now);
  await page.evaluate(() => document.querySelector('#filters').dispatchEvent(new Event('change')));
  const rows = await until(page, localRows, (r) => r.length === 3, 'three dated runs');
  assert.match(rows.find((r) => r.id === 'dated-2').text, /5 min ago\d{1,2} \w{3} \d{4}, \d\d:\d\d:\d\d/);
  assert.match(rows.find((r) => r.id === 'dated-1').text, /2 h ago/);
  assert.match(rows.find((r) => r.id === 'dated-0').text, /3 days ago/);
  await page.selectOption('#filters [name=range]', 'custom');
  assert.ok(await page.isVisible('#filters [name=from]'), 'the range picker shows');
  const local = (ms) => { const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000); return d.toISOString().slice(0, 16); };
  await page.fill('#filters [name=from]', local(now - 4 * 86_400_000));
  await page.fill('#filters [name=to]', local(now - 3_600_000));
  await page.evaluate(() => document.querySelector('#filters').dispatchEvent(new Event('change')));
  const between = await until(page, localRows, (r) => r.length === 2, 'two runs in the range');
  assert.deepEqual(between.map((r) => r.id).sort(), ['dated-0', 'dated-1']);
  await shot(page, 'date-range');
  await context.close();
});

test('two runs compare side by side: status, duration per node, what differs', async () => {
  const { context, page } = await openViewer({ hash: '#runs' });
  await page.check('#offline');
  await page.evaluate(async (now) => {
    const { tracker } = globalThis.runledgerViewer;
    const node = (id, status, durationMs, output) => ({ id, status, startedAt: now - 9000, completedAt: now - 9000 + durationMs, durationMs, input: { day: 1 }, output });
    tracker.log({ id: 'cmp-a', workflowId: 'nightly', status: 'success', startedAt: now - 9000, durationMs: 2000,
      nodes: [node('extract', 'success', 800, { rows: 10 }), node('load', 'success', 1200, { ok: true })] });
    tracker.log({ id: 'cmp-b', workflowId: 'nightly', status: 'failed', startedAt: now - 8000, durationMs: 5000,
      nodes: [node('extract', 'success', 3000, { rows: 12 }), node('load', 'error', 2000, undefined)], error: { message: 'load failed' } });
    await tracker.flush();
  }, NOW);
  await page.evaluate(() => document.querySelector('#filters').dispatchEvent(new Event('change')));
  await until(page, localRows, (r) => r.length === 2, 'both runs');
  assert.ok(await page.isDisabled('#compare-runs'));
  await page.check('#history tr[data-id="cmp-a"] input[type=checkbox]');
  await page.check('#history tr[data-id="cmp-b"] input[type=checkbox]');
  await page.click('#compare-runs');
  await page.waitForSelector('#compare[open]');
  const facts = await page.textContent('#compare .compare-facts');
  assert.match(facts, /cmp-a.*cmp-b/s);
  assert.match(facts, /success.*failed/s);
  const extract = await page.textContent('#compare tr[data-node=extract]');
  assert.match(extract, /800 ms.*3\.00 s.*\+2\.20 s/);
  assert.ok(await page.$('#compare tr.differs[data-node=load]'), 'the node whose status differs is marked');
  assert.ok(await page.$('#compare [data-diff="extract.output"]'), 'the differing output is shown');
  assert.equal(await page.$('#compare [data-diff="extract.input"]'), null, 'equal inputs are not listed');
  await shot(page, 'compare');
  await context.close();
});

test('at 390 px the status is visible in every row, nothing scrolls sideways, and the header fits', async () => {
  const { context, page } = await openViewer({ viewport: { width: 390, height: 844 }, hash: '#team' });
  await page.waitForSelector('#team-history tr[data-id]');
  const boxes = await page.$$eval('#team-history tr[data-id] .badge', (bs) => bs.slice(0, 10).map((b) => { const r = b.getBoundingClientRect(); return [r.left, r.right, r.width]; }));
  assert.ok(boxes.length === 10);
  for (const [left, right, width] of boxes) assert.ok(left >= 0 && right <= 390 && width > 20, `status badge at ${left}..${right}`);
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `page is ${width}px wide`);
  await shot(page, 'phone-team');
  await context.close();
  const wide = await openViewer({ hash: '#team' });
  const header = await wide.page.$eval('.topbar', (el) => el.getBoundingClientRect().height);
  assert.ok(header < 64, `the header stays on one line at 1280 px (${header}px tall)`);
  await wide.context.close();
});

test('a run of 1,000 nodes opens with its whole Gantt drawn, axis in readable units', async () => {
  const { context, page } = await openViewer({ hash: `#team?run=${seeded.big.id}` });
  await page.waitForSelector('#detail[open] [data-testid=gantt] canvas', { timeout: 20_000 });
  await page.waitForFunction(() => document.querySelector('#gantt')?.width > 0);
  assert.ok(await inked(page, '#gantt') > 5000, 'the Gantt drew its bars');
  // The page still answers right away (no long freeze after drawing).
  assert.equal(await page.evaluate(() => 1 + 1), 2);
  assert.match(await page.textContent('#detail'), /The first 200 of 1000 node runs/);
  const height = await page.$eval('[data-testid=gantt]', (el) => el.getBoundingClientRect().height);
  assert.ok(height <= 4100, `the chart is ${height}px tall, not 36 px × 1000`);
  await shot(page, 'gantt-1000');
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('100,000 local executions: the history keeps only a window of rows in the page while it scrolls', async () => {
  const { context, page } = await openViewer({ hash: '#runs' });
  await page.check('#offline');
  const stored = await page.evaluate(async (now) => {
    const { tracker } = globalThis.runledgerViewer;
    for (let i = 0; i < 100_000; i++) {
      tracker.log({ id: `bulk-${String(i).padStart(6, '0')}`, workflowId: `wf-${i % 7}`, status: i % 11 ? 'success' : 'failed', startedAt: now - i * 1000, durationMs: 50 + (i % 300) });
      if (i % 5000 === 4999) await tracker.flush();
    }
    await tracker.flush();
    return (await tracker.stats()).groups[0].total;
  }, NOW);
  assert.equal(stored, 100_000);
  await page.evaluate(() => document.querySelector('#filters').dispatchEvent(new Event('change')));
  await page.waitForFunction(() => Number(document.querySelector('#history').dataset.loaded) >= 50, null, { timeout: 30_000 });
  const loadedNow = () => page.evaluate(() => Number(document.querySelector('#history').dataset.loaded));
  // Page by page ("Load more", which scrolling near the end also presses).
  for (let i = 0; i < 40 && await loadedNow() < 1000; i++) {
    const before = await loadedNow();
    // Pressed in the page: rows repainting around the button under load can take a pointer click.
    await page.$eval('#more', (b) => b.click());
    await page.waitForFunction((n) => Number(document.querySelector('#history').dataset.loaded) > n, before, { timeout: 20_000 });
  }
  await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
  const inDom = await page.$$eval('#history tr[data-id]', (trs) => trs.length);
  const loaded = await loadedNow();
  assert.ok(loaded >= 1000, `${loaded} rows loaded by scrolling`);
  assert.ok(inDom < 150, `${inDom} rows in the DOM for ${loaded} loaded`);
  assert.ok(await page.$('#history tr.spacer'), 'spacers stand for the rows out of view');
  // Scrolling back to the top shows the newest run.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.waitForSelector('#history tr[data-id="bulk-000000"]');
  await shot(page, 'history-100k');
  await context.close();
});
