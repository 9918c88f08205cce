// `npm run bench` (add `-- --quick` for a small smoke run): measures runledger and its
// anchors side by side in the same run, prints a table, writes bench/results.json.
// `-- --only node-file` runs the Node file store's section alone; `-- --large` adds its store
// of 1,000,000 executions. `-- --only bundle` measures the browser bundle and rewrites its
// per-part table in docs/benchmarks.md; `-- --only chromium` runs the Chromium page alone
// (durable writes against the ceilings, history and stats at 100,000 against Dexie).
// `-- --server-bin <path>` runs a server already built instead of building one (see below).
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { cpus, totalmem } from 'node:os';
import { execFileSync } from 'node:child_process';
import { nodeFileSection } from './node-file.mjs';

const root = resolve(import.meta.dirname, '..');
const quick = process.argv.includes('--quick');
const large = process.argv.includes('--large');
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : null;
if (only !== null && !['node-file', 'server', 'bundle', 'chromium'].includes(only)) throw new Error(`--only knows the sections node-file, server, bundle and chromium, not ${only}`);
// `--server-bin <path>` (or RUNLEDGER_SERVER_BIN, which the test suites read too): the server
// binary to run, already built (npm test builds it once, early, beside the wasm builds); without
// it the bench builds its own (`cargo build --profile server`).
const serverBinGiven = process.argv.includes('--server-bin') ? process.argv[process.argv.indexOf('--server-bin') + 1] : process.env.RUNLEDGER_SERVER_BIN;
if (process.argv.includes('--server-bin') && !serverBinGiven) throw new Error('--server-bin needs the path of a built runledger-server');
/** The server binary's path: the given build (which must exist), or a fresh `--profile server` build. */
function serverBinary() {
  if (serverBinGiven) {
    if (!existsSync(serverBinGiven)) throw new Error(`the server binary ${serverBinGiven} (--server-bin or RUNLEDGER_SERVER_BIN) does not exist: build it with cargo build --profile server -p runledger-server`);
    return resolve(serverBinGiven);
  }
  execFileSync('cargo', ['build', '--quiet', '-p', 'runledger-server', '--profile', 'server'], { stdio: 'inherit', cwd: root });
  return join(root, 'target', 'server', 'runledger-server');
}
// `--only bundle`: the browser bundle and what each part of its wasm costs (needs pkg/ from
// scripts/build.sh; no browser); rewrites that table in docs/benchmarks.md.
if (only === 'bundle') {
  const { bundleSection } = await import('./bundle.mjs');
  const section = bundleSection();
  console.table(section.sizes.files);
  console.table(section.parts.rows);
  printTable(section.rows);
  checkNumbers(section.rows);
  await writeFile(join(root, 'bench/results-bundle.json'), JSON.stringify({ date: new Date().toISOString(), ...section.sizes, parts: section.parts }, null, 2));
  console.error('[bench] wrote bench/results-bundle.json and the bundle table in docs/benchmarks.md');
  process.exit(0);
}
if (only === 'node-file') {
  const section = await nodeFileSection({ quick, large });
  printTable(section.rows);
  checkNumbers(section.rows);
  await writeFile(join(root, 'bench/results-node-file.json'), JSON.stringify({ date: new Date().toISOString(), quick, large, ...section.results }, null, 2));
  console.error('[bench] wrote bench/results-node-file.json');
  process.exit(0);
}
const N = quick ? 200 : 5000;
// `--only server`: just the server-at-scale section (bench/server.mjs).
if (only === 'server') {
  const bin = serverBinary();
  const { serverBench, printServerTable } = await import('./server.mjs');
  const result = await serverBench({ quick, bin });
  printServerTable(result);
  await writeFile(join(root, 'bench/results.server.json'), JSON.stringify({ date: new Date().toISOString(), quick, ...result.figures }, null, 2));
  process.exit(0);
}

// Imported here, not at the top: a section run alone (`--only`) needs no bundler, browser or
// database.
const { buildSync } = await import('esbuild');
const { createStaticServer } = await import('../scripts/static-server.mjs');
const { launchChromium } = await import('../scripts/chromium.mjs');
const { postgres, sqlite, startServer } = await import('../tests/server/engines.mjs');

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

