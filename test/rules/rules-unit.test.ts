// Cases a real run of today's agents cannot produce, on hand-built traces: a pool whose
// check-ins carry no txOpen flag (the Node agent's pools), PostgreSQL DETAIL keys against
// SQLAlchemy's multi-row parameter names, and the transactions missing-commit must leave alone.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadModel } from '../../src/model/model';
import { lockWaitRule } from '../../src/analysis/rules/lock-wait';
import { missingCommitRule } from '../../src/analysis/rules/missing-commit';
import { poolReleaseInTransactionRule } from '../../src/analysis/rules/pool-release-in-transaction';
import { sharedConnectionConcurrencyRule } from '../../src/analysis/rules/shared-connection-concurrency';
import { testStateLeakRule } from '../../src/analysis/rules/test-state-leak';
import { uncommittedReadRule } from '../../src/analysis/rules/uncommitted-read';
import { header, traceDir } from '../engine/trace-builder';

const APP = '/proj/app/service.py';
const TESTS = '/proj/tests/test_things.py';
const CONFTEST = '/proj/tests/conftest.py';
const pg = { system: 'postgresql', name: 'app', host: 'localhost', port: 5432 };

function model(lines: Record<string, unknown>[]) {
  return loadModel(traceDir({ 'py-1-aaaaaa.ndjson': [header(1, 1_000n), ...lines] }));
}

describe('pool-release-in-transaction without a txOpen flag', () => {
  test('a check-out that finds a transaction already open is reported at the last statement before it', () => {
    const m = model([
      { k: 'connect', t: 1, pid: 1, conn: 'c1', db: pg, driver: 'pg', pool: 'p1' },
      { k: 'checkout', t: 2, pid: 1, conn: 'c1', at: [APP, 3, 'a'] },
      { k: 'begin', t: 3, pid: 1, conn: 'c1', tx: 't1', at: [APP, 4, 'a'] },
      { k: 'stmt', t: 4, pid: 1, conn: 'c1', tx: 't1', sql: 'UPDATE accounts SET balance = 0', rows: 1, at: [APP, 5, 'a'] },
      { k: 'checkin', t: 5, pid: 1, conn: 'c1', at: [APP, 6, 'a'] },
      { k: 'checkout', t: 6, pid: 1, conn: 'c1', at: [APP, 20, 'b'] },
      { k: 'stmt', t: 7, pid: 1, conn: 'c1', tx: 't1', sql: 'SELECT * FROM accounts', at: [APP, 21, 'b'] },
      { k: 'commit', t: 8, pid: 1, conn: 'c1', tx: 't1', at: [APP, 22, 'b'] },
    ]);
    const found = poolReleaseInTransactionRule.check(m);
    assert.equal(found.length, 1, JSON.stringify(found));
    assert.equal(found[0].severity, 'error');
    assert.deepEqual([found[0].location.file, found[0].location.line], [APP, 5]);
    assert.ok(found[0].related.some((r) => r.line === 21));
    assert.match(found[0].message, /committed it/);
  });

  test('a stranger transaction that only read: nothing published, nothing to report', () => {
    const m = model([
      { k: 'connect', t: 1, pid: 1, conn: 'c1', db: pg, driver: 'pg', pool: 'p1' },
      { k: 'checkout', t: 2, pid: 1, conn: 'c1', at: [APP, 3, 'a'] },
      { k: 'begin', t: 3, pid: 1, conn: 'c1', tx: 't1', at: [APP, 4, 'a'] },
      { k: 'stmt', t: 4, pid: 1, conn: 'c1', tx: 't1', sql: 'SELECT * FROM accounts', rows: 1, at: [APP, 5, 'a'] },
      { k: 'checkin', t: 5, pid: 1, conn: 'c1', at: [APP, 6, 'a'], txOpen: true },
      { k: 'checkout', t: 6, pid: 1, conn: 'c1', at: [APP, 20, 'b'] },
      { k: 'stmt', t: 7, pid: 1, conn: 'c1', tx: 't1', sql: 'DROP TABLE accounts', at: [APP, 21, 'b'] },
      { k: 'commit', t: 8, pid: 1, conn: 'c1', tx: 't1', at: [APP, 22, 'b'] },
    ]);
    assert.deepEqual(poolReleaseInTransactionRule.check(m), []);
  });

  test('one borrower per check-out: nothing to report', () => {
    const m = model([
      { k: 'connect', t: 1, pid: 1, conn: 'c1', db: pg, driver: 'pg', pool: 'p1' },
      { k: 'checkout', t: 2, pid: 1, conn: 'c1' },
      { k: 'begin', t: 3, pid: 1, conn: 'c1', tx: 't1' },
      { k: 'stmt', t: 4, pid: 1, conn: 'c1', tx: 't1', sql: 'UPDATE accounts SET balance = 0', rows: 1, at: [APP, 5, 'a'] },
      { k: 'commit', t: 5, pid: 1, conn: 'c1', tx: 't1' },
      { k: 'checkin', t: 6, pid: 1, conn: 'c1' },
      { k: 'checkout', t: 7, pid: 1, conn: 'c1' },
    ]);
    assert.deepEqual(poolReleaseInTransactionRule.check(m), []);
  });
});

