/**
 * The model: what happened in a run, as runs → processes → connections and
 * ORM sessions → transactions → statements, each attributed to a test.
 *
 * Process files are merged on the shared monotonic clock: each header's `t0`
 * (decimal ns) places the process's relative `t` values on one run-wide axis,
 * measured in ns from the earliest process start.
 */
import type {
  BeginEvent,
  CommitEvent,
  ConnectEvent,
  DatabaseInfo,
  EventBase,
  HeaderEvent,
  IdentityHitEvent,
  PendingChange,
  RollbackCause,
  RollbackEvent,
  RunInfo,
  SavepointEvent,
  SessionCloseEvent,
  SessionOpenEvent,
  SourceFrame,
  StatementError,
  StatementEvent,
  StatementKind,
  TestEndEvent,
  TestOutcome,
  TestStartEvent,
  TraceEvent,
} from '../trace/schema';
import { EventSource, openTrace, SkipTally, statusNotes, TraceRead, traceSource } from '../trace/reader';
import { SqlClassifier, type SqlShape } from './sql';

export interface ModelProcess {
  pid: number;
  ppid: number;
  file: string;
  header: HeaderEvent;
  /** Start of the process on the run axis (ns). */
  start: number;
  /** Last event seen (ns on the run axis). */
  end: number;
  tests: ModelTest[];
  parent?: ModelProcess;
  agentErrors: string[];
}

export interface ModelConnection {
  /** `pid:id`, unique in the run. */
  key: string;
  id: string;
  /** Run-wide name for people: 'C1', 'C2', ... in order of opening. */
  label: string;
  /**
   * Which database this connection talks to, comparable across processes:
   * 'sqlite:/abs/file', 'sqlite-memory:<pid>:<conn>' (each :memory: connection is its own
   * database), 'sqlite-memory:<pid>:shared:<name>' (a shared-cache memory database, one per
   * process and name), 'postgresql://host:port/name'. Undefined when the connect event was not seen.
   */
  dbKey?: string;
  process: ModelProcess;
  db?: DatabaseInfo;
  driver?: string;
  pool?: string;
  engine?: string;
  at?: SourceFrame;
  engineAt?: SourceFrame;
  opened: number;
  closed?: number;
  transactions: ModelTransaction[];
  /** Check-ins with a transaction still open. */
  releasedInTransaction: { time: number; at?: SourceFrame }[];
  /** Every check-out from its pool, in time order: the borrowers, for pool-release-in-transaction. */
  checkouts: { time: number; at?: SourceFrame }[];
}

export interface ModelSession {
  key: string;
  id: string;
  /** Run-wide name for people: 'S1', 'S2', ... in order of opening. */
  label: string;
  process: ModelProcess;
  cls?: string;
  at?: SourceFrame;
  opened: number;
  closed?: number;
  closeAt?: SourceFrame;
  /** Unflushed ORM changes the close discarded (agents that can tell). */
  closePending?: PendingChange[];
  transactions: ModelTransaction[];
  statements: ModelStatement[];
  identityHits: ModelIdentityHit[];
  test?: string;
}

export type TransactionOutcome = 'commit' | 'rollback' | 'open';

/**
 * A SAVEPOINT inside a transaction, from its statement text (SAVEPOINT, RELEASE
 * [SAVEPOINT], ROLLBACK TO [SAVEPOINT]) or from the agent's savepoint event when
 * no statement showed it (psycopg 3 `transaction()` blocks). SQLAlchemy's
 * `begin_nested()` and a session joined with `join_transaction_mode=
 * "create_savepoint"` live here: their commit() is a RELEASE, not a COMMIT.
 */
export interface ModelSavepoint {
  name: string;
  transaction?: ModelTransaction;
  connection: ModelConnection;
  session?: ModelSession;
  start: number;
  end?: number;
  /** 'release': kept (part of the transaction again); 'rollback': undone; 'open': the transaction ended first. */
  outcome: 'release' | 'rollback' | 'open';
  beginAt?: SourceFrame;
  endAt?: SourceFrame;
  /**
   * SQLite through pysqlite, which sends no BEGIN of its own before a SAVEPOINT: no database
   * transaction was open, so this SAVEPOINT started one and its RELEASE committed it for real
   * ("SQLite does not roll back": a test's outer rollback cannot undo it).
   */
  outermost?: boolean;
  test?: string;
}

export interface ModelTransaction {
  key: string;
  id: string;
  /** Run-wide name for people: 'tx1', 'tx2', ... in order of beginning. */
  label: string;
  process: ModelProcess;
  connection: ModelConnection;
  session?: ModelSession;
  start: number;
  beginAt?: SourceFrame;
  implicit?: boolean;
  /** Isolation level when the agent knew it (begin `iso`), upper-case; undefined when unknown. */
  isolation?: string;
  end?: number;
  outcome: TransactionOutcome;
  cause?: RollbackCause;
  endAt?: SourceFrame;
  /** Thread and asyncio task that ended it (commit/rollback event), for rules about concurrent use. */
  endThread?: number;
  endTask?: number;
  statements: ModelStatement[];
  /** Statements that changed data (INSERT/UPDATE/DELETE/...). */
  writes: ModelStatement[];
  /** Savepoints taken inside it, in order. */
  savepoints: ModelSavepoint[];
  /**
   * When the database committed part of this transaction although it did not end in
   * COMMIT: the last RELEASE of an outermost pysqlite savepoint. Writes that finished
   * before this time are durable whatever the transaction's outcome.
   */
  durableUntil?: number;
  test?: string;
}

