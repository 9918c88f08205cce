// Node side of the benchmark for the durable file store. Every part runs in a child process of
// its own (opening starts from a cold heap, as in a new process; memory is one process's).
//
// - recording throughput until flush() has fsynced, against a JSON-lines file written by hand
//   (fs write + fsync per 1,000) — `fileStore(n)`;
// - opening a store of n executions and querying it (history pages of 50 by workflow, user,
//   status, time, a second page through a cursor, by output name (lineage) and by external
//   id; a 30-day stats call for one workflow), against reading the JSON-lines file back with
//   JSON.parse per line — `fileStore(n)` (100,000 in `npm run bench`, 1,000,000 with `--large`);
// - settled RSS after recording 100,000 and then 200,000 (flush, then GC) in one process —
//   `settledMemory()`;
// - peak RSS while recording 100,000, against OpenTelemetry JS with a BatchSpanProcessor and
//   an exporter that appends each batch as OTLP JSON to a file and fsyncs it — `peakAgainstOtel()`.
import { execFileSync } from 'node:child_process';
import { appendFileSync, closeSync, fsyncSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tracker } from '../pkg/node.js';
import { initSync } from '../pkg/runledger_node.js';
import { rng, workflowRun, recordWithOtel, asDocument } from './workload.js';

const BATCH = 1000;
const DAY = 86_400_000;

const child = (args, nodeFlags = []) => JSON.parse(execFileSync(process.execPath,
  [...nodeFlags, new URL(import.meta.url).pathname, ...args], { encoding: 'utf8', maxBuffer: 1 << 20 }));