describe('test-state-leak key matching', () => {
  test('PostgreSQL DETAIL against pyformat multi-row parameters picks the committing test, not the latest commit', () => {
    const insert = 'INSERT INTO users (email, name) VALUES (%(email__0)s, %(name__0)s), (%(email__1)s, %(name__1)s)';
    const m = model([
      { k: 'test_start', t: 1, pid: 1, id: 't::a', name: 'a', file: TESTS },
      { k: 'connect', t: 2, pid: 1, conn: 'c1', db: pg, driver: 'psycopg2' },
      { k: 'begin', t: 3, pid: 1, conn: 'c1', tx: 't1' },
      { k: 'stmt', t: 4, pid: 1, conn: 'c1', tx: 't1', sql: insert, params: { email__0: 'x@e.com', name__0: 'X', email__1: 'alice@e.com', name__1: 'A' }, at: [TESTS, 10, 'test_a'] },
      { k: 'commit', t: 5, pid: 1, conn: 'c1', tx: 't1', at: [TESTS, 11, 'test_a'] },
      { k: 'test_end', t: 6, pid: 1, id: 't::a', outcome: 'passed' },
      { k: 'test_start', t: 7, pid: 1, id: 't::b', name: 'b', file: TESTS },
      { k: 'begin', t: 8, pid: 1, conn: 'c1', tx: 't2' },
      { k: 'stmt', t: 9, pid: 1, conn: 'c1', tx: 't2', sql: 'INSERT INTO users (email, name) VALUES (%(email)s, %(name)s)', params: { email: 'bob@e.com', name: 'B' }, at: [TESTS, 20, 'test_b'] },
      { k: 'commit', t: 10, pid: 1, conn: 'c1', tx: 't2', at: [TESTS, 21, 'test_b'] },
      { k: 'test_end', t: 11, pid: 1, id: 't::b', outcome: 'passed' },
      { k: 'test_start', t: 12, pid: 1, id: 't::c', name: 'c', file: TESTS },
      { k: 'begin', t: 13, pid: 1, conn: 'c1', tx: 't3' },
      {
        k: 'stmt', t: 14, pid: 1, conn: 'c1', tx: 't3', sql: 'INSERT INTO users (email, name) VALUES (%(email)s, %(name)s)', params: { email: 'alice@e.com', name: 'A' }, at: [APP, 30, 'register'],
        err: { type: 'UniqueViolation', message: 'duplicate key value violates unique constraint "users_email_key"', code: '23505', detail: 'Key (email)=(alice@e.com) already exists.' },
      },
      { k: 'rollback', t: 15, pid: 1, conn: 'c1', tx: 't3', cause: 'error', at: [APP, 30, 'register'] },
      { k: 'test_end', t: 16, pid: 1, id: 't::c', outcome: 'failed' },
    ]);
    const found = testStateLeakRule.check(m);
    assert.equal(found.length, 1, JSON.stringify(found));
    assert.equal(found[0].severity, 'error');
    assert.deepEqual([found[0].location.file, found[0].location.line], [TESTS, 11]);
    assert.equal(found[0].test, 't::c');
    assert.match(found[0].message, /email = "alice@e\.com"/);
  });
});

