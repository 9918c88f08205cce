// The worker side of `Tracker.open({ worker: true })` (Node): a `worker_thread` that owns the
// wasm core and the store. The caller's thread captures (js/capture/) and posts one JSON text
// per batch; this thread runs the batch step and every call that reads or writes the store.
//
// Messages in: `{ batch }` (a journal batch) or `{ id, call, args }` (a tracker call, answered
// with `{ id, result }` or `{ id, error }`). Messages out: those answers, `{ event, value }`
// for the tracker's events, and `{ ready }` / `{ failed }` once opening is done.
// Messages are handled in order, so a `flush` call answers only after every batch posted
// before it was applied and made durable.
import { parentPort, workerData } from 'node:worker_threads';
import { Tracker } from '../node.js';

/** An error as plain data (a structured clone keeps neither a custom name nor `field`). */
function plainError(error) {
  return { name: error?.name ?? 'Error', message: error?.message ?? String(error), field: error?.field };
}

function state(tracker) {
  return { pending: tracker.pending, syncState: tracker.syncState() };
}

let tracker;
try {
  tracker = await Tracker.open(workerData.options);
} catch (error) {
  parentPort.postMessage({ failed: plainError(error) });
}

if (tracker) {
  for (const event of ['error', 'sync', 'warning']) {
    tracker.on(event, (value) => parentPort.postMessage({ event, value: event === 'error' ? plainError(value) : value }));
  }
  parentPort.postMessage({ ready: { storage: tracker.storage, recovered: tracker.recovered, warnings: tracker.warnings, ...state(tracker) } });

  // Batches whose step failed as a whole: kept and applied again before anything after them.
  const unapplied = [];
  const applyPending = () => {
    while (unapplied.length > 0) {
      tracker.__applyBatch(unapplied[0]);
      unapplied.shift();
    }
  };

  parentPort.on('message', async (message) => {
    if (message.batch !== undefined) {
      unapplied.push(message.batch);
      try {
        applyPending();
      } catch (error) {
        const text = `runledger: a batch of recorded calls could not be handed to the core (worker thread); the calls are kept and handed over again on the next flush: ${error?.message}`;
        console.warn(text);
        parentPort.postMessage({ event: 'error', value: plainError(error) });
      } finally {
        // Taken (applied, or kept for the next try): the caller's thread may post more.
        Atomics.add(workerData.taken, 0, 1);
        Atomics.notify(workerData.taken, 0);
      }
      return;
    }
    const { id, call, args } = message;
    try {
      applyPending();
      const result = await tracker[call](...args);
      parentPort.postMessage({ id, result, state: state(tracker) });
    } catch (error) {
      parentPort.postMessage({ id, error: plainError(error), state: state(tracker) });
    }
  });
}
