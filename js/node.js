// Node entry (Node 20+): the same wasm as in browsers, loaded synchronously from disk.
import { readFileSync } from 'node:fs';
import { initSync } from './runledger_core.js';

initSync({ module: readFileSync(new URL('./runledger_core_bg.wasm', import.meta.url)) });

/** Resolves at once: in Node the module is loaded on import. */
export function ready() {
  return Promise.resolve();
}

export * from './runledger_core.js';