describe('missing-commit leaves deliberate rollbacks alone', () => {
  test('explicit and error rollbacks, and a test-owned session closed at teardown, are not missing commits', () => {
    const write = (t: number, tx: string, sess: string, at: [string, number, string]) => ({ k: 'stmt', t, pid: 1, conn: 'c1', tx, sess, sql: 'INSERT INTO jobs (name) VALUES (?)', rows: 1, at });
    const m = model([
      { k: 'test_start', t: 0, pid: 1, id: 'tests/test_x.py::test_x', name: 'test_x', file: TESTS, line: 1 },
      { k: 'connect', t: 1, pid: 1, conn: 'c1', db: { system: 'sqlite', file: '/proj/x.db' }, driver: 'sqlite3' },
      { k: 'session_open', t: 2, pid: 1, sess: 's1', at: [APP, 1, 'f'] },
      { k: 'begin', t: 3, pid: 1, conn: 'c1', tx: 't1', sess: 's1' },
      write(4, 't1', 's1', [APP, 2, 'f']),
      { k: 'rollback', t: 5, pid: 1, conn: 'c1', tx: 't1', sess: 's1', cause: 'explicit', at: [APP, 3, 'f'] },
      { k: 'begin', t: 6, pid: 1, conn: 'c1', tx: 't2', sess: 's1' },
      write(7, 't2', 's1', [APP, 4, 'f']),
      { k: 'rollback', t: 8, pid: 1, conn: 'c1', tx: 't2', sess: 's1', cause: 'error', at: [APP, 4, 'f'] },
      { k: 'session_open', t: 9, pid: 1, sess: 's2', at: [CONFTEST, 10, 'session'] },
      { k: 'begin', t: 10, pid: 1, conn: 'c1', tx: 't3', sess: 's2' },
      write(11, 't3', 's2', [TESTS, 5, 'test_x']),
      { k: 'rollback', t: 12, pid: 1, conn: 'c1', tx: 't3', sess: 's2', cause: 'session-close', at: [CONFTEST, 10, 'session'] },
      // The same close, but of a session the app opened: that one is a missing commit.
      { k: 'session_open', t: 13, pid: 1, sess: 's3', at: [APP, 40, 'worker'] },
      { k: 'begin', t: 14, pid: 1, conn: 'c1', tx: 't4', sess: 's3' },
      write(15, 't4', 's3', [APP, 41, 'worker']),
      { k: 'rollback', t: 16, pid: 1, conn: 'c1', tx: 't4', sess: 's3', cause: 'exit' },
      // The test then looks for the row on a connection of its own, and fails: the consequence.
      { k: 'connect', t: 17, pid: 1, conn: 'c2', db: { system: 'sqlite', file: '/proj/x.db' }, driver: 'sqlite3' },
      { k: 'stmt', t: 18, pid: 1, conn: 'c2', sql: 'SELECT name FROM jobs', at: [TESTS, 9, 'test_x'] },
      { k: 'test_end', t: 19, pid: 1, id: 'tests/test_x.py::test_x', outcome: 'failed' },
    ]);
    const found = missingCommitRule.check(m);
    assert.equal(found.length, 1, JSON.stringify(found));
    // Ended by process exit, nowhere in the writing code: the finding sits on the write.
    assert.deepEqual([found[0].location.file, found[0].location.line, found[0].severity], [APP, 41, 'error']);
    assert.match(found[0].message, /process exited/);
  });
});

describe('missing-commit earns its severity from what the lost write did', () => {
  // App code opens a session, autoflushes an INSERT and is closed at teardown without COMMIT.
  function run(outcome: 'passed' | 'failed', otherSessionReads: boolean) {
    return model([
      { k: 'test_start', t: 0, pid: 1, id: 'tests/test_x.py::test_x', name: 'test_x', file: TESTS, line: 1 },
      { k: 'connect', t: 1, pid: 1, conn: 'c1', db: { system: 'sqlite', file: '/proj/x.db' }, driver: 'sqlite3' },
      { k: 'session_open', t: 2, pid: 1, sess: 's1', at: [APP, 10, 'Tag.__init__'] },
      { k: 'begin', t: 3, pid: 1, conn: 'c1', tx: 't1', sess: 's1' },
      { k: 'stmt', t: 4, pid: 1, conn: 'c1', tx: 't1', sess: 's1', sql: 'INSERT INTO tags (name) VALUES (?)', rows: 1, at: [APP, 12, 'Tag.__init__'] },
      { k: 'stmt', t: 5, pid: 1, conn: 'c1', tx: 't1', sess: 's1', sql: 'SELECT count(*) FROM tags', at: [APP, 12, 'Tag.__init__'] },
      { k: 'rollback', t: 6, pid: 1, conn: 'c1', tx: 't1', sess: 's1', cause: 'session-close', at: [CONFTEST, 20, 'tearDown'] },
      ...(otherSessionReads
        ? [
            { k: 'connect', t: 7, pid: 1, conn: 'c2', db: { system: 'sqlite', file: '/proj/x.db' }, driver: 'sqlite3' },
            { k: 'stmt', t: 8, pid: 1, conn: 'c2', sql: 'SELECT name FROM tags', at: [TESTS, 9, 'test_x'] },
          ]
        : []),
      { k: 'test_end', t: 9, pid: 1, id: 'tests/test_x.py::test_x', outcome },
    ]);
  }

  test('nobody else read the table and the test passed: ordinary unit-test practice, no finding', () => {
    assert.deepEqual(missingCommitRule.check(run('passed', false)), []);
  });

  test('another session read the table but the test passed: a warning', () => {
    assert.deepEqual(missingCommitRule.check(run('passed', true)).map((f) => f.severity), ['warning']);
  });

  test('another session read the table and the test failed: an error, with the read as related', () => {
    const [f] = missingCommitRule.check(run('failed', true));
    assert.equal(f.severity, 'error');
    assert.ok(f.related.some((r) => r.file === TESTS && r.line === 9), JSON.stringify(f.related));
  });
});

