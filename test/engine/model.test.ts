import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { readTrace } from '../../src/trace/reader';
import { buildModel, orderRuns, runCounts, testSummaries } from '../../src/model/model';
import type { DatabaseInfo, SavepointEvent, SourceFrame } from '../../src/trace/schema';
import { header, trace, traceDir, TraceBuilder, type ProcessBuilder } from '../support/trace-builder';

const at = (line: number): SourceFrame => ['/proj/app/jobs.py', line, 'create'];
const sqliteFile: DatabaseInfo = { system: 'sqlite', file: '/proj/db.sqlite' };

test('two processes merge on the shared monotonic clock and a worker belongs to the test that started it', () => {
  // pytest starts at t0=1_000; the worker process starts 500 ns later (t0=1_500).
  const dir = trace()
    .process(10, { t0: 1_000n })
    .testStart('t.py::test_a', { t: 10, line: 3 })
    .sessionOpen('s1', { t: 20, at: at(5) })
    .connect('c1', sqliteFile, { t: 30, driver: 'pysqlite' })
    .begin('t1', { t: 40, sess: 's1' })
    .execute('INSERT INTO jobs (name) VALUES (?)', { t: 50, at: at(7) })
    .rollback('session-close', { t: 2_000, at: at(9) })
    .testEnd('failed', { t: 3_000, message: 'AssertionError' })
    .process(11, { t0: 1_500n, ppid: 10 })
    .connect('c1', { system: 'sqlite' }, { t: 0, driver: 'pysqlite' })
    .begin('t1', { t: 10 })
    .execute('SELECT * FROM jobs', { t: 20, at: ['/proj/app/worker.py', 4, 'main'] })
    .commit({ t: 30 })
    .write();
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
  const run = new TraceBuilder();
  run
    .process(20, { t0: 5n })
    .raw('this is not json')
    .raw('[1,2,3]')
    .raw({ k: 'teleport', t: 1, pid: 20 })
    .raw({ k: 'stmt', t: 2, pid: 20 })
    .connect('c1', { system: 'sqlite' }, { t: 3, driver: 'pysqlite' })
    .execute('SELECT 1')
    .process(21, { t0: 6n, v: 99 })
    .execute('SELECT 2', { conn: 'c1' });
  const dir = run.file('notes.txt', ['ignored: not a process file']).write();
  // A process killed mid-write leaves its last line cut short.
  appendFileSync(join(dir, 'py-20-aaaaaa.ndjson'), '{"k":"stmt","t":5,"pid":20,"conn":"c1","sql":"SELE');
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
  const dir = trace()
    .process(30)
    .connect('c1', { system: 'sqlite' }, { driver: 'pysqlite' })
    .execute('SELECT 2', { t: 9 })
    .execute('SELECT 1', { t: 5 })
    .write();
  const model = buildModel(readTrace(dir));
  assert.deepEqual(model.statements.map((s) => s.sql), ['SELECT 1', 'SELECT 2']);
  assert.match(model.notes.join('\n'), /1 event out of order/);
});

test('a test that never ended (process killed) still owns what ran after its start', () => {
  const dir = trace()
    .process(40)
    .testStart('t::k', { file: '/proj/t.py' })
    .connect('c1', { system: 'sqlite' }, { driver: 'pysqlite' })
    .execute('SELECT 1')
    .write();
  const model = buildModel(readTrace(dir));
  assert.equal(model.statements[0].test, 't::k');
  assert.equal(model.tests[0].outcome, undefined);
});

