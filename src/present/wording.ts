/**
 * The words txlens uses wherever it tells people something: the CLI's report,
 * the editor's notes and hovers, the timeline (its data and its page) and the
 * rules' messages. A transaction ends, a duration reads and a count agrees the
 * same way on every surface because they all take them from here.
 *
 * Nothing here imports Node: the timeline's page bundles this module for the
 * browser. Paths, which need Node's path rules, are in ./paths.
 */
import type { ModelConnection, ModelTransaction } from '../model/model';
import type { RollbackCause } from '../trace/schema';

/** '1 session', '3 sessions', '2 processes' (with `many`). */
export const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/** 'test.db', ':memory:', 'app' (a server database's name): the database without its folder; undefined when the trace names none. */
export function databaseShortName(db: ModelConnection['db']): string | undefined {
  if (!db) return undefined;
  if (db.memory) return ':memory:';
  const name = db.file ?? db.name ?? db.system;
  return name.split(/[\\/]/).pop() ?? name;
}

/** 'tests/test_a.py::TestX::test_b[1]' → 'TestX::test_b[1]'; an id without '::' (a runner's title) is its `name`, else itself. */
export function testLabel(id: string, name?: string): string {
  const i = id.indexOf('::');
  return i < 0 ? name || id : id.slice(i + 2);
}

/** 'session S3 …' → 'Session S3 …', for a message that opens with a reference. */
export function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Under a second: '0.42 ms', '7.7 ms', '850 ms' (two or three significant digits). */
function millis(ms: number): string {
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  return `${Math.round(ms)} ms`;
}

/**
 * How long something took, for people: '0.42 ms', '7.7 ms', '850 ms', '2.0 s', '3 min 5 s'.
 * Statements take fractions of a millisecond and a suite takes minutes: the digits shown
 * follow the size.
 */
export function duration(ns: number): string {
  const ms = ns / 1e6;
  if (ms < 1000) return millis(ms);
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const whole = Math.round(s);
  return `${Math.floor(whole / 60)} min ${whole % 60} s`;
}

/**
 * A moment after a reference (a test's start, the run's start), never negative: '+7.7 ms',
 * '+4.73 s', '+75.12 s'. Moments a few milliseconds apart must still read apart late in a
 * run (the timeline's axis, zoomed in), so seconds keep two decimals and never turn into minutes.
 */
export function offset(ns: number): string {
  const ms = Math.max(0, ns) / 1e6;
  return `+${ms < 1000 ? millis(ms) : `${(ms / 1000).toFixed(2)} s`}`;
}

/**
 * How a transaction that held writes ended without COMMIT, per cause, in the three
 * forms texts need: `outcome` where a story says how it ended ('S6 tx13: UPDATE jobs →
 * rolled back: session closed without commit'), `brief` where there is room for a few
 * words only (the editor's after-line notes), `predicate` after "its transaction tx13"
 * in a rule's message.
 */
export const ROLLBACK_WORDING: Record<RollbackCause, { outcome: string; brief: string; predicate: string }> = {
  explicit: { outcome: 'rolled back: rollback() called', brief: 'rolled back', predicate: 'was rolled back' },
  error: { outcome: 'rolled back by an error', brief: 'rolled back by an error', predicate: 'was rolled back by an error' },
  close: { outcome: 'rolled back: connection closed without commit', brief: 'rolled back at close', predicate: 'had its connection closed without COMMIT' },
  'session-close': { outcome: 'rolled back: session closed without commit', brief: 'rolled back at close', predicate: 'was closed without COMMIT' },
  'pool-reset': {
    outcome: "rolled back by the pool's reset-on-return at check-in",
    brief: 'rolled back by pool reset',
    predicate: "went back to the pool without COMMIT, and the pool's reset-on-return rolled it back",
  },
  // The agent sends nothing at exit: the server drops the transaction with the connection.
  exit: { outcome: 'discarded: the process ended before commit', brief: 'lost at process exit', predicate: 'was still uncommitted when the process exited' },
  gc: { outcome: 'rolled back: garbage collected without commit', brief: 'rolled back by gc', predicate: 'was garbage-collected without COMMIT' },
};

/** The wording of a cause; undefined for none, or for a cause this version does not know (a newer trace). */
function rollbackWords(cause: RollbackCause | undefined): (typeof ROLLBACK_WORDING)[RollbackCause] | undefined {
  return cause && Object.prototype.hasOwnProperty.call(ROLLBACK_WORDING, cause) ? ROLLBACK_WORDING[cause] : undefined;
}

/** What the outcome wording reads of a transaction. */
type Ended = Pick<ModelTransaction, 'outcome' | 'cause' | 'writes'>;

/**
 * How a transaction ended: 'committed at app/jobs.py:11', 'ended, nothing to commit',
 * 'rolled back: session closed without commit at app/worker.py:22'. `place` is where it
 * ended, already written for the surface (a relative path, a markdown link); the
 * timeline, which shows the place apart, passes none.
 */