describe('lock-wait tells a race from an idle holder', () => {
  // Two worker threads on one shared-cache memory database: S3's UPDATE fails at once with
  // SQLite's table lock while S2, between its UPDATE and its COMMIT, holds it.
  const memory = { system: 'sqlite', name: 'file:claims?mode=memory&cache=shared', memory: true };
  const ms = 1e6;
  function race(holderEndsAt: number) {
    return model([
      { k: 'connect', t: 1, pid: 1, conn: 'c1', db: memory, driver: 'sqlite3' },
      { k: 'connect', t: 2, pid: 1, conn: 'c2', db: memory, driver: 'sqlite3' },
      { k: 'begin', t: 10 * ms, pid: 1, conn: 'c1', tx: 't1', th: 1 },
      { k: 'stmt', t: 11 * ms, dur: ms, pid: 1, conn: 'c1', tx: 't1', th: 1, sql: "UPDATE jobs SET status = 'RUNNING' WHERE id = 1", rows: 1, at: [APP, 11, 'claim'] },
      { k: 'begin', t: 12 * ms, pid: 1, conn: 'c2', tx: 't2', th: 2 },
      {
        k: 'stmt', t: 13 * ms, dur: ms, pid: 1, conn: 'c2', tx: 't2', th: 2, sql: "UPDATE jobs SET status = 'RUNNING' WHERE id = 1",
        err: { type: 'OperationalError', message: 'database table is locked' }, at: [APP, 11, 'claim'],
      },
      { k: 'rollback', t: 14 * ms, pid: 1, conn: 'c2', tx: 't2', cause: 'error', th: 2, at: [APP, 10, 'claim'] },
      { k: 'commit', t: holderEndsAt, pid: 1, conn: 'c1', tx: 't1', th: 1, at: [APP, 14, 'claim'] },
    ]);
  }

  test('a failure that did not wait, the holder committing right after: a race, no finding', () => {
    assert.deepEqual(lockWaitRule.check(race(15 * ms)), []);
  });

  test('the same failure while the holder stays open long after: the holder sat idle', () => {
    const found = lockWaitRule.check(race(3_000 * ms));
    assert.equal(found.length, 1, JSON.stringify(found));
    assert.match(found[0].message, /sat idle in transaction/);
  });
});

