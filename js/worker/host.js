// `Tracker.open({ worker: true })` in Node: the same tracker API, with the batch step and the
// store on a `worker_thread` (js/worker/core.js). The caller's thread keeps only the capture
// layer (js/capture/): recording calls check the lifecycle and append to the journal as in
// the default mode, the batch text is built at the end of the task (that is when values are
// read), and one `postMessage` hands it over. Every other call is a round trip to the worker.
//
// Durability is the default mode's: messages are handled in order, so `flush()` resolves only
// when everything recorded before it is durable. A failure in the worker (a batch step, a
// background write, a sync) is an `error` event here and a log line there.
//
// Differences, all documented in README ("Recording on a worker thread"): `log()` and
// `logQuery()` check their argument as JSON here and return the id at once, but the core's
// checks run on the worker (a refusal is an `error` event, not a throw); `pending`,
// `syncState()` and `warnings` are the worker's state as of its last answer or event.
import { Worker } from 'node:worker_threads';
import { CaptureRecorder } from '../capture/recorder.js';
import { jsonText } from '../capture/serialize.js';
import { typedError, invalid } from '../capture/lifecycle.js';
import { newId } from '../capture/ids.js';
import { Run } from '../api.js';

const EVENTS = ['error', 'sync', 'warning'];
/**
 * Batches posted and not yet taken by the worker after which a recording call waits for it
 * (`Atomics.wait`): a loop that never yields cannot pile up batch texts without bound.
 */
const MAX_BATCHES_IN_FLIGHT = 8;
/** How long a recording call waits for a worker that takes no batch at all. */
const STALLED_MS = 30_000;
// Options that only shape how records are checked: the caller's thread checks arguments at
// the call with a memory-only core of its own that has the same limits and redaction.
const CHECK_OPTIONS = ['maxValueBytes', 'previewBytes', 'maxNodeRuns', 'redact'];

function fromPlain(plain) {
  return typedError(plain.name, plain.message, plain.field ?? undefined);
}

export class WorkerTracker {
  #worker;
  #checker;
  #recorder;
  #calls = new Map();   // call id → { resolve, reject }
  #nextCall = 0;
  #listeners = new Map(EVENTS.map((e) => [e, new Set()]));
  #state;
  #ready;
  #closed = false;
  #stopped = false;
  #unflushed = false;
  // Batches taken by the worker (slot 0, written there); compared with #posted.
  #taken = new Int32Array(new SharedArrayBuffer(4));
  #posted = 0;
  #onExit = () => {
    // The worker thread does not keep the process alive; what was posted and not yet flushed
    // is flushed before the process exits (this runs again once that flush is done).
    if (this.#unflushed && !this.#closed) this.flush().catch((error) => this.#emitError(error));
  };

