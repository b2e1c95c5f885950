// Cases a real run of today's agents cannot produce, on hand-built traces: a pool whose
// check-ins carry no txOpen flag (the Node agent's pools), PostgreSQL DETAIL keys against
// SQLAlchemy's multi-row parameter names, the transactions missing-commit must leave alone,
// and databases reached by no table read.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadModel } from '../../src/model/model';
import { commitEscapesRollbackRule } from '../../src/analysis/rules/commit-escapes-rollback';
import { lockWaitRule } from '../../src/analysis/rules/lock-wait';
import { missingCommitRule } from '../../src/analysis/rules/missing-commit';
import { nonTestDatabaseRule } from '../../src/analysis/rules/non-test-database';
import { poolReleaseInTransactionRule } from '../../src/analysis/rules/pool-release-in-transaction';
import { sharedConnectionConcurrencyRule } from '../../src/analysis/rules/shared-connection-concurrency';
import { sqliteMemoryIsolationRule } from '../../src/analysis/rules/sqlite-memory-isolation';
import { staleReadRule } from '../../src/analysis/rules/stale-read';
import { testStateLeakRule } from '../../src/analysis/rules/test-state-leak';
import { uncommittedReadRule } from '../../src/analysis/rules/uncommitted-read';
import type { DatabaseInfo } from '../../src/trace/schema';
import { header, trace, traceDir, type ProcessBuilder } from '../support/trace-builder';

const APP = '/proj/app/service.py';
const TESTS = '/proj/tests/test_things.py';
const CONFTEST = '/proj/tests/conftest.py';
const pg: DatabaseInfo = { system: 'postgresql', name: 'app', host: 'localhost', port: 5432 };
const sqliteFile: DatabaseInfo = { system: 'sqlite', file: '/proj/x.db' };

/** The model of one process's trace, written by `events`. */
function model(events: (p: ProcessBuilder) => void) {
  const run = trace();
  events(run.process(1, { t0: 1_000n }));
  return loadModel(run.write());
}

describe('pool-release-in-transaction without a txOpen flag', () => {
  test('a check-out that finds a transaction already open is reported at the last statement before it', () => {
    const m = model((p) =>
      p
        .connect('c1', pg, { driver: 'pg', pool: 'p1' })
        .checkout({ at: [APP, 3, 'a'] })
        .begin('t1', { at: [APP, 4, 'a'] })
        .execute('UPDATE accounts SET balance = 0', { rows: 1, at: [APP, 5, 'a'] })
        .checkin({ at: [APP, 6, 'a'] })
        .checkout({ at: [APP, 20, 'b'] })
        .execute('SELECT * FROM accounts', { at: [APP, 21, 'b'] })
        .commit({ at: [APP, 22, 'b'] }),
    );
    const found = poolReleaseInTransactionRule.check(m);
    assert.equal(found.length, 1, JSON.stringify(found));
    assert.equal(found[0].severity, 'error');
    assert.deepEqual([found[0].location.file, found[0].location.line], [APP, 5]);
    assert.ok(found[0].related.some((r) => r.line === 21));
    assert.match(found[0].message, /committed it/);
  });

  test('a stranger transaction that only read: nothing published, nothing to report', () => {
    const m = model((p) =>
      p
        .connect('c1', pg, { driver: 'pg', pool: 'p1' })
        .checkout({ at: [APP, 3, 'a'] })
        .begin('t1', { at: [APP, 4, 'a'] })
        .execute('SELECT * FROM accounts', { rows: 1, at: [APP, 5, 'a'] })
        .checkin({ at: [APP, 6, 'a'], txOpen: true })
        .checkout({ at: [APP, 20, 'b'] })
        .execute('DROP TABLE accounts', { at: [APP, 21, 'b'] })
        .commit({ at: [APP, 22, 'b'] }),
    );
    assert.deepEqual(poolReleaseInTransactionRule.check(m), []);
  });

  test('one borrower per check-out: nothing to report', () => {
    const m = model((p) =>
      p
        .connect('c1', pg, { driver: 'pg', pool: 'p1' })
        .checkout()
        .begin('t1')
        .execute('UPDATE accounts SET balance = 0', { rows: 1, at: [APP, 5, 'a'] })
        .commit()
        .checkin()
        .checkout(),
    );
    assert.deepEqual(poolReleaseInTransactionRule.check(m), []);
  });
});