export interface ModelStatement {
  /** When the statement finished (agents write the event on completion). */
  time: number;
  /** When it started: `time - dur`. */
  start: number;
  process: ModelProcess;
  connection: ModelConnection;
  session?: ModelSession;
  transaction?: ModelTransaction;
  sql: string;
  op: StatementKind;
  verb: string;
  reads: string[];
  writes: string[];
  parsedSql: boolean;
  params?: unknown;
  /** Number of parameter sets of an executemany (then `params` is a list of sets). */
  many?: number;
  rows?: number;
  dur?: number;
  err?: StatementError;
  /** The user line behind it; for a statement an ORM flush sent, the line that changed the object (see `flushAt`). */
  at?: SourceFrame;
  /** Sent by an ORM flush: the line that made the flush happen (a query's autoflush, `flush()`, `commit()`). */
  flushAt?: SourceFrame;
  /** Other lines that changed objects this one statement wrote (executemany, multi-row INSERT). */
  alsoAt?: SourceFrame[];
  thread?: number;
  task?: number;
  test?: string;
}

/**
 * A statement of the model: an object literal made at one place, every field its own and given
 * in one order, so all statements share one hidden class. V8 follows how many objects of an
 * object literal survive their first garbage collection, and once nearly all do (statements live
 * as long as the model) it allocates the literal's objects straight in the old generation: they
 * are never copied by the young generation's collections, as instances of a class are. No
 * prototype of getters either: a literal with `__proto__` is finished by a runtime call that
 * changes its hidden class (about a microsecond per statement), which cost more than the few
 * fields it saved. What restates the SQL's shape (text, verb, tables) is a reference to what the
 * one shape of that text holds, not a copy.
 */
function newStatement(
  time: number,
  process: ModelProcess,
  connection: ModelConnection,
  session: ModelSession | undefined,
  transaction: ModelTransaction | undefined,
  shape: SqlShape,
  op: StatementKind,
  ev: StatementEvent,
  at: SourceFrame | undefined,
  flushAt: SourceFrame | undefined,
  alsoAt: SourceFrame[] | undefined,
  test: string | undefined,
): ModelStatement {
  const dur = ev.dur;
  return {
    time,
    start: time - (dur ?? 0),
    process,
    connection,
    session,
    transaction,
    sql: shape.text,
    op,
    verb: shape.verb,
    // Tables the agent named itself (`tables` without `op`) take the place of the shape's reads.
    reads: ev.tables !== undefined && ev.op === undefined ? ev.tables : shape.reads,
    writes: shape.writes,
    parsedSql: shape.parsed,
    params: ev.params,
    many: ev.many,
    rows: ev.rows,
    dur,
    err: ev.err,
    at,
    flushAt,
    alsoAt,
    thread: ev.th,
    task: ev.task,
    test,
  };
}

export interface ModelIdentityHit {
  time: number;
  process: ModelProcess;
  session: ModelSession;
  entity: string;
  table?: string;
  key: string[];
  /** Primary-key column names in the order of `key`, when the agent recorded them. */
  pk?: string[];
  at?: SourceFrame;
  test?: string;
}

export interface ModelTest {
  id: string;
  name: string;
  file: string;
  line?: number;
  process: ModelProcess;
  start: number;
  end?: number;
  outcome?: TestOutcome;
  message?: string;
}

export interface Counts {
  processes: number;
  sessions: number;
  transactions: number;
  commits: number;
  rollbacks: number;
  statements: number;
  tests: number;
}

export interface TestSummary {
  test: ModelTest;
  /**
   * `sessions`: sessions the test opened. `sharedSessions`: sessions it used that were
   * opened before it started (a session-, module- or class-scoped fixture, or an earlier
   * test), which `sessions` does not count.
   */
  counts: Omit<Counts, 'tests' | 'processes'> & { processes: number; sharedSessions: number };
}

export interface ModelRun {
  dir: string;
  run?: RunInfo;
  processes: ModelProcess[];
  connections: ModelConnection[];
  sessions: ModelSession[];
  transactions: ModelTransaction[];
  statements: ModelStatement[];
  identityHits: ModelIdentityHit[];
  /** Every savepoint, in the order they were taken. */
  savepoints: ModelSavepoint[];
  /** Tests in the order they started. */
  tests: ModelTest[];
  commits: number;
  rollbacks: number;
  skipped: SkipTally;
  /** Things the reader or model noticed about the input and worked around. */
  notes: string[];
}

/** Sorted, non-overlapping test windows of one process. */
function windowAt(tests: ModelTest[], time: number): ModelTest | undefined {
  // Binary search for the last test that started at or before `time`.
  let lo = 0;
  let hi = tests.length - 1;
  let found: ModelTest | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (tests[mid].start <= time) {
      found = tests[mid];
      lo = mid + 1;
    } else hi = mid - 1;
  }
  if (found && (found.end === undefined || time <= found.end)) return found;
  return undefined;
}

/** The test a process was running at `time`: its own window, else its parent's, else the test it inherited. */
function attribute(proc: ModelProcess, time: number): string | undefined {
  if (proc.tests.length > 0) return windowAt(proc.tests, time)?.id;
  // A process started by a test (API server, worker) belongs to the test its
  // parent was running at that moment; failing that, the test it inherited.
  for (let p = proc.parent; p; p = p.parent) {
    if (p.tests.length > 0) {
      const w = windowAt(p.tests, time);
      if (w) return w.id;
      break;
    }
  }
  return proc.header.test ?? undefined;
}

