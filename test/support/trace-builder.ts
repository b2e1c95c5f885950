/**
 * Trace events for tests, typed by the trace format itself (src/trace/schema.ts),
 * so reader, model and rule behaviour can be pinned down on exactly the trace a
 * test needs. End-to-end tests use traces the real agents wrote.
 *
 *   const dir = trace()
 *     .process(1)
 *     .testStart('tests/test_jobs.py::test_fail')
 *     .connect('c1', { system: 'sqlite', file: '/proj/app.db' })
 *     .begin('t1', { sess: 's1' })
 *     .execute('UPDATE jobs SET status = ?', { at: ['/proj/app/worker.py', 21, 'run'] })
 *     .rollback('session-close')
 *     .testEnd('failed')
 *     .write();
 *
 * A test states what matters to it; the rest follows the way an agent writes a trace:
 * - every event carries its process's pid, and a time 1 ns after the event before it
 *   unless `t` is given (times are per process, from the header's t0);
 * - connection events go to the connection named last (by `connect` or a `conn` option);
 * - a statement, savepoint, commit or rollback belongs to the transaction open on its
 *   connection and to the session that began it; commit, rollback and close end it;
 * - transaction ids not given are numbered per process as the agents number them (t1, t2, …).
 * Any field may be given in the options, and one given as `undefined` is left out.
 * Lines no agent writes (broken JSON, unknown kinds, missing fields) go in with `raw`.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  PROCESS_FILE_SUFFIX,
  TRACE_FORMAT_VERSION,
  type AgentErrorEvent,
  type BeginEvent,
  type CheckinEvent,
  type CheckoutEvent,
  type CloseEvent,
  type CommitEvent,
  type ConnectEvent,
  type DatabaseInfo,
  type HeaderEvent,
  type IdentityHitEvent,
  type ResetEvent,
  type RollbackCause,
  type RollbackEvent,
  type SavepointEvent,
  type SessionCloseEvent,
  type SessionOpenEvent,
  type StatementEvent,
  type TestEndEvent,
  type TestOutcome,
  type TestStartEvent,
  type TraceEvent,
} from '../../src/trace/schema';
import { tempDir } from './env';

/**
 * A line as `traceDir` writes it: an object as JSON, a string as it is. The builder's methods
 * type the events; a line given whole is often deliberately wrong (a field of the wrong type).
 */
export type Line = object | string;

/** What a test may state of an event beyond the builder method's arguments: any field but the kind and the pid. */
export type Fields<E extends TraceEvent, Given extends keyof E = never> = Partial<Omit<E, 'k' | 'pid' | Given>>;

/** Header fields a test may state; `t0` also as a bigint (it is a decimal string in the file). */
export type HeaderFields = Partial<Omit<HeaderEvent, 'k' | 'pid' | 't0'>> & { t0?: bigint | number | string };

/** A process file's header as the Python agent writes it, at wall time 2023-11-14 and in the workspace /proj. */
export function header(pid: number, t0: bigint | number | string = 0n, fields: HeaderFields = {}): HeaderEvent {
  return {
    k: 'header',
    v: TRACE_FORMAT_VERSION,
    pid,
    ppid: 1,
    wall: 1_700_000_000_000,
    argv: ['python'],
    cwd: '/proj',
    lang: 'python',
    ...fields,
    t0: String(fields.t0 ?? t0),
  };
}

/** Writes process files (and any other file) into a fresh folder and returns its path. */
export function traceDir(files: Record<string, Line[]>): string {
  const dir = tempDir('txlens-trace-');
  for (const [name, lines] of Object.entries(files)) writeFileSync(join(dir, name), lines.map(lineText).join(''));
  return dir;
}

function lineText(line: Line): string {
  return (typeof line === 'string' ? line : JSON.stringify(line)) + '\n';
}

/** The driver an agent names for a database system when a test does not say. */
function defaultDriver(db: DatabaseInfo): string {
  return db.system === 'postgresql' ? 'psycopg2' : db.system === 'sqlite' ? 'sqlite3' : db.system;
}

/** The event without the keys a test gave as `undefined`: JSON would drop them, the in-memory event should too. */
function defined<E extends object>(event: E): E {
  for (const key of Object.keys(event) as (keyof E)[]) if (event[key] === undefined) delete event[key];
  return event;
}

/** A run folder being built: its processes, in the order they were added. */
export class TraceBuilder {
  private readonly processes: ProcessBuilder[] = [];
  private readonly extraFiles: Record<string, Line[]> = {};

