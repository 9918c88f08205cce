// Node side of the benchmark: the hot-path cost of recording one workflow run (start,
// 10 × node start/succeed with input/output, finish), runledger against OpenTelemetry JS
// recording the same run as 11 spans with the same attributes (BatchSpanProcessor, an
// exporter that discards).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Tracker } from '../pkg/node.js';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { context, trace } from '@opentelemetry/api';
import { rng, workflowRun, recordWithRunledger, recordWithOtel, pairedInCalls } from './workload.js';

export async function hotPath(n, { worker = false } = {}) {
  const rand = rng(2);
  const work = Array.from({ length: n }, (_, i) => workflowRun(i, rand));

  // Time inside the recording calls: each execution is recorded in a task of its own (as an
  // editor or a script records them), so work deferred past the calls (runledger's batch
  // step, OpenTelemetry's span processor) is not counted here; `callerTotal` counts it.
  const tracker = await Tracker.open({ name: 'bench-hot', storage: 'memory', worker });
  const exporter = { export: (_spans, done) => done({ code: 0 }), shutdown: () => Promise.resolve(), forceFlush: () => Promise.resolve() };
  const provider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter, { maxQueueSize: 100000 })] });
  const tracer = provider.getTracer('bench');
  const result = await pairedInCalls((run) => recordWithRunledger(tracker, run), (run) => recordWithOtel({ tracer, trace, context }, run), work);
  await tracker.close();
  await provider.shutdown();
  return { worker, ...result };
}

/**
 * Peak RSS while recording `n` executions, flushing every 1,000 (runledger on its Node
 * default, the durable file store, which keeps summaries in memory and node runs on disk)
 * against OpenTelemetry exporting them.
 * Each side runs in a child process of its own so that neither inherits the other's heap.
 */
export async function peakMemory(n, { worker = false } = {}) {
  const run = (which) => JSON.parse(execFileSync(process.execPath, [new URL(import.meta.url).pathname, '--memory', which, String(n)], { encoding: 'utf8' }));
  return { executions: n, worker, runledgerPeakRssMiB: run(worker ? 'runledger-worker' : 'runledger'), otelPeakRssMiB: run('otel') };
}

async function memoryChild(which, n) {
  const rand = rng(3);
  let peak = 0;
  const sample = () => { peak = Math.max(peak, process.memoryUsage().rss); };
  if (which.startsWith('runledger')) {
    const dir = mkdtempSync(`${tmpdir()}/runledger-bench-mem-`);
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    const tracker = await Tracker.open({ name: 'bench-mem', path: dir, retention: false, worker: which === 'runledger-worker' });
    for (let i = 0; i < n; i++) {
      recordWithRunledger(tracker, workflowRun(i, rand));
      if (i % 1000 === 999) { await tracker.flush(); sample(); }
    }
    await tracker.flush();
    await tracker.close();
  } else {
    const exporter = { export: (_s, done) => done({ code: 0 }), shutdown: () => Promise.resolve(), forceFlush: () => Promise.resolve() };
    const provider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter)] });
    const tracer = provider.getTracer('bench');
    for (let i = 0; i < n; i++) {
      recordWithOtel({ tracer, trace, context }, workflowRun(i, rand));
      if (i % 1000 === 999) { await provider.forceFlush(); sample(); }
    }
    await provider.shutdown();
  }
  sample();
  process.stdout.write(JSON.stringify(Math.round(peak / 2 ** 20)));
}

if (process.argv[2] === '--memory') {
  await memoryChild(process.argv[3], Number(process.argv[4]));
}

/**
 * Cost per node run as one run grows: µs per node (start + succeed) when a run records `small`
 * node runs and when it records `large`. Equal when each node costs the same however many came
 * before (it was quadratic: 4,000 nodes were 22× slower than 1,000).
 */
