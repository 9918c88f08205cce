// Where the in-process in-call time goes (issue 16, point 5): the same paired in-call
// measurement as `hot` (bench/node-hotpath.mjs), with the batch step as shipped, with the
// wasm batch step replaced by a no-op (the batch text still built: that is where payloads
// are read), and with neither. `node --expose-gc bench/batch-step.mjs [n]` prints JSON; the
// GC counts come from a PerformanceObserver (scavenges and mark-compacts in the timed part).
import { PerformanceObserver } from 'node:perf_hooks';
import { Tracker } from '../pkg/node.js';
import { Journal } from '../pkg/capture/journal.js';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { context, trace } from '@opentelemetry/api';
import { rng, workflowRun, recordWithRunledger, recordWithOtel, pairedInCalls } from './workload.js';

const n = Number(process.argv[2]) || 3000;
const rand = rng(2);
const work = Array.from({ length: n }, (_, i) => workflowRun(i, rand));
const exporter = { export: (_s, done) => done({ code: 0 }), shutdown: () => Promise.resolve(), forceFlush: () => Promise.resolve() };
const provider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter, { maxQueueSize: 100000 })] });
const tracer = provider.getTracer('bench');
const otel = (run) => recordWithOtel({ tracer, trace, context }, run);

// Every GC pause (start, duration), delivered by the observer once the loop yields.
const pauses = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) pauses.push({ start: e.startTime, ms: e.duration });
}).observe({ entryTypes: ['gc'] });

/**
 * The GC time that landed inside runledger's recording calls: each call's window is noted
 * while the paired measurement runs, then the GC pauses are matched against the windows.
 */
async function variant(name, patch) {
  const tracker = await Tracker.open({ name: `bench-${name}`, storage: 'memory', retention: false });
  patch(tracker);
  const windows = [];
  const record = (run) => {
    const t = performance.now();
    recordWithRunledger(tracker, run);
    windows.push(t, performance.now());
  };
  pauses.length = 0;
  const result = await pairedInCalls(record, otel, work);
  await new Promise((r) => setTimeout(r, 20));
  let inCallsMs = 0, inCalls = 0, allMs = 0;
  for (const p of pauses) {
    allMs += p.ms;
    for (let w = 0; w < windows.length; w += 2) {
      if (p.start >= windows[w] && p.start < windows[w + 1]) { inCallsMs += p.ms; inCalls++; break; }
    }
  }
  await tracker.close();
  const calls = windows.length / 2;
  return { name, ...result, gc: { pauses: pauses.length, allMs, inCalls, inCallsUsPerExecution: (inCallsMs * 1000) / calls } };
}

const realText = Journal.prototype.text;
const out = [];
out.push(await variant('as shipped', () => {}));
out.push(await variant('no-op batch step (text built)', (t) => { t.__applyBatch = () => 0; }));
out.push(await variant('no batch step, no text', (t) => { t.__applyBatch = () => 0; Journal.prototype.text = () => '[]'; }));
Journal.prototype.text = realText;
await provider.shutdown();
console.log(JSON.stringify(out, null, 1));
