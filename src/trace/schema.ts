/**
 * The trace format, version 1: the contract between capture agents (Python,
 * Node, the Postgres proxy) and everything that reads traces.
 *
 * A run folder holds `run.json` (written by `txlens run`) and one NDJSON file
 * per traced process. Every line of a process file is one JSON object; the
 * first is a `header`. docs/trace-format.md describes each field in prose and
 * docs/trace-format.schema.json is the machine-checkable form of this file.
 *
 * Field names are short because agents write them inside every statement of
 * the user's tests (see DESIGN principle 7); the reader expands nothing, it
 * just types them.
 */

export const TRACE_FORMAT_VERSION = 1;

/** File name of the run description inside a run folder. */
export const RUN_FILE = 'run.json';
/** Process files end with this; anything else in a run folder is ignored. */
export const PROCESS_FILE_SUFFIX = '.ndjson';
/**
 * A process file's status record: the same name with this suffix instead of
 * PROCESS_FILE_SUFFIX (`py-48213-a3f09c.status`). The agent writes it in full
 * (STATUS_RECORD_BYTES, space-padded) when it starts and overwrites it in place
 * when events could not be written, so the count reaches the reader even when
 * the disk is full. Optional: a process without one lost nothing it knew of.
 */
export const STATUS_FILE_SUFFIX = '.status';
export const STATUS_RECORD_BYTES = 256;

export interface ProcessStatus {
  /** Events the process could not write to its trace file. */
  lost: number;
  /** Why, first cause: 'ENOSPC: No space left on device'. */
  error?: string;
}

/** The first user-code frame that caused an event: [absolute file, 1-based line, function]. */
export type SourceFrame = [file: string, line: number, fn: string];

export type RollbackCause =
  | 'explicit' // the code called rollback()
  | 'error' // rolled back while an exception was propagating, or by a teardown handed the request's error
  | 'close' // a connection closed with its transaction open
  | 'session-close' // an ORM session closed (or left its `with` block) without commit
  | 'pool-reset' // the pool's reset-on-return rolled the DBAPI connection back at check-in
  | 'exit' // the process ended with the transaction open; the server discards it
  | 'gc'; // the connection was garbage collected with its transaction open

export type StatementKind = 'read' | 'write' | 'ddl' | 'tx' | 'other';

export type TestOutcome = 'passed' | 'failed' | 'skipped' | 'error';

export interface DatabaseInfo {
  /** 'sqlite', 'postgresql', 'mysql', ... (SQLAlchemy dialect name where there is one). */
  system: string;
  /** Database name, or the SQLite file path as given. */
  name?: string;
  /** Connection URL with the password removed. */
  url?: string;
  /** SQLite: the database lives in memory (`:memory:`, `mode=memory`, or an empty path). */
  memory?: boolean;
  /** SQLite: absolute path of the database file. */
  file?: string;
  host?: string;
  port?: number;
}

export interface StatementError {
  /** The exception's name as Python's traceback prints it: 'sqlite3.IntegrityError', 'psycopg2.errors.UniqueViolation'. */
  type: string;
  message: string;
  /** SQLSTATE where the driver reports one ('23505'). */
  code?: string;
  /** Optional: the server's DETAIL line, e.g. 'Key (email)=(a@b.c) already exists.' (PostgreSQL). */
  detail?: string;
}

/** Fields every event carries. */
export interface EventBase {
  /** Event kind. */
  k: string;
  /** Monotonic nanoseconds since this process's header `t0`. */
  t: number;
  pid: number;
  /** Thread id (Python threading.get_ident(), Node threadId). */
  th?: number;
  /** asyncio task (or async context) id, when inside one. */
  task?: number;
  /** Physical connection id, unique within the process ('c1'). */
  conn?: string;
  /** ORM session id, unique within the process ('s1'). */
  sess?: string;
  /** First frame in the user's code. */
  at?: SourceFrame;
}

export interface HeaderEvent {
  k: 'header';
  v: number;
  pid: number;
  ppid: number;
  /** Monotonic clock at process start, decimal nanoseconds (a string: it can exceed 2^53). */
  t0: string;
  /** Wall clock at `t0`, milliseconds since the epoch. */
  wall: number;
  argv: string[];
  cwd: string;
  /** 'python' | 'node' | 'proxy'. */
  lang: string;
  /** e.g. 'CPython 3.11.7'. */
  runtime?: string;
  /** e.g. 'txlens-python/0.1.0'. */
  agent?: string;
  /** Versions of hooked libraries that were imported, filled when known. */
  libs?: Record<string, string>;
  /** Test id active in the parent when this process was started (inherited through the environment). */
  test?: string;
  /** Worker thread id (Node), when the file is a worker thread's; its process is the file of the same pid without one. */
  thread?: number;
}