/**
 * Orders `items` by `keys` (one number per item, in the same order) as a stable sort would: by key,
 * then by position. The items are the concatenation of runs ending at `ends` (one per process file,
 * handled one after another), and a process writes its events in time order: the longest run in
 * order is kept as it is, the rest (a few workers' short runs, as a rule) is sorted, and the two are
 * merged in one pass. A comparator sort of the whole list costs more: a call per comparison, each
 * key read through its object (a boxed number past the small integers), and each short run merged
 * into the long one moves the rest of the long one. This runs once per model, mostly before V8 has
 * optimized it, so it touches each item as few times as it can.
 */
export function orderRuns<T>(items: T[], ends: readonly number[], keys: ArrayLike<number>): void {
  const n = items.length;
  if (n < 2) return;
  // The longest run in key order (NaN keys never are: the comparator sort sorts them its own way).
  let longFrom = 0;
  let longTo = 0;
  let begin = 0;
  for (let r = 0; r <= ends.length; r++) {
    const end = r < ends.length ? ends[r] : n;
    if (end - begin > longTo - longFrom) {
      let i = begin + 1;
      while (i < end && keys[i - 1] <= keys[i]) i++;
      if (i === end && keys[begin] === keys[begin]) {
        longFrom = begin;
        longTo = end;
      }
    }
    if (end > begin) begin = end;
  }
  const rest: number[] = [];
  for (let i = 0; i < longFrom; i++) rest.push(i);
  for (let i = longTo; i < n; i++) rest.push(i);
  if (rest.length === 0) return;
  rest.sort((a, b) => keys[a] - keys[b] || a - b);
  const order: number[] = [];
  let i = longFrom;
  let j = 0;
  let moved = false;
  while (i < longTo && j < rest.length) {
    const r = rest[j];
    // Equal keys: the earlier item first.
    if (keys[r] < keys[i] || (keys[r] === keys[i] && r < i)) {
      order.push(r);
      j++;
    } else order.push(i++);
    if (!moved && order[order.length - 1] !== order.length - 1) moved = true;
  }
  while (i < longTo) order.push(i++);
  while (j < rest.length) order.push(rest[j++]);
  if (!moved) for (let k = 0; k < n && !moved; k++) moved = order[k] !== k;
  if (!moved) return;
  const copy = items.slice();
  for (let k = 0; k < n; k++) items[k] = copy[order[k]];
}

export function buildModel(trace: TraceRead): ModelRun {
  return buildModelFrom(traceSource(trace));
}

/**
 * Builds the model while the source streams events, one process file at a
 * time, so raw events are garbage as soon as they are handled. Each process is
 * handled in file order; the run-wide order (and the attribution of processes
 * whose parent's test windows were not read yet) is settled at the end.
 */
export function buildModelFrom(source: EventSource): ModelRun {
  return new ModelBuilder(source).build();
}

/** Slots of the builder's recent-frame table (a power of two). */
const RECENT_FRAME_SLOTS = 4096;

/** What the builder tracks per connection while events stream in. */
interface ConnectionState {
  conn: ModelConnection;
  /** The transaction begun on it and not ended yet. */
  openTx?: ModelTransaction;
  /** Open savepoints, innermost last. */
  savepoints: ModelSavepoint[];
  /** pysqlite: whether SQLite itself is inside a transaction. */
  dbOpen: boolean;
  /** The savepoint action a statement already showed ('release sp1'): the agent's event for it is the same savepoint. */
  fromStmt?: string;
}

/**
 * Ids are unique within a process. The maps are per pid, not per file: a pid reused
 * within a run shares them, as run-wide `pid:id` keys always have.
 */
interface PidState {
  connections: Map<string, ConnectionState>;
  sessions: Map<string, ModelSession>;
  transactions: Map<string, ModelTransaction>;
  openTests: Map<string, ModelTest>;
}

/**
 * One pass over the events: a method per event kind, each handling the event
 * at `this.time` (run axis) in `this.proc`.
 */
class ModelBuilder {
  private readonly notes: string[] = [];
  private readonly processes: ModelProcess[] = [];
  private readonly tests: ModelTest[] = [];
  private readonly connections: ModelConnection[] = [];
  private readonly sessions: ModelSession[] = [];
  private readonly transactions: ModelTransaction[] = [];
  private readonly statements: ModelStatement[] = [];
  private readonly identityHits: ModelIdentityHit[] = [];
  private readonly savepoints: ModelSavepoint[] = [];
  private commits = 0;
  private rollbacks = 0;
  private readonly byPid = new Map<number, PidState>();
  // A suite runs the same few hundred statements from the same few hundred lines
  // thousands of times: keeping one copy of each frame (and of each SQL text, via
  // the classifier, which also classifies each distinct text once) keeps the model
  // small and the garbage collector idle.
  private readonly classifier = new SqlClassifier();
  private readonly frames = new Map<string, Map<number, SourceFrame>>();
  private readonly recentFrames: (SourceFrame | undefined)[] = new Array<SourceFrame | undefined>(RECENT_FRAME_SLOTS).fill(undefined);

