import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { readTrace } from '../../src/trace/reader';
import { buildModel, runCounts, testSummaries } from '../../src/model/model';
import { header, traceDir } from './trace-builder';

const at = (line: number) => ['/proj/app/jobs.py', line, 'create'];

test('two processes merge on the shared monotonic clock and a worker belongs to the test that started it', () => {
  // pytest starts at t0=1_000; the worker process starts 500 ns later (t0=1_500).
  const dir = traceDir({
    'py-10-a.ndjson': [
      header(10, 1_000n),
      { k: 'test_start', t: 10, pid: 10, id: 't.py::test_a', name: 'test_a', file: '/proj/t.py', line: 3 },
      { k: 'session_open', t: 20, pid: 10, sess: 's1', at: at(5) },
      { k: 'connect', t: 30, pid: 10, conn: 'c1', db: { system: 'sqlite', file: '/proj/db.sqlite' }, driver: 'pysqlite' },
      { k: 'begin', t: 40, pid: 10, conn: 'c1', tx: 't1', sess: 's1' },
      { k: 'stmt', t: 50, pid: 10, conn: 'c1', tx: 't1', sess: 's1', sql: 'INSERT INTO jobs (name) VALUES (?)', at: at(7) },
      { k: 'rollback', t: 2_000, pid: 10, conn: 'c1', tx: 't1', sess: 's1', cause: 'session-close', at: at(9) },
      { k: 'test_end', t: 3_000, pid: 10, id: 't.py::test_a', outcome: 'failed', message: 'AssertionError' },
    ],
    'py-11-b.ndjson': [
      header(11, 1_500n, { ppid: 10 }),
      { k: 'connect', t: 0, pid: 11, conn: 'c1', db: { system: 'sqlite' }, driver: 'pysqlite' },
      { k: 'begin', t: 10, pid: 11, conn: 'c1', tx: 't1' },
      { k: 'stmt', t: 20, pid: 11, conn: 'c1', tx: 't1', sql: 'SELECT * FROM jobs', at: ['/proj/app/worker.py', 4, 'main'] },
      { k: 'commit', t: 30, pid: 11, conn: 'c1', tx: 't1' },
    ],
  });
  const model = buildModel(readTrace(dir));
  assert.deepEqual(runCounts(model), { processes: 2, sessions: 1, transactions: 2, commits: 1, rollbacks: 1, statements: 2, tests: 1 });
  // Merged order: the worker's SELECT (1_500+20) comes after the pytest INSERT (1_000+50) and before the rollback (3_000).
  assert.deepEqual(model.statements.map((s) => s.time), [50, 520]);
  assert.ok(model.statements.every((s) => s.test === 't.py::test_a'));
  const writeTx = model.transactions.find((t) => t.process.pid === 10)!;
  assert.equal(writeTx.outcome, 'rollback');
  assert.equal(writeTx.cause, 'session-close');
  assert.deepEqual(writeTx.endAt, at(9));
  assert.equal(writeTx.writes[0].writes[0], 'jobs');
  const [summary] = testSummaries(model);
  assert.equal(summary.test.outcome, 'failed');
  assert.deepEqual(summary.counts, { processes: 2, sessions: 1, sharedSessions: 0, transactions: 2, commits: 1, rollbacks: 1, statements: 2 });
});

test('bad lines are skipped and counted by reason; good lines around them survive', () => {
  const dir = traceDir({
    'py-20-a.ndjson': [
      header(20, 5n),
      'this is not json',
      '[1,2,3]',
      { k: 'teleport', t: 1, pid: 20 },
      { k: 'stmt', t: 2, pid: 20 },
      { k: 'connect', t: 3, pid: 20, conn: 'c1', db: { system: 'sqlite' }, driver: 'pysqlite' },
      { k: 'stmt', t: 4, pid: 20, conn: 'c1', sql: 'SELECT 1' },
    ],
    'py-21-b.ndjson': [header(21, 6n, { v: 99 }), { k: 'stmt', t: 1, pid: 21, conn: 'c1', sql: 'SELECT 2' }],
    'notes.txt': ['ignored: not a process file'],
  });
  // A process killed mid-write leaves its last line cut short.
  appendFileSync(join(dir, 'py-20-a.ndjson'), '{"k":"stmt","t":5,"pid":20,"conn":"c1","sql":"SELE');
  const trace = readTrace(dir);
  assert.equal(trace.processes.length, 1);
  assert.equal(trace.skipped.total, 7);
  assert.deepEqual(trace.skipped.byReason, {
    'not JSON': 1,
    'not an object': 1,
    'unknown event kind': 1,
    'missing fields': 1,
    'truncated line': 1,
    'unknown format version': 2,
  });
  const model = buildModel(trace);
  assert.equal(model.statements.length, 1);
});

