// `npm run bench` (add `-- --quick` for a small smoke run): measures runledger and its
// anchors side by side in the same run, prints a table, writes bench/results.json.
import { writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join, resolve } from 'node:path';
import { createStaticServer } from '../scripts/static-server.mjs';
import { cpus, totalmem } from 'node:os';
import { chromium } from 'playwright-core';
import { buildSync } from 'esbuild';
import { hotPath, peakMemory } from './node-hotpath.mjs';

const root = resolve(import.meta.dirname, '..');
const quick = process.argv.includes('--quick');
const N = quick ? 200 : 5000;

// OpenTelemetry as a browser app would ship it: bundled and minified (the Chromium hot-path
// anchor loads it, and its gzipped size is the bundle anchor).
buildSync({
  stdin: { contents: "export { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';\nexport { context, trace } from '@opentelemetry/api';\n", resolveDir: root },
  bundle: true, minify: true, format: 'esm', platform: 'browser', outfile: join(root, 'bench/otel.bundle.js'), logLevel: 'error',
});

const server = createStaticServer([
  ['/bench/', join(root, 'bench')], ['/pkg/', join(root, 'pkg')], ['/node_modules/dexie/', join(root, 'node_modules/dexie')],
]);
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const port = server.address().port;

const sizes = () => {
  const gz = (f) => gzipSync(readFileSync(join(root, f)), { level: 9 }).length;
  const raw = (f) => readFileSync(join(root, f)).length;
  const ours = ['pkg/runledger_core_bg.wasm', 'pkg/runledger_core.js', 'pkg/browser.js'];
  return {
    runledgerRaw: ours.map(raw).reduce((a, b) => a + b), runledgerGzip: ours.map(gz).reduce((a, b) => a + b),
    dexieGzip: gz('node_modules/dexie/dist/dexie.min.js'),
    otelGzip: gz('bench/otel.bundle.js'),
  };
};

let browser;
try {
  console.error(`[bench] ${N} executions of 10 nodes each${quick ? ' (quick)' : ''}`);
  const hot = await hotPath(N);
  const mem = await peakMemory(quick ? 2000 : 100000);
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'] });
  const page = await browser.newPage();
  page.on('console', (m) => { if (m.type() === 'error') console.error('[browser]', m.text()); });
  await page.goto(`http://127.0.0.1:${port}/bench/browser.html?n=${N}&history=${quick ? '1000' : '10000,100000'}`);
  await page.waitForFunction(() => window.__bench, null, { timeout: 600_000, polling: 200 });
  const b = await page.evaluate(() => window.__bench);
  if (b.error) throw new Error(`browser benchmark failed: ${b.error}`);
  const size = sizes();
  const rows = [
    ['hot path, Node (µs/execution, lower is better)', hot.runledgerUs, { 'OpenTelemetry JS': hot.otelUs }, 'lower'],
    ['hot path, Chromium (µs/execution)', b.runledger.hotPathUsPerExecution, { 'OpenTelemetry JS': b.otelHotPathUs }, 'lower'],
    ['durable writes, Chromium IndexedDB (executions/s)', b.runledger.durablePerSecond,
      { 'raw IndexedDB (1 put/execution, 1 tx/1000)': b.rawIndexedDb.durablePerSecond, 'Dexie bulkPut (2 tables)': b.dexie.durablePerSecond }, 'higher'],
    ...b.history.map((h) => [`history page of 50 by workflow at ${h.size} stored (ms, median)`, h.runledgerMs,
      { "Dexie indexed query": h.dexieMs, 'naive full scan (getAll + filter + sort)': h.naiveScanMs }, 'lower']),
    ['peak RSS recording ' + mem.executions + ' executions in Node (MiB)', mem.runledgerPeakRssMiB, { 'OpenTelemetry JS': mem.otelPeakRssMiB }, 'lower'],
    ['bundle, wasm + JS (bytes gzipped)', size.runledgerGzip, { 'Dexie (dexie.min.js)': size.dexieGzip, 'OpenTelemetry sdk-trace-base + api (esbuild, minified)': size.otelGzip }, 'lower'],
  ];
  const table = [];
  for (const [metric, ours, anchors, better] of rows) {
    table.push({ metric, runledger: round(ours), anchor: '', value: '', ratio: '' });
    for (const [name, v] of Object.entries(anchors)) {
      table.push({ metric: '', runledger: '', anchor: name, value: round(v), ratio: `${(ours / v).toPrecision(2)}× (${better} is better)` });
    }
  }
  console.table(table);
  const results = { date: new Date().toISOString(), quick, executions: N, machine: { cpus: cpus().length, cpu: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30) },
    hotPathNode: hot, memoryNode: mem, chromium: b, bundle: size };
  await writeFile(join(root, 'bench/results.json'), JSON.stringify(results, null, 2));
  for (const v of [b.otelHotPathUs, size.otelGzip, mem.runledgerPeakRssMiB, ...b.history.flatMap((h) => [h.runledgerMs, h.dexieMs, h.naiveScanMs]), hot.runledgerUs, hot.otelUs, b.runledger.durablePerSecond, b.rawIndexedDb.durablePerSecond, b.dexie.durablePerSecond, size.runledgerGzip]) {
    if (!Number.isFinite(v) || v < 0) throw new Error(`a metric produced no number: ${JSON.stringify(results)}`);
  }
  console.error('[bench] wrote bench/results.json');
} finally {
  await browser?.close();
  server.close();
}

function round(v) { return v >= 100 ? Math.round(v) : Number(v.toFixed(2)); }