  /** Starts the file of process `pid` (named as the agents name theirs unless `file` is given). */
  process(pid: number, fields: HeaderFields & { file?: string } = {}): ProcessBuilder {
    const { file, ...headerFields } = fields;
    const name = file ?? `py-${pid}-aaaaaa${PROCESS_FILE_SUFFIX}`;
    if (this.processes.some((p) => p.file === name)) throw new Error(`two processes write ${name}`);
    const p = new ProcessBuilder(this, name, header(pid, 0n, headerFields));
    this.processes.push(p);
    return p;
  }

  /** Adds a file that is not a process file (or one written by hand, line by line). */
  file(name: string, lines: Line[]): this {
    this.extraFiles[name] = lines;
    return this;
  }

  /** The folder's files, by name. */
  files(): Record<string, Line[]> {
    const files: Record<string, Line[]> = {};
    for (const p of this.processes) files[p.file] = [p.header, ...p.lines];
    return { ...files, ...this.extraFiles };
  }

  /** Writes the run folder and returns its path. */
  write(): string {
    return traceDir(this.files());
  }
}

export function trace(): TraceBuilder {
  return new TraceBuilder();
}

/** One process file: its header, then its events, each stamped with the process's pid and a time. */
export class ProcessBuilder {
  readonly lines: Line[] = [];
  private time = 0;
  private transactions = 0;
  private conn?: string;
  private session?: string;
  private test?: string;
  /** The transaction open on each connection, and the session that began it. */
  private readonly open = new Map<string, { tx: string; sess?: string }>();

  constructor(
    private readonly owner: TraceBuilder,
    readonly file: string,
    readonly header: HeaderEvent,
  ) {}

  get pid(): number {
    return this.header.pid;
  }

  /** The file's text line by line, each with its newline, the header first. */
  ndjson(): string[] {
    return [this.header, ...this.lines].map(lineText);
  }

  /** Starts the next process of the same run folder. */
  process(pid: number, fields: HeaderFields & { file?: string } = {}): ProcessBuilder {
    return this.owner.process(pid, fields);
  }

  /** Writes the whole run folder and returns its path. */
  write(): string {
    return this.owner.write();
  }

  // ---- connections and pools ----

  connect(conn: string, db: DatabaseInfo, fields: Fields<ConnectEvent, 'conn' | 'db'> = {}): this {
    this.conn = conn;
    return this.add<ConnectEvent>({ driver: defaultDriver(db), ...fields, k: 'connect', t: this.tick(fields.t), pid: this.pid, conn, db });
  }

  close(fields: Fields<CloseEvent> = {}): this {
    const conn = this.connection(fields.conn);
    this.open.delete(conn);
    return this.add<CloseEvent>({ ...fields, k: 'close', t: this.tick(fields.t), pid: this.pid, conn });
  }

  checkout(fields: Fields<CheckoutEvent> = {}): this {
    return this.add<CheckoutEvent>({ ...fields, k: 'checkout', t: this.tick(fields.t), pid: this.pid, conn: this.connection(fields.conn) });
  }

  checkin(fields: Fields<CheckinEvent> = {}): this {
    return this.add<CheckinEvent>({ ...fields, k: 'checkin', t: this.tick(fields.t), pid: this.pid, conn: this.connection(fields.conn) });
  }

  reset(rolledBack: boolean, fields: Fields<ResetEvent, 'rolledBack'> = {}): this {
    const conn = this.connection(fields.conn);
    if (rolledBack) this.open.delete(conn);
    return this.add<ResetEvent>({ ...fields, k: 'reset', t: this.tick(fields.t), pid: this.pid, conn, rolledBack });
  }

  // ---- transactions and statements ----

  /** Opens transaction `tx` (the next t<n> when not given) on the connection; a `sess` here is the session of everything in it. */
  begin(tx?: string, fields: Fields<BeginEvent, 'tx'> = {}): this {
    const conn = this.connection(fields.conn);
    this.transactions++;
    const id = tx ?? `t${this.transactions}`;
    this.open.set(conn, { tx: id, sess: fields.sess });
    return this.add<BeginEvent>({ ...fields, k: 'begin', t: this.tick(fields.t), pid: this.pid, conn, tx: id });
  }

  execute(sql: string, fields: Fields<StatementEvent, 'sql'> = {}): this {
    const conn = this.connection(fields.conn);
    return this.add<StatementEvent>({ ...this.inTransaction(conn, fields.tx), ...fields, k: 'stmt', t: this.tick(fields.t), pid: this.pid, conn, sql });
  }