export async function fileStore(n, { jsonlAnchor = true, fill = false } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'runledger-bench-file-'));
  try {
    const how = { native: '--fill-native', true: '--fill', false: '--record' }[String(fill)];
    const record = child([how, dir, String(n)]);
    const open = child(['--open', dir]);
    // A million parsed JSON lines would need gigabytes: the large store's anchor is the store
    // of 100,000 in the same run instead (see nodeFileSection).
    if (!jsonlAnchor) return { executions: n, ...record, ...open };
    const jsonl = child(['--jsonl', dir, String(n)]);
    const naiveOpen = child(['--jsonl-open', dir]);
    return { executions: n, ...record, jsonlPerSecond: jsonl.perSecond, ...open, jsonlOpenMs: naiveOpen.openMs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Settled RSS (MiB) after recording 100,000 and then 200,000 in one process. */
export async function settledMemory(first = 100_000, second = 200_000) {
  const dir = mkdtempSync(join(tmpdir(), 'runledger-bench-settled-'));
  try {
    return child(['--settled', dir, String(first), String(second)], ['--expose-gc']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Peak RSS (MiB) recording `n`: runledger's file store against OpenTelemetry + OTLP JSON file. */
export async function peakAgainstOtel(n = 100_000) {
  const dir = mkdtempSync(join(tmpdir(), 'runledger-bench-peak-'));
  try {
    return {
      executions: n,
      runledgerPeakRssMiB: child(['--peak', 'runledger', dir, String(n)]),
      otelPeakRssMiB: child(['--peak', 'otel', dir, String(n)]),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Records run `i` as the bench does; one run in 100 also names an output and an external id. */
function record(tracker, i, run) {
  const r = tracker.start(run.spec);
  for (const node of run.nodes) r.node(node.def, node.input).succeed(node.output);
  if (i % 100 === 0) {
    r.output({ name: `dataset-${i % 1000}` });
    r.externalId('airflow', `run-${i}`);
  }
  r.succeed();
}

async function recordChild(dir, n) {
  const rand = rng(5);
  const tracker = await Tracker.open({ path: join(dir, 'store'), retention: false, maxBatchSize: BATCH });
  let elapsed = 0;
  for (let from = 0; from < n; from += BATCH) {
    // Runs made a batch at a time (a million would not fit in memory at once), timed apart.
    const work = Array.from({ length: Math.min(BATCH, n - from) }, (_, k) => workflowRun(from + k, rand));
    const t0 = performance.now();
    work.forEach((run, k) => record(tracker, from + k, run));
    await tracker.flush();
    elapsed += performance.now() - t0;
  }
  await tracker.close();
  return { perSecond: n / (elapsed / 1000) };
}

/** One log frame: `[len u32][crc32 u32][payload]` (src/store/file/frame.rs). */
function frame(payload) {
  const out = Buffer.allocUnsafe(8 + payload.length);
  out.writeUInt32LE(payload.length, 0);
  out.writeUInt32LE(crc32(payload), 4);
  payload.copy(out, 8);
  return out;
}

/** The record frames' JSON in a store's log. */
function recordsIn(log) {
  const out = [];
  for (let at = 0; at + 8 <= log.length;) {
    const len = log.readUInt32LE(at);
    const payload = log.subarray(at + 8, at + 8 + len);
    if (payload[0] === 0x52 /* 'R' */) out.push(JSON.parse(payload.subarray(1).toString('utf8')));
    at += 8 + len;
  }
  return out;
}

/**
 * Builds a store of `n` executions fast: 1,000 runs are recorded through the tracker (the
 * records exactly as it stores them), then copied with new ids and start times straight into
 * the log, 50,000 at a time, each round opened and closed by the package (which replays the
 * new frames, so every record goes through the store's own replay, and writes its index on
 * close). Recording a million through the tracker takes hours on a loaded 2-core machine;
 * this measures what the large store is for: opening and querying it.
 */
async function fillChild(dir, n) {
  const templateDir = join(dir, 'template');
  await recordChild(templateDir, 1000);
  const templates = recordsIn(readFileSync(join(templateDir, 'store', 'runledger.log')));
  rmSync(templateDir, { recursive: true, force: true });
  const path = join(dir, 'store');
  const log = join(path, 'runledger.log');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(path, { recursive: true });
  appendFileSync(log, frame(Buffer.from(JSON.stringify({ op: 'header', format: 1, logId: randomUUID() }))));
  const t0 = performance.now();
  const start = Date.now() - n * 1000;
  const ROUND = 50_000;
  for (let from = 0; from < n; from += ROUND) {
    const frames = [];
    for (let i = from; i < Math.min(n, from + ROUND); i++) {
      const e = structuredClone(templates[i % templates.length]);
      const shift = start + i * 1000 - e.startedAt;
      e.id = `fill-${i}`;
      e.startedAt += shift;
      if (e.completedAt != null) e.completedAt += shift;
      for (const node of e.nodes ?? []) {
        if (node.startedAt != null) node.startedAt += shift;
        if (node.completedAt != null) node.completedAt += shift;
      }
      if (e.externalIds?.airflow) e.externalIds.airflow = `run-${i}`;
      frames.push(frame(Buffer.from(`R${JSON.stringify(e)}`)));
    }
    appendFileSync(log, Buffer.concat(frames));
    const tracker = await Tracker.open({ path, retention: false });
    await tracker.close();
    console.error(`[bench] filled ${Math.min(n, from + ROUND)} in ${Math.round(performance.now() - t0)} ms`);
  }
  return { fillMs: performance.now() - t0 };
}

/**
 * Builds a store of `n` executions natively (`examples/fill_file_store.rs`, release build):
 * 1,000 runs recorded through the tracker are the templates, copied with new ids and start
 * times through the store's own `write`, 1,000 a batch, checkpoints as the store makes them.
 * The JS fill replays every 50,000 through the package, which takes hours at 1,000,000.
 */
async function fillNativeChild(dir, n) {
  const templateDir = join(dir, 'template');
  await recordChild(templateDir, 1000);
  const t0 = performance.now();
  execFileSync('cargo', ['run', '--release', '--quiet', '--example', 'fill_file_store', '--',
    join(templateDir, 'store', 'runledger.log'), join(dir, 'store'), String(n)],
  { stdio: ['ignore', 'ignore', 'inherit'], cwd: new URL('..', import.meta.url).pathname });
  rmSync(templateDir, { recursive: true, force: true });
  return { fillMs: performance.now() - t0, filledBy: 'examples/fill_file_store.rs (native)' };
}

async function jsonlChild(dir, n) {
  const rand = rng(5);
  const fd = openSync(join(dir, 'runs.jsonl'), 'a');
  let elapsed = 0;
  for (let from = 0; from < n; from += BATCH) {
    const work = Array.from({ length: Math.min(BATCH, n - from) }, (_, k) => workflowRun(from + k, rand));
    const t0 = performance.now();
    let lines = '';
    work.forEach((run, k) => { lines += `${JSON.stringify(asDocument(`run-${from + k}`, run, Date.now()))}\n`; });
    writeSync(fd, lines);
    fsyncSync(fd);
    elapsed += performance.now() - t0;
  }
  closeSync(fd);
  return { perSecond: n / (elapsed / 1000) };
}

async function openChild(dir) {
  const t0 = performance.now();
  const tracker = await Tracker.open({ path: join(dir, 'store'), retention: false });
  const openMs = performance.now() - t0;
  const median = async (f) => {
    const times = [];
    for (let i = 0; i < 15; i++) { const s = performance.now(); await f(); times.push(performance.now() - s); }
    return times.sort((a, b) => a - b)[7];
  };
  // The first page after opening reads its rows and summaries from disk (no cache yet).
  let s0 = performance.now();
  const firstPage = await tracker.history({ limit: 50 });
  const firstPageMs = performance.now() - s0;
  s0 = performance.now();
  await tracker.history({ userId: 'u7', limit: 50 });
  const firstUserPageMs = performance.now() - s0;
  const newest = firstPage.items[0]?.startedAt ?? Date.now();
  const historyMs = await median(() => tracker.history({ workflowId: 'wf-3', limit: 50 }));
  const query = {
    byUserMs: await median(() => tracker.history({ userId: 'u7', limit: 50 })),
    byStatusMs: await median(() => tracker.history({ status: 'success', limit: 50 })),
    byTimeMs: await median(() => tracker.history({ since: newest - DAY, until: newest, limit: 50 })),
    cursorMs: await median(() => tracker.history({ workflowId: 'wf-3', limit: 50, cursor: firstPage.nextCursor })),
    lineageMs: await median(() => tracker.history({ output: 'dataset-500', limit: 50 })),
    byExternalIdMs: await median(() => tracker.history({ externalId: { system: 'airflow', id: 'run-500' } })),
  };
  const statsMs = await median(() => tracker.stats({ filter: { workflowId: 'wf-3' }, since: newest - 30 * DAY, until: newest }));
  const logBytes = statSync(join(dir, 'store', 'runledger.log')).size;
  await tracker.close();
  const indexBytes = statSync(join(dir, 'store', 'runledger.index')).size;
  return { openMs, firstPageMs, firstUserPageMs, historyMs, statsMs, ...query, logBytes, indexBytes };
}

async function jsonlOpenChild(dir) {
  const t0 = performance.now();
  const byId = new Map();
  for (const line of readFileSync(join(dir, 'runs.jsonl'), 'utf8').split('\n')) {
    if (line) { const r = JSON.parse(line); byId.set(r.id, r); }
  }
  return { openMs: performance.now() - t0, count: byId.size };
}

const mib = (bytes) => Math.round((bytes / 2 ** 20) * 10) / 10;

/** MiB of the wasm memory (it only grows: its high-water mark). */
function wasmMiB() {
  // initSync returns the instance the package already made (it makes none once initialized).
  return mib(initSync().memory.buffer.byteLength);
}

/** Flushed, then garbage collected twice with a pause: what the process holds at rest. */
async function settle(flush) {
  await flush();
  for (let i = 0; i < 2; i++) {
    globalThis.gc();
    await new Promise((r) => setTimeout(r, 100));
  }
  const m = process.memoryUsage();
  // Where it is: V8's heap, the wasm memory, or elsewhere (buffers, the allocator).
  console.error(`[bench] rss ${mib(m.rss)} MiB: JS heap ${mib(m.heapUsed)} of ${mib(m.heapTotal)}, external ${mib(m.external)}, wasm memory ${wasmMiB()}`);
  return mib(m.rss);
}

async function settledChild(dir, first, second) {
  const rand = rng(3);
  const tracker = await Tracker.open({ path: join(dir, 'store'), retention: false });
  const afterOpen = await settle(() => tracker.flush());
  const out = { afterOpenMiB: afterOpen };
  for (let i = 0; i < second; i++) {
    record(tracker, i, workflowRun(i, rand));
    if (i % BATCH === BATCH - 1) await tracker.flush();
    if (i === first - 1) {
      out.firstMiB = await settle(() => tracker.flush());
      console.error(`[bench] settled RSS after ${first}: ${out.firstMiB} MiB`);
    }
  }
  out.secondMiB = await settle(() => tracker.flush());
  await tracker.close();
  return { first, second, ...out };
}

/** OTLP/JSON for a batch of finished spans (the shape an OTLP JSON file exporter writes). */
function otlpJson(spans) {
  const value = (v) => (typeof v === 'number' ? { doubleValue: v } : typeof v === 'boolean' ? { boolValue: v } : { stringValue: String(v) });
  const nanos = ([s, ns]) => `${BigInt(s) * 1_000_000_000n + BigInt(ns)}`;
  return JSON.stringify({
    resourceSpans: [{
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'bench' } }] },
      scopeSpans: [{
        scope: { name: 'bench' },
        spans: spans.map((s) => {
          const ctx = s.spanContext();
          return {
            traceId: ctx.traceId, spanId: ctx.spanId, parentSpanId: s.parentSpanContext?.spanId ?? s.parentSpanId,
            name: s.name, kind: 1, startTimeUnixNano: nanos(s.startTime), endTimeUnixNano: nanos(s.endTime),
            attributes: Object.entries(s.attributes).map(([key, v]) => ({ key, value: value(v) })),
            status: { code: s.status.code },
          };
        }),
      }],
    }],
  });
}

async function peakChild(which, dir, n) {
  const rand = rng(3);
  let peak = 0;
  const sample = () => { peak = Math.max(peak, process.memoryUsage().rss); };
  const timer = setInterval(sample, 20);
  if (which === 'runledger') {
    const tracker = await Tracker.open({ name: 'bench-peak', path: dir, retention: false });
    for (let i = 0; i < n; i++) {
      record(tracker, i, workflowRun(i, rand));
      if (i % BATCH === BATCH - 1) { await tracker.flush(); sample(); }
    }
    await tracker.flush();
    sample();
    await tracker.close();
  } else {
    // Loaded only by the anchor's own process: the runledger side never carries its heap.
    const { BasicTracerProvider, BatchSpanProcessor } = await import('@opentelemetry/sdk-trace-base');
    const { context, trace } = await import('@opentelemetry/api');
    const fd = openSync(join(dir, 'spans.otlp.jsonl'), 'a');
    const exporter = {
      export(spans, done) {
        try {
          writeSync(fd, `${otlpJson(spans)}\n`);
          fsyncSync(fd);
          done({ code: 0 });
        } catch (error) {
          done({ code: 1, error });
        }
      },
      shutdown: () => Promise.resolve(),
      forceFlush: () => Promise.resolve(),
    };
    const provider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter)] });
    const tracer = provider.getTracer('bench');
    for (let i = 0; i < n; i++) {
      recordWithOtel({ tracer, trace, context }, workflowRun(i, rand));
      if (i % BATCH === BATCH - 1) { await provider.forceFlush(); sample(); }
    }
    await provider.shutdown();
    sample();
    closeSync(fd);
  }
  clearInterval(timer);
  return mib(peak);
}

