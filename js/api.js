// The recording handles. They are plain JS objects over the tracker's capture layer
// (js/capture/): a call checks the lifecycle, appends to the journal and returns, with no wasm
// call; the journal goes to the core in batches (see js/capture/journal.js).

import { CaptureRecorder } from './capture/recorder.js';

/** Node: the file store's default folder, relative to the working directory (exported by
 *  both entries, so that the one set of types holds for both). */
export const DEFAULT_PATH = './.runledger';

/** A running execution. Every method returns at once; none waits for storage. */
export class Run {
  #recorder;

  constructor(recorder, id) {
    this.#recorder = recorder;
    /** The execution id (UUIDv7 unless the caller gave one). */
    this.id = id;
  }

  /** Starts a node run; a node id that ran before in this execution is its next attempt. */
  node(node, input) {
    const recorder = live(this.#recorder, 'Run.node');
    return new NodeRun(recorder, this.id, recorder.nodeStart(this.id, node, input));
  }

  /** Adds an output: `{ name, kind?, rows?, columns?, role? }`. */
  output(output) { live(this.#recorder, 'Run.output').output(this.id, output); }

  /** Records the id another system gave this run (e.g. `externalId('airflow', runId)`). */
  externalId(system, id) { live(this.#recorder, 'Run.externalId').externalId(this.id, system, id); }

  /** Ends the execution successfully. */
  succeed() { live(this.#recorder, 'Run.succeed').finish(this.id, 'success', undefined); }

  /** Ends it as failed: the work itself failed. */
  fail(error) { live(this.#recorder, 'Run.fail').finish(this.id, 'failed', error); }

  /** Ends it as an error of the machinery around the work. */
  error(error) { live(this.#recorder, 'Run.error').finish(this.id, 'error', error); }

  /** Ends it as timed out. */
  timeout(error) { live(this.#recorder, 'Run.timeout').finish(this.id, 'timeout', error); }

  /** Ends it as cancelled. */
  cancel(reason) { live(this.#recorder, 'Run.cancel').finish(this.id, 'cancelled', reason); }
}

/** One run of one node. */
export class NodeRun {
  #recorder;

  constructor(recorder, runId, index) {
    this.#recorder = recorder;
    /** The execution this node run belongs to. */
    this.runId = runId;
    /** Its position in the execution's node runs. */
    this.index = index;
  }

  /** Ends the node run with its output (read at the end of the task: see README). */
  succeed(output) { live(this.#recorder, 'NodeRun.succeed').nodeEnd(this.runId, this.index, 'success', output); }

  /** Ends it with an error (an `Error`, a message, or `{ message, type, stack }`). */
  fail(error) { live(this.#recorder, 'NodeRun.fail').nodeEnd(this.runId, this.index, 'error', error); }

  /** Marks it skipped, with an optional reason. */
  skip(reason) { live(this.#recorder, 'NodeRun.skip').nodeEnd(this.runId, this.index, 'skipped', reason); }
}

/**
 * Thrown by every call once the wasm core has trapped (a `WebAssembly.RuntimeError`: a bug,
 * never a reaction to input). A trap unwinds without cleaning up, so the module's memory may
 * be inconsistent; rather than call into it again (and corrupt records, or crash the
 * process), every tracker in this process refuses further work with this error, and `error`
 * listeners hear it once. Records not flushed before the trap may be lost; restart the
 * process (or reload the page) to record again.
 */
export class TrackerBrokenError extends Error {
  constructor(call, cause) {
    super(`runledger's wasm core trapped (${cause?.message ?? 'RuntimeError'}) and refuses further calls to keep its memory from being corrupted; \`${call}\` was not carried out. Records not flushed before the trap may be lost: restart the process or reload the page to record again.`, { cause });
    this.name = 'TrackerBrokenError';
  }
}

// One wasm instance serves every tracker of the process, so one trap breaks them all.
let trap = null;
const errorListeners = new Set();   // [tracker WeakRef, listener] pairs for `error`

function broken(call, tracker, cause) {
  if (!trap) {
    trap = cause;
    const error = new TrackerBrokenError(call, cause);
    console.warn(`runledger: ${error.message}`, cause);
    for (const entry of errorListeners) {
      try { entry.listener(error); } catch (thrown) { console.warn("runledger: an 'error' listener threw", thrown); }
    }
  }
  return new TrackerBrokenError(call, trap);
}

// The calls that return a promise: once broken they reject instead of throwing.
const ASYNC = new Set(['open', 'openFile', 'flush', 'get', 'history', 'lineage', 'byExternalId', 'stats', 'prune',
  'rebuildStats', 'delete', 'clear', 'sync', 'deadLetters', 'retryDeadLetters', 'discardDeadLetters', 'close']);

function guard(call, fn) {
  const name = call.replace(/^Tracker\./, '');
  return function guarded(...args) {
    if (trap) {
      const error = new TrackerBrokenError(call, trap);
      if (ASYNC.has(name)) return Promise.reject(error);
      throw error;
    }
    let result;
    try {
      if (!name.startsWith('__') && !NO_DRAIN.has(name)) drainOf(this);
      result = fn.apply(this, args);
    } catch (thrown) {
      if (thrown instanceof WebAssembly.RuntimeError) throw broken(call, this, thrown);
      throw thrown;
    }
    if (result instanceof Promise) {
      return result.catch((thrown) => {
        if (thrown instanceof WebAssembly.RuntimeError) throw broken(call, this, thrown);
        throw thrown;
      });
    }
    return result;
  };
}

// The capture layer of each tracker, made on its first recording call.
const recorders = new WeakMap();
// Each tracker's `error` listeners, for failures of the batch step (which runs in JS).
const trackerErrorListeners = new WeakMap();

function emitError(tracker, error) {
  for (const listener of trackerErrorListeners.get(tracker) ?? []) {
    try { listener(error); } catch (thrown) { console.warn("runledger: an 'error' listener threw", thrown); }
  }
}

function reportBatchFailure(tracker, error, logLine) {
  console.warn(logLine ?? `runledger: a batch of recorded calls could not be handed to the core; the calls are kept and handed over again on the next flush: ${error?.message}`, error);
  emitError(tracker, error);
}

/** The in-process tracker as the capture layer's core (`CaptureCore`, capture/recorder.js). */
function captureCoreOf(tracker) {
  return {
    limits: tracker.__captureLimits,
    check: (what, text, system) => tracker.__checkArg(what, text, system),
    apply: (text) => tracker.__applyBatch(text),
  };
}

function recorderOf(tracker, call) {
  if (trap) throw new TrackerBrokenError(call, trap);
  let recorder = recorders.get(tracker);
  if (!recorder) {
    recorder = new CaptureRecorder(captureCoreOf(tracker), (error, logLine) => reportBatchFailure(tracker, error, logLine));
    recorders.set(tracker, recorder);
  }
  return recorder;
}

// The calls that do not read records, so need no hand-over of the journal first.
const NO_DRAIN = new Set(['on', 'off', 'setApiKey', 'setSyncEnabled', 'syncState', 'snapshot', 'start', 'recovered', 'warnings', 'storage']);

/** `recorder` unless the core has trapped (then the call throws `TrackerBrokenError`). */
function live(recorder, call) {
  if (trap) throw new TrackerBrokenError(call, trap);
  return recorder;
}

/** Hands the tracker's journal to the core, so that the call after it sees every record. */
function drainOf(tracker) {
  recorders.get(tracker)?.journal.drain();
}

/** Adds `tracker.start()` to the generated Tracker class and guards every call against a trap. */
export function install(Tracker) {
  Tracker.prototype.start = function start(spec) {
    const recorder = recorderOf(this, 'Tracker.start');
    return new Run(recorder, recorder.start(spec));
  };
  /** Reads `value` now (bounded like any payload), for callers that mutate it afterwards. */
  Tracker.prototype.snapshot = function snapshot(value) {
    return recorderOf(this, 'Tracker.snapshot').snapshot(value);
  };
  const { close } = Tracker.prototype;
  Tracker.prototype.close = function closeAfterDrain() {
    const recorder = recorders.get(this);
    if (recorder) {
      recorder.journal.drain();
      recorder.lifecycle.closed = true;
      recorder.journal.detach();
    }
    return close.call(this);
  };
  // `await using tracker = …` closes the tracker (a last sync, the store released). The glue's
  // synchronous `Symbol.dispose` would only free the wasm object, without closing: removed.
  if (typeof Symbol.asyncDispose === 'symbol') {
    Tracker.prototype[Symbol.asyncDispose] = function asyncDispose() { return this.close(); };
  }
  if (typeof Symbol.dispose === 'symbol') delete Tracker.prototype[Symbol.dispose];
  // wasm-bindgen's `free()` likewise releases the wasm object without closing (the store stays
  // locked, what is not flushed is lost): not API. `close()` ends a tracker; the glue's
  // FinalizationRegistry reclaims one nobody references.
  delete Tracker.prototype.free;
  const { delete: remove } = Tracker.prototype;
  Tracker.prototype.delete = function deleteAfterDrain(id) {
    // The core drops a pending copy too; the capture layer forgets the id likewise.
    if (typeof id === 'string') recorders.get(this)?.lifecycle.forget(id);
    return remove.call(this, id);
  };
  for (const name of ['log', 'logQuery']) {
    const direct = Tracker.prototype[name];
    // One call records a finished execution: checked and taken by the core at the call, after
    // what was captured before it, and remembered so the id cannot be used again.
    Tracker.prototype[name] = function logAfterDrain(arg) {
      const recorder = recorderOf(this, `Tracker.${name}`);
      recorder.lifecycle.ensureOpen();
      recorder.journal.drain();
      const id = direct.call(this, arg);
      recorder.lifecycle.remember(id, 'success');
      return id;
    };
  }
  const proto = Tracker.prototype;
  for (const name of Object.getOwnPropertyNames(proto)) {
    if (name === 'constructor' || name === 'free' || name === '__destroy_into_raw') continue;
    const d = Object.getOwnPropertyDescriptor(proto, name);
    if (typeof d.value === 'function') {
      Object.defineProperty(proto, name, { ...d, value: guard(name, d.value) });
    } else if (typeof d.get === 'function') {
      Object.defineProperty(proto, name, { ...d, get: guard(name, d.get) });
    }
  }
  for (const name of ['open', 'openFile']) {
    if (typeof Tracker[name] === 'function') Tracker[name] = guard(`Tracker.${name}`, Tracker[name]);
  }
  // `error` listeners are also kept here, so they can still be told after a trap.
  const { on, off } = proto;
  proto.on = function onEvent(event, listener) {
    on.call(this, event, listener);
    if (event === 'error') {
      errorListeners.add({ tracker: new WeakRef(this), listener });
      if (!trackerErrorListeners.has(this)) trackerErrorListeners.set(this, new Set());
      trackerErrorListeners.get(this).add(listener);
    }
  };
  proto.off = function offEvent(event, listener) {
    off.call(this, event, listener);
    if (event === 'error') trackerErrorListeners.get(this)?.delete(listener);
    for (const entry of errorListeners) {
      if (event === 'error' && entry.listener === listener && entry.tracker.deref() === this) errorListeners.delete(entry);
    }
  };
}
