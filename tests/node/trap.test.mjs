// After a wasm trap, every tracker reports itself broken (TrackerBrokenError, an `error`
// event) instead of calling into a module whose memory may be inconsistent, and the process
// lives on. No input reaches a trap any more (tests/node/fuzz-api.test.mjs and
// safety.test.mjs check that), so this provokes one through the documented test-only hook
// `__trapForTests()`, which executes wasm `unreachable` as a bug in the core would. A trap
// breaks the whole wasm instance, so this file runs alone in its own process (node --test
// runs each file in one).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tracker, TrackerBrokenError } from '../../pkg/node.js';

test('a wasm trap marks the tracker broken: typed errors and an error event, no crash, no further wasm calls', async () => {
  const tracker = await Tracker.open({ storage: 'memory' });
  const other = await Tracker.open({ storage: 'memory', name: 'other' });
  const heard = [];
  tracker.on('error', (e) => heard.push(e));
  const run = tracker.start({ workflowId: 'before' });
  run.node({ id: 'n' }, { a: 1 }).succeed();
  run.succeed();
  await tracker.flush();

  assert.throws(() => tracker.__trapForTests(), (e) => e instanceof TrackerBrokenError && e.name === 'TrackerBrokenError'
    && /trapped/.test(e.message) && e.cause instanceof WebAssembly.RuntimeError);
  assert.equal(heard.length, 1);
  assert.equal(heard[0].name, 'TrackerBrokenError');

  // Every later call, on every tracker of the process, is refused the same way (~200 traps
  // used to corrupt the module; now none reaches it).
  for (let i = 0; i < 300; i++) {
    assert.throws(() => tracker.start({ workflowId: 'after' }), { name: 'TrackerBrokenError' });
    assert.throws(() => run.node({ id: 'late' }), { name: 'TrackerBrokenError' });
    assert.throws(() => other.log({ status: 'success', startedAt: Date.now() }), { name: 'TrackerBrokenError' });
    assert.throws(() => tracker.pending, { name: 'TrackerBrokenError' });
  }
  // Calls that return a promise reject with it.
  await assert.rejects(tracker.history(), { name: 'TrackerBrokenError' });
  await assert.rejects(tracker.flush(), { name: 'TrackerBrokenError' });
  await assert.rejects(Tracker.open({ storage: 'memory' }), { name: 'TrackerBrokenError' });
  assert.equal(heard.length, 1, 'the event is sent once');
  // The process is still alive well past the old crash (~50 ms after the fault).
  await new Promise((r) => setTimeout(r, 200));
});