export interface ConnectEvent extends EventBase {
  k: 'connect';
  conn: string;
  db: DatabaseInfo;
  /** 'sqlite3', 'psycopg2', 'psycopg', 'asyncpg', 'aiosqlite', 'pg', 'better-sqlite3', ... */
  driver: string;
  /** Pool id when the connection belongs to a pool. */
  pool?: string;
  /** Engine id ('e1') when an ORM/engine layer owns the connection. */
  engine?: string;
  /** Where that engine (or the bare connection) was created in user code. */
  engineAt?: SourceFrame;
}

export interface CloseEvent extends EventBase {
  k: 'close';
  conn: string;
}

export interface CheckoutEvent extends EventBase {
  k: 'checkout';
  conn: string;
  pool?: string;
}

export interface CheckinEvent extends EventBase {
  k: 'checkin';
  conn: string;
  pool?: string;
  /** The connection went back to the pool with a transaction open. */
  txOpen?: boolean;
}

/** The pool's reset-on-return ran. `rolledBack` says whether it ended an open transaction. */
export interface ResetEvent extends EventBase {
  k: 'reset';
  conn: string;
  rolledBack: boolean;
}

export interface BeginEvent extends EventBase {
  k: 'begin';
  conn: string;
  /** Transaction id, unique within the process ('t1'). */
  tx: string;
  /** The driver began it implicitly on the first statement (no BEGIN was sent by the code). */
  implicit?: boolean;
  /**
   * Optional: isolation level the transaction runs at ('READ COMMITTED', 'REPEATABLE READ',
   * 'SERIALIZABLE', ...), when the agent knows it without asking the database (ORM settings).
   * Rules use it to tell when reads come from a snapshot taken at the first statement.
   */
  iso?: string;
}

export interface StatementEvent extends EventBase {
  k: 'stmt';
  conn: string;
  tx?: string;
  sql: string;
  /** Parameters, per the redaction setting: omitted, types only, or values. */
  params?: unknown;
  /** Optional: agents may classify; readers derive it from `sql` when absent. */
  op?: StatementKind;
  /** Optional: tables touched; readers derive them from `sql` when absent. */
  tables?: string[];
  /** Rows affected or returned where the driver knows (-1 omitted). */
  rows?: number;
  /** Duration in nanoseconds. */
  dur?: number;
  err?: StatementError;
  /** Number of parameter sets for executemany. */
  many?: number;
  /**
   * Optional: the statement ran on a connection checked out of this pool for it alone (pg-pool's
   * `pool.query`), which stands for that check-out: no `checkout` event is written for it, and
   * its `checkin` only when the connection went back with a transaction open (`txOpen`).
   */
  pool?: string;
  /**
   * Optional: the statement was sent by an ORM flush (autoflush before a query, `flush()`, `commit()`)
   * for objects changed earlier. `at` is then the line that changed the (first) object (the attribute
   * set, `add`, `delete`) and `flushAt` the line that made the flush happen.
   */
  flushAt?: SourceFrame;
  /** Optional: other lines that changed objects this one statement wrote (executemany, multi-row INSERT), beyond `at`. */
  alsoAt?: SourceFrame[];
}

export interface CommitEvent extends EventBase {
  k: 'commit';
  conn: string;
  tx?: string;
}

export interface RollbackEvent extends EventBase {
  k: 'rollback';
  conn: string;
  tx?: string;
  cause: RollbackCause;
}

export interface SavepointEvent extends EventBase {
  k: 'savepoint';
  conn: string;
  tx?: string;
  action: 'begin' | 'release' | 'rollback';
  name: string;
}

export interface SessionOpenEvent extends EventBase {
  k: 'session_open';
  sess: string;
  /** Session class name ('Session', 'AsyncSession'). */
  cls?: string;
}

/** ORM changes a session still held, unflushed, when it closed: close() discards them without any SQL. */
export interface PendingChange {
  op: 'insert' | 'update' | 'delete';
  /** Mapped class name. */
  entity: string;
  table?: string;
  count: number;
}