  savepoint(action: SavepointEvent['action'], name: string, fields: Fields<SavepointEvent, 'action' | 'name'> = {}): this {
    const conn = this.connection(fields.conn);
    return this.add<SavepointEvent>({ ...this.inTransaction(conn, fields.tx), ...fields, k: 'savepoint', t: this.tick(fields.t), pid: this.pid, conn, action, name });
  }

  commit(fields: Fields<CommitEvent> = {}): this {
    const conn = this.connection(fields.conn);
    const open = this.inTransaction(conn, fields.tx);
    this.open.delete(conn);
    return this.add<CommitEvent>({ ...open, ...fields, k: 'commit', t: this.tick(fields.t), pid: this.pid, conn });
  }

  rollback(cause: RollbackCause = 'explicit', fields: Fields<RollbackEvent, 'cause'> = {}): this {
    const conn = this.connection(fields.conn);
    const open = this.inTransaction(conn, fields.tx);
    this.open.delete(conn);
    return this.add<RollbackEvent>({ ...open, ...fields, k: 'rollback', t: this.tick(fields.t), pid: this.pid, conn, cause });
  }

  // ---- ORM sessions ----

  sessionOpen(sess: string, fields: Fields<SessionOpenEvent, 'sess'> = {}): this {
    this.session = sess;
    return this.add<SessionOpenEvent>({ ...fields, k: 'session_open', t: this.tick(fields.t), pid: this.pid, sess });
  }

  /** Closes `sess` (the session opened last when not given). */
  sessionClose(sess?: string, fields: Fields<SessionCloseEvent, 'sess'> = {}): this {
    return this.add<SessionCloseEvent>({ ...fields, k: 'session_close', t: this.tick(fields.t), pid: this.pid, sess: this.sessionOf(sess) });
  }

  /** The session (the one opened last unless `sess` is given) answered `entity` `key` from its identity map. */
  identityHit(entity: string, key: string[], fields: Fields<IdentityHitEvent, 'entity' | 'key'> = {}): this {
    return this.add<IdentityHitEvent>({ ...fields, k: 'identity_hit', t: this.tick(fields.t), pid: this.pid, sess: this.sessionOf(fields.sess), entity, key });
  }

  // ---- tests and the agent ----

  /** Starts test `id` (a pytest node id); its name and file follow from the id and the header's cwd unless given. */
  testStart(id: string, fields: Fields<TestStartEvent, 'id'> = {}): this {
    this.test = id;
    const [path] = id.split('::');
    const name = id.slice(id.lastIndexOf('::') + 2);
    return this.add<TestStartEvent>({ name, file: `${this.header.cwd}/${path}`, ...fields, k: 'test_start', t: this.tick(fields.t), pid: this.pid, id });
  }

  /** Ends the test started last (or `id`). */
  testEnd(outcome: TestOutcome, fields: Fields<TestEndEvent, 'outcome'> = {}): this {
    const id = fields.id ?? this.test;
    if (id === undefined) throw new Error('testEnd before any testStart: give the id');
    return this.add<TestEndEvent>({ ...fields, k: 'test_end', t: this.tick(fields.t), pid: this.pid, id, outcome });
  }

  agentError(message: string, fields: Fields<AgentErrorEvent, 'message'> = {}): this {
    return this.add<AgentErrorEvent>({ ...fields, k: 'agent_error', t: this.tick(fields.t), pid: this.pid, message });
  }

  /** A line written as given, for what no agent writes: text that is not JSON, an unknown kind, missing fields. */
  raw(line: Line): this {
    this.lines.push(line);
    return this;
  }

  // ---- the state an agent keeps ----

  private add<E extends TraceEvent>(event: E): this {
    this.lines.push(defined(event));
    return this;
  }

  private tick(t: number | undefined): number {
    this.time = t ?? this.time + 1;
    return this.time;
  }

  private connection(given: string | undefined): string {
    const conn = given ?? this.conn;
    if (conn === undefined) throw new Error(`process ${this.pid}: no connection yet; call connect() or give conn`);
    this.conn = conn;
    return conn;
  }

  private sessionOf(given: string | undefined): string {
    const sess = given ?? this.session;
    if (sess === undefined) throw new Error(`process ${this.pid}: no session yet; call sessionOpen() or give sess`);
    return sess;
  }

  /** tx and sess of the transaction open on `conn`, unless the test names another transaction. */
  private inTransaction(conn: string, tx: string | undefined): { tx?: string; sess?: string } {
    const open = this.open.get(conn);
    return open && (tx === undefined || tx === open.tx) ? { ...open } : {};
  }
}
