// The public types of runledger, written by hand: they describe what the package's two
// entries (pkg/node.js, pkg/browser.js) export, and nothing else. wasm-bindgen's generated
// declarations are not shipped (scripts/build.sh passes `--no-typescript`): they describe the
// wasm glue, internals included. tests/types/exports.test.mjs checks that every runtime
// export and Tracker method is typed here and that everything typed here exists at runtime.

// ─── Values ────────────────────────────────────────────────────────────────────────────

/** Milliseconds since the epoch (`Date.now()`) or an RFC 3339 string. */
export type Timestamp = number | string;
export type ExecutionStatus = 'running' | 'success' | 'failed' | 'error' | 'timeout' | 'cancelled' | 'interrupted';
/** The statuses an execution can end with (`log()` takes only these). */
export type FinalStatus = Exclude<ExecutionStatus, 'running'>;
export type NodeStatus = 'pending' | 'running' | 'success' | 'error' | 'skipped' | 'cancelled';
export type ExecutionKind = 'workflow' | 'query' | 'pipeline' | 'step' | (string & {});

export interface RetryOptions {
  /** First delay, ms. */
  baseMs?: number;
  /** Longest delay, ms. */
  capMs?: number;
}

export interface TrackerOptions {
  /** Database name (default `runledger`). */
  name?: string;
  /** `auto`: IndexedDB in browsers, the durable file store in Node. Or `indexeddb`,
   *  `file` (Node) or `memory` (nothing survives the process). */
  storage?: 'auto' | 'indexeddb' | 'file' | 'memory';
  /** Node: the file store's folder (default {@link DEFAULT_PATH}, relative to the working directory). */
  path?: string;
  /** Node: how long to wait for a store another process holds, ms (default 0: fail at once
   *  with a `StoreError` naming the holder). */
  lockTimeoutMs?: number;
  /** Node: run the batch step and the store on a worker thread (default false; README
   *  "Recording on a worker thread" says what changes). */
  worker?: boolean;
  /** Delay before recorded changes are written, ms (default 50). */
  flushIntervalMs?: number;
  /** Changed executions that trigger a write at once; most per write (default 500). */
  maxBatchSize?: number;
  /** Largest JSON size of one input/output/metadata value before truncation (default 65536). */
  maxValueBytes?: number;
  /** Preview bytes kept in a truncation marker (default 512). */
  previewBytes?: number;
  /** Most node runs per execution (default 10000). */
  maxNodeRuns?: number;
  /** `false` turns redaction off; `keys` adds secret key fragments to the defaults; `defaults: false` drops the default keys. */
  redact?: boolean | { keys?: string[]; defaults?: boolean; enabled?: boolean };
  /** Backoff for retried background writes. */
  retry?: RetryOptions;
  /** Base URL of the ingest server; records are POSTed to `{endpoint}/v1/ingest`. */
  endpoint?: string;
  /** Sync to an OpenTelemetry collector instead: finished executions are POSTed as OTLP/HTTP
   *  JSON traces to `{otlp}/v1/traces`, with the same outbox, retries and dead letters.
   *  Not combined with `endpoint`. */
  export?: { otlp?: string };
  /** Sent as `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** `false` queues records without sending them until `setSyncEnabled(true)` (default true). */
  syncEnabled?: boolean;
  /** Pruned in the background, oldest first: `false`, or limits (defaults 30 days, 50,000
   *  executions; `maxBytes` against `navigator.storage.estimate()`). Running executions and
   *  records not yet synced are kept. */
  retention?: false | { maxAgeDays?: number | null; maxCount?: number | null; maxBytes?: number };
  /** Sync tuning. */
  sync?: {
    /** Most records per request (default 200). */
    maxBatchRecords?: number;
    /** Most bytes of records per request (default 1 MiB). */
    maxBatchBytes?: number;
    /** Wait after changes before sending, ms (default 1000). */
    debounceMs?: number;
    /** Request timeout, ms (default 30000). */
    timeoutMs?: number;
    /** Backoff between failed attempts (default 1 s growing to 5 min, full jitter). */
    retry?: RetryOptions;
    /** How long `close()` tries a last sync, ms (default 3000). */
    closeTimeoutMs?: number;
  };
}

export interface SyncState {
  /** An endpoint is configured and sync is switched on. */
  enabled: boolean;
  /** Executions stored and waiting to be sent (including those in flight). */
  pending: number;
  /** Executions in the request under way. */
  inFlight: number;
  /** Executions the server refused for good (see `deadLetters()`). */
  deadLettered: number;
  lastSuccessAt?: number;
  /** The last failure; cleared by the next success. */
  lastError?: string;
  /** When the next attempt is due after a failure. */
  nextAttemptAt?: number;
  /** True after the server refused the API key, until `setApiKey()`. */
  paused: boolean;
}