  /** The event being handled: its time on the run axis, its process and that process's maps. */
  private time = 0;
  private proc!: ModelProcess;
  private ids!: PidState;
  /** Whether the current process's tests, so far, started in time order (as a test runner writes them). */
  private testsInOrder = true;
  /**
   * Where each process's items end in the run-wide lists, one entry per process handled (its items
   * are the ones from the entry before up to this one), for `orderRuns` and for the attribution of
   * processes without tests of their own.
   */
  private readonly runEnds = { statements: [] as number[], transactions: [] as number[], identityHits: [] as number[], tests: [] as number[], sessions: [] as number[], connections: [] as number[] };
  /**
   * The run-wide times of the statements, transactions (start), identity-map hits and tests, in
   * the order of their lists, kept apart as plain numbers: `finish` orders by them without reading
   * every object of the model again.
   */
  private readonly statementTimes: number[] = [];
  private readonly transactionTimes: number[] = [];
  private readonly identityHitTimes: number[] = [];
  private readonly testTimes: number[] = [];
  /** Each test id's places of definition (`file:line`), in the order first seen: see testId. */
  private readonly testPlaces = new Map<string, string[]>();
  /** Statements whose SQL could not be read for tables. */
  private unparsed = 0;

  constructor(private readonly source: EventSource) {
    let base: bigint | undefined;
    for (const p of source.processes) {
      const t0 = BigInt(p.header.t0);
      if (base === undefined || t0 < base) base = t0;
    }
    for (const p of source.processes) {
      const offset = Number(BigInt(p.header.t0) - (base ?? 0n));
      this.processes.push({
        pid: p.header.pid,
        ppid: p.header.ppid,
        file: p.file,
        header: p.header,
        start: offset,
        end: offset,
        tests: [],
        agentErrors: [],
      });
    }
    // pid -> its main threads' files, oldest first. Node worker threads write files of their own under their
    // process's pid (with `thread` in the header): a child process's parent is its parent's main thread, and so is a
    // worker thread's. Pids can be reused within a run, and a header may name itself as parent: the parent is the
    // latest such file that started earlier, which also keeps the parent chain free of cycles.
    const byPid = new Map<number, ModelProcess[]>();
    for (const p of [...this.processes].sort((a, b) => a.start - b.start)) {
      if (p.header.thread) continue;
      const files = byPid.get(p.pid);
      if (files) files.push(p);
      else byPid.set(p.pid, [p]);
    }
    for (const p of this.processes) {
      const candidates = byPid.get(p.header.thread ? p.pid : p.ppid) ?? [];
      for (const c of candidates) if (c !== p && c.start < p.start) p.parent = c;
    }
  }

  build(): ModelRun {
    let outOfOrder = 0;
    this.processes.forEach((proc, index) => {
      let last = -Infinity;
      this.proc = proc;
      this.ids = this.pidState(proc.pid);
      this.testsInOrder = true;
      this.source.events(index, (ev) => {
        if (ev.t < last) outOfOrder++;
        else last = ev.t;
        this.time = proc.start + ev.t;
        if (this.time > proc.end) proc.end = this.time;
        this.handle(ev);
      });
      const ends = this.runEnds;
      ends.statements.push(this.statements.length);
      ends.transactions.push(this.transactions.length);
      ends.identityHits.push(this.identityHits.length);
      ends.tests.push(this.tests.length);
      ends.sessions.push(this.sessions.length);
      ends.connections.push(this.connections.length);
    });
    if (outOfOrder > 0) this.notes.push(`${outOfOrder} event${outOfOrder === 1 ? '' : 's'} out of order within a process file (ordered by time)`);
    return this.finish();
  }

  private handle(ev: TraceEvent): void {
    switch (ev.k) {
      case 'test_start':
        return this.testStart(ev);
      case 'test_end':
        return this.testEnd(ev);
      case 'connect':
        return this.connect(ev);
      case 'close':
        this.connection(ev.conn).conn.closed = this.time;
        return;
      case 'checkout':
        this.connection(ev.conn).conn.checkouts.push({ time: this.time, at: ev.at });
        return;
      case 'checkin':
        if (ev.txOpen) this.connection(ev.conn).conn.releasedInTransaction.push({ time: this.time, at: ev.at });
        else this.connection(ev.conn);
        return;
      case 'begin':
        return this.begin(ev);
      case 'stmt':
        return this.statement(ev);
      case 'savepoint':
        return this.savepointEvent(ev);
      case 'commit':
        return this.commit(ev);
      case 'rollback':
        return this.rollback(ev);
      case 'session_open':
        return this.sessionOpen(ev);
      case 'session_close':
        return this.sessionClose(ev);
      case 'identity_hit':
        return this.identityHit(ev);
      case 'agent_error':
        this.proc.agentErrors.push(ev.message);
        return;
      default:
        return;
    }
  }

  /**
   * The id a test goes by in the model. Runners let two tests of one file share a name (jest's
   * and vitest's `test.each` with a fixed title, a copied test left unrenamed: Outline's
   * Collection.test.ts has two of one name), and their ids are the same: each test defined at
   * another place gets `[2]`, `[3]`... after the id, so each is a test of its own. The same test
   * run again (a retry, a repeat) is defined at the same place and keeps its id.
   */
  private testId(ev: TestStartEvent): string {
    const place = `${ev.file}:${ev.line ?? ''}`;
    const places = this.testPlaces.get(ev.id);
    if (places === undefined) {
      this.testPlaces.set(ev.id, [place]);
      return ev.id;
    }
    let index = places.indexOf(place);
    if (index < 0) index = places.push(place) - 1;
    return index === 0 ? ev.id : `${ev.id} [${index + 1}]`;
  }

  private testStart(ev: TestStartEvent): void {
    const t: ModelTest = { id: this.testId(ev), name: ev.name, file: ev.file, line: ev.line, process: this.proc, start: this.time };
    const own = this.proc.tests;
    if (own.length > 0 && own[own.length - 1].start > t.start) this.testsInOrder = false;
    this.tests.push(t);
    this.testTimes.push(this.time);
    this.proc.tests.push(t);
    this.ids.openTests.set(ev.id, t);
  }