test('events written out of order are ordered by time and noted', () => {
  const dir = traceDir({
    'py-30-a.ndjson': [
      header(30, 0n),
      { k: 'connect', t: 1, pid: 30, conn: 'c1', db: { system: 'sqlite' }, driver: 'pysqlite' },
      { k: 'stmt', t: 9, pid: 30, conn: 'c1', sql: 'SELECT 2' },
      { k: 'stmt', t: 5, pid: 30, conn: 'c1', sql: 'SELECT 1' },
    ],
  });
  const model = buildModel(readTrace(dir));
  assert.deepEqual(model.statements.map((s) => s.sql), ['SELECT 1', 'SELECT 2']);
  assert.match(model.notes.join('\n'), /1 event out of order/);
});

test('a test that never ended (process killed) still owns what ran after its start', () => {
  const dir = traceDir({
    'py-40-a.ndjson': [
      header(40, 0n),
      { k: 'test_start', t: 1, pid: 40, id: 't::k', name: 'k', file: '/proj/t.py' },
      { k: 'connect', t: 2, pid: 40, conn: 'c1', db: { system: 'sqlite' }, driver: 'pysqlite' },
      { k: 'stmt', t: 3, pid: 40, conn: 'c1', sql: 'SELECT 1' },
    ],
  });
  const model = buildModel(readTrace(dir));
  assert.equal(model.statements[0].test, 't::k');
  assert.equal(model.tests[0].outcome, undefined);
});

test('a statement an ORM flush sent keeps its change line as `at`, the flush line as `flushAt`, and the batch lines', () => {
  const dir = traceDir({
    'py-30-a.ndjson': [
      header(30, 7n),
      { k: 'connect', t: 1, pid: 30, conn: 'c1', db: { system: 'sqlite', file: '/proj/db.sqlite' }, driver: 'sqlite3' },
      { k: 'begin', t: 2, pid: 30, conn: 'c1', tx: 't1', sess: 's1' },
      { k: 'stmt', t: 3, pid: 30, conn: 'c1', tx: 't1', sess: 's1', sql: 'INSERT INTO jobs (name) VALUES (?)', many: 2, at: at(7), flushAt: at(12), alsoAt: [at(8)] },
      { k: 'stmt', t: 4, pid: 30, conn: 'c1', tx: 't1', sess: 's1', sql: 'SELECT * FROM jobs', at: at(12) },
    ],
  });
  const model = buildModel(readTrace(dir));
  const [insert, select] = model.statements;
  assert.deepEqual(insert.at, at(7));
  assert.deepEqual(insert.flushAt, at(12));
  assert.deepEqual(insert.alsoAt, [at(8)]);
  assert.equal(select.flushAt, undefined);
  assert.equal(select.alsoAt, undefined);
  // One copy of each frame: the flush line and the SELECT's line are the same object.
  assert.equal(insert.flushAt, select.at);
});