/** The Chromium page (bench/browser.js): durable writes, hot path, history and stats. */
async function chromiumPage(browser, history) {
  const page = await browser.newPage();
  page.on('console', (m) => { if (m.type() === 'error') console.error('[browser]', m.text()); });
  await page.goto(`http://127.0.0.1:${port}/bench/browser.html?n=${N}&history=${history}`);
  await page.waitForFunction(() => window.__bench, null, { timeout: 900_000, polling: 200 });
  const b = await page.evaluate(() => window.__bench);
  await page.close();
  if (b.error) throw new Error(`browser benchmark failed: ${b.error}`);
  return b;
}

/** The Chromium rows: durable writes against the ceilings measured in the same page, history and stats against Dexie. */
function chromiumRows(b) {
  return [
    ['durable writes, Chromium IndexedDB (executions/s)', b.runledger.durablePerSecond,
      { 'one JSON string per 1,000, 1 put + 1 tx each (the ceiling)': b.jsonCeiling.durablePerSecond,
        'raw IndexedDB (1 put/execution, 1 tx/1000)': b.rawIndexedDb.durablePerSecond, 'Dexie bulkPut (2 tables)': b.dexie.durablePerSecond }, 'higher'],
    ...b.history.map((h) => [`history page of 50 by workflow at ${h.size} stored (ms, median)`, h.runledgerMs,
      { 'Dexie indexed query': h.dexieMs, 'naive full scan (getAll + filter + sort)': h.naiveScanMs }, 'lower']),
    ...b.history.map((h) => [`stats call for one workflow at ${h.size} stored (ms, median)`, h.statsMs,
      { 'Dexie indexed query + summing in JS': h.statsDexieMs, 'naive cursor scan': h.statsScanMs }, 'lower']),
  ];
}

// `--only chromium`: the Chromium page alone (durable writes, history and stats at 100,000).
if (only === 'chromium') {
  const browser = await launchChromium();
  try {
    console.error(`[bench] Chromium: ${N} executions, history at 100,000`);
    const b = await chromiumPage(browser, quick ? '1000' : '100000');
    const rows = chromiumRows(b);
    printTable(rows);
    const r = b.runledger;
    console.error(`[bench] durable writes: recording calls ${r.recordingMs.toFixed(0)} ms, flush() ${r.flushMs.toFixed(0)} ms; the ceiling took ${((b.n * 1000) / b.jsonCeiling.durablePerSecond).toFixed(0)} ms for the same ${b.n}`);
    checkNumbers(rows);
    await writeFile(join(root, 'bench/results-chromium.json'), JSON.stringify({ date: new Date().toISOString(), quick, ...b }, null, 2));
  } finally {
    await browser.close();
    server.close();
  }
  process.exit(0);
}

// The ingest server as it would run: its production build (`--profile server`; npm test hands
// over the one it built with --server-bin).
const serverBin = serverBinary();