  private testEnd(ev: TestEndEvent): void {
    const t = this.ids.openTests.get(ev.id);
    if (!t) return;
    t.end = this.time;
    t.outcome = ev.outcome;
    t.message = ev.message;
    this.ids.openTests.delete(ev.id);
  }

  private connect(ev: ConnectEvent): void {
    const c = this.connection(ev.conn).conn;
    c.db = ev.db;
    c.driver = ev.driver;
    c.pool = ev.pool;
    c.engine = ev.engine;
    c.at = ev.at;
    c.engineAt = ev.engineAt;
    c.opened = this.time;
    c.dbKey = databaseKey(ev.db, c);
  }

  private begin(ev: BeginEvent): void {
    const state = this.connection(ev.conn);
    // A begin on a connection whose transaction we saw no end for: the end was not captured.
    if (state.openTx) this.endTx(ev, state, state.openTx, 'rollback', undefined);
    const began = this.startTx(ev, state, ev.tx, this.session(ev.sess), ev.implicit);
    if (typeof ev.iso === 'string') began.isolation = ev.iso.toUpperCase().replace(/_/g, ' ');
  }

  private statement(ev: StatementEvent): void {
    const state = this.connection(ev.conn);
    const c = state.conn;
    const sess = this.session(ev.sess);
    const tx = this.txOf(state, ev.tx);
    const shape = this.classifier.classify(ev.sql);
    const st = newStatement(
      this.time,
      this.proc,
      c,
      sess ?? tx?.session,
      tx,
      shape,
      ev.op ?? shape.op,
      ev,
      this.frame(ev.at),
      ev.flushAt ? this.frame(ev.flushAt) : undefined,
      Array.isArray(ev.alsoAt) && ev.alsoAt.length > 0 ? ev.alsoAt.map((f) => this.frame(f)!) : undefined,
      this.testNow(),
    );
    this.statements.push(st);
    this.statementTimes.push(this.time);
    // Checked out of a pool for this statement alone (pg-pool's pool.query): its check-out is the statement's start.
    if (ev.pool !== undefined) c.checkouts.push({ time: st.start, at: st.at });
    if (!shape.parsed) this.unparsed++;
    if (tx) {
      tx.statements.push(st);
      if (st.op === 'write' || st.op === 'ddl') tx.writes.push(st);
      if (!tx.session && sess) {
        tx.session = sess;
        sess.transactions.push(tx);
      }
    }
    if (st.session) st.session.statements.push(st);
    if (st.op === 'tx') this.txStatement(ev, state, tx, st);
    // pysqlite sends BEGIN before DML: from here SQLite is inside a transaction.
    else if (st.op === 'write' && c.driver !== undefined && !st.err && pysqlite(c)) state.dbOpen = true;
  }

  /** Transaction-control statements: savepoints from their text, and SQLite's own transaction state. */
  private txStatement(ev: StatementEvent, state: ConnectionState, tx: ModelTransaction | undefined, st: ModelStatement): void {
    if (st.err) return;
    const sp = parseSavepoint(st.sql);
    if (sp) {
      this.savepointAction(ev, state, tx, st.session, sp.action, sp.name);
      state.fromStmt = `${sp.action} ${sp.name}`;
      return;
    }
    if (!pysqlite(state.conn)) return;
    if (st.verb === 'BEGIN' || st.verb === 'START') state.dbOpen = true;
    else if (st.verb === 'COMMIT' || st.verb === 'END' || st.verb === 'ROLLBACK' || st.verb === 'ABORT') state.dbOpen = false;
  }

  private savepointEvent(ev: SavepointEvent): void {
    const state = this.connection(ev.conn);
    // The statement that ran it was seen already: one savepoint, two reports of it.
    if (state.fromStmt === `${ev.action} ${ev.name}`) {
      state.fromStmt = undefined;
      return;
    }
    this.savepointAction(ev, state, this.txOf(state, ev.tx), this.session(ev.sess), ev.action, ev.name);
  }

  private commit(ev: CommitEvent): void {
    this.commits++;
    const state = this.connection(ev.conn);
    // The driver committed: whatever SQLite had open is over.
    state.dbOpen = false;
    this.endTx(ev, state, this.txOf(state, ev.tx), 'commit');
  }

  private rollback(ev: RollbackEvent): void {
    this.rollbacks++;
    const state = this.connection(ev.conn);
    state.dbOpen = false;
    this.endTx(ev, state, this.txOf(state, ev.tx), 'rollback', ev.cause);
  }

  private sessionOpen(ev: SessionOpenEvent): void {
    const sess = this.session(ev.sess)!;
    sess.cls = ev.cls;
    sess.at = ev.at;
    sess.opened = this.time;
  }

  private sessionClose(ev: SessionCloseEvent): void {
    const sess = this.session(ev.sess)!;
    sess.closed = this.time;
    sess.closeAt = ev.at;
    if (ev.pending && ev.pending.length > 0) sess.closePending = ev.pending;
  }

  private identityHit(ev: IdentityHitEvent): void {
    const sess = this.session(ev.sess)!;
    const hit: ModelIdentityHit = {
      time: this.time,
      process: this.proc,
      session: sess,
      entity: ev.entity,
      table: ev.table,
      key: ev.key,
      pk: ev.pk,
      at: ev.at,
      test: this.testNow(),
    };
    this.identityHits.push(hit);
    this.identityHitTimes.push(this.time);
    sess.identityHits.push(hit);
  }

