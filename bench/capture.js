// Chromium side of `node bench/node-hotpath.mjs --only chromium`: the time inside the
// recording calls per 10-node execution, as bench/node-hotpath.mjs measures it in Node (each
// execution in a task of its own, runledger and OpenTelemetry taking turns over six slices,
// the median of the per-slice ratios). In-memory storage: the calls are what is timed.
import { Tracker } from '/pkg/browser.js';
import { BasicTracerProvider, BatchSpanProcessor, context, trace } from './otel.bundle.js';
import { rng, workflowRun, recordWithRunledger, recordWithOtel } from './workload.js';

const N = Number(new URLSearchParams(location.search).get('n') ?? 3000);

async function inCalls(record, slice) {
  let spent = 0;
  for (const run of slice) {
    const t = performance.now();
    record(run);
    spent += performance.now() - t;
    await null;
  }
  return (spent * 1000) / slice.length;
}

async function main() {
  const rand = rng(2);
  const work = Array.from({ length: N }, (_, i) => workflowRun(i, rand));
  const tracker = await Tracker.open({ name: `bench-capture-${Date.now()}`, storage: 'memory' });
  const exporter = { export: (_s, done) => done({ code: 0 }), shutdown: () => Promise.resolve(), forceFlush: () => Promise.resolve() };
  const provider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter, { maxQueueSize: 100000 })] });
  const tracer = provider.getTracer('bench');
  const ours = (run) => recordWithRunledger(tracker, run);
  const theirs = (run) => recordWithOtel({ tracer, trace, context }, run);
  await inCalls(ours, work.slice(0, 1000));
  await inCalls(theirs, work.slice(0, 1000));
  const ROUNDS = 6, a = [], b = [];
  for (let r = 0; r < ROUNDS; r++) {
    const slice = work.slice(Math.floor((r * N) / ROUNDS), Math.floor(((r + 1) * N) / ROUNDS));
    a.push(await inCalls(ours, slice));
    b.push(await inCalls(theirs, slice));
  }
  await tracker.close();
  await provider.shutdown();
  const mean = (x) => x.reduce((p, q) => p + q, 0) / x.length;
  const ratios = a.map((u, r) => u / b[r]).sort((p, q) => p - q);
  return { runledgerUs: mean(a), otelUs: mean(b), ratio: (ratios[2] + ratios[3]) / 2 };
}

main().then((r) => { window.__capture = r; }, (e) => { window.__capture = { error: `${e.name}: ${e.message}` }; });