export interface SessionCloseEvent extends EventBase {
  k: 'session_close';
  sess: string;
  /** Optional: unflushed changes the close discarded, grouped by operation and class. */
  pending?: PendingChange[];
}

/** The ORM answered from its identity map: no SQL ran. */
export interface IdentityHitEvent extends EventBase {
  k: 'identity_hit';
  sess: string;
  /** Mapped class name. */
  entity: string;
  table?: string;
  /** Primary key, as a list of repr()/String() values. */
  key: string[];
  /** Optional: primary-key column names, in the order of `key` (to match the row against SQL). */
  pk?: string[];
}

export interface TestStartEvent extends EventBase {
  k: 'test_start';
  /** Runner's id (pytest nodeid, 'file > suite > name' for Node runners). */
  id: string;
  name: string;
  /** Absolute path of the test's file. */
  file: string;
  /** 1-based line of the test definition. */
  line?: number;
}

export interface TestEndEvent extends EventBase {
  k: 'test_end';
  id: string;
  outcome: TestOutcome;
  /** First line of the failure, when failed. */
  message?: string;
}

/** The agent hit an internal error and stopped capturing in this process. */
export interface AgentErrorEvent extends EventBase {
  k: 'agent_error';
  message: string;
}

export type TraceEvent =
  | ConnectEvent
  | CloseEvent
  | CheckoutEvent
  | CheckinEvent
  | ResetEvent
  | BeginEvent
  | StatementEvent
  | CommitEvent
  | RollbackEvent
  | SavepointEvent
  | SessionOpenEvent
  | SessionCloseEvent
  | IdentityHitEvent
  | TestStartEvent
  | TestEndEvent
  | AgentErrorEvent;

export type EventKind = TraceEvent['k'];

export const EVENT_KINDS: ReadonlySet<string> = new Set<EventKind>([
  'connect',
  'close',
  'checkout',
  'checkin',
  'reset',
  'begin',
  'stmt',
  'commit',
  'rollback',
  'savepoint',
  'session_open',
  'session_close',
  'identity_hit',
  'test_start',
  'test_end',
  'agent_error',
]);

/** Fields each kind must have beyond `k`, `t` and `pid`; the reader skips lines that lack them. */
export const REQUIRED_FIELDS: Readonly<Record<EventKind, readonly string[]>> = {
  connect: ['conn', 'db', 'driver'],
  close: ['conn'],
  checkout: ['conn'],
  checkin: ['conn'],
  reset: ['conn'],
  begin: ['conn', 'tx'],
  stmt: ['conn', 'sql'],
  commit: ['conn'],
  rollback: ['conn', 'cause'],
  savepoint: ['conn', 'action', 'name'],
  session_open: ['sess'],
  session_close: ['sess'],
  identity_hit: ['sess', 'entity', 'key'],
  test_start: ['id', 'name', 'file'],
  test_end: ['id', 'outcome'],
  agent_error: ['message'],
};

/** run.json: written by `txlens run` when the command starts and again when it ends. */
export interface RunInfo {
  v: number;
  /** The test command as given. */
  command: string[];
  cwd: string;
  /** Wall clock at start, ms since epoch. */
  startedWall: number;
  endedWall?: number;
  /** Exit code of the test command; null when it was killed by a signal. */
  exitCode?: number | null;
  signal?: string | null;
  /** Statement parameter capture: 'off' | 'types' | 'values'. */
  params?: ParamsMode;
}

export type ParamsMode = 'off' | 'types' | 'values';

/**
 * How a line on stderr starts when an agent could not capture in a process at
 * all (it could not load, or could not open its trace file): such a process
 * leaves no file, so `txlens run` counts these lines to say the run was not
 * fully traced. The Python agent writes it (sitecustomize.py, _runtime.start).
 */
export const AGENT_DISABLED_LINE = 'txlens: capture disabled in this process';

/** Environment variables through which `txlens run` configures the agents. */
export const ENV = {
  traceDir: 'TXLENS_TRACE_DIR',
  params: 'TXLENS_PARAMS',
  /** Test id active in the parent process, inherited by processes a test starts. */
  parentTest: 'TXLENS_PARENT_TEST',
  /** Root of the user's workspace; frames outside it (or in site-packages) are not user code. */
  workspace: 'TXLENS_WORKSPACE',
  /** Test-only: names an agent hook that raises, to prove a fault never fails a test. */
  faultInject: 'TXLENS_FAULT_INJECT',
} as const;