  /** Opens a tracker whose core runs on a worker thread; `Tracker` is the in-process class. */
  static async open(Tracker, options) {
    const { worker: _worker, ...coreOptions } = options;
    const checkOptions = { storage: 'memory', retention: false };
    for (const key of CHECK_OPTIONS) if (coreOptions[key] !== undefined) checkOptions[key] = coreOptions[key];
    const checker = await Tracker.open(checkOptions);
    const tracker = new WorkerTracker(checker, coreOptions);
    try {
      await tracker.#ready;
    } catch (error) {
      process.off('beforeExit', tracker.#onExit);
      await tracker.#worker.terminate();
      await checker.close();
      throw error;
    }
    return tracker;
  }

  constructor(checker, options) {
    this.#checker = checker;
    this.#worker = new Worker(new URL('./core.js', import.meta.url), { workerData: { options, taken: this.#taken } });
    this.#ready = new Promise((resolve, reject) => {
      this.#worker.on('message', (message) => {
        if (message.ready) {
          this.#state = message.ready;
          // From now on the thread keeps the process alive only while a call waits on it.
          if (this.#calls.size === 0) this.#worker.unref();
          resolve();
        } else if (message.failed) {
          reject(fromPlain(message.failed));
        } else {
          this.#receive(message);
        }
      });
      this.#worker.on('error', (error) => {
        reject(error);
        this.#workerFailed(error);
      });
      this.#worker.on('exit', () => {
        this.#stopped = true;
      });
    });
    // The capture layer's core (`CaptureCore`, capture/recorder.js): arguments are checked
    // on this thread's checker, batches go to the worker.
    const core = {
      limits: checker.__captureLimits,
      check: (what, text, system) => checker.__checkArg(what, text, system),
      apply: (text) => this.#postBatch(text),
    };
    process.on('beforeExit', this.#onExit);
    this.#recorder = new CaptureRecorder(core, (error, logLine) => this.#emitError(error, logLine));
  }

  #receive(message) {
    if (message.state) Object.assign(this.#state, message.state);
    if (message.event !== undefined) {
      if (message.event === 'sync') this.#state.syncState = message.value;
      this.#emit(message.event, message.event === 'error' ? fromPlain(message.value) : message.value);
      return;
    }
    const waiting = this.#calls.get(message.id);
    if (!waiting) return;
    this.#calls.delete(message.id);
    if (this.#calls.size === 0) this.#worker.unref();
    if (message.error) waiting.reject(fromPlain(message.error));
    else waiting.resolve(message.result);
  }

  #workerFailed(error) {
    const failure = typedError('StoreError', `the worker thread of this tracker stopped: ${error?.message ?? error}`);
    for (const waiting of this.#calls.values()) waiting.reject(failure);
    this.#calls.clear();
    this.#emitError(failure);
  }

  #emit(event, value) {
    for (const listener of this.#listeners.get(event)) {
      try { listener(value); } catch (thrown) { console.warn(`runledger: a '${event}' listener threw`, thrown); }
    }
  }

  #emitError(error, logLine) {
    console.warn(logLine ?? `runledger: ${error?.message}`, error);
    this.#emit('error', error);
  }

  #post(message) {
    this.#worker.postMessage(message);
  }

  /** Posts a journal batch; waits while the worker is MAX_BATCHES_IN_FLIGHT behind. */
  #postBatch(text) {
    this.#unflushed = true;
    this.#posted++;
    this.#post({ batch: text });
    let taken = Atomics.load(this.#taken, 0);
    let lastProgress = Date.now();
    while (this.#posted - taken > MAX_BATCHES_IN_FLIGHT && !this.#stopped) {
      Atomics.wait(this.#taken, 0, taken, 100);
      const now = Atomics.load(this.#taken, 0);
      if (now !== taken) {
        taken = now;
        lastProgress = Date.now();
      } else if (Date.now() - lastProgress > STALLED_MS) {
        // Bounded: a worker that takes nothing for this long has stopped or hangs; the
        // batch stays posted and the next flush() says what happened.
        this.#stopped = true;
        this.#emitError(typedError('StoreError', `the worker thread of this tracker took no batch for ${STALLED_MS / 1000} s; recording calls no longer wait for it`));
      }
    }
  }

  /** Hands the journal over, then asks the worker for `call`. */
  #call(call, ...args) {
    if (this.#closed && call !== 'close') return Promise.reject(typedError('StoreError', 'the store is closed'));
    this.#recorder.journal.drain();
    const id = this.#nextCall++;
    return new Promise((resolve, reject) => {
      this.#calls.set(id, { resolve, reject });
      this.#worker.ref();
      this.#post({ id, call, args });
    });
  }

  start(spec) {
    return new Run(this.#recorder, this.#recorder.start(spec));
  }

  /** Reads `value` now (bounded like any payload), for callers that mutate it afterwards. */
  snapshot(value) {
    return this.#recorder.snapshot(value);
  }

  #logged(name, arg) {
    this.#recorder.lifecycle.ensureOpen();
    const what = name === 'log' ? 'execution' : 'query';
    let record;
    try {
      record = JSON.parse(jsonText(arg) ?? 'null');
    } catch (thrown) {
      throw invalid(what, thrown.message);
    }
    if (record === null || typeof record !== 'object' || Array.isArray(record)) throw invalid(what, 'expected an object');
    if (record.id === undefined || record.id === null) record.id = newId(Date.now());
    this.#recorder.lifecycle.logged(record.id, 'success');
    this.#recorder.journal.drain();
    this.#call(name, record).catch((error) => this.#emitError(error, `runledger: a logged ${what} (${record.id}) was refused on the worker thread: ${error.message}`));
    return record.id;
  }

  log(execution) { return this.#logged('log', execution); }

  logQuery(query) { return this.#logged('logQuery', query); }

  flush() {
    const done = this.#call('flush');
    this.#unflushed = false;
    return done;
  }

  get(id) { return this.#call('get', id); }

  history(query) { return this.#call('history', query); }

  lineage(outputName) { return this.#call('lineage', outputName); }

  byExternalId(system, id) { return this.#call('byExternalId', system, id); }

  stats(query) { return this.#call('stats', query); }

  prune(options) { return this.#call('prune', options); }

  rebuildStats() { return this.#call('rebuildStats'); }

  delete(id) {
    if (typeof id === 'string') this.#recorder.lifecycle.forget(id);
    return this.#call('delete', id);
  }

  clear(options) { return this.#call('clear', options); }

  sync() { return this.#call('sync'); }

  deadLetters() { return this.#call('deadLetters'); }

  retryDeadLetters(ids) { return this.#call('retryDeadLetters', ids); }

  setApiKey(key) {
    if (key !== undefined && key !== null && typeof key !== 'string') throw invalid('apiKey', 'expected a string');
    this.#call('setApiKey', key).catch((error) => this.#emitError(error));
  }

  setSyncEnabled(enabled) {
    if (typeof enabled !== 'boolean') throw invalid('enabled', 'expected true or false');
    this.#call('setSyncEnabled', enabled).catch((error) => this.#emitError(error));
  }

  syncState() { return this.#state.syncState; }

  get pending() { return this.#recorder.journal.entries.length + this.#state.pending; }

  get storage() { return this.#state.storage; }

  get recovered() { return this.#state.recovered; }

  get warnings() { return this.#state.warnings; }

  on(event, listener) {
    if (typeof listener !== 'function') throw invalid('listener', 'expected a function');
    const set = this.#listeners.get(event);
    if (!set) throw typedError('ConfigError', `\`event\` is invalid: unknown event \`${event}\`; known events: ${EVENTS.join(', ')}`);
    set.add(listener);
  }

  off(event, listener) {
    this.#listeners.get(event)?.delete(listener);
  }

  /** Hands the journal over, closes the worker's tracker (a final flush) and ends the thread. */
  async close() {
    if (this.#closed) return;
    this.#recorder.journal.drain();
    this.#recorder.lifecycle.closed = true;
    this.#recorder.journal.detach();
    try {
      await this.#call('close');
    } finally {
      this.#closed = true;
      process.off('beforeExit', this.#onExit);
      await this.#worker.terminate();
      await this.#checker.close();
    }
  }
}
