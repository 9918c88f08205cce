// The lifecycle state machine of the capture layer: which recording calls an execution and
// its node runs allow, checked at the call (in JS, no wasm) so that misuse throws at once
// with the same typed errors and messages as the core (src/error.rs, src/model/lifecycle.rs).

/** How many finished execution ids are remembered at least, to explain late calls (as the core). */
const REMEMBERED_FINISHED = 10_000;

/** An `Error` named like the core's typed errors (`LifecycleError`, `ValidationError`, ...). */
export function typedError(name, message, field) {
  const error = new Error(message);
  error.name = name;
  if (field !== undefined) error.field = field;
  return error;
}

export function invalid(field, reason) {
  return typedError('ValidationError', `\`${field}\` is invalid: ${reason}`, field);
}

function alreadyFinished(id, from, to) {
  return typedError('LifecycleError', `execution ${id} cannot go from ${from} to ${to}: it has already finished`);
}

function unknownExecution(id) {
  return typedError('LifecycleError', `execution ${id} is not being recorded by this tracker`);
}

function nodeAfterEnd(id, nodeId, event, status) {
  return typedError('LifecycleError', `node ${nodeId} of execution ${id} cannot ${event}: the execution has already finished (${status})`);
}

const EVENT = { success: 'succeed', error: 'fail', skipped: 'skip' };

/** One running execution: its node runs' ids and statuses, by index (two flat arrays). */
class RunState {
  constructor() {
    this.nodeIds = [];
    this.statuses = [];
  }

  /** The attempt number of node run `index` (counted only for an error message). */
  attempt(index) {
    const id = this.nodeIds[index];
    let attempt = 0;
    for (let n = 0; n <= index; n++) if (this.nodeIds[n] === id) attempt++;
    return attempt;
  }
}

/**
 * The state of the executions one tracker records. Kept lean because every recording call
 * goes through it: one Map lookup per call, two array pushes per node run, nothing else.
 */
export class Lifecycle {
  constructor(maxNodeRuns) {
    this.maxNodeRuns = maxNodeRuns;
    /** id → RunState */
    this.running = new Map();
    // id → final status of the last REMEMBERED_FINISHED..2×REMEMBERED_FINISHED executions,
    // in two generations: when the newer is full it becomes the older and the oldest is
    // dropped whole (no per-insert eviction, which walked the Map's deleted slots).
    this.finished = new Map();
    this.finishedBefore = new Map();
    this.closed = false;
  }

  ensureOpen() {
    if (this.closed) throw typedError('StoreError', 'the store is closed');
  }

  #ended(id) {
    return this.finished.get(id) ?? this.finishedBefore.get(id);
  }

  #used(id) {
    return this.running.has(id) || this.#ended(id) !== undefined;
  }

  /**
   * A new execution `id`; throws if this tracker already used the id. `made` says the id was
   * just made by `newId` (unique by construction: no lookup).
   */
  start(id, made = false) {
    if (!made && this.#used(id)) throw invalid('id', `${id} is already used by an execution of this tracker`);
    this.running.set(id, new RunState());
  }

  /** A logged (already finished) execution `id`. */
  logged(id, status) {
    if (this.#used(id)) throw invalid('id', `${id} is already used by an execution of this tracker`);
    this.remember(id, status);
  }

  #run(id, nodeId, event) {
    const run = this.running.get(id);
    if (run !== undefined) return run;
    const status = this.#ended(id);
    if (status === undefined) throw unknownExecution(id);
    if (nodeId === '') throw alreadyFinished(id, status, status);
    throw nodeAfterEnd(id, nodeId, event, status);
  }

  /** Starts a node run of `nodeId`; returns its index. */
  nodeStart(id, nodeId) {
    const run = this.#run(id, nodeId, 'start');
    const index = run.nodeIds.length;
    if (index >= this.maxNodeRuns) {
      throw typedError('ValidationError', `\`nodes\` is too large: ${index + 1} exceeds the limit of ${this.maxNodeRuns}`, 'nodes');
    }
    run.nodeIds.push(nodeId);
    run.statuses.push('running');
    return index;
  }

  /** Ends node run `index` with `outcome` (`success`, `error`, `skipped`). */
  nodeEnd(id, index, outcome) {
    const run = this.#run(id, `#${index}`, EVENT[outcome]);
    const status = run.statuses[index];
    if (status === undefined) throw unknownExecution(id);
    if (status !== 'running') {
      throw typedError('LifecycleError', `node ${run.nodeIds[index]} (attempt ${run.attempt(index)}) of execution ${id} cannot go from ${status} to ${outcome}: it has already finished`);
    }
    run.statuses[index] = outcome;
  }

  /** A change only a running execution accepts (`output`, `externalId`). */
  change(id) {
    this.#run(id, '', 'change');
  }

  /** Ends execution `id` with `status`. */
  finish(id, status) {
    if (!this.running.delete(id)) {
      const from = this.#ended(id);
      if (from === undefined) throw unknownExecution(id);
      throw alreadyFinished(id, from, status);
    }
    this.remember(id, status);
  }

  /** Execution `id` was deleted: later calls for it are for an unknown execution. */
  forget(id) {
    this.running.delete(id);
    this.finished.delete(id);
    this.finishedBefore.delete(id);
  }

  remember(id, status) {
    if (this.finished.size >= REMEMBERED_FINISHED) {
      this.finishedBefore = this.finished;
      this.finished = new Map();
    }
    this.finished.set(id, status);
  }
}
