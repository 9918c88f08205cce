// close() of the durable Node store: its last index write (a checkpoint, when more than 4 MiB
// of log follows the last index) can fail, and that failure is not the caller's (every record
// is in the log) but must not be lost either: it is an `error` event and a log line, and
// close() still resolves. Real files, the package's Node entry; the failure is real too: a
// folder where the store writes its new index (`{name}.index.tmp`) makes that write fail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tracker } from '../../pkg/node.js';

/** Runs `body` with console.warn collected (the tracker's log line), restoring it after. */
async function withWarnings(body) {
  const warnings = [];
  const warn = console.warn;
  console.warn = (...args) => warnings.push(args.map((a) => (a instanceof Error ? `${a.name}: ${a.message}` : String(a))).join(' '));
  try {
    await body();
  } finally {
    console.warn = warn;
  }
  return warnings;
}

test('a checkpoint that fails at close() is an error event and a log line; close() resolves and every record stays', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'runledger-close-'));
  const path = join(dir, 'store');
  try {
    const tracker = await Tracker.open({ storage: 'file', path, name: 'close' });
    const errors = [];
    tracker.on('error', (e) => errors.push(e));
    // About 5.5 MiB of log after the (absent) index: over close()'s 4 MiB, under the 8 MiB at
    // which writes themselves write an index.
    const blob = 'x'.repeat(60_000);
    const ids = [];
    const startedAt = Date.now() - 60_000;
    for (let i = 0; i < 90; i++) {
      ids.push(tracker.log({
        workflowId: 'close-checkpoint', status: 'success', startedAt, completedAt: startedAt + 10,
        nodes: [{ id: 'load', status: 'success', startedAt, completedAt: startedAt + 5, output: { blob } }],
      }));
    }
    await tracker.flush();
    assert.deepEqual(errors, [], 'no index was due while writing');

    mkdirSync(join(path, 'close.index.tmp'));
    const warnings = await withWarnings(() => tracker.close());
    assert.equal(errors.length, 1, `one error event: ${errors.map((e) => e.message).join('; ')}`);
    assert.equal(errors[0].name, 'StoreError');
    assert.match(errors[0].message, /close\.index\.tmp/, 'it names the file it could not write');
    const line = warnings.find((w) => w.includes('could not write its index'));
    assert.ok(line, `a log line says so: ${JSON.stringify(warnings)}`);
    assert.match(line, /every record is in the log/);

    // Nothing was lost: the next open replays the log.
    rmdirSync(join(path, 'close.index.tmp'));
    const again = await Tracker.open({ storage: 'file', path, name: 'close' });
    try {
      const page = await again.history({ workflowId: 'close-checkpoint', limit: 100 });
      assert.deepEqual(page.items.map((e) => e.id).sort(), [...ids].sort());
    } finally {
      await again.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a close() with nothing to checkpoint reports nothing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'runledger-close-'));
  try {
    const tracker = await Tracker.open({ storage: 'file', path: dir, name: 'quiet' });
    const errors = [];
    tracker.on('error', (e) => errors.push(e));
    tracker.log({ workflowId: 'small', status: 'success', startedAt: Date.now() });
    // The same obstacle, but the log after the index is small: close() writes no index.
    mkdirSync(join(dir, 'quiet.index.tmp'));
    const warnings = await withWarnings(() => tracker.close());
    assert.deepEqual(errors, []);
    assert.deepEqual(warnings, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