const [flag, ...rest] = process.argv.slice(2);
const parts = {
  '--record': ([dir, n]) => recordChild(dir, Number(n)),
  '--fill': ([dir, n]) => fillChild(dir, Number(n)),
  '--fill-native': ([dir, n]) => fillNativeChild(dir, Number(n)),
  '--jsonl': ([dir, n]) => jsonlChild(dir, Number(n)),
  '--open': ([dir]) => openChild(dir),
  '--jsonl-open': ([dir]) => jsonlOpenChild(dir),
  '--settled': ([dir, a, b]) => settledChild(dir, Number(a), Number(b)),
  '--peak': ([which, dir, n]) => peakChild(which, dir, Number(n)),
};
if (parts[flag]) {
  const result = await parts[flag](rest);
  process.stdout.write(JSON.stringify(result));
}

/**
 * The Node-store section of `npm run bench`: rows of `[metric, ours, anchors, better]`.
 * `large` adds the store of 1,000,000 (`npm run bench -- --large`).
 */
export async function nodeFileSection({ quick = false, large = false } = {}) {
  const n = quick ? 2000 : 100_000;
  console.error(`[bench] the Node file store: recording, opening and queries at ${n}`);
  const file = await fileStore(n);
  console.error('[bench] the Node file store: settled and peak RSS');
  const settled = await settledMemory(quick ? 2000 : 100_000, quick ? 4000 : 200_000);
  const peak = await peakAgainstOtel(quick ? 2000 : 100_000);
  const stores = [file];
  if (large) {
    console.error('[bench] the Node file store at 1,000,000 (--large)');
    stores.push(await fileStore(1_000_000, { jsonlAnchor: false, fill: 'native' }));
  }
  const rows = [
    ['durable writes, Node file store (executions/s until flush() has fsynced)', file.perSecond,
      { 'JSON lines by hand: fs write + fsync per 1,000': file.jsonlPerSecond }, 'higher'],
    [`settled RSS after ${settled.second} executions, Node file store (MiB, flushed + GC)`, settled.secondMiB,
      { [`the same process after ${settled.first}`]: settled.firstMiB }, 'lower'],
    [`peak RSS recording ${peak.executions} executions, Node file store (MiB)`, peak.runledgerPeakRssMiB,
      { 'OpenTelemetry JS, BatchSpanProcessor + OTLP JSON file with fsync': peak.otelPeakRssMiB }, 'lower'],
  ];
  for (const s of stores) {
    const at = `Node file store of ${s.executions}`;
    // The store of 100,000 is measured against reading its JSON-lines file; the large one
    // against the same figure on the store of 100,000 (flat in history: about 1×).
    const anchor = (figure, what) => (s === file
      ? { [what]: s.jsonlOpenMs }
      : { [`the same on the Node file store of ${file.executions}`]: file[figure] });
    rows.push(
      [`open a ${at} (ms)`, s.openMs, anchor('openMs', 'read the JSON-lines file and JSON.parse each line'), 'lower'],
      ...[['by workflow', 'historyMs'], ['by user', 'byUserMs'], ['by status', 'byStatusMs'], ['by time (since/until)', 'byTimeMs'],
        ['by time, first call after opening', 'firstPageMs'], ['by user, first call after opening', 'firstUserPageMs'],
        ['by workflow, second page (cursor)', 'cursorMs'], ['by output (lineage)', 'lineageMs'], ['by external id', 'byExternalIdMs']]
        .map(([what, figure]) => [`history page of 50 ${what}, ${at} (ms${figure.startsWith('first') ? '' : ', median of 15'})`, s[figure],
          anchor(figure, 'reading its JSON-lines file (same size) once'), 'lower']),
      [`stats for one workflow over 30 days, ${at} (ms, median)`, s.statsMs, anchor('statsMs', 'reading its JSON-lines file (same size) once'), 'lower'],
    );
  }
  return { rows, results: { fileStore: file, fileStoreLarge: stores[1], settledMemory: settled, peakAgainstOtel: peak } };
}
