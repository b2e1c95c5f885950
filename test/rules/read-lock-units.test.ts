// uncommitted-read, stale-read and lock-wait on hand-built traces: the cases a
// real run cannot pin down exactly (other rows, the same connection, a holder
// that was busy, a reload after the commit, bad SQL).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadModel } from '../../src/model/model';
import { lockWaitRule } from '../../src/analysis/rules/lock-wait';
import { staleReadRule } from '../../src/analysis/rules/stale-read';
import { uncommittedReadRule } from '../../src/analysis/rules/uncommitted-read';
import { header, traceDir, type Line } from '../engine/trace-builder';

const MS = 1_000_000;
const PG = { system: 'postgresql', name: 'app', host: 'localhost', port: 5432 };
const LITE = { system: 'sqlite', name: 'app.db', file: '/proj/app.db' };
const at = (line: number, file = '/proj/app/api.py'): [string, number, string] => [file, line, 'fn'];

function testWindow(id: string, outcome: string, end: number): [Line, Line] {
  return [
    { k: 'test_start', t: 0, pid: 1, id, name: id, file: '/proj/tests/test_x.py' },
    { k: 'test_end', t: end, pid: 1, id, outcome },
  ];
}

/** Writer S1 on c1 inserts customers id=1 (or sends `opts.write`) and keeps its transaction open; reader S2 on c2 reads `readSql`. */
function insertThenRead(
  readSql: string,
  readParams: unknown,
  opts: { db?: object; outcome?: string; readConn?: string; rows?: number; err?: object; write?: { sql: string; params: unknown } } = {},
) {
  const db = opts.db ?? PG;
  const readConn = opts.readConn ?? 'c2';
  const [start, end] = testWindow('t::a', opts.outcome ?? 'failed', 100 * MS);
  const lines: Line[] = [
    header(1, 1_000_000_000n),
    start,
    { k: 'connect', t: 1 * MS, pid: 1, conn: 'c1', db, driver: 'psycopg2' },
    { k: 'connect', t: 1 * MS, pid: 1, conn: 'c2', db, driver: 'psycopg2' },
    { k: 'session_open', t: 2 * MS, pid: 1, sess: 's1', at: at(10, '/proj/tests/conftest.py') },
    { k: 'begin', t: 3 * MS, pid: 1, conn: 'c1', tx: 't1', sess: 's1' },
    { k: 'stmt', t: 4 * MS, pid: 1, conn: 'c1', tx: 't1', sess: 's1', sql: opts.write?.sql ?? 'INSERT INTO customers (id, email) VALUES (%s, %s)', params: opts.write ? opts.write.params : [1, 'a@x'], at: at(12, '/proj/tests/conftest.py'), dur: MS },
    { k: 'session_open', t: 5 * MS, pid: 1, sess: 's2', at: at(20) },
    { k: 'begin', t: 6 * MS, pid: 1, conn: readConn, tx: 't2', sess: 's2' },
    { k: 'stmt', t: 8 * MS, pid: 1, conn: readConn, tx: 't2', sess: 's2', sql: readSql, params: readParams, at: at(21), dur: MS, ...(opts.rows !== undefined ? { rows: opts.rows } : {}), ...(opts.err ? { err: opts.err } : {}) },
    { k: 'rollback', t: 9 * MS, pid: 1, conn: readConn, tx: 't2', cause: 'session-close' },
    { k: 'rollback', t: 50 * MS, pid: 1, conn: 'c1', tx: 't1', cause: 'explicit', at: at(14, '/proj/tests/conftest.py') },
    end,
  ];
  return loadModel(traceDir({ 'py-1.ndjson': lines }));
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
    const [start, end] = testWindow('t::b', 'failed', 100 * MS);
    const lines: Line[] = [
      header(1, 1_000_000_000n),
      start,
      { k: 'connect', t: 1 * MS, pid: 1, conn: 'c1', db: PG, driver: 'psycopg2' },
      { k: 'session_open', t: 2 * MS, pid: 1, sess: 's1', at: at(5, '/proj/tests/test_x.py') },
      { k: 'begin', t: 3 * MS, pid: 1, conn: 'c1', tx: 't1', sess: 's1' },
      { k: 'stmt', t: 4 * MS, pid: 1, conn: 'c1', tx: 't1', sess: 's1', sql: 'SELECT jobs.id, jobs.status FROM jobs WHERE jobs.id = %(pk_1)s', params: { pk_1: 1 }, at: at(6, '/proj/tests/test_x.py') },
      { k: 'commit', t: 5 * MS, pid: 1, conn: 'c1', tx: 't1', sess: 's1' },
      ...(reloadAfterCommit
        ? [{ k: 'stmt', t: 40 * MS, pid: 1, conn: 'c1', sess: 's1', sql: 'SELECT jobs.id, jobs.status FROM jobs WHERE jobs.id = %(pk_1)s', params: { pk_1: 1 }, at: at(7, '/proj/tests/test_x.py') } as Line]
        : []),
      { k: 'identity_hit', t: 50 * MS, pid: 1, sess: 's1', entity: 'Job', table: 'jobs', key: [hitKey], pk: ['id'], at: at(8, '/proj/app/jobs.py') },
      end,
    ];
    const worker: Line[] = [
      header(2, 1_000_000_000n, { ppid: 1 }),
      { k: 'connect', t: 10 * MS, pid: 2, conn: 'c1', db: PG, driver: 'psycopg2' },
      { k: 'session_open', t: 11 * MS, pid: 2, sess: 's1', at: at(3, '/proj/app/worker.py') },
      { k: 'begin', t: 12 * MS, pid: 2, conn: 'c1', tx: 't1', sess: 's1' },
      { k: 'stmt', t: 13 * MS, pid: 2, conn: 'c1', tx: 't1', sess: 's1', sql: 'UPDATE jobs SET status=%(status)s WHERE jobs.id = %(jobs_id)s', params: { status: 'FAILED', jobs_id: 1 }, at: at(5, '/proj/app/worker.py') },
      { k: 'commit', t: 14 * MS, pid: 2, conn: 'c1', tx: 't1', sess: 's1', at: at(5, '/proj/app/worker.py') },
    ];
    return loadModel(traceDir({ 'py-1.ndjson': lines, 'py-2.ndjson': worker }));
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
    const [start, end] = testWindow('t::c', 'error', 3000 * MS);
    const lines: Line[] = [
      header(1, 1_000_000_000n),
      start,
      { k: 'connect', t: 1 * MS, pid: 1, conn: 'c1', db: PG, driver: 'psycopg2' },
      { k: 'connect', t: 1 * MS, pid: 1, conn: 'c2', db: PG, driver: 'psycopg2' },
      { k: 'begin', t: 2 * MS, pid: 1, conn: 'c1', tx: 't1' },
      { k: 'stmt', t: 3 * MS, pid: 1, conn: 'c1', tx: 't1', sql: 'INSERT INTO jobs (name) VALUES (%s)', params: ['a'], at: at(11, '/proj/tests/test_x.py') },
      ...(holderBusy ? [{ k: 'stmt', t: 900 * MS, pid: 1, conn: 'c1', tx: 't1', sql: 'SELECT 1', dur: 700 * MS } as Line] : []),
      { k: 'begin', t: 10 * MS, pid: 1, conn: 'c2', tx: 't2' },
      {
        k: 'stmt', t: 2010 * MS, pid: 1, conn: 'c2', tx: 't2', sql: 'TRUNCATE jobs', dur: 2000 * MS, at: at(21, '/proj/tests/conftest.py'),
        err: { type: 'LockNotAvailable', message: 'canceling statement due to lock timeout', code: '55P03' },
      },
      { k: 'rollback', t: 2011 * MS, pid: 1, conn: 'c2', tx: 't2', cause: 'error' },
      { k: 'rollback', t: 2500 * MS, pid: 1, conn: 'c1', tx: 't1', cause: 'close' },
      end,
    ];
    return loadModel(traceDir({ 'py-1.ndjson': lines }));
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
