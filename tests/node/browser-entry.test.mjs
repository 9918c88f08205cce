// pkg/browser.js in real headless Chromium (Debian's /usr/bin/chromium through
// playwright-core): a plain <script type="module">, IndexedDB across reloads, and crash
// recovery when a tab is really closed. Needs pkg/ (npm test builds it first).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { createStaticServer } from '../../scripts/static-server.mjs';
import { launchChromium } from '../../scripts/chromium.mjs';

const root = resolve(import.meta.dirname, '../..');
let server;
let browser;
let base;

before(async () => {
  server = createStaticServer([['/pkg/', join(root, 'pkg')], ['/', join(root, 'tests/node/fixtures')]]);
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${server.address().port}`;
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  server?.close();
});

async function openTab(context) {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  await page.goto(`${base}/page.html`);
  await page.waitForFunction(() => window.ready === true, null, { timeout: 20_000 });
  assert.deepEqual(errors, []);
  return page;
}

test('a plain module script records into IndexedDB and the runs survive a reload', async () => {
  const context = await browser.newContext();
  const page = await openTab(context);
  const id = await page.evaluate(async () => {
    const run = window.tracker.start({ workflowId: 'wf-reload', userId: 'u1' });
    run.node({ id: 'n1', name: 'Fetch', type: 'http' }, { password: 'p', q: 1 }).succeed({ rows: 1 });
    run.succeed();
    await window.tracker.flush();
    return run.id;
  });
  assert.equal(await page.evaluate(() => window.tracker.storage), 'indexeddb');
  await page.reload();
  await page.waitForFunction(() => window.ready === true);
  const stored = await page.evaluate((id) => window.tracker.get(id), id);
  assert.equal(stored.status, 'success');
  assert.deepEqual(stored.nodes[0].input, { password: '[REDACTED]', q: 1 });
  const page1 = await page.evaluate(() => window.tracker.history({ workflowId: 'wf-reload' }));
  assert.deepEqual(page1.items.map((e) => e.id), [id]);
  await context.close();
});

test('a run left running by a closed tab is interrupted; one of an open tab is not', async () => {
  const context = await browser.newContext();
  const start = (page, workflowId) => page.evaluate(async (workflowId) => {
    const run = window.tracker.start({ workflowId });
    run.node({ id: 'n1' }, {});
    await window.tracker.flush();
    return run.id;
  }, workflowId);
  const closing = await openTab(context);
  const staying = await openTab(context);
  const orphan = await start(closing, 'wf-closed');
  const live = await start(staying, 'wf-open');
  await closing.close();

  const fresh = await openTab(context);
  const recovered = await fresh.evaluate(() => window.tracker.recovered);
  assert.deepEqual(recovered, [orphan]);
  const [orphanNow, liveNow] = await fresh.evaluate(async ([a, b]) => [await window.tracker.get(a), await window.tracker.get(b)], [orphan, live]);
  assert.equal(orphanNow.status, 'interrupted');
  assert.equal(orphanNow.nodes[0].status, 'cancelled');
  assert.equal(orphanNow.completedAt, orphanNow.lastSeenAt);
  assert.equal(liveNow.status, 'running', 'the open tab still records it');
  await context.close();
});
