// Node entry (Node 20+): the same wasm as in browsers, loaded synchronously from disk.
import { readFileSync } from 'node:fs';
import { initSync, Tracker } from './runledger_core.js';
import { install } from './api.js';

initSync({ module: readFileSync(new URL('./runledger_core_bg.wasm', import.meta.url)) });
install(Tracker);

/** Resolves at once: in Node the module is loaded on import. */
export function ready() {
  return Promise.resolve();
}

export * from './runledger_core.js';
export { Run, NodeRun } from './api.js';