export function transactionOutcome(tx: Ended, place?: string): string {
  const at = place ? ` at ${place}` : '';
  if (tx.outcome === 'open') return 'never ended (still open when the trace stopped)';
  if (tx.outcome === 'commit') return `committed${at}`;
  // Ending a read-only transaction without COMMIT loses nothing: say so rather than alarm.
  if (tx.writes.length === 0) return `ended${at}, nothing to commit`;
  const words = rollbackWords(tx.cause);
  return words ? `${words.outcome}${at}` : `ended${at} without a recorded commit or rollback`;
}

/** The same in a few words, for after-line notes; 'autocommit' for a statement outside any transaction. */
export function transactionOutcomeBrief(tx: Ended | undefined): string {
  if (!tx) return 'autocommit';
  if (tx.outcome === 'open') return 'never ended';
  if (tx.outcome === 'commit') return 'committed';
  if (tx.writes.length === 0) return 'read only';
  return rollbackWords(tx.cause)?.brief ?? 'not committed';
}

/** How a transaction ended without COMMIT, after "its transaction tx13": 'was closed without COMMIT', ... */
export function rollbackText(tx: Pick<ModelTransaction, 'outcome' | 'cause' | 'session'>): string {
  const words = rollbackWords(tx.cause);
  if (!words) return tx.outcome === 'open' ? 'never committed before the trace ended' : 'ended without COMMIT';
  // A connection's transaction ended by its session's close: the session, not the transaction, was closed.
  if (tx.cause === 'session-close' && !tx.session) return 'ended without COMMIT when its session closed';
  return words.predicate;
}

// ---------------------------------------------------------------------------
// Words that depend on the stack a trace came from

/**
 * The stack behind a connection, as far as the words of a finding go: the
 * Python agent's SQLAlchemy engines and DB-API drivers, or the Node agent's
 * drivers and the ORM that sits on them.
 */
export type StackKind = 'python' | 'pg' | 'better-sqlite3' | 'knex' | 'typeorm' | 'prisma' | 'drizzle' | 'sequelize';

/** What the words of a connection's stack are read from: its process header, its driver, and its session's class. */
export interface StackFacts {
  lang?: string;
  libs?: Record<string, string>;
  driver?: string;
  /** The ORM's name for the session that ran the statement ('Knex.Transaction', 'PostgresQueryRunner'), when there was one. */
  sessionCls?: string;
}

/** The Node ORMs by their session classes (the Node agent's session_open `cls`), then by their packages in the header. */
const NODE_ORM_BY_CLASS: Array<[RegExp, StackKind]> = [
  [/^Knex\b/, 'knex'],
  [/QueryRunner$|^EntityManager$/, 'typeorm'],
  [/^Prisma\b/, 'prisma'],
  [/^(NodePg|BetterSQLite)Transaction$/, 'drizzle'],
  [/^Sequelize\b/, 'sequelize'],
];
const NODE_ORM_BY_PACKAGE: Array<[string, StackKind]> = [
  ['knex', 'knex'],
  ['typeorm', 'typeorm'],
  ['@prisma/client', 'prisma'],
  ['drizzle-orm', 'drizzle'],
  ['sequelize', 'sequelize'],
];

export function stackKind(facts: StackFacts): StackKind {
  if (facts.lang !== 'node') return 'python';
  const cls = facts.sessionCls;
  if (cls) for (const [pattern, kind] of NODE_ORM_BY_CLASS) if (pattern.test(cls)) return kind;
  // One ORM in the process: its connections are the ORM's. Several: the driver's words, which fit them all.
  const orms = NODE_ORM_BY_PACKAGE.filter(([pkg]) => facts.libs?.[pkg] !== undefined);
  if (orms.length === 1) return orms[0][1];
  return facts.driver === 'better-sqlite3' ? 'better-sqlite3' : 'pg';
}

export interface StackWording {
  /** A session of this stack, before its label: 'session S2', 'Knex transaction S2', 'query runner S2'. */
  session: string;
  /** What hands out connections, after "the code got app_dev through": 'the engine created at', 'the pg Pool or Client created at'. */
  connectionSource: string;
  /** non-test-database's fix, a sentence. */
  useTestDatabase: string;
  /** sqlite-memory-isolation's fix, a sentence. */
  memoryAdvice: string;
  /** pool-release-in-transaction's fix, a sentence. */
  releaseAdvice: string;
}

const BETTER_SQLITE3_MEMORY =
  "Every better-sqlite3 Database opened on ':memory:' is a new, empty database; share one Database handle between the code and the tests, or open a file database (a temporary file per test run).";
