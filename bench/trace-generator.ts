/**
 * Writes a run folder shaped like a real SQLAlchemy + pytest run: a test
 * process with test windows, sessions that open, write, read and commit or
 * roll back, identity-map hits, a worker subprocess started by some tests,
 * and now and then one of the bugs the dynamic rules look for, in the shape an
 * agent records it (see BUGS below): most tests are fine, as in a real suite,
 * and each rule that can fire from a trace has a few tests of its own to find.
 * Deterministic for a given size (the random numbers are seeded by it), so
 * runs compare.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const TABLES = ['jobs', 'users', 'accounts', 'invoices', 'orders', 'items', 'events', 'audit_log'];

/** A tiny seeded PRNG (mulberry32): the same size always yields the same trace. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class ProcessWriter {
  private lines: string[] = [];
  private bytes = 0;
  count = 0;
  t = 0;
  private c = 0;
  private s = 0;
  private x = 0;
  constructor(
    private readonly path: string,
    readonly pid: number,
    ppid: number,
    t0: bigint,
    test?: string,
  ) {
    this.push({ k: 'header', v: 1, pid, ppid, t0: t0.toString(), wall: 1_763_700_000_000, argv: ['python', '-m', 'pytest'], cwd: '/proj', lang: 'python', test });
    this.count = 0;
  }
  private push(o: Record<string, unknown>): void {
    const line = JSON.stringify(o);
    this.lines.push(line);
    this.bytes += line.length + 1;
    this.count++;
  }
  ev(k: string, fields: Record<string, unknown>): void {
    this.t += 1_000 + (this.count % 7) * 300;
    this.push({ k, t: this.t, pid: this.pid, th: 1, ...fields });
  }
  conn(): string {
    return `c${++this.c}`;
  }
  sess(): string {
    return `s${++this.s}`;
  }
  tx(): string {
    return `t${++this.x}`;
  }
  /** Appends what is buffered to the file; returns the bytes written so far. */
  flush(): number {
    writeFileSync(this.path, this.lines.join('\n') + '\n', { flag: 'a' });
    this.lines = [];
    const written = this.bytes;
    this.bytes = 0;
    return written;
  }
}

/** A source place in the app's code. */
type Frame = [string, number, string];

/** Every this many tests, one whose session is closed without commit (missing-commit). */
const MISSING_COMMIT_EVERY = 25;
/** Of a hundred other tests, about this many play one of the BUGS below: real suites have few. */
const OTHER_BUG_PER_100 = 2.5;

/**
 * The bugs besides the missing commit, each as a test that shows it (and fails where the
 * bug's harm shows in the trace), drawn in turn among the tests that get one.
 */
const BUGS = [
  'uncommitted-read',
  'stale-read',
  'test-state-leak',
  'pool-release-in-transaction',
  'lock-wait',
  'shared-connection-concurrency',
  'sqlite-memory-isolation',
  'non-test-database',
] as const;
type Bug = (typeof BUGS)[number];

