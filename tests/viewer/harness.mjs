// What every viewer test file sets up the same way: the real runledger-server binary on a
// fresh SQLite file, the built viewer (www/dist) served as `npm start` serves it (with
// /config.json naming the server), headless Chromium (playwright-core and /usr/bin/chromium),
// and the helpers the tests read the page with. Screenshots go to test-results/viewer-*.png.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { launchChromium } from '../../scripts/chromium.mjs';
import { createStaticServer } from '../../scripts/static-server.mjs';
import { freePort, sqlite, startServer } from '../server/engines.mjs';

export const root = resolve(import.meta.dirname, '../..');
const shots = join(root, 'test-results');
mkdirSync(shots, { recursive: true });

/**
 * Starts the server (with `serverArgs` added), the viewer's pages and Chromium. The page's
 * port is picked first: the server must allow its origin. `config` adds keys to /config.json.
 */
export async function startStack({ serverArgs = [], config = {} } = {}) {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const db = sqlite();
  const server = await startServer(['--db', db.url, '--cors-origin', origin, ...serverArgs]);
  const served = { endpoint: server.base, ...config };
  const pages = createStaticServer([['/', join(root, 'www', 'dist')]], { get '/config.json'() { return served; } });
  await new Promise((r) => pages.listen(port, '127.0.0.1', r));
  const browser = await launchChromium();
  return {
    origin, server, browser,
    /** What /config.json answers from now on. */
    config: served,
    /** A fresh browser profile (its own IndexedDB) with the viewer open; demo waits run `speed`× faster. */
    async open({ context, viewport = { width: 1280, height: 800 }, hash = '', speed = 20 } = {}) {
      context ??= await browser.newContext({ viewport });
      const page = await context.newPage();
      const errors = [];
      page.on('pageerror', (e) => errors.push(e));
      await page.goto(`${origin}/?speed=${speed}${hash}`);
      await page.waitForSelector('body[data-ready=true]', { timeout: 20_000 });
      page.errors = errors;
      return { context, page };
    },
    /** Posts `records` to the server's /v1/ingest as the SDK `sdk` would. */
    async ingest(records, sdk = 'runledger-node/0.1') {
      const r = await fetch(`${server.base}/v1/ingest`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ batch_id: `seed-${sdk}-${records[0].id}`, client: { id: `${sdk}-client`, sdk }, records }),
      });
      assert.equal(r.status, 200, await r.text());
    },
    async stop() {
      await browser?.close();
      pages?.close();
      await server?.stop();
      await db?.stop();
    },
  };
}

export const shot = (page, name) => page.screenshot({ path: join(shots, `viewer-${name}.png`), fullPage: true });

/** The rows of a history table (`#history`, `#team-history`): id, status and text. */
export const rowsOf = (tbody) => (page) => page.$$eval(`${tbody} tr[data-id]`,
  (trs) => trs.map((tr) => ({ id: tr.dataset.id, status: tr.dataset.status, text: tr.textContent })));
export const localRows = rowsOf('#history');
export const teamRows = rowsOf('#team-history');

/** Reads `read(page)` until `predicate` holds (10 s at most); fails naming `what`. */
export async function until(page, read, predicate, what) {
  for (let i = 0; i < 200; i++) {
    const v = await read(page);
    if (predicate(v)) return v;
    await page.waitForTimeout(50);
  }
  assert.fail(`timed out waiting for ${what}: ${JSON.stringify(await read(page)).slice(0, 800)}`);
}

/** How many pixels of a canvas are drawn on. */
export const inked = (page, sel) => page.$eval(sel, (c) => {
  const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
  return n;
});
