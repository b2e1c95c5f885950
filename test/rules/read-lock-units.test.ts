// uncommitted-read, stale-read and lock-wait on hand-built traces: the cases a
// real run cannot pin down exactly (other rows, the same connection, a holder
// that was busy, a reload after the commit, bad SQL).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadModel } from '../../src/model/model';
import { lockWaitRule } from '../../src/analysis/rules/lock-wait';
import { staleReadRule } from '../../src/analysis/rules/stale-read';
import { uncommittedReadRule } from '../../src/analysis/rules/uncommitted-read';
import type { DatabaseInfo, SourceFrame, StatementError, TestOutcome } from '../../src/trace/schema';
import { trace, type ProcessBuilder } from '../support/trace-builder';

const MS = 1_000_000;
const PG: DatabaseInfo = { system: 'postgresql', name: 'app', host: 'localhost', port: 5432 };
const LITE: DatabaseInfo = { system: 'sqlite', name: 'app.db', file: '/proj/app.db' };
const at = (line: number, file = '/proj/app/api.py'): SourceFrame => [file, line, 'fn'];

/** Test `id` of /proj/tests/test_x.py, from time 0 to `end`, around what `events` writes. */
function inTest(p: ProcessBuilder, id: string, outcome: TestOutcome, end: number, events: (p: ProcessBuilder) => void): ProcessBuilder {
  p.testStart(id, { t: 0, name: id, file: '/proj/tests/test_x.py' });
  events(p);
  return p.testEnd(outcome, { t: end });
}

/** Writer S1 on c1 inserts customers id=1 (or sends `opts.write`) and keeps its transaction open; reader S2 on c2 reads `readSql`. */
function insertThenRead(
  readSql: string,
  readParams: unknown,
  opts: { db?: DatabaseInfo; outcome?: TestOutcome; readConn?: string; rows?: number; err?: StatementError; write?: { sql: string; params: unknown } } = {},
) {
  const db = opts.db ?? PG;
  const run = trace();
  inTest(run.process(1, { t0: 1_000_000_000n }), 't::a', opts.outcome ?? 'failed', 100 * MS, (p) =>
    p
      .connect('c1', db, { t: 1 * MS, driver: 'psycopg2' })
      .connect('c2', db, { t: 1 * MS, driver: 'psycopg2' })
      .sessionOpen('s1', { t: 2 * MS, at: at(10, '/proj/tests/conftest.py') })
      .begin('t1', { conn: 'c1', t: 3 * MS, sess: 's1' })
      .execute(opts.write?.sql ?? 'INSERT INTO customers (id, email) VALUES (%s, %s)', {
        t: 4 * MS,
        params: opts.write ? opts.write.params : [1, 'a@x'],
        at: at(12, '/proj/tests/conftest.py'),
        dur: MS,
      })
      .sessionOpen('s2', { t: 5 * MS, at: at(20) })
      .begin('t2', { conn: opts.readConn ?? 'c2', t: 6 * MS, sess: 's2' })
      .execute(readSql, { t: 8 * MS, params: readParams, at: at(21), dur: MS, rows: opts.rows, err: opts.err })
      .rollback('session-close', { t: 9 * MS })
      // By name: when the reader used c1, its transaction took t1's place there.
      .rollback('explicit', { conn: 'c1', tx: 't1', t: 50 * MS, at: at(14, '/proj/tests/conftest.py') }),
  );
  return loadModel(run.write());
}

