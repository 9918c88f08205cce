// Browser entry (plain <script type="module"> and bundlers): the wasm is fetched next to
// this file on the first Tracker.open().
import init, * as core from './runledger_core.js';
import { install } from './api.js';

let loading;

/** Resolves once the wasm module is loaded (Tracker.open waits for it by itself). */
export function ready() {
  loading ??= init({ module_or_path: new URL('./runledger_core_bg.wasm', import.meta.url) });
  return loading.then(() => undefined);
}

install(core.Tracker);
const open = core.Tracker.open;
core.Tracker.open = async function openWhenReady(options) {
  await ready();
  return open.call(core.Tracker, options);
};

export * from './runledger_core.js';
export { Run, NodeRun, TrackerBrokenError } from './api.js';
