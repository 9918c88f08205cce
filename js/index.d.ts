export * from './runledger_core.js';
/** Resolves once the wasm module is loaded. `Tracker.open` waits for it by itself. */
export function ready(): Promise<void>;