test('savepoints: statement text and agent events are one savepoint; a pysqlite SAVEPOINT without BEGIN commits on RELEASE', () => {
  const conftest = (line: number) => ['/proj/tests/conftest.py', line, 'db'];
  const sqlite = { system: 'sqlite', file: '/proj/db.sqlite' };
  const spEvents = (conn: string, pid: number, t: number, action: string, name: string, sql: string) => [
    { k: 'stmt', t, pid, conn, tx: 't1', sql, at: conftest(t) },
    { k: 'savepoint', t: t + 1, pid, conn, tx: 't1', action, name, at: conftest(t) },
  ];
  const dir = traceDir({
    // pysqlite: SQLAlchemy's begin sends nothing, so SAVEPOINT starts SQLite's transaction.
    'py-30-a.ndjson': [
      header(30, 0n),
      { k: 'connect', t: 1, pid: 30, conn: 'c1', db: sqlite, driver: 'sqlite3' },
      { k: 'begin', t: 2, pid: 30, conn: 'c1', tx: 't1' },
      ...spEvents('c1', 30, 10, 'begin', 'sa_savepoint_1', 'SAVEPOINT sa_savepoint_1'),
      { k: 'stmt', t: 20, pid: 30, conn: 'c1', tx: 't1', sql: 'INSERT INTO users (email) VALUES (?)', params: ['a@b.c'] },
      ...spEvents('c1', 30, 30, 'release', 'sa_savepoint_1', 'RELEASE SAVEPOINT sa_savepoint_1'),
      ...spEvents('c1', 30, 40, 'begin', 'sa_savepoint_2', 'SAVEPOINT sa_savepoint_2'),
      ...spEvents('c1', 30, 50, 'rollback', 'sa_savepoint_2', 'ROLLBACK TO SAVEPOINT sa_savepoint_2'),
      { k: 'rollback', t: 60, pid: 30, conn: 'c1', tx: 't1', cause: 'explicit' },
    ],
    // Postgres (or SQLite with an explicit BEGIN): the savepoint is nested, RELEASE commits nothing.
    'py-31-b.ndjson': [
      header(31, 0n),
      { k: 'connect', t: 1, pid: 31, conn: 'c1', db: sqlite, driver: 'sqlite3' },
      { k: 'begin', t: 2, pid: 31, conn: 'c1', tx: 't1' },
      { k: 'stmt', t: 3, pid: 31, conn: 'c1', tx: 't1', sql: 'BEGIN' },
      ...spEvents('c1', 31, 10, 'begin', 'sp1', 'SAVEPOINT "sp1"'),
      { k: 'stmt', t: 20, pid: 31, conn: 'c1', tx: 't1', sql: 'INSERT INTO users (email) VALUES (?)', params: ['a@b.c'] },
      ...spEvents('c1', 31, 30, 'release', 'sp1', 'RELEASE "sp1"'),
      // psycopg 3 style: an event with no statement.
      { k: 'savepoint', t: 40, pid: 31, conn: 'c1', tx: 't1', action: 'begin', name: 'psy_1' },
      { k: 'rollback', t: 60, pid: 31, conn: 'c1', tx: 't1', cause: 'explicit' },
    ],
  });
  const model = buildModel(readTrace(dir));
  const [a, b] = [30, 31].map((pid) => model.transactions.find((t) => t.process.pid === pid)!);
  assert.deepEqual(
    a.savepoints.map((sp) => [sp.name, sp.outcome, !!sp.outermost]),
    [
      ['sa_savepoint_1', 'release', true],
      ['sa_savepoint_2', 'rollback', true],
    ],
  );
  assert.equal(a.durableUntil, 30, 'the RELEASE of the outermost savepoint committed the INSERT');
  assert.deepEqual(
    b.savepoints.map((sp) => [sp.name, sp.outcome, !!sp.outermost]),
    [
      ['sp1', 'release', false],
      ['psy_1', 'open', false],
    ],
  );
  assert.equal(b.durableUntil, undefined);
  assert.equal(b.savepoints[1].end, 60, 'the transaction end ends its open savepoints');
  assert.equal(model.savepoints.length, 4);
});

test('Node worker threads share their process id: each belongs to its own process, and so does a child of that process', () => {
  // Main thread of pid 20 (t0=1_000) runs a test; its worker threads 1 and 2 (files of their own, same pid,
  // `thread` in the header) start later and run statements during the test; pid 21 is a child of pid 20.
  const sqlite = { system: 'sqlite', file: '/proj/db.sqlite' };
  const worker = (th: number, t0: bigint): Record<string, unknown>[] => [
    header(20, t0, { lang: 'node', thread: th }),
    { k: 'connect', t: 0, pid: 20, th, conn: `w${th}.c1`, db: sqlite, driver: 'better-sqlite3' },
    { k: 'stmt', t: 10, pid: 20, th, conn: `w${th}.c1`, sql: 'SELECT 1', at: ['/proj/app/worker.js', th, 'run'] },
  ];
  const dir = traceDir({
    // The worker threads' files come first: which file the reader meets first must not matter.
    'node-20-w2-b.ndjson': worker(2, 1_700n),
    'node-20-w1-a.ndjson': worker(1, 1_600n),
    'node-20-m.ndjson': [
      header(20, 1_000n, { lang: 'node' }),
      { k: 'test_start', t: 10, pid: 20, id: 'test/a.test.js > works', name: 'works', file: '/proj/test/a.test.js', line: 3 },
      { k: 'test_end', t: 5_000, pid: 20, id: 'test/a.test.js > works', outcome: 'passed' },
    ],
    'node-21-c.ndjson': [
      header(21, 2_000n, { lang: 'node', ppid: 20 }),
      { k: 'connect', t: 0, pid: 21, conn: 'c1', db: sqlite, driver: 'better-sqlite3' },
      { k: 'stmt', t: 10, pid: 21, conn: 'c1', sql: 'SELECT 2', at: ['/proj/app/child.js', 1, 'main'] },
    ],
  });
  const model = buildModel(readTrace(dir));
  const main = model.processes.find((p) => p.pid === 20 && !p.header.thread)!;
  for (const p of model.processes.filter((q) => q !== main)) assert.equal(p.parent, main, p.file);
  assert.deepEqual(
    model.statements.map((s) => [s.sql, s.test]).sort(),
    [
      ['SELECT 1', 'test/a.test.js > works'],
      ['SELECT 1', 'test/a.test.js > works'],
      ['SELECT 2', 'test/a.test.js > works'],
    ],
  );
});
