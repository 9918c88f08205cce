// Where a durable write's time goes in Chromium (issue 17): the bench's workload of N
// executions recorded, then flush(), then the one-JSON-string-per-1,000 ceiling in the same
// page. Prints recording / flush / ceiling times and their ratio; with `--profile`, a CDP CPU
// profile of record + flush as self time per function (build a names-kept wasm to read the
// wasm frames: wasm-bindgen without --remove-name-section). `PKG=<dir>` serves another build
// of pkg/ (to compare two builds back to back).
//   node bench/chromium-flush.mjs [N] [--profile]
import { join, resolve } from 'node:path';
import { createStaticServer } from '../scripts/static-server.mjs';
import { launchChromium } from '../scripts/chromium.mjs';

const root = resolve(import.meta.dirname, '..');
const n = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 5000);
const profile = process.argv.includes('--profile');
const server = createStaticServer([['/bench/', join(root, 'bench')], ['/pkg/', process.env.PKG ?? join(root, 'pkg')]]);
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  page.on('console', (m) => { if (m.type() === 'error') console.error('[browser]', m.text()); });
  await page.goto(`http://127.0.0.1:${server.address().port}/bench/chromium-flush.html?n=${n}`);
  await page.waitForFunction(() => window.__ready, null, { timeout: 600_000, polling: 200 });
  const cdp = profile ? await page.context().newCDPSession(page) : null;
  if (cdp) {
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.setSamplingInterval', { interval: 500 });
    await cdp.send('Profiler.start');
  }
  const result = await page.evaluate(() => window.__run());
  console.log(JSON.stringify(result));
  if (cdp) printSelfTimes((await cdp.send('Profiler.stop')).profile);
} finally {
  await browser.close();
  server.close();
}

/** The 40 functions with the most self time. */
function printSelfTimes(p) {
  const nodes = new Map(p.nodes.map((node) => [node.id, node]));
  const self = new Map();
  p.samples.forEach((id, i) => {
    const f = nodes.get(id).callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url.split('/').pop()}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + (p.timeDeltas[i] ?? 0));
  });
  for (const [key, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 40)) {
    console.log(`${(us / 1000).toFixed(1).padStart(9)} ms  ${key}`);
  }
}