test('a statement an ORM flush sent keeps its change line as `at`, the flush line as `flushAt`, and the batch lines', () => {
  const dir = trace()
    .process(30, { t0: 7n })
    .connect('c1', sqliteFile)
    .begin('t1', { sess: 's1' })
    .execute('INSERT INTO jobs (name) VALUES (?)', { many: 2, at: at(7), flushAt: at(12), alsoAt: [at(8)] })
    .execute('SELECT * FROM jobs', { at: at(12) })
    .write();
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

test('one copy per frame: equal frames are one object, and frames that differ only in a file name, a line or a function are not merged', () => {
  // File names of one length that differ only in their first characters, and one line in two functions.
  const frames: SourceFrame[] = [
    ['/proj/app/jobs.py', 7, 'create'],
    ['/proj/api/jobs.py', 7, 'create'],
    ['/proj/app/jobs.py', 8, 'create'],
    ['/proj/app/jobs.py', 7, 'update'],
    ['/proj/app/jobs.py', 7, 'create'],
    ['/proj/api/jobs.py', 7, 'create'],
  ];
  let p = trace().process(32, { t0: 7n }).connect('c1', sqliteFile).begin('t1');
  for (const frame of frames) p = p.execute('SELECT 1', { at: frame });
  const model = buildModel(readTrace(p.write()));
  const got = model.statements.map((st) => st.at!);
  assert.deepEqual(got, frames);
  assert.equal(new Set(got.slice(0, 4)).size, 4);
  // The same line in another function replaced the first one's copy: a new copy after it, then shared.
  assert.notEqual(got[4], got[0]);
  assert.equal(got[5], got[1]);
});

test('what few statements carry (an error, an executemany count, a task, tables the agent named) is read through each statement; the others carry none', () => {
  const err = { type: 'sqlite3.IntegrityError', message: 'UNIQUE constraint failed: jobs.name' };
  const dir = trace()
    .process(31, { t0: 7n })
    .connect('c1', sqliteFile)
    .begin('t1', { sess: 's1' })
    .execute('INSERT INTO jobs (name) VALUES (?)', { at: at(7), err, many: 3, task: 41 })
    .execute('CALL refresh_jobs()', { at: at(8), tables: ['jobs', 'users'] })
    .execute('SELECT * FROM jobs', { at: at(9), dur: 500 })
    .write();
  const model = buildModel(readTrace(dir));
  const [insert, call, select] = model.statements;
  assert.deepEqual(insert.err, err);
  assert.equal(insert.many, 3);
  assert.equal(insert.task, 41);
  assert.deepEqual(insert.writes, ['jobs']);
  // Tables the agent named, without a classification of its own, stand for the SQL's reads.
  assert.deepEqual(call.reads, ['jobs', 'users']);
  assert.equal(call.err, undefined);
  for (const field of ['err', 'many', 'task', 'flushAt', 'alsoAt'] as const) assert.equal(select[field], undefined, field);
  assert.deepEqual(select.reads, ['jobs']);
  assert.equal(select.sql, 'SELECT * FROM jobs');
  assert.equal(select.verb, 'SELECT');
  assert.equal(select.start, select.time - 500);
  assert.equal(select.parsedSql, true);
});

test('savepoints: statement text and agent events are one savepoint; a pysqlite SAVEPOINT without BEGIN commits on RELEASE', () => {
  const conftest = (line: number): SourceFrame => ['/proj/tests/conftest.py', line, 'db'];
  /** The statement SQLAlchemy sent at time `t`, and the savepoint event the agent wrote for it. */
  const sp = (p: ProcessBuilder, t: number, action: SavepointEvent['action'], name: string, sql: string) =>
    p.execute(sql, { t, at: conftest(t) }).savepoint(action, name, { at: conftest(t) });
  const insert = 'INSERT INTO users (email) VALUES (?)';
  const run = trace();
  // pysqlite: SQLAlchemy's begin sends nothing, so SAVEPOINT starts SQLite's transaction.
  const pysqlite = run.process(30).connect('c1', sqliteFile).begin('t1');
  sp(pysqlite, 10, 'begin', 'sa_savepoint_1', 'SAVEPOINT sa_savepoint_1');
  pysqlite.execute(insert, { t: 20, params: ['a@b.c'] });
  sp(pysqlite, 30, 'release', 'sa_savepoint_1', 'RELEASE SAVEPOINT sa_savepoint_1');
  sp(pysqlite, 40, 'begin', 'sa_savepoint_2', 'SAVEPOINT sa_savepoint_2');
  sp(pysqlite, 50, 'rollback', 'sa_savepoint_2', 'ROLLBACK TO SAVEPOINT sa_savepoint_2');
  pysqlite.rollback('explicit', { t: 60 });
  // Postgres (or SQLite with an explicit BEGIN): the savepoint is nested, RELEASE commits nothing.
  const nested = run.process(31).connect('c1', sqliteFile).begin('t1').execute('BEGIN');
  sp(nested, 10, 'begin', 'sp1', 'SAVEPOINT "sp1"');
  nested.execute(insert, { t: 20, params: ['a@b.c'] });
  sp(nested, 30, 'release', 'sp1', 'RELEASE "sp1"');
  // psycopg 3 style: an event with no statement.
  nested.savepoint('begin', 'psy_1', { t: 40 }).rollback('explicit', { t: 60 });
  const dir = run.write();
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
  const worker = (th: number, t0: bigint): object[] => [
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

test('the model orders its lists by merging the processes\' runs exactly as a stable sort by time would', () => {
  // A seeded generator (mulberry32), so a failure names a case that can be run again.
  let seed = 7;
  const random = (): number => {
    seed = (seed + 0x6d2b79f5) >>> 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let round = 0; round < 2000; round++) {
    // Runs as processes leave them: each mostly in time order, now and then an event out of order,
    // times shared across runs (and within one), and empty runs.
    const keys: number[] = [];
    const ends: number[] = [];
    const runs = 1 + Math.floor(random() * 5);
    for (let r = 0; r < runs; r++) {
      const length = Math.floor(random() * 12);
      let time = Math.floor(random() * 20);
      for (let i = 0; i < length; i++) {
        time += random() < 0.2 ? -Math.floor(random() * 5) : Math.floor(random() * 4);
        keys.push(time);
      }
      ends.push(keys.length);
    }
    const items = keys.map((key, position) => ({ key, position }));
    const expected = [...items].sort((a, b) => a.key - b.key).map((item) => item.position);
    orderRuns(items, ends, keys);
    assert.deepEqual(
      items.map((item) => item.position),
      expected,
      `round ${round}: keys ${JSON.stringify(keys)}, ends ${JSON.stringify(ends)}`,
    );
  }
});

test('two tests of one name defined at two places are two tests; the same test run again keeps its id', () => {
  // jest's test.each with a fixed title, or a copied test left unrenamed: the runner gives both one id.
  const file = '/proj/test/orders.test.js';
  const dir = trace()
    .process(10, { t0: 1_000n, lang: 'node' })
    .testStart('test/orders.test.js > orders > stores', { t: 10, file, line: 4 })
    .testEnd('passed', { t: 20 })
    .testStart('test/orders.test.js > orders > stores', { t: 30, file, line: 9 })
    .connect('c1', sqliteFile, { t: 35, driver: 'better-sqlite3' })
    .execute('SELECT 1', { t: 40 })
    .testEnd('failed', { t: 50 })
    // A retry of the second: its place again.
    .testStart('test/orders.test.js > orders > stores', { t: 60, file, line: 9 })
    .execute('SELECT 2', { t: 70 })
    .testEnd('passed', { t: 80 })
    .write();
  const model = buildModel(readTrace(dir));
  assert.deepEqual(
    model.tests.map((t) => [t.id, t.line, t.outcome]),
    [
      ['test/orders.test.js > orders > stores', 4, 'passed'],
      ['test/orders.test.js > orders > stores [2]', 9, 'failed'],
      ['test/orders.test.js > orders > stores [2]', 9, 'passed'],
    ],
  );
  assert.deepEqual(
    model.statements.map((s) => [s.sql, s.test]),
    [
      ['SELECT 1', 'test/orders.test.js > orders > stores [2]'],
      ['SELECT 2', 'test/orders.test.js > orders > stores [2]'],
    ],
  );
  assert.equal(runCounts(model).tests, 2);
});