describe('uncommitted-read on hand-built traces', () => {
  test('the same row, an empty answer, a failed test: error at the read', () => {
    const found = uncommittedReadRule.check(insertThenRead('SELECT * FROM customers WHERE customers.id = %s', [1], { rows: 0 }));
    assert.equal(found.length, 1);
    assert.equal(found[0].severity, 'error');
    assert.deepEqual(found[0].location, { file: '/proj/app/api.py', line: 21 });
    assert.match(found[0].message, /read customers id=1 while session S1 .* held an uncommitted INSERT into it; the row was invisible to S2/);
    assert.deepEqual(found[0].related.map((r) => r.line), [12, 14]);
  });
  test('another row of the same table: nothing', () => {
    assert.deepEqual(uncommittedReadRule.check(insertThenRead('SELECT * FROM customers WHERE customers.id = %s', [2], { rows: 0 })), []);
  });
  test('the writer\'s own connection sees its writes: nothing', () => {
    assert.deepEqual(uncommittedReadRule.check(insertThenRead('SELECT * FROM customers', undefined, { readConn: 'c1' })), []);
  });
  test('rows came back or the test passed: a warning', () => {
    const scan = uncommittedReadRule.check(insertThenRead('SELECT * FROM customers', undefined, { rows: 3 }));
    assert.equal(scan[0]?.severity, 'warning');
    const passed = uncommittedReadRule.check(insertThenRead('SELECT * FROM customers WHERE customers.id = %s', [1], { outcome: 'passed', rows: 0 }));
    assert.equal(passed[0]?.severity, 'warning');
  });
  test('SQLite: a reader that got "database is locked" is this story', () => {
    const found = uncommittedReadRule.check(
      insertThenRead('SELECT * FROM customers', undefined, { db: LITE, err: { type: 'OperationalError', message: 'database is locked' } }),
    );
    assert.equal(found[0]?.severity, 'error');
    assert.match(found[0].message, /read failed with "database is locked"/);
  });
  test('SQL the key extractor cannot read falls back to the table', () => {
    const found = uncommittedReadRule.check(insertThenRead('SELECT * FROM customers WHERE (((', [1]));
    assert.equal(found.length, 1);
  });
});

describe('uncommitted-read: an uncommitted UPDATE is missed only if its new values change the answer', () => {
  // S1 renames customer 7 (or changes its email, or its visit count) and holds the transaction open.
  const rename = (name: string) => ({ sql: 'UPDATE customers SET name=%(name)s WHERE customers.id = %(customers_id)s', params: { name, customers_id: 7 } });
  const countLike = 'SELECT count(customers.id) AS count_1 FROM customers WHERE customers.name LIKE %(name_1)s';
  test('a filtered count whose filter the new value does not match missed nothing', () => {
    assert.deepEqual(uncommittedReadRule.check(insertThenRead(countLike, { name_1: 'A-%' }, { rows: 1, write: rename('B-2.2') })), []);
    const byEquality = 'SELECT count(*) AS count_1 FROM customers WHERE customers.name = ?';
    assert.deepEqual(uncommittedReadRule.check(insertThenRead(byEquality, ['A-1'], { rows: 1, write: { sql: 'UPDATE customers SET name=? WHERE customers.id = ?', params: ['B-1', 7] } })), []);
  });
  test('a filtered count whose filter the new value matches missed the row: a warning at the read', () => {
    const found = uncommittedReadRule.check(insertThenRead(countLike, { name_1: 'A-%' }, { rows: 1, write: rename('A-9') }));
    assert.equal(found.length, 1);
    assert.equal(found[0].severity, 'warning');
    assert.match(found[0].message, /held an uncommitted UPDATE of it; S2 saw the values from before the UPDATE/);
  });
  test('a read that never names the columns the UPDATE sets missed nothing; one that selects them did', () => {
    const visit = { sql: 'UPDATE customers SET visits=visits + 1 WHERE customers.id = $1', params: [7] };
    assert.deepEqual(uncommittedReadRule.check(insertThenRead('SELECT count(*) AS count_1 FROM customers', undefined, { rows: 1, write: visit })), []);
    assert.deepEqual(uncommittedReadRule.check(insertThenRead('SELECT customers.id FROM customers WHERE customers.id = :1', [7], { rows: 1, write: visit })), []);
    const byKey = uncommittedReadRule.check(insertThenRead('SELECT * FROM customers WHERE customers.id = :1', [7], { rows: 1, write: visit }));
    assert.equal(byKey.length, 1, 'SELECT * reads the visits the UPDATE changed');
    assert.match(byKey[0].message, /read customers id=7 while/);
    assert.equal(byKey[0].severity, 'error', 'the very row the UPDATE wrote, in a failed test');
  });
  test('an UPDATE whose SET list is not understood, or a read that failed on the lock, keeps the finding', () => {
    const tuple = { sql: 'UPDATE customers SET (name, email) = (%s, %s) WHERE customers.id = %s', params: ['B-1', 'b@x', 7] };
    assert.equal(uncommittedReadRule.check(insertThenRead(countLike, { name_1: 'A-%' }, { rows: 1, write: tuple })).length, 1);
    const locked = uncommittedReadRule.check(
      insertThenRead(countLike, { name_1: 'A-%' }, { db: LITE, write: rename('B-1'), err: { type: 'OperationalError', message: 'database is locked' } }),
    );
    assert.equal(locked[0]?.severity, 'error');
  });
});