export interface StatsQuery {
  /** From this time (rounded down to its 30-minute slot). */
  since?: Timestamp;
  /** Up to this time (its 30-minute slot included). */
  until?: Timestamp;
  groupBy?: Array<'workflow' | 'user' | 'databaseType' | 'status' | 'day'>;
  filter?: { workflowId?: string; userId?: string; databaseType?: string; status?: ExecutionStatus; kind?: ExecutionKind };
  /** Days for `day`: "UTC" (default) or an offset like "+05:30" (multiple of 30 minutes). */
  timeZone?: string;
}
export interface StatsGroup {
  key: { day?: string; workflowId?: string; userId?: string; databaseType?: string; status?: ExecutionStatus };
  total: number;
  byStatus: Partial<Record<ExecutionStatus, number>>;
  /** success / finished × 100, two decimals. */
  successRate: number;
  /** Over finished executions: exact min and max, nearest-rank percentiles. */
  durationMs?: { avg: number; min: number; max: number; p50: number; p95: number; p99: number };
  totalRows: number;
}
export interface StatsResult { groups: StatsGroup[]; relativeError: number }

export interface PruneOptions { maxAgeDays?: number; maxCount?: number; maxBytes?: number; before?: Timestamp }
export interface PruneReport { removed: string[]; keptUnsynced: number }

export interface DeadLetter { id: string; version: number; reason: string; at: number }

export interface Trigger { type: 'manual' | 'http' | 'scheduled' | 'api' | 'other'; data?: unknown }
export interface ErrorInfo { message: string; type?: string; stack?: string; nodeId?: string }
export interface QueryInfo {
  text?: string; databaseType?: string; complexity?: string;
  totalRows?: number; returnedRows?: number; page?: number; pageSize?: number;
}
export interface Column { name: string; type?: string }
export interface OutputInput {
  name: string; kind?: 'table' | 'file' | 'model' | 'other'; rows?: number;
  columns?: Column[]; role?: 'primary' | 'auxiliary';
}
export interface Metadata { connection?: unknown; request?: unknown; response?: unknown }

export interface StartSpec {
  id?: string; kind?: ExecutionKind; workflowId?: string; workflowName?: string;
  userId?: string; sessionId?: string; parentId?: string; planId?: string;
  externalIds?: Record<string, string>; trigger?: Trigger; query?: QueryInfo;
  metadata?: Metadata; tags?: string[]; startedAt?: Timestamp;
}

export interface NodeDef { id: string; name?: string; type?: string }

export interface NodeRunRecord {
  id: string; name?: string; type?: string; attempt: number; status: NodeStatus;
  startedAt: number; completedAt?: number; durationMs?: number;
  input?: unknown; output?: unknown; error?: ErrorInfo;
}

export interface Execution {
  id: string; schemaVersion: number; version: number; kind: ExecutionKind;
  workflowId?: string; workflowName?: string; userId?: string; sessionId?: string;
  parentId?: string; planId?: string; externalIds?: Record<string, string>;
  trigger?: Trigger; status: ExecutionStatus; startedAt: number; completedAt?: number;
  durationMs?: number; error?: ErrorInfo; query?: QueryInfo; outputs?: OutputInput[];
  metadata: Metadata; tags?: string[]; nodes?: NodeRunRecord[]; nodeCount?: number;
  failedNodes?: string[]; lastSeenAt?: number; owner?: string;
}

/** A finished execution for `tracker.log()`: `status` must be final. */
export interface ExecutionInput extends Omit<Partial<Execution>, 'status' | 'startedAt' | 'completedAt' | 'nodes' | 'lastSeenAt' | 'owner'> {
  status: FinalStatus;
  startedAt: Timestamp;
  completedAt?: Timestamp;
  nodes?: Array<Omit<NodeRunRecord, 'startedAt' | 'completedAt' | 'attempt'> & { startedAt: Timestamp; completedAt?: Timestamp; attempt?: number }>;
}

export interface QueryLog {
  id?: string; executionId?: string; query: string; databaseType?: string;
  status: 'success' | 'failed' | 'timeout' | 'error';
  /** Seconds. */
  executionTime?: number; totalRows?: number; returnedRows?: number; page?: number; pageSize?: number;
  complexity?: string; userId?: string; sessionId?: string; conversationId?: string;
  errorMessage?: string; errorType?: string; startedAt?: Timestamp; completedAt?: Timestamp;
  connection?: unknown; connectionParams?: unknown; request?: unknown; requestMetadata?: unknown;
  response?: unknown; responseMetadata?: unknown;
}

