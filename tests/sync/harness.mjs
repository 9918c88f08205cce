// What the Chromium sync tests set up the same way: the package (pkg/) and the test page
// (fixtures/sync.html) served on one loopback origin, headless Chromium (Debian's
// /usr/bin/chromium through playwright-core), and a tab opened on that page with tracker
// options. Each test file starts the real server binary itself, with the flags it needs.
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { launchChromium } from '../../scripts/chromium.mjs';
import { createStaticServer } from '../../scripts/static-server.mjs';

const root = resolve(import.meta.dirname, '../..');

/**
 * Serves the pages and launches Chromium before the file's tests, closes both after them.
 * Returns an object whose `origin` and `browser` are set once the tests run.
 */
export function syncPages() {
  const harness = {
    origin: null,
    browser: null,
    /** A new tab of `context` on the sync page, its tracker opened with `options`; no page error. */
    async openTab(context, options) {
      const page = await context.newPage();
      const pageErrors = [];
      page.on('pageerror', (e) => pageErrors.push(e));
      await page.goto(`${harness.origin}/sync.html?options=${encodeURIComponent(JSON.stringify(options))}`);
      await page.waitForFunction(() => window.ready === true, null, { timeout: 20_000 });
      assert.deepEqual(pageErrors, []);
      return page;
    },
  };
  let pages;
  before(async () => {
    pages = createStaticServer([['/pkg/', join(root, 'pkg')], ['/', join(import.meta.dirname, 'fixtures')]]);
    await new Promise((r) => pages.listen(0, '127.0.0.1', r));
    harness.origin = `http://127.0.0.1:${pages.address().port}`;
    harness.browser = await launchChromium();
  });
  after(async () => {
    await harness.browser?.close();
    pages?.close();
  });
  return harness;
}
