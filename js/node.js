// Node entry (Node 20+): the Node build of the wasm (the browser's core plus the file
// store), loaded synchronously from disk, with the durable file store as the default storage.
import { readFileSync } from 'node:fs';
import { initSync, Tracker } from './runledger_node.js';
import { install } from './api.js';
import { describeThrown } from './capture/serialize.js';
import { openFileIo, DEFAULT_PATH } from './node-file.js';
import { WorkerTracker } from './worker/host.js';

initSync({ module: readFileSync(new URL('./runledger_node_bg.wasm', import.meta.url)) });
install(Tracker);

const openInMemory = Tracker.open;

/**
 * Opens a tracker. In Node the default storage is the durable file store in `path`
 * (default `./.runledger`); `storage: 'memory'` keeps records in memory only.
 * `worker: true` runs the batch step and the store on a worker thread (js/worker/host.js).
 */
Tracker.open = async function open(options = {}) {
  let storage, path, lockTimeoutMs, endpoint, worker;
  try {
    // Getters and Proxies run caller code, which may throw: read once, report it typed.
    ({ storage = 'auto', path = DEFAULT_PATH, lockTimeoutMs = 0, endpoint, worker = false } = options ?? {});
  } catch (thrown) {
    throw Object.assign(new Error(`\`options\` cannot be read: ${describeThrown(thrown)}`), { name: 'ConfigError' });
  }
  if (worker !== false) {
    if (worker !== true) throw Object.assign(new Error('`worker` is invalid: expected true or false'), { name: 'ConfigError', option: 'worker' });
    return WorkerTracker.open(Tracker, { ...options });
  }
  if (options !== null && typeof options === 'object' && Object.hasOwn(options, 'worker')) {
    // `worker: false` is this layer's option, not the core's (which refuses unknown keys).
    options = { ...options };
    delete options.worker;
  }
  const opened = storage !== 'auto' && storage !== 'file'
    ? openInMemory.call(Tracker, options)
    // The wasm checks the options, then asks for the folder (and its lock).
    : Tracker.openFile(options, ({ name }) => openFileIo({ path, name, lockTimeoutMs }));
  const tracker = await opened;
  if (endpoint) closeOnExit(tracker);
  return tracker;
};

// Trackers with an endpoint that the script did not close: closed (a last sync within
// `sync.closeTimeoutMs`) when Node is about to exit because nothing else is left to do.
const unclosed = new Set();
let exitHooked = false;

function closeOnExit(tracker) {
  unclosed.add(tracker);
  const close = tracker.close;
  tracker.close = function closeTracked(...args) {
    unclosed.delete(tracker);
    return close.apply(this, args);
  };
  if (exitHooked) return;
  exitHooked = true;
  process.on('beforeExit', () => {
    for (const t of [...unclosed]) {
      t.close().catch((e) => console.warn(`runledger: closing the tracker on exit failed: ${e?.message ?? e}`));
    }
  });
}

/** Resolves at once: in Node the module is loaded on import. */
export function ready() {
  return Promise.resolve();
}

// The public API only (index.d.ts types exactly these); the wasm glue's `initSync` and
// its default export stay inside.
export { Tracker };
export { Run, NodeRun, TrackerBrokenError } from './api.js';
export { DEFAULT_PATH };
