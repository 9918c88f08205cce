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

/** Adds `tracker.start()` to the generated Tracker class. */
export function install(Tracker) {
  Tracker.prototype.start = function start(spec) {
    return new Run(this, this.startRun(spec));
  };
}