  /**
   * The test the current process is running at the current event: what `attribute` answers, but
   * while the process's tests are in start order, most events fall in its latest test, which is
   * then the answer without a search.
   */
  private testNow(): string | undefined {
    const tests = this.proc.tests;
    if (this.testsInOrder && tests.length > 0) {
      const last = tests[tests.length - 1];
      if (last.start <= this.time) return last.end === undefined || this.time <= last.end ? last.id : undefined;
    }
    return attribute(this.proc, this.time);
  }

  private pidState(pid: number): PidState {
    let ids = this.byPid.get(pid);
    if (!ids) this.byPid.set(pid, (ids = { connections: new Map(), sessions: new Map(), transactions: new Map(), openTests: new Map() }));
    return ids;
  }

  /** The connection `id` of the current process, made when first named. */
  private connection(id: string): ConnectionState {
    let state = this.ids.connections.get(id);
    if (!state) {
      const conn: ModelConnection = {
        key: `${this.proc.pid}:${id}`,
        id,
        label: '',
        process: this.proc,
        opened: this.time,
        transactions: [],
        releasedInTransaction: [],
        checkouts: [],
      };
      this.ids.connections.set(id, (state = { conn, savepoints: [], dbOpen: false }));
      this.connections.push(conn);
    }
    return state;
  }

  private session(id: string | undefined): ModelSession | undefined {
    if (!id) return undefined;
    let s = this.ids.sessions.get(id);
    if (!s) {
      s = {
        key: `${this.proc.pid}:${id}`,
        id,
        label: '',
        process: this.proc,
        // Set by session_open and session_close: in the literal from the start, as for transactions.
        cls: undefined,
        at: undefined,
        opened: this.time,
        closed: undefined,
        closeAt: undefined,
        closePending: undefined,
        transactions: [],
        statements: [],
        identityHits: [],
        test: this.testNow(),
      };
      this.ids.sessions.set(id, s);
      this.sessions.push(s);
    }
    return s;
  }

  /**
   * A frame seen before is the same object: one copy per line in the whole model.
   *
   * Each trace line brings a new string for its file, which a Map keyed by the file hashes
   * again; the recent-frame table is looked at first (a slot from the line number and a few
   * characters of the file name, confirmed by comparing). A slot holds what the maps hold for
   * its file and line (the slot does not depend on the function, so a frame that replaces
   * another in the maps replaces it in its slot too): either way the answer is the same object.
   */
  private frame(at: SourceFrame | undefined): SourceFrame | undefined {
    if (!at) return undefined;
    const file = at[0];
    const line = at[1];
    const n = file.length;
    // The end of a path tells files apart (the same folder, another name); charCodeAt past the start is NaN, read as 0.
    let h = Math.imul(line ^ (n << 20), 0x9e3779b1);
    h = Math.imul(h ^ file.charCodeAt(n - 4) ^ (file.charCodeAt(n - 6) << 8) ^ (file.charCodeAt(n - 8) << 16), 0x85ebca6b);
    const slot = (h ^ (h >>> 15)) & (RECENT_FRAME_SLOTS - 1);
    const seen = this.recentFrames[slot];
    if (seen !== undefined && seen[1] === line && seen[2] === at[2] && seen[0] === file) return seen;
    let byLine = this.frames.get(file);
    if (!byLine) this.frames.set(file, (byLine = new Map()));
    const known = byLine.get(line);
    if (known && known[2] === at[2]) return (this.recentFrames[slot] = known);
    byLine.set(line, at);
    return (this.recentFrames[slot] = at);
  }

  /** The transaction an event names, else the one open on its connection. */
  private txOf(state: ConnectionState, id: string | undefined): ModelTransaction | undefined {
    if (id) {
      const tx = this.ids.transactions.get(id);
      if (tx) return tx;
    }
    return state.openTx;
  }

  private startTx(ev: EventBase, state: ConnectionState, id: string, sess: ModelSession | undefined, implicit?: boolean): ModelTransaction {
    const conn = state.conn;
    const tx: ModelTransaction = {
      key: `${this.proc.pid}:${id}`,
      id,
      label: '',
      process: this.proc,
      connection: conn,
      session: sess,
      start: this.time,
      beginAt: this.frame(ev.at),
      implicit,
      // Fields set later (begin's isolation, the end) are in the literal from the start: one
      // allocation and one hidden class for every transaction, no property store added when it ends.
      isolation: undefined,
      end: undefined,
      outcome: 'open',
      cause: undefined,
      endAt: undefined,
      endThread: undefined,
      endTask: undefined,
      statements: [],
      writes: [],
      savepoints: [],
      durableUntil: undefined,
      test: this.testNow(),
    };
    this.transactions.push(tx);
    this.transactionTimes.push(this.time);
    this.ids.transactions.set(id, tx);
    state.openTx = tx;
    conn.transactions.push(tx);
    if (sess) sess.transactions.push(tx);
    return tx;
  }

  /** Ends `tx`, which an event on the connection of `eventState` ended. */
  private endTx(ev: EventBase, eventState: ConnectionState, tx: ModelTransaction | undefined, outcome: TransactionOutcome, cause?: RollbackCause): void {
    if (!tx || tx.outcome !== 'open') return;
    tx.outcome = outcome;
    tx.end = this.time;
    tx.cause = cause;
    tx.endAt = this.frame(ev.at);
    tx.endThread = ev.th;
    tx.endTask = ev.task;
    // An event may name a transaction of another connection of its process.
    const state = eventState.conn === tx.connection ? eventState : this.ids.connections.get(tx.connection.id)!;
    if (state.openTx === tx) state.openTx = undefined;
    for (const open of state.savepoints) open.end = this.time;
    state.savepoints.length = 0;
    state.dbOpen = false;
  }