export interface HistoryQuery {
  workflowId?: string; status?: ExecutionStatus; userId?: string; databaseType?: string;
  kind?: ExecutionKind; since?: Timestamp; until?: Timestamp; limit?: number; cursor?: string;
  /** Only runs in which this node's last attempt failed. */
  failedNode?: string;
  /** Only executions that produced an output of this name. */
  output?: string;
  /** Only executions another system knows by this id. */
  externalId?: { system: string; id: string };
}

export interface HistoryPage { items: Execution[]; nextCursor?: string }

// ─── Events ────────────────────────────────────────────────────────────────────────────

/** What each event's listener receives: `tracker.on('sync', (state) => …)`. */
export interface TrackerEvents {
  /** Every background failure (a write, a sync, a batch hand-off), once per outage for sync. */
  error: RunledgerError;
  /** The sync state, on every change. */
  sync: SyncState;
  /** Something opening repaired (Node file store: a damaged log tail cut off). */
  warning: string;
}
export type TrackerEvent = keyof TrackerEvents;

// ─── Errors ────────────────────────────────────────────────────────────────────────────
// The tracker throws (and rejects with) plain `Error`s whose `name` says what kind they
// are; tell them apart with `e.name === 'ValidationError'`. Only `TrackerBrokenError` is a
// class (it is made in JS, where `instanceof` works).

/** Every `name` a runledger error carries. */
export type RunledgerErrorName =
  | 'ValidationError' | 'LifecycleError' | 'StoreError' | 'QuotaExceededError' | 'ConfigError'
  | 'SyncError' | 'SyncAuthError' | 'RetentionError' | 'TrackerBrokenError';

/** The shape every runledger error has: an `Error` with one of the names. */
interface NamedError<N extends RunledgerErrorName> extends Error {
  name: N;
}
/** Bad input: `field` is the path to the offending value (`execution.startedAt`). */
export interface ValidationError extends NamedError<'ValidationError'> { field: string }
/** A call that does not fit the execution's state (`run.succeed()` after `run.cancel()`). */
export interface LifecycleError extends NamedError<'LifecycleError'> {}
/** A write or read of the store failed; the records stay queued and are retried. */
export interface StoreError extends NamedError<'StoreError'> {}
/** The browser's or the disk's quota is full; the write was rolled back. */
export interface QuotaExceededError extends NamedError<'QuotaExceededError'> {}
/** A bad option of `Tracker.open` (named in the message), or a tracker used wrongly. */
export interface ConfigError extends NamedError<'ConfigError'> {}
/** A sync attempt failed (the network, the server, CORS: the message says which), or a
 *  record was flagged as too large for the server. */
export interface SyncError extends NamedError<'SyncError'> {}
/** The server refused the API key; sync pauses until `setApiKey()`. */
export interface SyncAuthError extends NamedError<'SyncAuthError'> {}
/** Background pruning failed. */
export interface RetentionError extends NamedError<'RetentionError'> {}

/** An error thrown or emitted by runledger: `e.name === 'ValidationError'` narrows it. */
export type RunledgerError =
  | ValidationError | LifecycleError | StoreError | QuotaExceededError | ConfigError
  | SyncError | SyncAuthError | RetentionError | TrackerBrokenError;

/**
 * Thrown by every call once the wasm core has trapped (a bug, never a reaction to input):
 * the process's trackers refuse further work instead of calling into a module whose memory
 * may be inconsistent. `error` listeners hear it once. Restart the process to record again.
 */
export declare class TrackerBrokenError extends Error {
  private constructor();
  readonly name: 'TrackerBrokenError';
}

// ─── Constants and loading ─────────────────────────────────────────────────────────────

/** Node: the file store's default folder, relative to the working directory. */
export declare const DEFAULT_PATH: './.runledger';

/** Resolves once the wasm module is loaded. `Tracker.open` waits for it by itself. */
export declare function ready(): Promise<void>;

// `Symbol.asyncDispose` is declared here too, so that these types compile with a `lib`
// older than `esnext.disposable` (the declaration merges with the library's own).
declare global {
  interface SymbolConstructor {
    readonly asyncDispose: unique symbol;
  }
}

// ─── The tracker ───────────────────────────────────────────────────────────────────────

declare const snapshotBrand: unique symbol;
/** A value read at the call (`tracker.snapshot(value)`); pass it where a value goes. */
export interface Snapshot {
  readonly [snapshotBrand]: true;
}

/** Records executions and keeps them: IndexedDB in browsers, the durable file store in Node. */
export declare class Tracker {
  private constructor();
  /**
   * Opens a tracker. Executions left running by a tab or process that went away are marked
   * `interrupted`; their ids are in `tracker.recovered`.
   */
  static open(options?: TrackerOptions): Promise<Tracker>;

  /** Ids of executions an earlier tab or process left running, marked `interrupted` on open. */
  readonly recovered: string[];
  /** Problems found on open that were repaired; also sent as `warning` events. */
  readonly warnings: string[];
  /** Where records are kept. */
  readonly storage: 'indexeddb' | 'memory' | 'file';
  /** Executions changed and not yet durable. */
  readonly pending: number;

