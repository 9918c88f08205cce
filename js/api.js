// The recording handles. They are plain JS objects over the tracker's id-based calls, so a
// handle costs no wasm allocation and no finalizer: recording stays cheap at any volume.

/** A running execution. Every method returns at once; none waits for storage. */
export class Run {
  #tracker;

  constructor(tracker, id) {
    this.#tracker = tracker;
    /** The execution id (UUIDv7 unless the caller gave one). */
    this.id = id;
  }

  /** Starts a node run; a node id that ran before in this execution is its next attempt. */
  node(node, input) {
    return new NodeRun(this.#tracker, this.id, this.#tracker.startNode(this.id, node, input));
  }

  /** Adds an output: `{ name, kind?, rows?, columns?, role? }`. */
  output(output) { this.#tracker.addOutput(this.id, output); }

  /** Records the id another system gave this run (e.g. `externalId('airflow', runId)`). */
  externalId(system, id) { this.#tracker.setExternalId(this.id, system, id); }

  /** Ends the execution successfully. */
  succeed() { this.#tracker.finishRun(this.id, 'success', undefined); }

  /** Ends it as failed: the work itself failed. */
  fail(error) { this.#tracker.finishRun(this.id, 'failed', error); }

  /** Ends it as an error of the machinery around the work. */
  error(error) { this.#tracker.finishRun(this.id, 'error', error); }

  /** Ends it as timed out. */
  timeout(error) { this.#tracker.finishRun(this.id, 'timeout', error); }

  /** Ends it as cancelled. */
  cancel(reason) { this.#tracker.finishRun(this.id, 'cancelled', reason); }
}

/** One run of one node. */
export class NodeRun {
  #tracker;

  constructor(tracker, runId, index) {
    this.#tracker = tracker;
    /** The execution this node run belongs to. */
    this.runId = runId;
    /** Its position in the execution's node runs. */
    this.index = index;
  }

  /** Ends the node run with its output. */
  succeed(output) { this.#tracker.endNode(this.runId, this.index, 'success', output); }

  /** Ends it with an error (an `Error`, a message, or `{ message, type, stack }`). */
  fail(error) { this.#tracker.endNode(this.runId, this.index, 'error', error); }

  /** Marks it skipped, with an optional reason. */
  skip(reason) { this.#tracker.endNode(this.runId, this.index, 'skipped', reason); }
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
  'rebuildStats', 'delete', 'clear', 'sync', 'deadLetters', 'retryDeadLetters', 'close']);

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

/** Adds `tracker.start()` to the generated Tracker class and guards every call against a trap. */
export function install(Tracker) {
  Tracker.prototype.start = function start(spec) {
    return new Run(this, this.startRun(spec));
  };
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
    if (event === 'error') errorListeners.add({ tracker: new WeakRef(this), listener });
  };
  proto.off = function offEvent(event, listener) {
    off.call(this, event, listener);
    for (const entry of errorListeners) {
      if (event === 'error' && entry.listener === listener && entry.tracker.deref() === this) errorListeners.delete(entry);
    }
  };
}