  private savepointAction(
    ev: EventBase,
    state: ConnectionState,
    tx: ModelTransaction | undefined,
    sess: ModelSession | undefined,
    action: 'begin' | 'release' | 'rollback',
    name: string,
  ): void {
    const conn = state.conn;
    const stack = state.savepoints;
    if (action === 'begin') {
      const sp: ModelSavepoint = {
        name,
        transaction: tx,
        connection: conn,
        session: sess,
        start: this.time,
        outcome: 'open',
        beginAt: this.frame(ev.at),
        test: this.testNow(),
      };
      if (pysqlite(conn) && !state.dbOpen) sp.outermost = true;
      state.dbOpen = true;
      stack.push(sp);
      this.savepoints.push(sp);
      if (tx) tx.savepoints.push(sp);
      return;
    }
    let i = stack.length - 1;
    while (i >= 0 && stack[i].name !== name) i--;
    if (i < 0) return;
    // Releasing or rolling back to a savepoint ends every savepoint taken after it.
    for (let j = stack.length - 1; j > i; j--) {
      const inner = stack[j];
      inner.end = this.time;
      inner.outcome = action === 'release' ? 'release' : 'rollback';
    }
    const sp = stack[i];
    if (!sp.session && sess) sp.session = sess;
    if (action === 'rollback') {
      // ROLLBACK TO keeps the savepoint itself open; what it marks as undone is the work since it began.
      sp.outcome = 'rollback';
      sp.endAt = this.frame(ev.at);
      sp.end = this.time;
      stack.length = i;
      return;
    }
    sp.outcome = 'release';
    sp.end = this.time;
    sp.endAt = this.frame(ev.at);
    stack.length = i;
    if (sp.outermost) {
      state.dbOpen = false;
      if (tx) tx.durableUntil = this.time;
    }
  }

  /** Settles what only the whole run tells: open tests' ends, late attributions, run-wide order and labels, notes. */
  private finish(): ModelRun {
    const { notes, processes, statements, transactions, identityHits, tests, source } = this;
    // A test that never ended (process killed mid-test) runs to the end of its process.
    for (const ids of this.byPid.values()) for (const t of ids.openTests.values()) t.end = t.process.end;
    // A worker's file may be read before its parent's: attribute processes without
    // test windows of their own again, now that every window is known. Each process's
    // items are one stretch of each list (its run), so only those of such processes are visited.
    const ends = this.runEnds;
    const sessions = this.sessions;
    processes.forEach((proc, index) => {
      if (proc.tests.length > 0) return;
      const from = (list: number[]): number => (index > 0 ? list[index - 1] : 0);
      for (let i = from(ends.statements); i < ends.statements[index]; i++) statements[i].test = attribute(proc, statements[i].time);
      for (let i = from(ends.transactions); i < ends.transactions[index]; i++) transactions[i].test = attribute(proc, transactions[i].start);
      for (let i = from(ends.identityHits); i < ends.identityHits[index]; i++) identityHits[i].test = attribute(proc, identityHits[i].time);
      for (let i = from(ends.sessions); i < ends.sessions[index]; i++) sessions[i].test = attribute(proc, sessions[i].opened);
    });
    // Processes were handled one after another: order everything on the run-wide clock.
    orderRuns(statements, ends.statements, this.statementTimes);
    orderRuns(transactions, ends.transactions, this.transactionTimes);
    transactions.forEach((tx, i) => (tx.label = `tx${i + 1}`));
    orderRuns(identityHits, ends.identityHits, this.identityHitTimes);
    orderRuns(tests, ends.tests, this.testTimes);

    // Labels follow the order people see things happen in, across all processes.
    // A session's or connection's opening time may be set after it is first named: read here.
    orderRuns(
      sessions,
      ends.sessions,
      sessions.map((sess) => sess.opened),
    );
    sessions.forEach((sess, i) => (sess.label = `S${i + 1}`));
    const connectionList = this.connections;
    orderRuns(
      connectionList,
      ends.connections,
      connectionList.map((c) => c.opened),
    );
    connectionList.forEach((c, i) => (c.label = `C${i + 1}`));

    const unparsed = this.unparsed;
    if (unparsed > 0) notes.push(`${unparsed} statement${unparsed === 1 ? '' : 's'} whose SQL could not be read for tables`);
    for (const p of processes) {
      if (p.agentErrors.length > 0) notes.push(`capture stopped early in process ${p.pid}: ${p.agentErrors[0]}`);
    }
    // What the reader knows the trace lacks comes first: it qualifies everything else.
    // Events a process could not write (a full disk) are counted in its status record, never silent.
    notes.unshift(...(source.gaps ?? []), ...statusNotes(source.dir));

    return {
      dir: source.dir,
      run: source.run,
      processes,
      connections: connectionList,
      sessions,
      transactions,
      statements,
      identityHits,
      savepoints: this.savepoints,
      tests,
      commits: this.commits,
      rollbacks: this.rollbacks,
      skipped: source.skipped,
      notes,
    };
  }
}

const SAVEPOINT_SQL = /^\s*(SAVEPOINT|RELEASE(?:\s+SAVEPOINT)?|ROLLBACK(?:\s+(?:WORK|TRANSACTION))?\s+TO(?:\s+SAVEPOINT)?)\s+("[^"]+"|`[^`]+`|[\w$]+)\s*;?\s*$/i;

