// A seeded generator of realistic executions: a workflow run of 10 nodes with small JSON
// input and output (about 2.8 KB of JSON per execution). Same seed, same runs, everywhere.

export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TYPES = ['http', 'transform', 'sql', 'filter', 'map', 'join', 'aggregate', 'load', 'notify', 'branch'];

/** Run `i` of a seeded workload: `{ spec, nodes: [{ def, input, output }] }`. */
export function workflowRun(i, rand) {
  const workflow = `wf-${Math.floor(rand() * 20)}`;
  const nodes = TYPES.map((type, n) => ({
    def: { id: `n${n}`, name: `${type} step ${n}`, type },
    input: { rows: Math.floor(rand() * 10000), source: `table_${n}`, filter: { field: 'status', op: 'eq', value: 'active' }, batch: i, tags: ['a', 'b'] },
    output: { rows: Math.floor(rand() * 10000), target: `out_${n}`, columns: ['id', 'name', 'amount'], ms: Math.round(rand() * 500), ok: true },
  }));
  return {
    spec: { kind: 'workflow', workflowId: workflow, workflowName: `Workflow ${workflow}`, userId: `u${Math.floor(rand() * 50)}`,
      trigger: { type: 'manual', data: { by: 'bench' } } },
    nodes,
  };
}

/** The same run as one plain JSON document (what the anchors store). */
export function asDocument(id, run, startedAt) {
  return {
    id, ...run.spec, status: 'success', startedAt, completedAt: startedAt + 10, durationMs: 10,
    nodes: run.nodes.map((n, k) => ({ id: n.def.id, name: n.def.name, type: n.def.type, attempt: 1, status: 'success',
      startedAt: startedAt + k, completedAt: startedAt + k + 1, durationMs: 1, input: n.input, output: n.output })),
  };
}

/** Records `run` through a runledger tracker: start, 10 × node/succeed, succeed. */
export function recordWithRunledger(tracker, run) {
  const r = tracker.start(run.spec);
  for (const n of run.nodes) r.node(n.def, n.input).succeed(n.output);
  r.succeed();
  return r.id;
}

/** Records `run` with OpenTelemetry as 11 spans carrying the same data (the anchor). */
export function recordWithOtel({ tracer, trace, context }, run) {
  const s = run.spec;
  const root = tracer.startSpan('workflow', { attributes: { kind: s.kind, 'workflow.id': s.workflowId, 'workflow.name': s.workflowName, 'user.id': s.userId, 'trigger.type': s.trigger.type } });
  const ctx = trace.setSpan(context.active(), root);
  for (const node of run.nodes) {
    const span = tracer.startSpan(node.def.name, { attributes: { 'node.id': node.def.id, 'node.type': node.def.type, input: JSON.stringify(node.input) } }, ctx);
    span.setAttribute('output', JSON.stringify(node.output));
    span.end();
  }
  root.end();
}

/** µs per execution inside `record(run)`, each run recorded in a task of its own. */
async function inCalls(record, runs) {
  let spent = 0;
  for (const run of runs) {
    const t = performance.now();
    record(run);
    spent += performance.now() - t;
    await null;
  }
  return (spent * 1000) / runs.length;
}

/**
 * The time inside the recording calls of `ours` against `theirs` (the anchor), as Node and
 * Chromium measure it: a 1,000-run warm-up each, then the two take turns over six slices of
 * `work`, so a change of load on a shared machine hits both. `ratio` is the median of the
 * per-slice ratios.
 */
export async function pairedInCalls(ours, theirs, work) {
  await inCalls(ours, work.slice(0, 1000));
  await inCalls(theirs, work.slice(0, 1000));
  const ROUNDS = 6, a = [], b = [];
  for (let r = 0; r < ROUNDS; r++) {
    const slice = work.slice(Math.floor((r * work.length) / ROUNDS), Math.floor(((r + 1) * work.length) / ROUNDS));
    a.push(await inCalls(ours, slice));
    b.push(await inCalls(theirs, slice));
  }
  const mean = (x) => x.reduce((p, q) => p + q, 0) / x.length;
  const ratios = a.map((u, r) => u / b[r]).sort((p, q) => p - q);
  return { runledgerUs: mean(a), otelUs: mean(b), ratio: (ratios[ROUNDS / 2 - 1] + ratios[ROUNDS / 2]) / 2 };
}
