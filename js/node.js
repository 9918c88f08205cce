// Node entry (Node 20+): the same wasm as in browsers, loaded synchronously from disk, with
// the durable file store as the default storage.
import { readFileSync } from 'node:fs';
import { initSync, Tracker } from './runledger_core.js';
import { install } from './api.js';
import { openFileIo, DEFAULT_PATH } from './node-file.js';

initSync({ module: readFileSync(new URL('./runledger_core_bg.wasm', import.meta.url)) });
install(Tracker);

const openInMemory = Tracker.open;

/**
 * Opens a tracker. In Node the default storage is the durable file store in `path`
 * (default `./.runledger`); `storage: 'memory'` keeps records in memory only.
 */
Tracker.open = async function open(options = {}) {
  const storage = options?.storage ?? 'auto';
  if (storage !== 'auto' && storage !== 'file') return openInMemory.call(Tracker, options);
  // The wasm checks the options, then asks for the folder (and its lock).
  return Tracker.openFile(options, ({ name }) => openFileIo({
    path: options.path ?? DEFAULT_PATH,
    name,
    lockTimeoutMs: options.lockTimeoutMs ?? 0,
  }));
};

/** Resolves at once: in Node the module is loaded on import. */
export function ready() {
  return Promise.resolve();
}

export * from './runledger_core.js';
export { Run, NodeRun } from './api.js';
export { DEFAULT_PATH };