/** SAVEPOINT x / RELEASE [SAVEPOINT] x / ROLLBACK [WORK] TO [SAVEPOINT] x, with the name unquoted; undefined otherwise. */
export function parseSavepoint(sql: string): { action: 'begin' | 'release' | 'rollback'; name: string } | undefined {
  const m = SAVEPOINT_SQL.exec(sql);
  if (!m) return undefined;
  const word = m[1].slice(0, 3).toUpperCase();
  const name = /^["`]/.test(m[2]) ? m[2].slice(1, -1) : m[2];
  return { action: word === 'SAV' ? 'begin' : word === 'REL' ? 'release' : 'rollback', name };
}

/**
 * The connection goes through Python's sqlite3 module (directly, through SQLAlchemy's
 * pysqlite dialect, or aiosqlite), which begins SQLite's transaction only before DML and
 * never before a SAVEPOINT.
 */
function pysqlite(c: ModelConnection): boolean {
  return c.driver === 'sqlite3' || c.driver === 'pysqlite' || c.driver === 'aiosqlite';
}

/**
 * The name of a shared-cache SQLite memory database ('file:name?mode=memory&cache=shared',
 * 'file::memory:?cache=shared'): every connection of one process that opens the same name
 * shares it. Undefined for a private memory database. Agents give the options either in
 * `name` (sqlite3) or in `url` (SQLAlchemy, whose `name` is the URI path alone).
 */
export function sharedMemoryName(db: DatabaseInfo): string | undefined {
  if (!db.memory) return undefined;
  const query = (text: string | undefined): string => (text && text.includes('?') ? text.slice(text.indexOf('?') + 1) : '');
  const options = `${query(db.name)}&${query(db.url)}`.split('&');
  if (!options.some((o) => o.toLowerCase() === 'cache=shared')) return undefined;
  let path = (db.name ?? '').split('?', 1)[0];
  if (path.startsWith('file:')) path = path.slice(5);
  return path === '' ? ':memory:' : path;
}

/** A key that is equal for two connections exactly when they reach the same database. */
export function databaseKey(db: DatabaseInfo, conn: { key: string }): string {
  const system = db.system || 'unknown';
  if (system === 'sqlite') {
    if (db.memory) {
      // A shared-cache memory database is one database per process (the key's first part is the pid).
      const shared = sharedMemoryName(db);
      if (shared !== undefined) return `sqlite-memory:${conn.key.split(':', 1)[0]}:shared:${shared}`;
      return `sqlite-memory:${conn.key}`;
    }
    return `sqlite:${db.file ?? db.name ?? ''}`;
  }
  const host = db.host ?? 'localhost';
  const where = db.port ? `${host}:${db.port}` : host;
  return `${system}://${where}/${db.name ?? ''}`;
}

/** Reads and models a run folder, streaming its files. */
export function loadModel(dir: string): ModelRun {
  return buildModelFrom(openTrace(dir));
}

export function runCounts(model: ModelRun): Counts {
  return {
    processes: model.processes.length,
    sessions: model.sessions.length,
    transactions: model.transactions.length,
    commits: model.commits,
    rollbacks: model.rollbacks,
    statements: model.statements.length,
    tests: new Set(model.tests.map((t) => t.id)).size,
  };
}

/** Per-test counts: what each test's sessions and transactions did, across every process of the run. */
export function testSummaries(model: ModelRun): TestSummary[] {
  const byTest = new Map<string, TestSummary>();
  const procs = new Map<string, Set<number>>();
  for (const t of model.tests) {
    if (byTest.has(t.id)) continue;
    byTest.set(t.id, { test: t, counts: { processes: 0, sessions: 0, sharedSessions: 0, transactions: 0, commits: 0, rollbacks: 0, statements: 0 } });
    procs.set(t.id, new Set());
  }
  for (const s of model.sessions) {
    const ts = s.test ? byTest.get(s.test) : undefined;
    if (ts) ts.counts.sessions++;
  }
  for (const tx of model.transactions) {
    const ts = tx.test ? byTest.get(tx.test) : undefined;
    if (!ts) continue;
    ts.counts.transactions++;
    if (tx.outcome === 'commit') ts.counts.commits++;
    else if (tx.outcome === 'rollback' && tx.cause) ts.counts.rollbacks++;
    procs.get(tx.test!)!.add(tx.process.pid);
  }
  for (const st of model.statements) {
    const ts = st.test ? byTest.get(st.test) : undefined;
    if (!ts) continue;
    ts.counts.statements++;
    procs.get(st.test!)!.add(st.process.pid);
  }
  for (const [id, ts] of byTest) ts.counts.processes = procs.get(id)!.size;
  for (const [id, shared] of sharedSessionsByTest(model)) {
    const ts = byTest.get(id);
    if (ts) ts.counts.sharedSessions = shared.size;
  }
  return [...byTest.values()];
}

/** Per test: the sessions it used (statements, transactions, identity-map hits) that another test or no test opened. */
function sharedSessionsByTest(model: ModelRun): Map<string, Set<ModelSession>> {
  const out = new Map<string, Set<ModelSession>>();
  const use = (test: string | undefined, sess: ModelSession | undefined) => {
    if (!test || !sess || sess.test === test) return;
    const set = out.get(test);
    if (set) set.add(sess);
    else out.set(test, new Set([sess]));
  };
  for (const tx of model.transactions) use(tx.test, tx.session);
  for (const st of model.statements) use(st.test, st.session);
  for (const hit of model.identityHits) use(hit.test, hit.session);
  return out;
}