export function generateTrace(dir: string, targetEvents: number): { events: number; mb: number } {
  const rand = rng(targetEvents);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)];
  const main = new ProcessWriter(join(dir, 'py-1000-aaaaaa.ndjson'), 1000, 999, 10_000_000_000n);
  const db = { system: 'sqlite', file: '/proj/test.db', name: '/proj/test.db' };
  const app = (line: number): Frame => [`/proj/app/${pick(['jobs', 'users', 'billing', 'api'])}.py`, line, 'handler'];
  const tst = (line: number): Frame => ['/proj/tests/test_suite.py', line, 'test_case'];
  writeFileSync(join(dir, 'run.json'), JSON.stringify({ v: 1, command: ['pytest'], cwd: '/proj', startedWall: 1_763_700_000_000 }) + '\n');
  let total = 0;
  let bytes = 0;
  let testNo = 0;
  let workerPid = 2000;
  const pool: string[] = [];
  /** A pooled connection to the test database, checked out (connected when the pool has none free). */
  const checkout = (w: ProcessWriter): string => {
    let conn = pool.pop();
    if (!conn) {
      conn = w.conn();
      w.ev('connect', { conn, db, driver: 'pysqlite', pool: 'p1', engine: 'e1', at: app(3), engineAt: ['/proj/app/db.py', 7, '<module>'] });
    }
    w.ev('checkout', { conn, pool: 'p1' });
    return conn;
  };
  const checkin = (w: ProcessWriter, conn: string): void => {
    w.ev('checkin', { conn, pool: 'p1' });
    w.ev('reset', { conn, rolledBack: false });
    pool.push(conn);
  };
  const session = (w: ProcessWriter, withBug: boolean) => {
    const sess = w.sess();
    w.ev('session_open', { sess, cls: 'Session', at: app(10) });
    const conn = checkout(w);
    const txs = 1 + Math.floor(rand() * 3);
    for (let i = 0; i < txs; i++) {
      const tx = w.tx();
      w.ev('begin', { conn, tx, sess, implicit: true });
      const stmts = 3 + Math.floor(rand() * 8);
      for (let j = 0; j < stmts; j++) {
        const table = pick(TABLES);
        const r = rand();
        const sql =
          r < 0.35
            ? `INSERT INTO ${table} (name, status, created_at) VALUES (?, ?, ?)`
            : r < 0.5
              ? `UPDATE ${table} SET status=? WHERE ${table}.id = ?`
              : `SELECT ${table}.id, ${table}.name, ${table}.status FROM ${table} WHERE ${table}.id = ?`;
        w.ev('stmt', { conn, tx, sess, sql, params: [Math.floor(rand() * 1000), 'PENDING'], rows: 1, dur: 20_000 + Math.floor(rand() * 50_000), at: app(20 + j) });
        if (rand() < 0.02) w.ev('identity_hit', { sess, entity: 'Job', table: 'jobs', key: [String(Math.floor(rand() * 1000))], at: app(40) });
      }
      if (withBug && i === txs - 1) {
        w.ev('rollback', { conn, tx, sess, cause: 'session-close', at: app(60) });
      } else if (rand() < 0.85) {
        w.ev('commit', { conn, tx, sess, at: app(50) });
      } else {
        w.ev('rollback', { conn, tx, sess, cause: 'explicit', at: app(55) });
      }
    }
    checkin(w, conn);
    w.ev('session_close', { sess, at: app(70) });
  };

  /** A session of its own on a connection of its own (not pooled), begun: what a bug needs two of at once. */
  const ownSession = (w: ProcessWriter, database: Record<string, unknown> = db, at: Frame = app(3)) => {
    const sess = w.sess();
    const conn = w.conn();
    w.ev('session_open', { sess, cls: 'Session', at });
    w.ev('connect', { conn, db: database, driver: 'pysqlite', engine: 'e1', at, engineAt: ['/proj/app/db.py', 7, '<module>'] });
    const tx = w.tx();
    w.ev('begin', { conn, tx, sess, implicit: true });
    return { sess, conn, tx };
  };
  const end = (w: ProcessWriter, s: { sess: string; conn: string; tx: string }, how: 'commit' | 'rollback', at: Frame) => {
    if (how === 'commit') w.ev('commit', { conn: s.conn, tx: s.tx, sess: s.sess, at });
    else w.ev('rollback', { conn: s.conn, tx: s.tx, sess: s.sess, cause: 'explicit', at });
    w.ev('close', { conn: s.conn, at });
    w.ev('session_close', { sess: s.sess, at });
  };
  /** Rows a later test collides with (test-state-leak): committed by one test, inserted again by a later one. */
  const leaked: string[] = [];
  let bugTurn = 0;

  /** Plays one bug inside the current test; returns whether the test fails of it. */
  const playBug = (w: ProcessWriter, bug: Bug): boolean => {
    const key = 100_000 + testNo;
    switch (bug) {
      case 'uncommitted-read': {
        // The fixture's session writes a job and has not committed when the app's session looks it up: not found.
        const fixture = ownSession(w, db, ['/proj/tests/conftest.py', 30, 'job']);
        w.ev('stmt', { conn: fixture.conn, tx: fixture.tx, sess: fixture.sess, sql: 'INSERT INTO jobs (id, name, status) VALUES (?, ?, ?)', params: [key, 'nightly', 'PENDING'], rows: 1, dur: 40_000, at: ['/proj/tests/conftest.py', 32, 'job'] });
        const api = ownSession(w, db, ['/proj/app/api.py', 12, 'get_job']);
        // The request comes a moment later: its SELECT starts after the INSERT finished.
        w.t += 500_000;
        w.ev('stmt', { conn: api.conn, tx: api.tx, sess: api.sess, sql: 'SELECT jobs.id, jobs.status FROM jobs WHERE jobs.id = ?', params: [key], rows: 0, dur: 30_000, at: ['/proj/app/api.py', 14, 'get_job'] });
        end(w, api, 'commit', ['/proj/app/api.py', 15, 'get_job']);
        end(w, fixture, 'commit', ['/proj/tests/conftest.py', 40, 'job']);
        return true;
      }
      case 'stale-read': {
        // The API's session loads the job; a worker's session commits FAILED; the API's session.get answers from its identity map.
        const api = ownSession(w, db, ['/proj/app/api.py', 20, 'status']);
        w.ev('stmt', { conn: api.conn, tx: api.tx, sess: api.sess, sql: 'SELECT jobs.id, jobs.status FROM jobs WHERE jobs.id = ?', params: [key], rows: 1, dur: 30_000, at: ['/proj/app/api.py', 22, 'status'] });
        w.ev('commit', { conn: api.conn, tx: api.tx, sess: api.sess, at: ['/proj/app/api.py', 23, 'status'] });
        const worker = ownSession(w, db, ['/proj/app/worker.py', 30, 'fail_job']);
        w.ev('stmt', { conn: worker.conn, tx: worker.tx, sess: worker.sess, sql: 'UPDATE jobs SET status=? WHERE jobs.id = ?', params: ['FAILED', key], rows: 1, dur: 30_000, at: ['/proj/app/worker.py', 32, 'fail_job'] });
        end(w, worker, 'commit', ['/proj/app/worker.py', 33, 'fail_job']);
        w.ev('identity_hit', { sess: api.sess, entity: 'Job', table: 'jobs', key: [String(key)], at: ['/proj/app/api.py', 25, 'status'] });
        w.ev('close', { conn: api.conn, at: ['/proj/app/api.py', 26, 'status'] });
        w.ev('session_close', { sess: api.sess, at: ['/proj/app/api.py', 26, 'status'] });
        return true;
      }
      case 'test-state-leak': {
        // A test whose fixture rolls its transaction back at teardown, while a factory on a session of
        // its own commits a user for good (commit-escapes-rollback); the next test that gets this bug
        // inserts the same email and fails on the UNIQUE constraint (test-state-leak).
        const insert = 'INSERT INTO users (email, name) VALUES (?, ?)';
        const email = leaked.shift();
        if (email) {
          const s = ownSession(w, db, ['/proj/tests/factories.py', 20, 'create']);
          w.ev('stmt', { conn: s.conn, tx: s.tx, sess: s.sess, sql: insert, params: [email, 'Alice'], dur: 30_000, at: ['/proj/tests/factories.py', 22, 'create'], err: { type: 'IntegrityError', message: 'UNIQUE constraint failed: users.email' } });
          end(w, s, 'rollback', ['/proj/tests/factories.py', 22, 'create']);
          return true;
        }
        const outer = ownSession(w, db, ['/proj/tests/conftest.py', 40, 'db_session']);
        w.ev('stmt', { conn: outer.conn, tx: outer.tx, sess: outer.sess, sql: 'INSERT INTO accounts (name, status, created_at) VALUES (?, ?, ?)', params: ['acme', 'OPEN', key], rows: 1, dur: 30_000, at: ['/proj/tests/conftest.py', 42, 'db_session'] });
        const fresh = `user${testNo}@example.com`;
        const factory = ownSession(w, db, ['/proj/tests/factories.py', 20, 'create']);
        w.ev('stmt', { conn: factory.conn, tx: factory.tx, sess: factory.sess, sql: insert, params: [fresh, 'Alice'], rows: 1, dur: 30_000, at: ['/proj/tests/factories.py', 22, 'create'] });
        end(w, factory, 'commit', ['/proj/tests/factories.py', 23, 'create']);
        end(w, outer, 'rollback', ['/proj/tests/conftest.py', 45, 'db_session']);
        leaked.push(fresh);
        return false;
      }
      case 'pool-release-in-transaction': {
        // A raw connection goes back to the pool with its UPDATE uncommitted; the next borrower commits it along with its own.
        const conn = checkout(w);
        const tx = w.tx();
        w.ev('begin', { conn, tx, implicit: true, at: ['/proj/app/billing.py', 40, 'charge'] });
        w.ev('stmt', { conn, tx, sql: 'UPDATE accounts SET balance=? WHERE accounts.id = ?', params: [0, key], rows: 1, dur: 30_000, at: ['/proj/app/billing.py', 41, 'charge'] });
        w.ev('checkin', { conn, pool: 'p1', txOpen: true, at: ['/proj/app/billing.py', 42, 'charge'] });
        w.ev('checkout', { conn, pool: 'p1', at: ['/proj/app/api.py', 60, 'list'] });
        w.ev('stmt', { conn, tx, sql: 'SELECT accounts.id, accounts.balance FROM accounts WHERE accounts.id = ?', params: [key], rows: 1, dur: 30_000, at: ['/proj/app/api.py', 61, 'list'] });
        w.ev('commit', { conn, tx, at: ['/proj/app/api.py', 62, 'list'] });
        checkin(w, conn);
        return true;
      }
      case 'lock-wait': {
        // A session takes the job's row lock and sits idle in its transaction; the worker's UPDATE waits for it 3 s.
        const holder = ownSession(w, db, ['/proj/tests/conftest.py', 60, 'locked_job']);
        w.ev('stmt', { conn: holder.conn, tx: holder.tx, sess: holder.sess, sql: 'UPDATE jobs SET status=? WHERE jobs.id = ?', params: ['RUNNING', key], rows: 1, dur: 30_000, at: ['/proj/tests/conftest.py', 62, 'locked_job'] });
        const waiter = ownSession(w, db, ['/proj/app/worker.py', 70, 'claim']);
        w.t += 3_000_000_000;
        end(w, holder, 'commit', ['/proj/tests/conftest.py', 64, 'locked_job']);
        w.ev('stmt', { conn: waiter.conn, tx: waiter.tx, sess: waiter.sess, sql: 'UPDATE jobs SET status=? WHERE jobs.id = ?', params: ['CLAIMED', key], rows: 1, dur: 3_000_000_000, at: ['/proj/app/worker.py', 72, 'claim'] });
        end(w, waiter, 'commit', ['/proj/app/worker.py', 73, 'claim']);
        return false;
      }
      case 'shared-connection-concurrency': {
        // Two threads run statements on one session's connection at once.
        const s = ownSession(w, db, ['/proj/app/jobs.py', 80, 'run_all']);
        w.ev('stmt', { conn: s.conn, tx: s.tx, sess: s.sess, th: 2, sql: 'UPDATE jobs SET status=? WHERE jobs.id = ?', params: ['RUNNING', key], rows: 1, dur: 200_000, at: ['/proj/app/jobs.py', 82, 'run_one'] });
        w.ev('stmt', { conn: s.conn, tx: s.tx, sess: s.sess, th: 3, sql: 'UPDATE jobs SET status=? WHERE jobs.id = ?', params: ['RUNNING', key + 1], rows: 1, dur: 200_000, at: ['/proj/app/jobs.py', 82, 'run_one'] });
        end(w, s, 'commit', ['/proj/app/jobs.py', 84, 'run_all']);
        return true;
      }
      case 'sqlite-memory-isolation': {
        // The fixture fills one :memory: database; the app's thread connects to another, empty one.
        const memory = { system: 'sqlite', memory: true, name: ':memory:' };
        const fixture = ownSession(w, memory, ['/proj/tests/conftest.py', 70, 'memory_db']);
        w.ev('stmt', { conn: fixture.conn, tx: fixture.tx, sess: fixture.sess, sql: 'CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT)', rows: -1, dur: 30_000, at: ['/proj/tests/conftest.py', 72, 'memory_db'] });
        w.ev('stmt', { conn: fixture.conn, tx: fixture.tx, sess: fixture.sess, sql: 'INSERT INTO people (name) VALUES (?)', params: ['ada'], rows: 1, dur: 30_000, at: ['/proj/tests/conftest.py', 73, 'memory_db'] });
        w.ev('commit', { conn: fixture.conn, tx: fixture.tx, sess: fixture.sess, at: ['/proj/tests/conftest.py', 74, 'memory_db'] });
        const appSide = ownSession(w, memory, ['/proj/app/people.py', 10, 'count']);
        w.ev('stmt', { conn: appSide.conn, tx: appSide.tx, sess: appSide.sess, sql: 'SELECT count(*) FROM people', rows: 0, dur: 30_000, at: ['/proj/app/people.py', 12, 'count'], err: { type: 'OperationalError', message: 'no such table: people' } });
        end(w, appSide, 'rollback', ['/proj/app/people.py', 12, 'count']);
        w.ev('close', { conn: fixture.conn, at: ['/proj/tests/conftest.py', 76, 'memory_db'] });
        w.ev('session_close', { sess: fixture.sess, at: ['/proj/tests/conftest.py', 76, 'memory_db'] });
        return true;
      }
      case 'non-test-database': {
        // An app module bound its session to the development database at import: the test's write lands there.
        const dev = { system: 'sqlite', file: '/proj/app_dev.db', name: '/proj/app_dev.db' };
        const s = ownSession(w, dev, ['/proj/app/reports.py', 5, '<module>']);
        w.ev('stmt', { conn: s.conn, tx: s.tx, sess: s.sess, sql: 'INSERT INTO reports (name, status) VALUES (?, ?)', params: ['weekly', 'DONE'], rows: 1, dur: 30_000, at: ['/proj/app/reports.py', 22, 'save'] });
        end(w, s, 'commit', ['/proj/app/reports.py', 23, 'save']);
        return false;
      }
    }
  };

  while (total + main.count < targetEvents) {
    testNo++;
    const id = `tests/test_suite.py::test_case_${testNo}`;
    main.ev('test_start', { id, name: `test_case_${testNo}`, file: '/proj/tests/test_suite.py', line: testNo * 3 });
    const missingCommit = testNo % MISSING_COMMIT_EVERY === 0;
    const sessions = 2 + Math.floor(rand() * 3);
    for (let i = 0; i < sessions; i++) session(main, missingCommit && i === 0);
    let failed = missingCommit;
    if (!missingCommit && rand() * 100 < OTHER_BUG_PER_100) failed = playBug(main, BUGS[bugTurn++ % BUGS.length]) || failed;
    if (testNo % 10 === 0) {
      // A worker subprocess started by this test, with its own file and clock offset.
      const worker = new ProcessWriter(join(dir, `py-${workerPid}-bbbbbb.ndjson`), workerPid++, 1000, 10_000_000_000n + BigInt(main.t), id);
      const conn = worker.conn();
      worker.ev('connect', { conn, db, driver: 'pysqlite', at: ['/proj/app/worker.py', 5, 'main'] });
      const tx = worker.tx();
      worker.ev('begin', { conn, tx, implicit: true });
      worker.ev('stmt', { conn, tx, sql: 'UPDATE jobs SET status=? WHERE jobs.id = ?', params: ['COMPLETED', testNo], rows: 1, dur: 30_000, at: ['/proj/app/worker.py', 12, 'run'] });
      worker.ev('commit', { conn, tx, at: ['/proj/app/worker.py', 13, 'run'] });
      main.t += worker.t;
      total += worker.count;
      bytes += worker.flush();
    }
    main.ev('test_end', { id, outcome: failed ? 'failed' : 'passed', at: tst(testNo * 3) });
    if (main.count > 50_000) {
      total += main.count;
      bytes += main.flush();
      main.count = 0;
    }
  }
  total += main.count;
  bytes += main.flush();
  return { events: total, mb: bytes / 1048576 };
}
