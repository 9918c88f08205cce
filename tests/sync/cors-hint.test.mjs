// The CORS hint, in a real browser: a page served from one loopback origin syncs to the real
// server binary on another origin that was started without --cors-origin. Chromium blocks
// the response (no Access-Control-Allow-Origin), the page sees only a failed fetch, and the
// tracker's `error` event says it may be CORS and names the server flag to set, with the
// page's own origin. Then the same page against a server started with that flag syncs.
// pkg/browser.js in headless Chromium (Debian's /usr/bin/chromium through playwright-core).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sqlite, startServer } from '../server/engines.mjs';
import { syncPages } from './harness.mjs';

const harness = syncPages();

test('a sync blocked by CORS says so and names --cors-origin with the page origin', async () => {
  const db = sqlite();
  // An API key, so that the origin check of a keyless server is not what refuses the write:
  // the only obstacle left is the browser's CORS check.
  const server = await startServer(['--db', db.url, '--api-key', 'cors-key']);
  const context = await harness.browser.newContext();
  let stopped = false;
  try {
    assert.notEqual(new URL(server.base).origin, harness.origin, 'two origins');
    const page = await harness.openTab(context, {
      name: `cors-${process.pid}`, endpoint: server.base, apiKey: 'cors-key',
      sync: { debounceMs: 20, retry: { baseMs: 100, capMs: 200 } },
    });
    const [id] = await page.evaluate(() => window.record(1, 'wf-cors'));
    await page.waitForFunction(() => window.errors.length > 0, null, { timeout: 20_000, polling: 50 });
    // Several retries later, still one event for the outage.
    await page.waitForTimeout(700);
    const errors = await page.evaluate(() => window.errors);
    assert.equal(errors.length, 1, JSON.stringify(errors));
    assert.match(errors[0].message, /CORS/);
    assert.ok(errors[0].message.includes(`--cors-origin ${harness.origin}`), errors[0].message);
    assert.equal((await fetch(`${server.base}/api/v1/execution/${id}`, { headers: { authorization: 'Bearer cors-key' } })).status, 404,
      'nothing stored: the browser never let the page read an answer');
    await page.close();
    await server.stop();
    stopped = true;

    // The flag the message names, on a server at the same address, lets the page (reloaded
    // in the same browser profile: the record waits in its IndexedDB outbox) sync.
    const fixed = await startServer(['--db', db.url, '--api-key', 'cors-key', '--cors-origin', harness.origin], { port: Number(new URL(server.base).port) });
    try {
      const again = await harness.openTab(context, {
        name: `cors-${process.pid}`, endpoint: fixed.base, apiKey: 'cors-key',
        sync: { debounceMs: 20, retry: { baseMs: 100, capMs: 200 } },
      });
      await again.evaluate(() => window.tracker.sync());
      assert.equal((await fetch(`${fixed.base}/api/v1/execution/${id}`, { headers: { authorization: 'Bearer cors-key' } })).status, 200);
      assert.deepEqual(await again.evaluate(() => window.errors), []);
    } finally {
      await fixed.stop();
    }
  } finally {
    await context.close();
    if (!stopped) await server.stop();
    await db.stop();
  }
});