export async function nodeScaling(small, large) {
  const tracker = await Tracker.open({ name: 'bench-nodes', storage: 'memory', maxNodeRuns: large });
  const perNode = (n) => {
    const run = tracker.start({ workflowId: 'wide' });
    const t0 = performance.now();
    for (let i = 0; i < n; i++) run.node({ id: `n${i % 100}`, type: 'map' }, { i }).succeed({ rows: i });
    const us = ((performance.now() - t0) * 1000) / n;
    run.succeed();
    return us;
  };
  perNode(small); // warm-up
  const smallUs = perNode(small);
  const largeUs = perNode(large);
  await tracker.close();
  return { small, large, smallUs, largeUs };
}

/**
 * CPU time of this process's main thread (the caller's thread) in ms, from Linux's
 * /proc/<pid>/task/<pid>/stat (utime + stime, in clock ticks of 10 ms: read over runs of
 * seconds). Other threads (a worker, V8's helpers) are not counted.
 */
function mainThreadCpuMs() {
  const stat = readFileSync(`/proc/${process.pid}/task/${process.pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/**
 * The caller's thread per execution, from the first recording call until `flush()` resolves
 * (memory storage, so nothing waits on a disk): calls plus whatever the batch step leaves on
 * that thread, as the main thread's CPU time (`callerThreadCpuUs`; wall time on a loaded
 * machine counts the time other processes ran). `processCpuUs` counts every thread.
 * `worker: true` runs the batch step and the store on a worker thread.
 */
export async function callerTotal(n, { worker = false } = {}) {
  const rand = rng(4);
  const work = Array.from({ length: n }, (_, i) => workflowRun(i, rand));
  const tracker = await Tracker.open({ name: 'bench-total', storage: 'memory', retention: false, worker });
  for (const run of work.slice(0, 500)) recordWithRunledger(tracker, run);
  await tracker.flush();
  const thread0 = mainThreadCpuMs();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (const run of work) recordWithRunledger(tracker, run);
  await tracker.flush();
  const wallUs = ((performance.now() - t0) * 1000) / n;
  const threadUs = ((mainThreadCpuMs() - thread0) * 1000) / n;
  const cpu = process.cpuUsage(cpu0);
  await tracker.close();
  return { worker, wallUs, callerThreadCpuUs: threadUs, processCpuUs: (cpu.user + cpu.system) / n };
}

/** OpenTelemetry's in-call time as CPU on the main thread: `n` runs recorded in one loop. */
function otelInCallCpu(n) {
  const rand = rng(4);
  const work = Array.from({ length: n }, (_, i) => workflowRun(i, rand));
  const exporter = { export: (_s, done) => done({ code: 0 }), shutdown: () => Promise.resolve(), forceFlush: () => Promise.resolve() };
  const provider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter, { maxQueueSize: 2 * (n + 500) * 11 })] });
  const tracer = provider.getTracer('bench');
  for (const run of work.slice(0, 500)) recordWithOtel({ tracer, trace, context }, run);
  const thread0 = mainThreadCpuMs();
  for (const run of work) recordWithOtel({ tracer, trace, context }, run);
  const us = ((mainThreadCpuMs() - thread0) * 1000) / n;
  provider.shutdown();
  return us;
}

/** `callerTotal` in process and on a worker thread, against OpenTelemetry's in-call CPU. */
export async function callerTotalBothWays(n) {
  const inProcess = await callerTotal(n);
  const onWorker = await callerTotal(n, { worker: true });
  const otelInCallCpuUs = otelInCallCpu(n);
  return {
    inProcess, onWorker, otelInCallCpuUs,
    inProcessVsOtel: inProcess.callerThreadCpuUs / otelInCallCpuUs,
    onWorkerVsOtel: onWorker.callerThreadCpuUs / otelInCallCpuUs,
  };
}

/** A value of about `mb` MB recorded as a node's input and output, against one JSON.stringify. */
export async function bigValue(mb) {
  const rows = Array.from({ length: Math.round((mb * 1e6) / 100) }, (_, i) => ({ id: i, name: `row ${i} ${'x'.repeat(50)}`, amount: i * 1.5 }));
  let t0 = performance.now();
  const text = JSON.stringify(rows);
  const stringifyMs = performance.now() - t0;
  const tracker = await Tracker.open({ name: 'bench-big', storage: 'memory', retention: false });
  // The longest the event loop is held: a timer checks how late it fires.
  let worstLagMs = 0, last = performance.now(), ticking = true;
  const tick = () => { const now = performance.now(); worstLagMs = Math.max(worstLagMs, now - last); last = now; if (ticking) setTimeout(tick, 1); };
  setTimeout(tick, 1);
  await new Promise((r) => setTimeout(r, 5));
  t0 = performance.now();
  const run = tracker.start({ workflowId: 'big' });
  run.node({ id: 'load' }, rows).succeed({ sample: rows });
  run.succeed();
  const callsMs = performance.now() - t0;
  await tracker.flush();
  const totalMs = performance.now() - t0;
  ticking = false;
  const stored = await tracker.get(run.id);
  await tracker.close();
  return { mb: text.length / 1e6, stringifyMs, callsMs, totalMs, worstLagMs, storedInputBytes: JSON.stringify(stored.nodes[0].input).length };
}

/** `n` executions in one loop that never yields: cost per batch of 500, first tenth vs last. */
export async function longLoop(n, { worker = false } = {}) {
  const rand = rng(5);
  const runs = Array.from({ length: 64 }, (_, i) => workflowRun(i, rand));
  const tracker = await Tracker.open({ name: 'bench-loop', storage: 'memory', retention: false, worker });
  const perBatch = [];
  let t0 = performance.now();
  for (let i = 0; i < n; i++) {
    recordWithRunledger(tracker, runs[i & 63]);
    if (i % 500 === 499) { const t = performance.now(); perBatch.push(t - t0); t0 = t; }
  }
  await tracker.flush();
  await tracker.close();
  const tenth = Math.max(1, Math.floor(perBatch.length / 10));
  const mean = (a) => a.reduce((x, y) => x + y, 0) / a.length;
  const first = mean(perBatch.slice(0, tenth)), lastTenth = mean(perBatch.slice(-tenth));
  return { worker, executions: n, firstTenthMsPerBatch: first, lastTenthMsPerBatch: lastTenth, ratio: lastTenth / first };
}

/**
 * The in-call time in Chromium (bench/capture.html): the browser build, OpenTelemetry bundled
 * and minified as a browser app ships it, the page served from loopback.
 */
export async function chromiumInCalls(n) {
  const root = new URL('..', import.meta.url).pathname;
  const { buildSync } = await import('esbuild');
  const { createStaticServer } = await import('../scripts/static-server.mjs');
  const { launchChromium } = await import('../scripts/chromium.mjs');
  buildSync({
    stdin: { contents: "export { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';\nexport { context, trace } from '@opentelemetry/api';\n", resolveDir: root },
    bundle: true, minify: true, format: 'esm', platform: 'browser', outfile: `${root}bench/otel.bundle.js`, logLevel: 'error',
  });
  const server = createStaticServer([['/bench/', `${root}bench`], ['/pkg/', `${root}pkg`]]);
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${server.address().port}/bench/capture.html?n=${n}`);
    await page.waitForFunction(() => window.__capture, null, { timeout: 600_000, polling: 200 });
    const result = await page.evaluate(() => window.__capture);
    if (result.error) throw new Error(`Chromium in-call benchmark failed: ${result.error}`);
    return result;
  } finally {
    await browser.close();
    server.close();
  }
}

// `node bench/node-hotpath.mjs --only hot|hot-worker|total|big|loop|loop-worker|memory|memory-worker|chromium [n]`:
// one section, printed as JSON.
if (process.argv[2] === '--only') {
  const [, , , which, arg] = process.argv;
  const n = Number(arg);
  const sections = {
    hot: () => hotPath(n || 5000),
    'hot-worker': () => hotPath(n || 5000, { worker: true }),
    total: () => callerTotalBothWays(n || 5000),
    big: () => bigValue(n || 50),
    loop: () => longLoop(n || 1_000_000),
    'loop-worker': () => longLoop(n || 1_000_000, { worker: true }),
    memory: () => peakMemory(n || 100_000),
    'memory-worker': () => peakMemory(n || 100_000, { worker: true }),
    chromium: () => chromiumInCalls(n || 3000),
  };
  console.log(JSON.stringify({ [which]: await sections[which]() }, null, 1));
}