const PG_RELEASE = 'Send COMMIT or ROLLBACK on the client before client.release() (in a finally block), or release it with an error (client.release(err)) so the pool discards it.';
/** pool-release-in-transaction's fix when a transaction was run through node-postgres's pool.query, a sentence. */
export const POOL_QUERY_TRANSACTION_ADVICE =
  'Run the transaction on one client: const client = await pool.connect(), then BEGIN, its statements and COMMIT (or ROLLBACK) with client.query, and client.release() in a finally block.';

/**
 * sqlite-memory-isolation's fix when the memory databases came from two SQLAlchemy engines: a
 * StaticPool shares one connection within an engine, never across two (an export library's
 * engine of its own beside the app's): one engine for both, or a name both can open.
 */
export const PYTHON_MEMORY_TWO_ENGINES_ADVICE =
  "Each SQLAlchemy engine opens its own memory databases, and no pool setting shares a connection between two engines: make one engine (poolclass=StaticPool) serve both, or give both the same shared-cache database (sqlite:///file:NAME?mode=memory&cache=shared&uri=true) or a file database.";

/** The words each stack's findings use. One home: rules take them from here. */
export const STACK_WORDING: Record<StackKind, StackWording> = {
  python: {
    session: 'session',
    connectionSource: 'the engine created at',
    useTestDatabase: "make it use the test's engine or session factory.",
    memoryAdvice:
      'Every connection to a private SQLite memory database gets a new, empty one; share one connection (poolclass=StaticPool) or name a shared-cache database (sqlite:///file:NAME?mode=memory&cache=shared&uri=true).',
    releaseAdvice: "Commit or roll back before the connection is released (or keep the pool's reset-on-return).",
  },
  pg: {
    session: 'transaction',
    connectionSource: 'the pg Pool or Client created at',
    useTestDatabase: "make it take its pg Pool (or its connection settings) from the test's setup.",
    memoryAdvice: BETTER_SQLITE3_MEMORY,
    releaseAdvice: PG_RELEASE,
  },
  'better-sqlite3': {
    session: 'transaction',
    connectionSource: 'the better-sqlite3 Database opened at',
    useTestDatabase: "make it take its Database handle (or its file name) from the test's setup.",
    memoryAdvice: BETTER_SQLITE3_MEMORY,
    releaseAdvice: 'Commit or roll back before the connection is handed on.',
  },
  knex: {
    session: 'Knex transaction',
    connectionSource: 'the Knex instance whose connection opened at',
    useTestDatabase: "make it use the test's Knex instance (or its connection config).",
    memoryAdvice:
      "Every connection Knex's pool opens on ':memory:' is a new, empty database; give the Knex instance a pool of one connection (pool: { min: 1, max: 1 }) shared by the code and the tests, or use a file database.",
    releaseAdvice: 'Let the Knex transaction commit or roll back (await trx.commit() / trx.rollback(), or return from knex.transaction(callback)) before its connection goes back to the pool.',
  },
  typeorm: {
    session: 'query runner',
    connectionSource: 'the TypeORM DataSource whose connection opened at',
    useTestDatabase: "make it use the test's DataSource (or its options).",
    memoryAdvice: "Every TypeORM DataSource on a ':memory:' SQLite database has its own, empty database; share the test's DataSource with the code, or use a file database.",
    releaseAdvice: 'Commit or roll back the query runner\'s transaction (commitTransaction() / rollbackTransaction()) before queryRunner.release().',
  },
  prisma: {
    session: 'Prisma transaction',
    connectionSource: 'the Prisma client whose connection opened at',
    useTestDatabase: "make it use the test's Prisma client (or its datasource URL).",
    memoryAdvice: "Every Prisma client on a ':memory:' SQLite database has its own, empty database; share the test's Prisma client with the code, or use a file database.",
    releaseAdvice: PG_RELEASE,
  },
  drizzle: {
    session: 'Drizzle transaction',
    connectionSource: 'the driver client under Drizzle, opened at',
    useTestDatabase: "make it use the test's Drizzle database (or the pg Pool or better-sqlite3 Database under it).",
    memoryAdvice: BETTER_SQLITE3_MEMORY,
    releaseAdvice: PG_RELEASE,
  },
  sequelize: {
    session: 'Sequelize transaction',
    connectionSource: 'the Sequelize instance whose connection opened at',
    useTestDatabase: "make it use the test's Sequelize instance (or its connection options).",
    memoryAdvice:
      "Every connection Sequelize's pool opens on ':memory:' is a new, empty database; give the Sequelize instance a pool of one connection (pool: { max: 1 }) shared by the code and the tests, or use a file database.",
    releaseAdvice:
      'Let the Sequelize transaction commit or roll back (await t.commit() / t.rollback(), or return from sequelize.transaction(callback)) before its connection goes back to the pool.',
  },
};

/** The words for `facts`' stack. */
export function stackWording(facts: StackFacts): StackWording {
  return STACK_WORDING[stackKind(facts)];
}
