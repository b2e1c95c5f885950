// The trace builders themselves: what they write is a trace the real reader takes
// whole and the trace format's JSON Schema accepts line by line, and the fields a
// test leaves out are filled the way the agents fill them.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { readTrace } from '../../src/trace/reader';
import { EVENT_KINDS } from '../../src/trace/schema';
import { repoRoot } from './env';
import { validate, type JsonSchema } from './json-schema';
import { trace } from './trace-builder';

const schema = JSON.parse(readFileSync(join(repoRoot, 'docs', 'trace-format.schema.json'), 'utf8')) as JsonSchema;
const APP = '/proj/app/jobs.py';

/** A trace with one event of every kind, each written by its builder method. */
function everyKind() {
  return trace()
    .process(10, { t0: 5_000n })
    .testStart('tests/test_jobs.py::test_run', { line: 4 })
    .connect('c1', { system: 'postgresql', name: 'app', host: 'localhost', port: 5432 }, { pool: 'p1', engine: 'e1', engineAt: [APP, 3, '<module>'] })
    .checkout()
    .sessionOpen('s1', { cls: 'Session', at: [APP, 8, 'run'] })
    .begin('t1', { sess: 's1', iso: 'READ COMMITTED' })
    .execute('INSERT INTO jobs (name) VALUES (%(name)s)', { params: { name: 'a' }, rows: 1, dur: 900, at: [APP, 9, 'run'], flushAt: [APP, 10, 'run'] })
    .savepoint('begin', 'sp1')
    .identityHit('Job', ['1'], { table: 'jobs', pk: ['id'] })
    .commit({ at: [APP, 10, 'run'] })
    .begin()
    .rollback('pool-reset')
    .reset(true)
    .checkin({ txOpen: false })
    .sessionClose('s1', { pending: [{ op: 'insert', entity: 'Job', table: 'jobs', count: 1 }] })
    .close()
    .agentError('hook failed')
    .testEnd('passed');
}

describe('trace builders', () => {
  test('every kind they write is read whole by the reader and valid by the JSON Schema', () => {
    const dir = everyKind().write();
    const [file] = readdirSync(dir);
    assert.equal(file, 'py-10-aaaaaa.ndjson', 'named as the agents name process files');
    const lines = readFileSync(join(dir, file), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as { k: string });
    for (const line of lines) assert.deepEqual(validate(schema, line), [], JSON.stringify(line));
    assert.deepEqual(new Set(lines.slice(1).map((l) => l.k)), EVENT_KINDS);
    const read = readTrace(dir);
    assert.equal(read.skipped.total, 0, read.skipped.examples.join(', '));
    assert.equal(read.processes[0].events.length, lines.length - 1);
  });

  test('left-out fields follow the agent: pid, time, connection, its open transaction and that transaction\'s session', () => {
    const p = trace()
      .process(7, { t0: 100n })
      .connect('c1', { system: 'sqlite', file: '/proj/app.db' })
      .connect('c2', { system: 'sqlite', file: '/proj/app.db' })
      .begin('t1', { conn: 'c1', sess: 's1', t: 50 })
      .execute('SELECT 1', { conn: 'c2' })
      .execute('UPDATE jobs SET n = 1', { conn: 'c1' })
      .commit()
      .execute('SELECT 2')
      .begin()
      .rollback();
    assert.deepEqual(p.header, { k: 'header', v: 1, pid: 7, ppid: 1, t0: '100', wall: 1_700_000_000_000, argv: ['python'], cwd: '/proj', lang: 'python' });
    assert.deepEqual(p.lines, [
      { k: 'connect', t: 1, pid: 7, conn: 'c1', db: { system: 'sqlite', file: '/proj/app.db' }, driver: 'sqlite3' },
      { k: 'connect', t: 2, pid: 7, conn: 'c2', db: { system: 'sqlite', file: '/proj/app.db' }, driver: 'sqlite3' },
      { k: 'begin', t: 50, pid: 7, conn: 'c1', tx: 't1', sess: 's1' },
      { k: 'stmt', t: 51, pid: 7, conn: 'c2', sql: 'SELECT 1' },
      { k: 'stmt', t: 52, pid: 7, conn: 'c1', tx: 't1', sess: 's1', sql: 'UPDATE jobs SET n = 1' },
      { k: 'commit', t: 53, pid: 7, conn: 'c1', tx: 't1', sess: 's1' },
      { k: 'stmt', t: 54, pid: 7, conn: 'c1', sql: 'SELECT 2' },
      { k: 'begin', t: 55, pid: 7, conn: 'c1', tx: 't2' },
      { k: 'rollback', t: 56, pid: 7, conn: 'c1', tx: 't2', cause: 'explicit' },
    ]);
  });

  test('a field given as undefined is left out; a test named by its id gets its name and file', () => {
    const p = trace()
      .process(1)
      .testStart('tests/test_x.py::TestJobs::test_a')
      .connect('c1', { system: 'sqlite' })
      .begin('t1', { sess: 's1' })
      .rollback('session-close', { sess: undefined })
      .testEnd('failed');
    assert.deepEqual(p.lines[0], { k: 'test_start', t: 1, pid: 1, id: 'tests/test_x.py::TestJobs::test_a', name: 'test_a', file: '/proj/tests/test_x.py' });
    assert.deepEqual(p.lines[3], { k: 'rollback', t: 4, pid: 1, conn: 'c1', tx: 't1', cause: 'session-close' });
    assert.deepEqual(p.lines[4], { k: 'test_end', t: 5, pid: 1, id: 'tests/test_x.py::TestJobs::test_a', outcome: 'failed' });
  });

  test('raw lines go in as given, and the processes of one folder each get their file', () => {
    const dir = trace()
      .process(1)
      .raw('not json')
      .raw({ k: 'teleport', t: 1, pid: 1 })
      .process(2, { ppid: 1, file: 'py-2-worker.ndjson' })
      .connect('c1', { system: 'sqlite' })
      .write();
    assert.deepEqual(readdirSync(dir).sort(), ['py-1-aaaaaa.ndjson', 'py-2-worker.ndjson']);
    assert.equal(readFileSync(join(dir, 'py-1-aaaaaa.ndjson'), 'utf8').split('\n').slice(1).join('\n'), 'not json\n{"k":"teleport","t":1,"pid":1}\n');
    const read = readTrace(dir);
    assert.deepEqual(read.skipped.byReason, { 'not JSON': 1, 'unknown event kind': 1 });
    assert.equal(read.processes.find((p) => p.header.pid === 2)?.header.ppid, 1);
  });

  test('a connection event before any connection, or a test end before any start, is a mistake in the test', () => {
    assert.throws(() => trace().process(1).execute('SELECT 1'), /no connection yet/);
    assert.throws(() => trace().process(1).identityHit('Job', ['1']), /no session yet/);
    assert.throws(() => trace().process(1).testEnd('passed'), /testEnd before any testStart/);
    assert.throws(() => trace().process(1).process(1), /two processes write py-1-aaaaaa\.ndjson/);
  });
});