  /** Starts recording an execution and returns its handle. Never waits for storage. */
  start(spec?: StartSpec): Run;
  /**
   * Reads `value` now, bounded like any payload, for a caller that changes it in place
   * afterwards: node inputs and outputs are otherwise read at the end of the current task.
   */
  snapshot(value: unknown): Snapshot;
  /** Records an execution that has already finished, in one call; returns its id. */
  log(execution: ExecutionInput): string;
  /** Records one finished query execution (`executionTime` in seconds); returns its id. */
  logQuery(query: QueryLog): string;

  /** Resolves when everything recorded before the call is durable. */
  flush(): Promise<void>;
  /** One execution with its node runs, or `null`. */
  get(id: string): Promise<Execution | null>;
  /** A page of execution summaries, newest first. */
  history(query?: HistoryQuery): Promise<HistoryPage>;
  /** The executions that produced an output named `outputName`, newest first. */
  lineage(outputName: string, page?: { limit?: number; cursor?: string }): Promise<HistoryPage>;
  /** The executions another system knows by `id`, newest first. */
  byExternalId(system: string, id: string): Promise<Execution[]>;
  /** Stats from the rollups, never by scanning records. */
  stats(query?: StatsQuery): Promise<StatsResult>;
  /** Prunes now, oldest first (default: the tracker's retention limits). */
  prune(options?: PruneOptions): Promise<PruneReport>;
  /** Recomputes the stats rollups from the records; resolves to the number of cells. */
  rebuildStats(): Promise<number>;
  /** Deletes an execution and its node payloads; resolves to whether it existed. */
  delete(id: string): Promise<boolean>;
  /** Deletes a workflow's history, or everything; running executions are kept. */
  clear(filter?: { workflowId?: string }): Promise<number>;

  /** Sends everything waiting now; resolves once nothing waits. */
  sync(): Promise<SyncState>;
  /** The sync state (a `sync` event carries it on every change). */
  syncState(): SyncState;
  /** Records the server refused for good, oldest first. */
  deadLetters(): Promise<DeadLetter[]>;
  /** Puts refused records (all, or those with the given ids) back in the outbox; resolves to how many. */
  retryDeadLetters(ids?: string[]): Promise<number>;
  /** Drops refused records (all, or those with the given ids) for good; resolves to how many. */
  discardDeadLetters(ids?: string[]): Promise<number>;
  /** Replaces the API key (or removes it with `null`); resumes a sync paused by a refused key. */
  setApiKey(key?: string | null): void;
  /** Switches sync on or off ("work offline"). */
  setSyncEnabled(enabled: boolean): void;

  /** Subscribes to an event; the listener's argument is typed by the event's name. */
  on<E extends TrackerEvent>(event: E, listener: (value: TrackerEvents[E]) => void): void;
  /** Unsubscribes a listener added with `on`. */
  off<E extends TrackerEvent>(event: E, listener: (value: TrackerEvents[E]) => void): void;

  /** Flushes, tries a last sync (within `sync.closeTimeoutMs`), then releases the store. */
  close(): Promise<void>;
  /** `await using tracker = await Tracker.open(…)` closes it (as `close()`) at the end of the block. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** A running execution. Every method returns at once; none waits for storage. */
export declare class Run {
  private constructor();
  /** The execution id (UUIDv7 unless the caller gave one). */
  readonly id: string;
  /** Starts a node run; a node id that ran before in this execution is its next attempt. */
  node(node: NodeDef, input?: unknown): NodeRun;
  /** Adds an output. */
  output(output: OutputInput): void;
  /** Records the id another system gave this run (e.g. `externalId('airflow', runId)`). */
  externalId(system: string, id: string): void;
  /** Ends the execution successfully. */
  succeed(): void;
  /** Ends it as failed: the work itself failed. */
  fail(error?: unknown): void;
  /** Ends it as an error of the machinery around the work. */
  error(error?: unknown): void;
  /** Ends it as timed out. */
  timeout(error?: unknown): void;
  /** Ends it as cancelled. */
  cancel(reason?: unknown): void;
}

/** One run of one node. */
export declare class NodeRun {
  private constructor();
  /** The execution this node run belongs to. */
  readonly runId: string;
  /** Its position in the execution's node runs. */
  readonly index: number;
  /** Ends the node run with its output. */
  succeed(output?: unknown): void;
  /** Ends it with an error (an `Error`, a message, or `{ message, type, stack }`). */
  fail(error?: unknown): void;
  /** Marks it skipped, with an optional reason. */
  skip(reason?: string): void;
}

// Only what is marked `export` above is exported (a declaration file exports every top-level
// declaration otherwise, `snapshotBrand` included).
export {};