describe('pool-release-in-transaction: BEGIN through pg-pool\'s pool.query', () => {
  const JS = '/proj/app/orders.js';
  /** pool.query('BEGIN') in placeOrder, then its INSERT and COMMIT through pool.query too: one client, handed back each time. */
  function oneShotTransaction(p: ProcessBuilder, borrowerAt: [string, number, string]): ProcessBuilder {
    return p
      .connect('c1', pg, { driver: 'pg', pool: 'p1' })
      .begin('t1', { at: [JS, 4, 'placeOrder'] })
      .execute('BEGIN', { pool: 'p1', at: [JS, 4, 'placeOrder'] })
      .checkin({ pool: 'p1', txOpen: true, at: [JS, 4, 'placeOrder'] })
      .execute('INSERT INTO orders (item) VALUES ($1)', { pool: 'p1', rows: 1, at: borrowerAt })
      .checkin({ pool: 'p1', txOpen: true, at: borrowerAt })
      .execute('COMMIT', { pool: 'p1', at: [JS, 6, 'placeOrder'] })
      .commit({ at: [JS, 6, 'placeOrder'] });
  }

  test('the same function going on inside it on the client the pool handed back: a warning at the BEGIN', () => {
    const found = poolReleaseInTransactionRule.check(model((p) => oneShotTransaction(p, [JS, 5, 'placeOrder'])));
    assert.equal(found.length, 1, JSON.stringify(found));
    assert.equal(found[0].severity, 'warning');
    assert.deepEqual([found[0].location.file, found[0].location.line], [JS, 4]);
    assert.match(found[0].message, /went through pool\.query/);
    assert.match(found[0].message, /pool\.connect\(\)/);
    assert.deepEqual(
      found[0].related.map((r) => r.line),
      [5, 6],
    );
  });

  test('other code running inside it: an error, the stranger named', () => {
    const found = poolReleaseInTransactionRule.check(model((p) => oneShotTransaction(p, [APP, 30, 'audit'])));
    assert.equal(found.length, 1, JSON.stringify(found));
    assert.equal(found[0].severity, 'error');
    assert.deepEqual([found[0].location.file, found[0].location.line], [JS, 4]);
    assert.match(found[0].message, /stranger's transaction/);
  });

  test('a BEGIN on a checked-out client, released before anything else ran: nothing held, nothing to report, as before', () => {
    const m = model((p) =>
      p
        .connect('c1', pg, { driver: 'pg', pool: 'p1' })
        .checkout({ pool: 'p1', at: [JS, 3, 'reserve'] })
        .begin('t1', { at: [JS, 4, 'reserve'] })
        .execute('BEGIN', { at: [JS, 4, 'reserve'] })
        .checkin({ pool: 'p1', txOpen: true, at: [JS, 5, 'reserve'] })
        .execute('SELECT * FROM orders', { pool: 'p1', at: [APP, 30, 'audit'] })
        .checkin({ pool: 'p1', txOpen: true, at: [APP, 30, 'audit'] }),
    );
    assert.deepEqual(poolReleaseInTransactionRule.check(m), []);
  });
});

describe('test-state-leak key matching', () => {
  test('PostgreSQL DETAIL against pyformat multi-row parameters picks the committing test, not the latest commit', () => {
    const insert = 'INSERT INTO users (email, name) VALUES (%(email__0)s, %(name__0)s), (%(email__1)s, %(name__1)s)';
    const insertOne = 'INSERT INTO users (email, name) VALUES (%(email)s, %(name)s)';
    const m = model((p) =>
      p
        .testStart('t::a', { file: TESTS })
        .connect('c1', pg)
        .begin('t1')
        .execute(insert, { params: { email__0: 'x@e.com', name__0: 'X', email__1: 'alice@e.com', name__1: 'A' }, at: [TESTS, 10, 'test_a'] })
        .commit({ at: [TESTS, 11, 'test_a'] })
        .testEnd('passed')
        .testStart('t::b', { file: TESTS })
        .begin('t2')
        .execute(insertOne, { params: { email: 'bob@e.com', name: 'B' }, at: [TESTS, 20, 'test_b'] })
        .commit({ at: [TESTS, 21, 'test_b'] })
        .testEnd('passed')
        .testStart('t::c', { file: TESTS })
        .begin('t3')
        .execute(insertOne, {
          params: { email: 'alice@e.com', name: 'A' },
          at: [APP, 30, 'register'],
          err: { type: 'UniqueViolation', message: 'duplicate key value violates unique constraint "users_email_key"', code: '23505', detail: 'Key (email)=(alice@e.com) already exists.' },
        })
        .rollback('error', { at: [APP, 30, 'register'] })
        .testEnd('failed'),
    );
    const found = testStateLeakRule.check(m);
    assert.equal(found.length, 1, JSON.stringify(found));
    assert.equal(found[0].severity, 'error');
    assert.deepEqual([found[0].location.file, found[0].location.line], [TESTS, 11]);
    assert.equal(found[0].test, 't::c');
    assert.match(found[0].message, /email = "alice@e\.com"/);
  });
});

describe('test-state-leak: a deferred UNIQUE constraint, checked at COMMIT', () => {
  // t::a commits alice; t::b inserts alice again, and the deferred constraint fails its COMMIT.
  function run(secondKey: string) {
    const insert = 'INSERT INTO users (email) VALUES ($1)';
    const err = { type: 'DatabaseError', message: 'duplicate key value violates unique constraint "users_email_key"', code: '23505', detail: 'Key (email)=(alice@e.com) already exists.' };
    return model((p) =>
      p
        .testStart('t::a', { file: TESTS })
        .connect('c1', pg)
        .begin('t1')
        .execute(insert, { params: ['alice@e.com'], at: [TESTS, 10, 'a'] })
        .commit({ at: [TESTS, 11, 'a'] })
        .testEnd('passed')
        .testStart('t::b', { file: TESTS })
        .begin('t2')
        .execute(insert, { params: [secondKey], at: [TESTS, 20, 'b'] })
        .execute('COMMIT', { at: [TESTS, 21, 'b'], err })
        .rollback('error', { at: [TESTS, 21, 'b'] })
        .testEnd('passed'),
    );
  }

  test("the COMMIT's key is matched to the earlier test's commit, through the transaction's own INSERT of it", () => {
    const found = testStateLeakRule.check(run('alice@e.com'));
    assert.deepEqual(
      found.map((f) => [f.severity, f.location.line, f.test]),
      [['warning', 11, 't::b']],
    );
    assert.match(found[0].message, /its COMMIT at .*:21 failed/);
  });

  test('a COMMIT whose transaction wrote no such key names no table: nothing to match', () => {
    assert.deepEqual(testStateLeakRule.check(run('bob@e.com')), []);
  });
});

describe('test-state-leak with values written into the SQL text (pg-promise, Massive.js)', () => {
  const DETAIL = { type: 'Error', message: 'duplicate key value violates unique constraint "pairs_pkey"', code: '23505', detail: 'Key (key_one, key_two)=(123, 456) already exists.' };
  const run = (later: 'passed' | 'failed', insert: string) =>
    model((p) =>
      p
        .testStart('t::a', { file: TESTS })
        .connect('c1', pg)
        .execute(insert, { rows: 2, at: [TESTS, 10, 'a'] })
        .execute(`INSERT INTO "pairs" ("key_one", "key_two", "value") VALUES (7, 8, 'x') RETURNING *`, { rows: 1, at: [TESTS, 11, 'a'] })
        .testEnd('passed')
        .testStart('t::b', { file: TESTS })
        .execute(`INSERT INTO "pairs" ("key_one", "key_two", "value") VALUES (123, 456, 'hi') RETURNING *`, { at: [TESTS, 20, 'b'], err: DETAIL })
        .testEnd(later),
    );

  test('the keys are read from the literals of a multi-row VALUES list: an error for the test that failed on them', () => {
    const found = testStateLeakRule.check(run('failed', `INSERT INTO "pairs" ("value", "key_two", "key_one") VALUES ('it''s, (a) tuple', 1, 2), (E'b'::text, 456, 123)`));
    assert.equal(found.length, 1, JSON.stringify(found));
    assert.equal(found[0].severity, 'error');
    assert.deepEqual([found[0].location.file, found[0].location.line], [TESTS, 10]);
    assert.match(found[0].message, /key_one = "123", key_two = "456", the key the earlier test committed/);
  });

  test('a test that passed despite the collision (it meant it, or caught it) is warned of the order dependence', () => {
    const found = testStateLeakRule.check(run('passed', `INSERT INTO "pairs" ("key_one", "key_two") VALUES (123, 456)`));
    assert.equal(found.length, 1, JSON.stringify(found));
    assert.equal(found[0].severity, 'warning');
    assert.match(found[0].message, /The test passed: it depends on the earlier test having run first/);
  });

  test('placeholders, expressions and DEFAULT are no keys: nothing to match', () => {
    for (const insert of [
      'INSERT INTO "pairs" ("key_one", "key_two") VALUES ($1, $2)',
      'INSERT INTO "pairs" ("key_one", "key_two") VALUES (abs(-123), 456)',
      'INSERT INTO "pairs" ("key_one", "key_two") VALUES (DEFAULT, 456)',
      'INSERT INTO "pairs" ("key_one", "key_two") SELECT 123, 456',
    ]) {
      assert.deepEqual(testStateLeakRule.check(run('failed', insert)), [], insert);
    }
  });
});

describe('missing-commit leaves deliberate rollbacks alone', () => {
  test('explicit and error rollbacks, and a test-owned session closed at teardown, are not missing commits', () => {
    const insert = 'INSERT INTO jobs (name) VALUES (?)';
    const m = model((p) =>
      p
        .testStart('tests/test_x.py::test_x', { t: 0, file: TESTS, line: 1 })
        .connect('c1', sqliteFile)
        .sessionOpen('s1', { at: [APP, 1, 'f'] })
        .begin('t1', { sess: 's1' })
        .execute(insert, { rows: 1, at: [APP, 2, 'f'] })
        .rollback('explicit', { at: [APP, 3, 'f'] })
        .begin('t2', { sess: 's1' })
        .execute(insert, { rows: 1, at: [APP, 4, 'f'] })
        .rollback('error', { at: [APP, 4, 'f'] })
        .sessionOpen('s2', { at: [CONFTEST, 10, 'session'] })
        .begin('t3', { sess: 's2' })
        .execute(insert, { rows: 1, at: [TESTS, 5, 'test_x'] })
        .rollback('session-close', { at: [CONFTEST, 10, 'session'] })
        // The same close, but of a session the app opened: that one is a missing commit.
        .sessionOpen('s3', { at: [APP, 40, 'worker'] })
        .begin('t4', { sess: 's3' })
        .execute(insert, { rows: 1, at: [APP, 41, 'worker'] })
        .rollback('exit')
        // The test then looks for the row on a connection of its own, and fails: the consequence.
        .connect('c2', sqliteFile)
        .execute('SELECT name FROM jobs', { at: [TESTS, 9, 'test_x'] })
        .testEnd('failed'),
    );
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
    return model((p) => {
      p.testStart('tests/test_x.py::test_x', { t: 0, file: TESTS, line: 1 })
        .connect('c1', sqliteFile)
        .sessionOpen('s1', { at: [APP, 10, 'Tag.__init__'] })
        .begin('t1', { sess: 's1' })
        .execute('INSERT INTO tags (name) VALUES (?)', { rows: 1, at: [APP, 12, 'Tag.__init__'] })
        .execute('SELECT count(*) FROM tags', { at: [APP, 12, 'Tag.__init__'] })
        .rollback('session-close', { at: [CONFTEST, 20, 'tearDown'] });
      if (otherSessionReads) p.connect('c2', sqliteFile).execute('SELECT name FROM tags', { at: [TESTS, 9, 'test_x'] });
      p.testEnd(outcome, { t: 9 });
    });
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
  const memory: DatabaseInfo = { system: 'sqlite', name: 'file:claims?mode=memory&cache=shared', memory: true };
  const ms = 1e6;
  const claim = "UPDATE jobs SET status = 'RUNNING' WHERE id = 1";
  function race(holderEndsAt: number) {
    return model((p) =>
      p
        .connect('c1', memory)
        .connect('c2', memory)
        .begin('t1', { conn: 'c1', t: 10 * ms, th: 1 })
        .execute(claim, { t: 11 * ms, dur: ms, th: 1, rows: 1, at: [APP, 11, 'claim'] })
        .begin('t2', { conn: 'c2', t: 12 * ms, th: 2 })
        .execute(claim, { t: 13 * ms, dur: ms, th: 2, err: { type: 'OperationalError', message: 'database table is locked' }, at: [APP, 11, 'claim'] })
        .rollback('error', { t: 14 * ms, th: 2, at: [APP, 10, 'claim'] })
        .commit({ conn: 'c1', t: holderEndsAt, th: 1, at: [APP, 14, 'claim'] }),
    );
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
    return model((p) =>
      p
        .testStart('tests/test_x.py::test_x', { t: 0, file: TESTS, line: 1 })
        .connect('c1', pg)
        .connect('c2', pg)
        .begin('t2', { sess: 's2' })
        .execute('INSERT INTO articles (name) VALUES (%(name)s) RETURNING articles.id', { params: { name: 'w2-1' }, rows: 1, at: [APP, 30, 'writer'] })
        .begin('t1', { conn: 'c1', sess: 's1' })
        .execute('SELECT articles.id, articles.name FROM articles WHERE articles.id = %(pk_1)s', { params: { pk_1: 1 }, rows, at: [APP, 31, 'writer'] })
        .commit({ at: [APP, 32, 'writer'] })
        .commit({ conn: 'c2', at: [APP, 32, 'writer'] })
        .testEnd('failed'),
    );
  }

  test('the read returned its row: no finding', () => {
    assert.deepEqual(uncommittedReadRule.check(run(1)), []);
  });

  test('the read came back empty: it may have looked for the uncommitted row, an error', () => {
    assert.deepEqual(uncommittedReadRule.check(run(0)).map((f) => f.severity), ['error']);
  });
});

describe('uncommitted-read: sibling units of work opened by one line', () => {
  // S2 holds a DELETE of every item while S1 reads them all, the two transactions opened by the
  // same line or by two lines; S2 then ends as `writer` says, S1 rolls back.
  function run(writerLine: number, writer: 'commit' | 'rollback') {
    return model((p) => {
      p.testStart('spec/catalog.spec.js > catalog > replaces', { t: 0, file: TESTS, line: 1 })
        .connect('c1', pg)
        .connect('c2', pg)
        .begin('t2', { sess: 's2', at: [APP, writerLine, 'replaceItems'] })
        .execute('DELETE FROM items', { rows: 2, at: [APP, 14, 'replaceItems'] })
        .begin('t1', { conn: 'c1', sess: 's1', at: [APP, 11, 'replaceItems'] })
        .execute('SELECT * FROM items', { rows: 2, at: [APP, 13, 'replaceItems'] })
        .rollback('explicit', { at: [APP, 11, 'replaceItems'] });
      if (writer === 'commit') p.commit({ conn: 'c2', at: [APP, 11, 'replaceItems'] });
      else p.rollback('explicit', { conn: 'c2', at: [APP, 11, 'replaceItems'] });
      p.testEnd('passed');
    });
  }

  test('a sibling that rolled back wrote nothing the other was meant to see: no finding', () => {
    assert.deepEqual(uncommittedReadRule.check(run(11, 'rollback')), []);
  });

  test('a sibling that committed after the read keeps the warning', () => {
    assert.deepEqual(uncommittedReadRule.check(run(11, 'commit')).map((f) => f.severity), ['warning']);
  });

  test('a rolled-back writer opened by another line (a fixture) keeps the warning', () => {
    assert.deepEqual(uncommittedReadRule.check(run(40, 'rollback')).map((f) => f.severity), ['warning']);
  });
});

describe('stale-read: a test that contrasts the snapshot it took with what it committed', () => {
  // The test (line 10 of its file) begins a REPEATABLE READ transaction, counts, has another
  // transaction (begun at `writerLine`, in the test's file) commit an INSERT, and counts again in the snapshot.
  function run(writerLine: number, outcome: 'passed' | 'failed', readLine = 16) {
    return model((p) =>
      p
        .testStart('tests/isolation.test.ts > a repeatable read sees its snapshot', { t: 0, file: TESTS, line: 10 })
        .connect('c1', pg)
        .connect('c2', pg)
        .begin('t1', { conn: 'c1', iso: 'REPEATABLE READ', at: [TESTS, 11, 'it'] })
        .execute('SELECT count(*) FROM users', { conn: 'c1', rows: 1, at: [TESTS, 12, 'it'] })
        .begin('t2', { conn: 'c2', at: [TESTS, writerLine, 'it'] })
        .execute('INSERT INTO users (name) VALUES ($1)', { conn: 'c2', params: ['ada'], rows: 1, at: [TESTS, writerLine, 'it'] })
        .commit({ conn: 'c2', at: [TESTS, writerLine, 'it'] })
        .execute('SELECT count(*) FROM users', { conn: 'c1', rows: 1, at: [readLine === 16 ? TESTS : APP, readLine, 'it'] })
        .commit({ conn: 'c1', at: [TESTS, 11, 'it'] })
        .testEnd(outcome),
    );
  }

  test('a passing test that began both transactions and read in its own body: no finding', () => {
    assert.deepEqual(staleReadRule.check(run(14, 'passed')), []);
  });

  test('a commit from a hook (declared above the test) keeps the warning', () => {
    assert.deepEqual(staleReadRule.check(run(5, 'passed')).map((f) => f.severity), ['warning']);
  });

  test('a stale read by the code under test keeps the warning', () => {
    assert.deepEqual(staleReadRule.check(run(14, 'passed', 40)).map((f) => f.severity), ['warning']);
  });

  test('a test that failed keeps the error', () => {
    assert.deepEqual(staleReadRule.check(run(14, 'failed')).map((f) => f.severity), ['error']);
  });
});

describe('commit-escapes-rollback: a test that reads what survived its own rollback', () => {
  // The test's transaction (c1) writes, an inner one on c2 commits an audit row, the test's
  // transaction rolls back; then the test reads `readTable`, or nothing.
  function run(readTable: string | undefined, outcome: 'passed' | 'failed' = 'passed') {
    return model((p) => {
      p.testStart('tests/test_things.py::test_propagation', { t: 0, file: TESTS, line: 1 })
        .connect('c1', pg)
        .connect('c2', pg)
        .begin('t1', { conn: 'c1', at: [TESTS, 3, 'test_propagation'] })
        .execute('INSERT INTO orders (item) VALUES (1)', { rows: 1, at: [TESTS, 4, 'test_propagation'] })
        .begin('t2', { conn: 'c2', at: [APP, 7, 'record'] })
        .execute('INSERT INTO audit (text) VALUES (1)', { rows: 1, at: [APP, 8, 'record'] })
        .commit({ at: [APP, 7, 'record'] })
        .rollback('explicit', { conn: 'c1', at: [TESTS, 3, 'test_propagation'] });
      if (readTable) p.execute(`SELECT * FROM ${readTable}`, { conn: 'c1', rows: 1, at: [TESTS, 9, 'test_propagation'] });
      p.testEnd(outcome);
    });
  }

  test('the test reads the committed table after the rollback: it checks which unit of work survived, no finding', () => {
    assert.deepEqual(commitEscapesRollbackRule.check(run('audit')), []);
  });

  test('a test that failed after reading it keeps the warning: it may have found the escaped row where it expected none', () => {
    assert.deepEqual(
      commitEscapesRollbackRule.check(run('audit', 'failed')).map((f) => [f.severity, f.location.file, f.location.line]),
      [['warning', APP, 7]],
    );
  });

  test('nothing read after the rollback, or another table: the rollback was its isolation, a warning at the commit', () => {
    for (const table of [undefined, 'orders']) {
      const found = commitEscapesRollbackRule.check(run(table));
      assert.deepEqual(
        found.map((f) => [f.severity, f.location.file, f.location.line]),
        [['warning', APP, 7]],
        String(table),
      );
      assert.match(found[0].message, /join_transaction_mode/);
    }
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

describe('sqlite-memory-isolation: a fresh memory database per spec file', () => {
  const memory: DatabaseInfo = { system: 'sqlite', memory: true, name: ':memory:' };
  const SPEC = '/proj/spec/people.spec.js';
  /** One database written, then (closed or not) a second one made and read before it has rows. */
  const twoDatabases = (p: ProcessBuilder, firstCloses: boolean): ProcessBuilder => {
    p.connect('c1', memory, { driver: 'better-sqlite3', at: [SPEC, 3, 'before'] })
      .execute('CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT)', { at: [SPEC, 4, 'before'] })
      .execute('INSERT INTO people (name) VALUES (?)', { params: ['ada'], rows: 1, at: [SPEC, 5, 'before'] });
    if (firstCloses) p.close({ at: [SPEC, 8, 'after'] });
    return p
      .connect('c2', memory, { driver: 'better-sqlite3', at: [SPEC, 3, 'before'] })
      .execute('CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT)', { at: [SPEC, 4, 'before'] })
      .execute('SELECT count(*) FROM people', { at: [SPEC, 6, 'before'] });
  };

  test("a database opened after the other closed, read empty outside any test: silent (each spec file's own)", () => {
    const m = model((p) => twoDatabases(p, true));
    assert.deepEqual(sqliteMemoryIsolationRule.check(m), []);
  });

  test('the same in a test that then failed: an error, the missed rows as its evidence', () => {
    const m = model((p) => twoDatabases(p.testStart('spec/people.spec.js > counts people', { file: SPEC, line: 2 }), true).testEnd('failed'));
    const found = sqliteMemoryIsolationRule.check(m);
    assert.equal(found.length, 1, JSON.stringify(found));
    assert.equal(found[0].severity, 'error');
    assert.match(found[0].message, /could not see the rows/);
  });

  test('both databases in use at once, the read in a passing test: still an error', () => {
    const m = model((p) =>
      twoDatabases(p.testStart('spec/people.spec.js > counts people', { file: SPEC, line: 2 }), false)
        .execute('SELECT count(*) FROM people', { conn: 'c1', at: [SPEC, 7, 'before'] })
        .testEnd('passed'),
    );
    const found = sqliteMemoryIsolationRule.check(m);
    assert.deepEqual(found.map((f) => f.severity), ['error']);
  });

  test('the first database left open but never used again, the read in a passing test: silent (a new app per test, as CTFd builds)', () => {
    const m = model((p) => twoDatabases(p.testStart('spec/people.spec.js > counts people', { file: SPEC, line: 2 }), false).testEnd('passed'));
    assert.deepEqual(sqliteMemoryIsolationRule.check(m), []);
  });
});

describe('sqlite-memory-isolation: a second engine lists the tables of its own empty database', () => {
  const memory: DatabaseInfo = { system: 'sqlite', memory: true, name: ':memory:', url: 'sqlite://' };
  const EXPORT = '/proj/app/exports.py';
  const LIST = "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name";
  /** The app's database made and written; an export's own engine lists the tables; the app goes on. */
  const exportBeside = (p: ProcessBuilder, exportCreates: boolean): ProcessBuilder => {
    p.testStart('tests/test_export.py::test_export', { file: TESTS, line: 1 })
      .connect('c1', memory, { engineAt: [APP, 10, 'create_app'], at: [APP, 10, 'create_app'] })
      .execute('CREATE TABLE challenges (id INTEGER PRIMARY KEY, name TEXT)', { at: [APP, 11, 'create_app'] })
      .execute('INSERT INTO challenges (name) VALUES (?)', { params: ['wolf'], rows: 1, at: [TESTS, 3, 'test_export'] })
      .connect('c2', memory, { engineAt: [EXPORT, 5, 'export_all'], at: [EXPORT, 6, 'export_all'] })
      .execute(LIST, { at: [EXPORT, 6, 'export_all'] });
    if (exportCreates) p.execute('CREATE TABLE challenges (id INTEGER PRIMARY KEY, name TEXT)', { at: [EXPORT, 7, 'export_all'] });
    return p.execute('SELECT challenges.id FROM challenges', { conn: 'c1', at: [TESTS, 5, 'test_export'] }).testEnd('passed');
  };

  test('an error at the engine that came up empty, while the app database is in use', () => {
    const found = sqliteMemoryIsolationRule.check(model((p) => exportBeside(p, false)));
    assert.equal(found.length, 1, JSON.stringify(found));
    assert.equal(found[0].severity, 'error');
    assert.deepEqual([found[0].location.file, found[0].location.line], [EXPORT, 5]);
    assert.match(found[0].message, /listed the tables of sqlite_master at .*exports\.py:6 and found none, although C1 had created challenges/);
    // Two engines: a StaticPool on either alone would not make them share one.
    assert.match(found[0].message, /no pool setting shares a connection between two engines: make one engine \(poolclass=StaticPool\) serve both, or give both the same shared-cache database/);
  });

  test('silent when the second database then creates its own tables: it was being set up', () => {
    const found = sqliteMemoryIsolationRule.check(model((p) => exportBeside(p, true)));
    assert.deepEqual(found.filter((f) => f.severity === 'error'), []);
  });
});

describe('test-state-leak picks the latest committed key between the last cleanup and the violation', () => {
  const insertOne = 'INSERT INTO users (email, name) VALUES (%(email)s, %(name)s)';
  const duplicate = (email: string) => ({
    type: 'UniqueViolation',
    message: 'duplicate key value violates unique constraint "users_email_key"',
    code: '23505',
    detail: `Key (email)=(${email}) already exists.`,
  });
  // a commits alice and dave; b wipes the table, then commits alice again; c commits bob; d fails
  // on alice and e on bob; f commits alice once more, after both failures; g fails on dave, whose
  // only commit the wipe removed: no earlier test's row is there to blame.
  const m = model((p) =>
    p
      .connect('c1', pg)
      .testStart('t::a', { file: TESTS })
      .begin()
      .execute(insertOne, { params: { email: 'alice@e.com', name: 'A' }, at: [TESTS, 10, 'test_a'] })
      .execute(insertOne, { params: { email: 'dave@e.com', name: 'D' }, at: [TESTS, 10, 'test_a'] })
      .commit({ at: [TESTS, 11, 'test_a'] })
      .testEnd('passed')
      .testStart('t::b', { file: TESTS })
      .begin()
      .execute('DELETE FROM users', { at: [TESTS, 19, 'test_b'] })
      .commit({ at: [TESTS, 19, 'test_b'] })
      .begin()
      .execute(insertOne, { params: { email: 'alice@e.com', name: 'A' }, at: [TESTS, 20, 'test_b'] })
      .commit({ at: [TESTS, 21, 'test_b'] })
      .testEnd('passed')
      .testStart('t::c', { file: TESTS })
      .begin()
      .execute(insertOne, { params: { email: 'bob@e.com', name: 'B' }, at: [TESTS, 30, 'test_c'] })
      .commit({ at: [TESTS, 31, 'test_c'] })
      .testEnd('passed')
      .testStart('t::d', { file: TESTS })
      .begin()
      .execute(insertOne, { params: { email: 'alice@e.com', name: 'A' }, at: [APP, 40, 'register'], err: duplicate('alice@e.com') })
      .rollback('error', { at: [APP, 40, 'register'] })
      .testEnd('failed')
      .testStart('t::e', { file: TESTS })
      .begin()
      .execute(insertOne, { params: { email: 'bob@e.com', name: 'B' }, at: [APP, 40, 'register'], err: duplicate('bob@e.com') })
      .rollback('error', { at: [APP, 40, 'register'] })
      .testEnd('failed')
      .testStart('t::f', { file: TESTS })
      .begin()
      .execute(insertOne, { params: { email: 'alice@e.com', name: 'A' }, at: [TESTS, 60, 'test_f'] })
      .commit({ at: [TESTS, 61, 'test_f'] })
      .testEnd('passed')
      .testStart('t::g', { file: TESTS })
      .begin()
      .execute(insertOne, { params: { email: 'dave@e.com', name: 'D' }, at: [APP, 40, 'register'], err: duplicate('dave@e.com') })
      .rollback('error', { at: [APP, 40, 'register'] })
      .testEnd('failed'),
  );

  test('each violation is laid at the commit of its own key: not one before the cleanup, not one after it failed', () => {
    const found = testStateLeakRule.check(m);
    const byTest = new Map(found.map((f) => [f.test, f]));
    assert.equal(found.length, 2, JSON.stringify(found));
    assert.equal(byTest.get('t::d')?.location.line, 21);
    assert.match(byTest.get('t::d')!.message, /^t::b committed rows into users/);
    assert.equal(byTest.get('t::e')?.location.line, 31);
    assert.match(byTest.get('t::e')!.message, /^t::c committed rows into users/);
    assert.ok(found.every((f) => f.severity === 'error'));
  });
});

describe('test-state-leak: installers racing on the same key in one test', () => {
  const insertOne = 'INSERT INTO users (email, name) VALUES ($1, $2)';
  const duplicate = {
    type: 'DatabaseError',
    message: 'duplicate key value violates unique constraint "users_email_key"',
    code: '23505',
    detail: 'Key (email)=(alice@e.com) already exists.',
  };
  // a commits alice; b deletes her with a filtered DELETE (no whole-table cleanup to the rule); then
  // c2 inserts alice and c3 tries to while c2's row is uncommitted: c3 waits, and fails once c2's
  // COMMIT (sent at `commitSent`, its reply recorded at `commitDone`) lands.
  const race = (commitSent: number, commitDone: number) =>
    model((p) => {
      p.connect('c1', pg)
        .testStart('t::a', { file: TESTS, t: 100 })
        .begin('t1', { t: 110 })
        .execute(insertOne, { params: ['alice@e.com', 'A'], t: 120, dur: 5, at: [TESTS, 10, 'test_a'] })
        .commit({ t: 130, at: [TESTS, 11, 'test_a'] })
        .testEnd('passed', { t: 140 })
        .testStart('t::b', { file: TESTS, t: 200 })
        .execute("DELETE FROM users WHERE email LIKE '%@e.com'", { t: 210, dur: 5, at: [TESTS, 20, 'test_b'] })
        .connect('c2', pg, { t: 220 })
        .connect('c3', pg, { t: 221 })
        .begin('t2', { conn: 'c2', t: 300 })
        .execute(insertOne, { conn: 'c2', params: ['alice@e.com', 'A'], t: 310, dur: 5, at: [APP, 40, 'install'] })
        .begin('t3', { conn: 'c3', t: 320 });
      const failure = { conn: 'c3', params: ['alice@e.com', 'A'], t: 500, dur: 170, at: [APP, 40, 'install'] as [string, number, string], err: duplicate };
      const commit = () => p.execute('COMMIT', { conn: 'c2', t: commitDone, dur: commitDone - commitSent, at: [APP, 42, 'install'] }).commit({ conn: 'c2', t: commitDone + 1, at: [APP, 42, 'install'] });
      // Events in the order they were recorded: the one that finished first is written first.
      if (commitDone < failure.t) {
        commit();
        p.execute(insertOne, failure);
      } else {
        p.execute(insertOne, failure);
        commit();
      }
      // The test fails on it, as graphile-worker's does when the leftover row is an earlier test's.
      p.rollback('error', { conn: 'c3', t: 600, at: [APP, 44, 'install'] }).testEnd('failed', { t: 700 });
    });

  test('the violation is on the row the other installer committed while it waited: no leak', () => {
    assert.deepEqual(testStateLeakRule.check(race(400, 450)), []);
  });

  test("the same when the COMMIT's reply is recorded after the failure it caused", () => {
    assert.deepEqual(testStateLeakRule.check(race(400, 520)), []);
  });

  test('a commit sent after the failure came back cannot be what it hit: the earlier test keeps the error', () => {
    const found = testStateLeakRule.check(race(550, 560));
    assert.equal(found.length, 1, JSON.stringify(found));
    assert.equal(found[0].severity, 'error');
    assert.deepEqual([found[0].location.file, found[0].location.line], [TESTS, 11]);
  });
});

describe('test-state-leak: a committed DROP SCHEMA removes the tables in it', () => {
  const duplicate = {
    type: 'DatabaseError',
    message: 'duplicate key value violates unique constraint "migrations_pkey"',
    code: '23505',
    detail: 'Key (id)=(1) already exists.',
  };
  // a records migration 1 and commits; b runs `drop` in autocommit, then fails to record it again.
  const run = (drop: string, insert: string) =>
    testStateLeakRule.check(
      model((p) =>
        p
          .connect('c1', pg)
          .testStart('t::a', { file: TESTS })
          .begin()
          .execute(insert, { params: [1], at: [APP, 10, 'migrate'] })
          .commit({ at: [APP, 11, 'migrate'] })
          .testEnd('passed')
          .testStart('t::b', { file: TESTS })
          .execute(drop, { at: [TESTS, 20, 'reset'] })
          .begin()
          .execute(insert, { params: [1], at: [APP, 10, 'migrate'], err: duplicate })
          .rollback('error', { at: [APP, 12, 'migrate'] })
          .testEnd('failed'),
      ),
    );

  test("the table's own schema, quoted or not: no leak", () => {
    assert.deepEqual(run('drop schema if exists "queue" cascade;', 'insert into "queue".migrations (id) values ($1)'), []);
    assert.deepEqual(run('DROP SCHEMA queue CASCADE; CREATE SCHEMA queue', 'INSERT INTO queue.migrations (id) VALUES ($1)'), []);
    assert.deepEqual(run('DROP SCHEMA IF EXISTS audit, queue CASCADE', 'INSERT INTO queue.migrations (id) VALUES ($1)'), []);
  });

  test('public for a table named without its schema', () => {
    assert.deepEqual(run('DROP SCHEMA public CASCADE', 'INSERT INTO migrations (id) VALUES ($1)'), []);
  });

  test('another schema leaves the rows: the earlier commit keeps the error', () => {
    for (const [drop, insert] of [
      ['DROP SCHEMA IF EXISTS public CASCADE', 'INSERT INTO queue.migrations (id) VALUES ($1)'],
      ['DROP SCHEMA audit CASCADE', 'INSERT INTO migrations (id) VALUES ($1)'],
    ]) {
      const found = run(drop, insert);
      assert.equal(found.length, 1, `${drop}: ${JSON.stringify(found)}`);
      assert.equal(found[0].severity, 'error');
      assert.deepEqual([found[0].location.file, found[0].location.line], [APP, 11]);
    }
  });
});

describe('lock-wait finds a holder open since long before, past the transactions that ended in between', () => {
  const ms = 1e6;
  const m = model((p) => {
    p.connect('c1', pg).connect('c2', pg).connect('c3', pg);
    // c1 takes the lock on jobs early and never ends its transaction.
    p.begin('hold', { conn: 'c1', t: 10 * ms }).execute("UPDATE jobs SET status = 'x' WHERE id = 1", { conn: 'c1', t: 11 * ms, dur: ms, rows: 1, at: [APP, 11, 'claim'] });
    // Many short transactions on c2, each over before the wait.
    for (let i = 0; i < 40; i++) {
      const t = (20 + 10 * i) * ms;
      p.begin(undefined, { conn: 'c2', t }).execute('INSERT INTO audit (n) VALUES (1)', { conn: 'c2', t: t + ms, dur: ms, rows: 1, at: [APP, 30, 'audit'] }).commit({ conn: 'c2', t: t + 2 * ms });
    }
    // c3's TRUNCATE waits two seconds on c1's lock and gives up.
    p.execute('TRUNCATE jobs', {
      conn: 'c3',
      t: 3_000 * ms,
      dur: 2_000 * ms,
      at: [TESTS, 50, 'teardown'],
      err: { type: 'LockNotAvailable', message: 'canceling statement due to lock timeout', code: '55P03' },
    });
  });

  test('the waiter is reported against the transaction that held jobs', () => {
    const found = lockWaitRule.check(m);
    assert.equal(found.length, 1, JSON.stringify(found));
    assert.deepEqual([found[0].location.file, found[0].location.line], [TESTS, 50]);
    assert.ok(found[0].related.some((r) => r.file === APP && r.line === 11), JSON.stringify(found[0].related));
    assert.match(found[0].message, /sat idle in transaction/);
  });
});

describe('non-test-database: reads of no table', () => {
  const JOBS = '/proj/test/jobs.test.js';
  const DB = '/proj/src/db.js';
  const testDb: DatabaseInfo = { system: 'postgresql', name: 'jobs', host: '127.0.0.1', port: 5432 };
  /** The test creates its schema and writes a job through its pool, then `other` runs `sql` during the test. */
  const run = (other: DatabaseInfo, sql: string) =>
    model((p) =>
      p
        .testStart('test/jobs.test.js > listens', { file: JOBS, line: 3 })
        .connect('c1', testDb, { driver: 'pg', pool: 'p1', at: [JOBS, 4, 'setup'] })
        .execute('CREATE TABLE jobs (id serial PRIMARY KEY, name text)', { at: [JOBS, 5, 'setup'] })
        .execute('INSERT INTO jobs (name) VALUES ($1)', { params: ['a'], rows: 1, at: [JOBS, 6, 'setup'] })
        .connect('c2', other, { driver: 'pg', at: [DB, 20, 'listen'] })
        .execute('LISTEN "jobs"', { conn: 'c2', at: [DB, 21, 'listen'] })
        .execute(sql, { conn: 'c2', rows: 1, at: [DB, 30, 'heartbeat'] })
        .testEnd('passed'),
    );
  const found = (m: ReturnType<typeof model>) => nonTestDatabaseRule.check(m).map((f) => `${f.severity} ${f.location.line}`);

  test("a heartbeat through the test's own proxy (the same database on another port): silent", () => {
    const proxy: DatabaseInfo = { ...testDb, port: 40123 };
    assert.deepEqual(found(run(proxy, 'SELECT EXISTS (SELECT 1 FROM pg_listening_channels() AS active(channel) WHERE channel = $1) AS listening')), []);
    assert.deepEqual(found(run(proxy, 'SELECT 1')), []);
  });

  test('a table read there still warns, each database named with its server: the code may look for the test rows elsewhere', () => {
    const m = run({ ...testDb, port: 40123 }, 'SELECT count(*) FROM jobs');
    assert.deepEqual(found(m), ['warning 30']);
    assert.match(nonTestDatabaseRule.check(m)[0].message, /read jobs from jobs on 127\.0\.0\.1:40123 at .* instead of the test database jobs on 127\.0\.0\.1:5432 /);
  });

  test('on a development database even a read of no table warns: connecting there is the defect', () => {
    assert.deepEqual(found(run({ ...testDb, name: 'jobs_dev' }, 'SELECT 1')), ['warning 30']);
  });
});

// better-sqlite3's own suite backs its test database up to a second file, opens that file in the
// spec and reads the rows back: it was taken for "the code read another database", three warnings.
describe('non-test-database: a SQLite file the test code opens itself', () => {
  const SPEC = '/proj/test/backup.spec.js';
  const SRC = '/proj/src/db.js';
  const file = (name: string): DatabaseInfo => ({ system: 'sqlite', name, file: `/proj/temp/${name}` });
  /** The test makes its database and writes entries, then reads entries from `other`, opened at `openAt`. */
  const run = (other: DatabaseInfo, openAt: [string, number, string]) =>
    model((p) =>
      p
        .testStart('test/backup.spec.js > backs up', { file: SPEC, line: 10 })
        .connect('c1', file('1.db'), { driver: 'better-sqlite3', at: [SPEC, 7, 'beforeEach'] })
        .execute('CREATE TABLE entries (a TEXT)', { at: [SPEC, 8, 'beforeEach'] })
        .execute('INSERT INTO entries VALUES (?)', { params: ['x'], rows: 1, at: [SPEC, 9, 'beforeEach'] })
        .connect('c2', other, { driver: 'better-sqlite3', at: openAt })
        .execute('SELECT * FROM entries', { conn: 'c2', rows: 1, at: [SPEC, 12, 'backs up'] })
        .testEnd('passed'),
    );
  const found = (m: ReturnType<typeof model>) => nonTestDatabaseRule.check(m).map((f) => `${f.severity} ${f.location.file}:${f.location.line}`);

  test('opened in the spec (the backup it made): a database of the test, silent', () => {
    assert.deepEqual(found(run(file('2.db'), [SPEC, 11, 'backs up'])), []);
  });

  test('opened by app code the test runs: still a warning', () => {
    assert.deepEqual(found(run(file('2.db'), [SRC, 3, 'open'])), [`warning ${SPEC}:12`]);
  });

  test('a development database, even opened in the spec: still a warning', () => {
    assert.deepEqual(found(run(file('app-dev.db'), [SPEC, 11, 'backs up'])), [`warning ${SPEC}:12`]);
  });
});
