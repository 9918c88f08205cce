// Chromium side of `node bench/node-hotpath.mjs --only chromium`: the time inside the
// recording calls per 10-node execution, as bench/node-hotpath.mjs measures it in Node (each
// execution in a task of its own, the two taking turns: `pairedInCalls` in workload.js).
// In-memory storage: the calls are what is timed.
import { Tracker } from '/pkg/browser.js';
import { BasicTracerProvider, BatchSpanProcessor, context, trace } from './otel.bundle.js';
import { rng, workflowRun, recordWithRunledger, recordWithOtel, pairedInCalls } from './workload.js';

const N = Number(new URLSearchParams(location.search).get('n') ?? 3000);

async function main() {
  const rand = rng(2);
  const work = Array.from({ length: N }, (_, i) => workflowRun(i, rand));
  const tracker = await Tracker.open({ name: `bench-capture-${Date.now()}`, storage: 'memory' });
  const exporter = { export: (_s, done) => done({ code: 0 }), shutdown: () => Promise.resolve(), forceFlush: () => Promise.resolve() };
  const provider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter, { maxQueueSize: 100000 })] });
  const tracer = provider.getTracer('bench');
  const result = await pairedInCalls((run) => recordWithRunledger(tracker, run), (run) => recordWithOtel({ tracer, trace, context }, run), work);
  await tracker.close();
  await provider.shutdown();
  return result;
}

main().then((r) => { window.__capture = r; }, (e) => { window.__capture = { error: `${e.name}: ${e.message}` }; });