describe('uncommitted-read: a lookup that returned its row missed nothing', () => {
  // Two writers on their own connections; S2 holds INSERT ... RETURNING id (the key is the
  // sequence's, not in the parameters) while S1 reads its own committed row back by id.
  // The test failed for another reason: only the read's outcome tells whether it missed a row.
  function run(rows: number) {
    return model([
      { k: 'test_start', t: 0, pid: 1, id: 'tests/test_x.py::test_x', name: 'test_x', file: TESTS, line: 1 },
      { k: 'connect', t: 1, pid: 1, conn: 'c1', db: pg, driver: 'psycopg2' },
      { k: 'connect', t: 2, pid: 1, conn: 'c2', db: pg, driver: 'psycopg2' },
      { k: 'begin', t: 3, pid: 1, conn: 'c2', tx: 't2', sess: 's2' },
      {
        k: 'stmt', t: 4, pid: 1, conn: 'c2', tx: 't2', sess: 's2', rows: 1, at: [APP, 30, 'writer'],
        sql: 'INSERT INTO articles (name) VALUES (%(name)s) RETURNING articles.id', params: { name: 'w2-1' },
      },
      { k: 'begin', t: 5, pid: 1, conn: 'c1', tx: 't1', sess: 's1' },
      {
        k: 'stmt', t: 6, pid: 1, conn: 'c1', tx: 't1', sess: 's1', rows, at: [APP, 31, 'writer'],
        sql: 'SELECT articles.id, articles.name FROM articles WHERE articles.id = %(pk_1)s', params: { pk_1: 1 },
      },
      { k: 'commit', t: 7, pid: 1, conn: 'c1', tx: 't1', sess: 's1', at: [APP, 32, 'writer'] },
      { k: 'commit', t: 8, pid: 1, conn: 'c2', tx: 't2', sess: 's2', at: [APP, 32, 'writer'] },
      { k: 'test_end', t: 9, pid: 1, id: 'tests/test_x.py::test_x', outcome: 'failed' },
    ]);
  }

  test('the read returned its row: no finding', () => {
    assert.deepEqual(uncommittedReadRule.check(run(1)), []);
  });

  test('the read came back empty: it may have looked for the uncommitted row, an error', () => {
    assert.deepEqual(uncommittedReadRule.check(run(0)).map((f) => f.severity), ['error']);
  });
});

describe('Node traces', () => {
  const nodeModel = (lines: Record<string, unknown>[]) =>
    loadModel(traceDir({ 'node-1-aaaaaa.ndjson': [header(1, 1_000n, { lang: 'node', argv: ['node', '--test'] }), ...lines] }));

  test("a JS test file's own transaction, rolled back when it closes its connection, is not a missing commit", () => {
    for (const spec of ['/proj/src/orders.test.ts', '/proj/lib/orders.spec.mjs', '/proj/app/orders.test.cjs']) {
      const m = nodeModel([
        { k: 'test_start', t: 0, pid: 1, id: 'orders > keeps nothing', name: 'keeps nothing', file: spec, line: 1 },
        { k: 'connect', t: 1, pid: 1, conn: 'c1', db: pg, driver: 'pg', at: [spec, 2, 'x'] },
        { k: 'begin', t: 2, pid: 1, conn: 'c1', tx: 't1', at: [spec, 3, 'x'] },
        { k: 'stmt', t: 3, pid: 1, conn: 'c1', tx: 't1', sql: 'INSERT INTO orders (item) VALUES ($1)', rows: 1, at: [spec, 4, 'x'] },
        { k: 'rollback', t: 4, pid: 1, conn: 'c1', tx: 't1', cause: 'close', at: [spec, 5, 'x'] },
        { k: 'close', t: 5, pid: 1, conn: 'c1', at: [spec, 5, 'x'] },
        { k: 'test_end', t: 6, pid: 1, id: 'orders > keeps nothing', outcome: 'failed' },
      ]);
      assert.deepEqual(missingCommitRule.check(m), [], spec);
    }
  });

  test('two ORM transactions driving one pg Client at once are two async calls on one connection', () => {
    const APPJS = '/proj/app/stock.js';
    const stmt = (t: number, task: number, sql: string, dur: number) => ({ k: 'stmt', t, pid: 1, conn: 'c1', tx: 't1', sess: 's1', task, sql, dur, at: [APPJS, 21, 'reserve'] });
    const m = nodeModel([
      { k: 'connect', t: 1, pid: 1, conn: 'c1', db: pg, driver: 'pg', at: [APPJS, 16, 'connect'] },
      { k: 'session_open', t: 2, pid: 1, sess: 's1', cls: 'NodePgTransaction', at: [APPJS, 21, 'reserve'] },
      { k: 'session_open', t: 3, pid: 1, sess: 's2', cls: 'NodePgTransaction', at: [APPJS, 21, 'reserve'] },
      { k: 'begin', t: 10, pid: 1, conn: 'c1', tx: 't1', sess: 's1' },
      stmt(10, 1, 'BEGIN', 5),
      // Queued behind the first BEGIN on the same client: in flight from t=6.
      stmt(20, 2, 'BEGIN', 14),
      { k: 'commit', t: 30, pid: 1, conn: 'c1', tx: 't1', sess: 's1' },
    ]);
    const found = sharedConnectionConcurrencyRule.check(m);
    assert.equal(found.length, 1, JSON.stringify(found));
    assert.match(found[0].message, /two async calls/);
    assert.match(found[0].message, /a pool, not one shared client/);
    assert.doesNotMatch(found[0].message, /asyncio|sessionmaker/);
  });
});