/** Sync throughput on one engine: runledger's sync() and a plain fetch loop, each to a fresh server. */
async function syncThroughput(browser, engine) {
  const dbs = [await engine(), await engine()];
  const servers = [];
  try {
    for (const db of dbs) servers.push(await startServer(['--db', db.url, '--cors-origin', `http://127.0.0.1:${port}`], { bin: serverBin }));
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${port}/bench/sync.html?n=${N}&ours=${servers[0].base}&anchor=${servers[1].base}`);
    await page.waitForFunction(() => window.__sync, null, { timeout: 600_000, polling: 200 });
    const result = await page.evaluate(() => window.__sync);
    await page.close();
    if (result.error) throw new Error(`sync benchmark failed: ${result.error}`);
    return result;
  } finally {
    for (const s of servers) await s.stop();
    for (const db of dbs) await db.stop();
  }
}

let browser;
try {
  console.error(`[bench] ${N} executions of 10 nodes each${quick ? ' (quick)' : ''}`);
  // Imported here: node-hotpath.mjs has its own `--only` command line, which would read ours.
  const { hotPath, peakMemory, nodeScaling } = await import('./node-hotpath.mjs');
  const hot = await hotPath(N);
  const scaling = await nodeScaling(1000, quick ? 4000 : 10000);
  const mem = await peakMemory(quick ? 2000 : 100000);
  const fileSection = await nodeFileSection({ quick, large });
  const file = fileSection.results.fileStore;
  browser = await launchChromium();
  const b = await chromiumPage(browser, quick ? '1000' : '10000,100000');
  console.error('[bench] sync throughput on SQLite and PostgreSQL');
  const syncSqlite = await syncThroughput(browser, sqlite);
  const syncPostgres = await syncThroughput(browser, postgres);
  const { bundleSection } = await import('./bundle.mjs');
  const bundle = bundleSection({ writeDocs: !quick });
  const size = bundle.sizes;
  const rows = [
    ['hot path, Node (µs/execution, lower is better)', hot.runledgerUs, { 'OpenTelemetry JS': hot.otelUs }, 'lower'],
    [`node runs in one run of ${scaling.large} (µs/node, lower is better)`, scaling.largeUs, { [`the same in a run of ${scaling.small}`]: scaling.smallUs }, 'lower'],
    ['hot path, Chromium (µs/execution)', b.runledger.hotPathUsPerExecution, { 'OpenTelemetry JS': b.otelHotPathUs }, 'lower'],
    ...chromiumRows(b),
    ['sync to the server, SQLite (executions/s committed)', syncSqlite.runledgerPerSecond, { 'plain fetch loop, same JSON and batch size': syncSqlite.plainFetchPerSecond }, 'higher'],
    ['sync to the server, PostgreSQL (executions/s committed)', syncPostgres.runledgerPerSecond, { 'plain fetch loop, same JSON and batch size': syncPostgres.plainFetchPerSecond }, 'higher'],
    ...fileSection.rows,
    [`history page of 50 by workflow, Node file store of ${file.executions} (ms, median)`, file.historyMs,
      { [`runledger on IndexedDB at ${b.history.at(-1).size} (row above)`]: b.history.at(-1).runledgerMs }, 'lower'],
    [`stats call for one workflow, Node file store of ${file.executions} (ms, median)`, file.statsMs,
      { [`runledger on IndexedDB at ${b.history.at(-1).size} (row above)`]: b.history.at(-1).statsMs }, 'lower'],
    ['peak RSS recording ' + mem.executions + ' executions in Node (MiB)', mem.runledgerPeakRssMiB, { 'OpenTelemetry JS': mem.otelPeakRssMiB }, 'lower'],
    ...bundle.rows,
  ];
  printTable(rows);
  console.error('[bench] the server at team scale');
  const { serverBench, printServerTable } = await import('./server.mjs');
  const serverScale = await serverBench({ quick, bin: serverBin });
  printServerTable(serverScale);
  const results = { date: new Date().toISOString(), quick, executions: N, machine: { cpus: cpus().length, cpu: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30) },
    hotPathNode: hot, nodeScaling: scaling, memoryNode: mem, ...fileSection.results, chromium: b, bundle: size, sync: { sqlite: syncSqlite, postgres: syncPostgres }, serverScale: serverScale.figures };
  await writeFile(join(root, 'bench/results.json'), JSON.stringify(results, null, 2));
  checkNumbers(fileSection.rows);
  for (const v of [b.otelHotPathUs, size.otelGzip, mem.runledgerPeakRssMiB, ...b.history.flatMap((h) => [h.runledgerMs, h.dexieMs, h.naiveScanMs, h.statsMs, h.statsDexieMs, h.statsScanMs]), hot.runledgerUs, hot.otelUs, scaling.smallUs, scaling.largeUs, b.runledger.durablePerSecond, b.jsonCeiling.durablePerSecond, b.rawIndexedDb.durablePerSecond, b.dexie.durablePerSecond, size.runledgerGzip,
    syncSqlite.runledgerPerSecond, syncSqlite.plainFetchPerSecond, syncPostgres.runledgerPerSecond, syncPostgres.plainFetchPerSecond]) {
    if (!Number.isFinite(v) || v < 0) throw new Error(`a metric produced no number: ${JSON.stringify(results)}`);
  }
  console.error('[bench] wrote bench/results.json');
} finally {
  await browser?.close();
  server.close();
}

function printTable(rows) {
  const table = [];
  for (const [metric, ours, anchors, better] of rows) {
    table.push({ metric, runledger: round(ours), anchor: '', value: '', ratio: '' });
    for (const [name, v] of Object.entries(anchors)) {
      table.push({ metric: '', runledger: '', anchor: name, value: round(v), ratio: `${(ours / v).toPrecision(2)}× (${better} is better)` });
    }
  }
  console.table(table);
}

function checkNumbers(rows) {
  for (const [metric, ours, anchors] of rows) {
    for (const v of [ours, ...Object.values(anchors)]) {
      if (!Number.isFinite(v) || v < 0) throw new Error(`a metric produced no number: ${metric}`);
    }
  }
}

function round(v) { return v >= 100 ? Math.round(v) : Number(v.toFixed(2)); }
