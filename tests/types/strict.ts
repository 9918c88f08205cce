// Compiled with `tsc -p tests/types` under `strict` by npm test: what the types allow and
// what they refuse. Every `@ts-expect-error` line must be an error, or tsc fails.
import { Tracker, Run, NodeRun, TrackerBrokenError, DEFAULT_PATH, ready } from '../../pkg/index.js';
import type { RunledgerError, ValidationError, SyncState, TrackerEvents, Snapshot } from '../../pkg/index.js';
// @ts-expect-error the wasm glue's loader is not part of the API
import { initSync } from '../../pkg/index.js';

export async function strict(): Promise<void> {
  await ready();
  // Every parameter the API lets the caller leave out is optional.
  const tracker = await Tracker.open();
  await tracker.history();
  await tracker.stats();
  await tracker.prune();
  await tracker.clear();
  await tracker.retryDeadLetters();
  await tracker.discardDeadLetters(['a']);
  await tracker.lineage('orders');
  tracker.setApiKey();
  tracker.setApiKey(null);
  // @ts-expect-error wasm-bindgen's free() is not API (it would release without closing): close() is
  tracker.free();
  const run: Run = tracker.start();
  const node: NodeRun = run.node({ id: 'n' });
  node.succeed();
  node.skip();
  run.fail();
  run.cancel();

  // Events are typed by name: the listener gets the event's value.
  tracker.on('error', (e) => { const name: RunledgerError['name'] = e.name; void name; });
  tracker.on('sync', (s) => { const pending: number = s.pending; void pending; });
  tracker.on('warning', (w) => { const text: string = w; void text; });
  const onSync = (s: SyncState): void => void s;
  tracker.on('sync', onSync);
  tracker.off('sync', onSync);
  const payload: TrackerEvents['error'] | undefined = undefined as TrackerBrokenError | undefined;
  void payload;
  // @ts-expect-error a misspelt event name is a type error
  tracker.on('eror', () => {});
  // @ts-expect-error the `sync` listener receives a SyncState, not a string
  tracker.on('sync', (s: string) => void s);

  // Errors are told apart by name.
  try {
    tracker.log({ status: 'success', startedAt: 'soon' });
  } catch (e) {
    const error = e as RunledgerError;
    if (error.name === 'ValidationError') {
      const field: string = error.field;   // narrowed by the name
      const same: ValidationError = error;
      void field, same;
    }
  }
  // @ts-expect-error a still-running execution is not a finished one for log()
  tracker.log({ status: 'running', startedAt: 0 });

  // Constants.
  const path: string = DEFAULT_PATH;
  void path;

  // A snapshot goes where a value goes, and is nothing else.
  const snap: Snapshot = tracker.snapshot([1, 2]);
  run.node({ id: 'm' }, snap);
  // @ts-expect-error a plain object is not a Snapshot
  const notSnap: Snapshot = {};
  void notSnap;

  // Wasm internals are not in the types.
  // @ts-expect-error the per-call wasm methods are gone
  tracker.finishRun(run.id, 'success');
  // @ts-expect-error the batch step is the capture layer's
  tracker.__applyBatch('[]');
  // @ts-expect-error the Node entry's file opener is internal
  void Tracker.openFile;
  // @ts-expect-error the constructor is not for callers: Tracker.open() is
  void new Tracker();

  await tracker.close();
  // `await using` closes it at the end of the block.
  {
    await using scoped = await Tracker.open({ storage: 'memory' });
    scoped.start({ workflowId: 'scoped' }).succeed();
  }
  void initSync;
}
