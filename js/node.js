// Node entry (Node 20+): the Node build of the wasm (the browser's core plus the file
// store), loaded synchronously from disk, with the durable file store as the default storage.
import { readFileSync } from 'node:fs';
import { initSync, Tracker } from './runledger_node.js';
import { install } from './api.js';
import { describeThrown } from './values.js';
import { openFileIo, DEFAULT_PATH } from './node-file.js';

initSync({ module: readFileSync(new URL('./runledger_node_bg.wasm', import.meta.url)) });
install(Tracker);

const openInMemory = Tracker.open;

/**
 * Opens a tracker. In Node the default storage is the durable file store in `path`
 * (default `./.runledger`); `storage: 'memory'` keeps records in memory only.
 */
Tracker.open = async function open(options = {}) {
  let storage, path, lockTimeoutMs;
  try {
    // Getters and Proxies run caller code, which may throw: read once, report it typed.
    ({ storage = 'auto', path = DEFAULT_PATH, lockTimeoutMs = 0 } = options ?? {});
  } catch (thrown) {
    throw Object.assign(new Error(`\`options\` cannot be read: ${describeThrown(thrown)}`), { name: 'ConfigError' });
  }
  if (storage !== 'auto' && storage !== 'file') return openInMemory.call(Tracker, options);
  // The wasm checks the options, then asks for the folder (and its lock).
  return Tracker.openFile(options, ({ name }) => openFileIo({ path, name, lockTimeoutMs }));
};

/** Resolves at once: in Node the module is loaded on import. */
export function ready() {
  return Promise.resolve();
}

export * from './runledger_node.js';
export { Run, NodeRun, TrackerBrokenError } from './api.js';
export { DEFAULT_PATH };
