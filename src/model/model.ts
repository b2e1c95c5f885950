/**
 * The model: what happened in a run, as runs → processes → connections and
 * ORM sessions → transactions → statements, each attributed to a test.
 *
 * Process files are merged on the shared monotonic clock: each header's `t0`
 * (decimal ns) places the process's relative `t` values on one run-wide axis,
 * measured in ns from the earliest process start.
 */
import type {
  DatabaseInfo,
  HeaderEvent,
  PendingChange,
  RollbackCause,
  RunInfo,
  SavepointEvent,
  SourceFrame,
  StatementError,
  StatementKind,
  TestOutcome,
  TraceEvent,
} from '../trace/schema';
import { EventSource, openTrace, SkipTally, statusNotes, TraceRead, traceSource } from '../trace/reader';
import { SqlClassifier } from './sql';

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

/** The event being handled, with its time on the run axis and its process (one object, reused). */
interface Stamped {
  ev: TraceEvent;
  time: number;
  proc: ModelProcess;
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
  const notes: string[] = [];
  const processes: ModelProcess[] = [];
  let base: bigint | undefined;
  for (const p of source.processes) {
    const t0 = BigInt(p.header.t0);
    if (base === undefined || t0 < base) base = t0;
  }
  for (const p of source.processes) {
    const offset = Number(BigInt(p.header.t0) - (base ?? 0n));
    processes.push({
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
  for (const p of [...processes].sort((a, b) => a.start - b.start)) {
    if (p.header.thread) continue;
    const files = byPid.get(p.pid);
    if (files) files.push(p);
    else byPid.set(p.pid, [p]);
  }
  for (const p of processes) {
    const candidates = byPid.get(p.header.thread ? p.pid : p.ppid) ?? [];
    for (const c of candidates) if (c !== p && c.start < p.start) p.parent = c;
  }

  const tests: ModelTest[] = [];
  const openTests = new Map<string, ModelTest>();

  const attribute = (proc: ModelProcess, time: number): string | undefined => {
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
  };

  const classifier = new SqlClassifier();
  // A suite runs the same few hundred statements from the same few hundred lines
  // thousands of times: keeping one copy of each frame (and of each SQL text, via
  // the classifier) keeps the model small and the garbage collector idle.
  const frames = new Map<string, Map<number, SourceFrame>>();
  const frame = (at: SourceFrame | undefined): SourceFrame | undefined => {
    if (!at) return undefined;
    let byLine = frames.get(at[0]);
    if (!byLine) frames.set(at[0], (byLine = new Map()));
    const known = byLine.get(at[1]);
    if (known && known[2] === at[2]) return known;
    byLine.set(at[1], at);
    return at;
  };
  const connections = new Map<string, ModelConnection>();
  const sessions = new Map<string, ModelSession>();
  const transactions: ModelTransaction[] = [];
  const txById = new Map<string, ModelTransaction>();
  const openTx = new Map<string, ModelTransaction>(); // by connection key
  const statements: ModelStatement[] = [];
  const identityHits: ModelIdentityHit[] = [];
  const savepoints: ModelSavepoint[] = [];
  let commits = 0;
  let rollbacks = 0;

  const connFor = (proc: ModelProcess, id: string, time: number): ModelConnection => {
    const key = `${proc.pid}:${id}`;
    let c = connections.get(key);
    if (!c) {
      c = { key, id, label: '', process: proc, opened: time, transactions: [], releasedInTransaction: [], checkouts: [] };
      connections.set(key, c);
    }
    return c;
  };
  const sessFor = (proc: ModelProcess, id: string | undefined, time: number): ModelSession | undefined => {
    if (!id) return undefined;
    const key = `${proc.pid}:${id}`;
    let s = sessions.get(key);
    if (!s) {
      s = { key, id, label: '', process: proc, opened: time, transactions: [], statements: [], identityHits: [], test: attribute(proc, time) };
      sessions.set(key, s);
    }
    return s;
  };
  const startTx = (s: Stamped, conn: ModelConnection, id: string, sess: ModelSession | undefined, implicit?: boolean): ModelTransaction => {
    const tx: ModelTransaction = {
      key: `${s.proc.pid}:${id}`,
      id,
      label: '',
      process: s.proc,
      connection: conn,
      session: sess,
      start: s.time,
      beginAt: frame(s.ev.at),
      implicit,
      outcome: 'open',
      statements: [],
      writes: [],
      savepoints: [],
      test: attribute(s.proc, s.time),
    };
    transactions.push(tx);
    txById.set(tx.key, tx);
    openTx.set(conn.key, tx);
    conn.transactions.push(tx);
    if (sess) sess.transactions.push(tx);
    return tx;
  };
  const txOf = (proc: ModelProcess, conn: ModelConnection, id: string | undefined): ModelTransaction | undefined => {
    if (id) {
      const tx = txById.get(`${proc.pid}:${id}`);
      if (tx) return tx;
    }
    return openTx.get(conn.key);
  };
  const endTx = (s: Stamped, tx: ModelTransaction | undefined, outcome: TransactionOutcome, cause?: RollbackCause): void => {
    if (!tx || tx.outcome !== 'open') return;
    tx.outcome = outcome;
    tx.end = s.time;
    tx.cause = cause;
    tx.endAt = frame(s.ev.at);
    tx.endThread = s.ev.th;
    tx.endTask = s.ev.task;
    if (openTx.get(tx.connection.key) === tx) openTx.delete(tx.connection.key);
    const sp = spState.get(tx.connection.key);
    if (sp) {
      for (const open of sp.stack) open.end = s.time;
      sp.stack.length = 0;
      sp.dbOpen = false;
    }
  };

  /** Per connection: open savepoints (innermost last), and, for pysqlite, whether SQLite itself is inside a transaction. */
  const spState = new Map<string, { stack: ModelSavepoint[]; dbOpen: boolean; fromStmt?: string }>();
  const spOf = (conn: ModelConnection) => {
    let st = spState.get(conn.key);
    if (!st) spState.set(conn.key, (st = { stack: [], dbOpen: false }));
    return st;
  };
  /** The driver committed or rolled back: whatever SQLite had open is over. */
  const dbEnded = (proc: ModelProcess, conn: string): void => {
    const st = spState.get(`${proc.pid}:${conn}`);
    if (st) st.dbOpen = false;
  };
  const savepointAction = (
    s: Stamped,
    conn: ModelConnection,
    tx: ModelTransaction | undefined,
    sess: ModelSession | undefined,
    action: 'begin' | 'release' | 'rollback',
    name: string,
  ): void => {
    const st = spOf(conn);
    if (action === 'begin') {
      const sp: ModelSavepoint = {
        name,
        transaction: tx,
        connection: conn,
        session: sess,
        start: s.time,
        outcome: 'open',
        beginAt: frame(s.ev.at),
        test: attribute(s.proc, s.time),
      };
      if (pysqlite(conn) && !st.dbOpen) sp.outermost = true;
      st.dbOpen = true;
      st.stack.push(sp);
      savepoints.push(sp);
      if (tx) tx.savepoints.push(sp);
      return;
    }
    let i = st.stack.length - 1;
    while (i >= 0 && st.stack[i].name !== name) i--;
    if (i < 0) return;
    // Releasing or rolling back to a savepoint ends every savepoint taken after it.
    for (let j = st.stack.length - 1; j > i; j--) {
      const inner = st.stack[j];
      inner.end = s.time;
      inner.outcome = action === 'release' ? 'release' : 'rollback';
    }
    const sp = st.stack[i];
    if (!sp.session && sess) sp.session = sess;
    if (action === 'rollback') {
      // ROLLBACK TO keeps the savepoint itself open; what it marks as undone is the work since it began.
      sp.outcome = 'rollback';
      sp.endAt = frame(s.ev.at);
      sp.end = s.time;
      st.stack.length = i;
      return;
    }
    sp.outcome = 'release';
    sp.end = s.time;
    sp.endAt = frame(s.ev.at);
    st.stack.length = i;
    if (sp.outermost) {
      st.dbOpen = false;
      if (tx) tx.durableUntil = s.time;
    }
  };

  /** Transaction-control statements: savepoints from their text, and SQLite's own transaction state. */
  const txStatement = (s: Stamped, c: ModelConnection, tx: ModelTransaction | undefined, st: ModelStatement): void => {
    if (st.err) return;
    const sp = parseSavepoint(st.sql);
    if (sp) {
      const state = spOf(c);
      savepointAction(s, c, tx, st.session, sp.action, sp.name);
      state.fromStmt = `${sp.action} ${sp.name}`;
      return;
    }
    if (!pysqlite(c)) return;
    if (st.verb === 'BEGIN' || st.verb === 'START') spOf(c).dbOpen = true;
    else if (st.verb === 'COMMIT' || st.verb === 'END' || st.verb === 'ROLLBACK' || st.verb === 'ABORT') spOf(c).dbOpen = false;
  };

  /** pysqlite sends BEGIN before DML: from here SQLite is inside a transaction. */
  const dmlStatement = (c: ModelConnection): void => {
    if (pysqlite(c)) spOf(c).dbOpen = true;
  };
  const savepointEvent = (s: Stamped, ev: SavepointEvent): void => {
    const c = connFor(s.proc, ev.conn, s.time);
    const st = spState.get(c.key);
    // The statement that ran it was seen already: one savepoint, two reports of it.
    if (st?.fromStmt === `${ev.action} ${ev.name}`) {
      st.fromStmt = undefined;
      return;
    }
    savepointAction(s, c, txOf(s.proc, c, ev.tx), sessFor(s.proc, ev.sess, s.time), ev.action, ev.name);
  };

  const handle = (s: Stamped): void => {
    const ev = s.ev;
    const proc = s.proc;
    switch (ev.k) {
      case 'test_start': {
        const t: ModelTest = { id: ev.id, name: ev.name, file: ev.file, line: ev.line, process: proc, start: s.time };
        tests.push(t);
        proc.tests.push(t);
        openTests.set(`${proc.pid}:${ev.id}`, t);
        break;
      }
      case 'test_end': {
        const t = openTests.get(`${proc.pid}:${ev.id}`);
        if (t) {
          t.end = s.time;
          t.outcome = ev.outcome;
          t.message = ev.message;
          openTests.delete(`${proc.pid}:${ev.id}`);
        }
        break;
      }
      case 'connect': {
        const c = connFor(proc, ev.conn, s.time);
        c.db = ev.db;
        c.driver = ev.driver;
        c.pool = ev.pool;
        c.engine = ev.engine;
        c.at = ev.at;
        c.engineAt = ev.engineAt;
        c.opened = s.time;
        c.dbKey = databaseKey(ev.db, c);
        break;
      }
      case 'close':
        connFor(proc, ev.conn, s.time).closed = s.time;
        break;
      case 'checkout':
        connFor(proc, ev.conn, s.time).checkouts.push({ time: s.time, at: ev.at });
        break;
      case 'checkin': {
        const c = connFor(proc, ev.conn, s.time);
        if (ev.txOpen) c.releasedInTransaction.push({ time: s.time, at: ev.at });
        break;
      }
      case 'begin': {
        const c = connFor(proc, ev.conn, s.time);
        const prev = openTx.get(c.key);
        // A begin on a connection whose transaction we saw no end for: the end was not captured.
        if (prev) endTx(s, prev, 'rollback', undefined);
        const began = startTx(s, c, ev.tx, sessFor(proc, ev.sess, s.time), ev.implicit);
        if (typeof ev.iso === 'string') began.isolation = ev.iso.toUpperCase().replace(/_/g, ' ');
        break;
      }
      case 'stmt': {
        const c = connFor(proc, ev.conn, s.time);
        const sess = sessFor(proc, ev.sess, s.time);
        const tx = txOf(proc, c, ev.tx);
        const shape = classifier.classify(ev.sql);
        const st: ModelStatement = {
          time: s.time,
          start: s.time - (ev.dur ?? 0),
          process: proc,
          connection: c,
          session: sess ?? tx?.session,
          transaction: tx,
          sql: shape.text,
          op: ev.op ?? shape.op,
          verb: shape.verb,
          reads: ev.tables && !ev.op ? ev.tables : shape.reads,
          writes: shape.writes,
          parsedSql: shape.parsed,
          params: ev.params,
          many: ev.many,
          rows: ev.rows,
          dur: ev.dur,
          err: ev.err,
          at: frame(ev.at),
          thread: ev.th,
          task: ev.task,
          test: attribute(proc, s.time),
        };
        if (ev.flushAt) st.flushAt = frame(ev.flushAt);
        if (Array.isArray(ev.alsoAt) && ev.alsoAt.length > 0) st.alsoAt = ev.alsoAt.map((f) => frame(f)!);
        statements.push(st);
        if (tx) {
          tx.statements.push(st);
          if (st.op === 'write' || st.op === 'ddl') tx.writes.push(st);
          if (!tx.session && sess) {
            tx.session = sess;
            sess.transactions.push(tx);
          }
        }
        if (st.session) st.session.statements.push(st);
        if (st.op === 'tx') txStatement(s, c, tx, st);
        else if (st.op === 'write' && c.driver !== undefined && !st.err) dmlStatement(c);
        break;
      }
      case 'savepoint':
        savepointEvent(s, ev);
        break;
      case 'commit':
        commits++;
        dbEnded(proc, ev.conn);
        endTx(s, txOf(proc, connFor(proc, ev.conn, s.time), ev.tx), 'commit');
        break;
      case 'rollback':
        rollbacks++;
        dbEnded(proc, ev.conn);
        endTx(s, txOf(proc, connFor(proc, ev.conn, s.time), ev.tx), 'rollback', ev.cause);
        break;
      case 'session_open': {
        const sess = sessFor(proc, ev.sess, s.time)!;
        sess.cls = ev.cls;
        sess.at = ev.at;
        sess.opened = s.time;
        break;
      }
      case 'session_close': {
        const sess = sessFor(proc, ev.sess, s.time)!;
        sess.closed = s.time;
        sess.closeAt = ev.at;
        if (ev.pending && ev.pending.length > 0) sess.closePending = ev.pending;
        break;
      }
      case 'identity_hit': {
        const sess = sessFor(proc, ev.sess, s.time)!;
        const hit: ModelIdentityHit = {
          time: s.time,
          process: proc,
          session: sess,
          entity: ev.entity,
          table: ev.table,
          key: ev.key,
          pk: ev.pk,
          at: ev.at,
          test: attribute(proc, s.time),
        };
        identityHits.push(hit);
        sess.identityHits.push(hit);
        break;
      }
      case 'agent_error':
        proc.agentErrors.push(ev.message);
        break;
      default:
        break;
    }
  };

  let outOfOrder = 0;
  const cursor: Stamped = { ev: undefined as unknown as TraceEvent, time: 0, proc: processes[0] };
  processes.forEach((proc, index) => {
    let last = -Infinity;
    source.events(index, (ev) => {
      if (ev.t < last) outOfOrder++;
      else last = ev.t;
      cursor.ev = ev;
      cursor.time = proc.start + ev.t;
      cursor.proc = proc;
      if (cursor.time > proc.end) proc.end = cursor.time;
      handle(cursor);
    });
  });
  if (outOfOrder > 0) notes.push(`${outOfOrder} event${outOfOrder === 1 ? '' : 's'} out of order within a process file (ordered by time)`);

  // A test that never ended (process killed mid-test) runs to the end of its process.
  for (const t of openTests.values()) t.end = t.process.end;
  // A worker's file may be read before its parent's: attribute processes without
  // test windows of their own again, now that every window is known.
  for (const st of statements) if (st.process.tests.length === 0) st.test = attribute(st.process, st.time);
  for (const tx of transactions) if (tx.process.tests.length === 0) tx.test = attribute(tx.process, tx.start);
  for (const hit of identityHits) if (hit.process.tests.length === 0) hit.test = attribute(hit.process, hit.time);
  for (const sess of sessions.values()) if (sess.process.tests.length === 0) sess.test = attribute(sess.process, sess.opened);
  // Processes were handled one after another: order everything on the run-wide clock.
  const byTime = <T>(key: (x: T) => number) => (a: T, b: T) => key(a) - key(b);
  statements.sort(byTime((st) => st.time));
  transactions.sort(byTime((tx) => tx.start));
  transactions.forEach((tx, i) => (tx.label = `tx${i + 1}`));
  identityHits.sort(byTime((h) => h.time));
  tests.sort(byTime((t) => t.start));

  // Labels follow the order people see things happen in, across all processes.
  const sessionList = [...sessions.values()].sort((a, b) => a.opened - b.opened);
  sessionList.forEach((sess, i) => (sess.label = `S${i + 1}`));
  const connectionList = [...connections.values()].sort((a, b) => a.opened - b.opened);
  connectionList.forEach((c, i) => (c.label = `C${i + 1}`));

  const unparsed = statements.filter((s) => !s.parsedSql).length;
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
    sessions: sessionList,
    transactions,
    statements,
    identityHits,
    savepoints,
    tests,
    commits,
    rollbacks,
    skipped: source.skipped,
    notes,
  };
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