describe('stale-read on hand-built traces', () => {
  function hitAfterCommit(reloadAfterCommit: boolean, hitKey = '1') {
    const load = 'SELECT jobs.id, jobs.status FROM jobs WHERE jobs.id = %(pk_1)s';
    const run = trace();
    inTest(run.process(1, { t0: 1_000_000_000n }), 't::b', 'failed', 100 * MS, (p) => {
      p.connect('c1', PG, { t: 1 * MS })
        .sessionOpen('s1', { t: 2 * MS, at: at(5, '/proj/tests/test_x.py') })
        .begin('t1', { t: 3 * MS, sess: 's1' })
        .execute(load, { t: 4 * MS, params: { pk_1: 1 }, at: at(6, '/proj/tests/test_x.py') })
        .commit({ t: 5 * MS });
      if (reloadAfterCommit) p.execute(load, { t: 40 * MS, sess: 's1', params: { pk_1: 1 }, at: at(7, '/proj/tests/test_x.py') });
      p.identityHit('Job', [hitKey], { t: 50 * MS, table: 'jobs', pk: ['id'], at: at(8, '/proj/app/jobs.py') });
    });
    run
      .process(2, { t0: 1_000_000_000n, ppid: 1 })
      .connect('c1', PG, { t: 10 * MS })
      .sessionOpen('s1', { t: 11 * MS, at: at(3, '/proj/app/worker.py') })
      .begin('t1', { t: 12 * MS, sess: 's1' })
      .execute('UPDATE jobs SET status=%(status)s WHERE jobs.id = %(jobs_id)s', { t: 13 * MS, params: { status: 'FAILED', jobs_id: 1 }, at: at(5, '/proj/app/worker.py') })
      .commit({ t: 14 * MS, at: at(5, '/proj/app/worker.py') });
    return loadModel(run.write());
  }
  test('an identity hit after another process committed that row: error at the hit', () => {
    const found = staleReadRule.check(hitAfterCommit(false));
    assert.equal(found.length, 1);
    assert.equal(found[0].severity, 'error');
    assert.deepEqual(found[0].location, { file: '/proj/app/jobs.py', line: 8 });
    assert.match(found[0].message, /returned Job \(jobs id=1\) from its identity map/);
  });
  test('a reload after the commit, or another row: nothing', () => {
    assert.deepEqual(staleReadRule.check(hitAfterCommit(true)), []);
    assert.deepEqual(staleReadRule.check(hitAfterCommit(false, '2')), []);
  });
});

describe('lock-wait on hand-built traces', () => {
  function truncateBehind(holderBusy: boolean) {
    const run = trace();
    inTest(run.process(1, { t0: 1_000_000_000n }), 't::c', 'error', 3000 * MS, (p) => {
      p.connect('c1', PG, { t: 1 * MS })
        .connect('c2', PG, { t: 1 * MS })
        .begin('t1', { conn: 'c1', t: 2 * MS })
        .execute('INSERT INTO jobs (name) VALUES (%s)', { t: 3 * MS, params: ['a'], at: at(11, '/proj/tests/test_x.py') });
      if (holderBusy) p.execute('SELECT 1', { t: 900 * MS, dur: 700 * MS });
      p.begin('t2', { conn: 'c2', t: 10 * MS })
        .execute('TRUNCATE jobs', {
          t: 2010 * MS,
          dur: 2000 * MS,
          at: at(21, '/proj/tests/conftest.py'),
          err: { type: 'LockNotAvailable', message: 'canceling statement due to lock timeout', code: '55P03' },
        })
        .rollback('error', { t: 2011 * MS })
        .rollback('close', { conn: 'c1', t: 2500 * MS });
    });
    return loadModel(run.write());
  }
  test('a TRUNCATE that timed out behind an idle writer: error at the TRUNCATE', () => {
    const found = lockWaitRule.check(truncateBehind(false));
    assert.equal(found.length, 1);
    assert.deepEqual(found[0].location, { file: '/proj/tests/conftest.py', line: 21 });
    assert.match(found[0].message, /^TRUNCATE jobs by connection C2\b.*waited 2\.0 s for a lock held by connection C1/);
    assert.deepEqual(found[0].related.map((r) => r.line), [11]);
  });
  test('a holder that was running statements during the wait is not idle: nothing', () => {
    assert.deepEqual(lockWaitRule.check(truncateBehind(true)), []);
  });
});
