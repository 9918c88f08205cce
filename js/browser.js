// Browser entry (plain <script type="module"> and bundlers): the browser build of the wasm
// (no Node file store) is fetched next to this file as soon as this module is imported, and
// compiled while it downloads, so that the first Tracker.open() rarely waits for it.
import init, * as core from './runledger_core.js';
import { install } from './api.js';

const wasmUrl = new URL('./runledger_core_bg.wasm', import.meta.url);
let loading;

/**
 * Compiles the wasm: while it downloads (`compileStreaming`) when the server labels it
 * `application/wasm`, which streaming requires; from the downloaded bytes otherwise (a server
 * with another Content-Type, or a browser without `compileStreaming`). The choice is made on
 * the header, before the body is read, so the one response serves either way.
 */
async function compileWasm(url) {
  const response = await fetch(url);
  if (!response.ok) {
    throw new Error(`runledger: fetching ${url} failed: HTTP ${response.status}`);
  }
  const type = response.headers.get('Content-Type') ?? '';
  if (typeof WebAssembly.compileStreaming === 'function' && type.split(';')[0].trim() === 'application/wasm') {
    return WebAssembly.compileStreaming(response);
  }
  return WebAssembly.compile(await response.arrayBuffer());
}

/** Resolves once the wasm module is loaded (Tracker.open waits for it by itself). */
export function ready() {
  loading ??= compileWasm(wasmUrl).then((module) => init({ module_or_path: module }));
  return loading.then(() => undefined);
}

// Start the download now; a failure is reported by the ready() or Tracker.open() that waits.
ready().catch(() => {});

install(core.Tracker);
const open = core.Tracker.open;
core.Tracker.open = async function openWhenReady(options) {
  await ready();
  return open.call(core.Tracker, options);
};

// The public API only (index.d.ts types exactly these); the wasm glue's `initSync` and
// its default export stay inside.
export const { Tracker } = core;
export { Run, NodeRun, TrackerBrokenError, DEFAULT_PATH } from './api.js';
