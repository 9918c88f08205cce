//! TypeScript declarations for the objects the JS API takes and returns.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** Milliseconds since the epoch (`Date.now()`) or an RFC 3339 string. */
export type Timestamp = number | string;
export type ExecutionStatus = 'running' | 'success' | 'failed' | 'error' | 'timeout' | 'cancelled' | 'interrupted';
export type NodeStatus = 'pending' | 'running' | 'success' | 'error' | 'skipped' | 'cancelled';
export type ExecutionKind = 'workflow' | 'query' | 'pipeline' | 'step' | (string & {});

export interface TrackerOptions {
  /** Database name (default `runledger`). */
  name?: string;
  /** `auto`: IndexedDB in browsers, the durable file store in Node. Or `indexeddb`,
   *  `file` (Node) or `memory` (nothing survives the process). */
  storage?: 'auto' | 'indexeddb' | 'file' | 'memory';
  /** Node: the file store's folder (default `./.runledger`, relative to the working directory). */
  path?: string;
  /** Node: how long to wait for a store another process holds, ms (default 0: fail at once
   *  with a `StoreError` naming the holder). */
  lockTimeoutMs?: number;
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
  retry?: { baseMs?: number; capMs?: number };
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
    retry?: { baseMs?: number; capMs?: number };
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
  /** success / total × 100, two decimals. */
  successRate: number;
  /** Over finished executions; percentiles, min and max within `relativeError`. */
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
export interface ExecutionInput extends Omit<Partial<Execution>, 'startedAt' | 'completedAt' | 'nodes'> {
  status: Exclude<ExecutionStatus, 'running'>;
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
"#;
