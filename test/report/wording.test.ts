// The words every surface shares (src/present/): how a transaction ended in each
// register, durations and moments at every size, paths relative to the run's
// folder; and that no other module keeps a copy of them.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { relPath } from '../../src/present/paths';
import {
  capitalize,
  databaseShortName,
  duration,
  offset,
  plural,
  ROLLBACK_WORDING,
  rollbackText,
  STACK_WORDING,
  stackKind,
  testLabel,
  transactionOutcome,
  transactionOutcomeBrief,
} from '../../src/present/wording';
import type { RollbackCause } from '../../src/trace/schema';
import { repoRoot } from '../support/env';
import { trace } from '../support/trace-builder';
import { loadModel } from '../../src/model/model';
import { namesSessions, summaryLine } from '../../src/report/render';

const ms = 1e6;
const writes = [{}] as never[];

test('durations read with two or three significant digits, from a fraction of a millisecond to minutes', () => {
  assert.equal(duration(0.42 * ms), '0.42 ms');
  assert.equal(duration(7.74 * ms), '7.7 ms');
  assert.equal(duration(849.6 * ms), '850 ms');
  assert.equal(duration(2000 * ms), '2.0 s');
  assert.equal(duration(185_000 * ms), '3 min 5 s');
});

test('moments after a start keep two decimals of a second and never turn into minutes', () => {
  assert.equal(offset(7.74 * ms), '+7.7 ms');
  assert.equal(offset(14.2 * ms), '+14 ms');
  assert.equal(offset(4730 * ms), '+4.73 s');
  assert.equal(offset(75_120 * ms), '+75.12 s');
  assert.equal(offset(-3 * ms), '+0.00 ms', 'never before the start');
});

test('counts and sentences', () => {
  assert.equal(plural(1, 'session'), '1 session');
  assert.equal(plural(2, 'process', 'processes'), '2 processes');
  assert.equal(plural(0, 'finding'), '0 findings');
  assert.equal(capitalize('session S3 (app/jobs.py:8)'), 'Session S3 (app/jobs.py:8)');
  assert.equal(capitalize(''), '');
});

test('databases and tests by their short names', () => {
  assert.equal(databaseShortName({ system: 'sqlite', file: '/proj/data/test.db' } as never), 'test.db');
  assert.equal(databaseShortName({ system: 'sqlite', memory: true } as never), ':memory:');
  assert.equal(databaseShortName({ system: 'postgresql', name: 'app' } as never), 'app');
  assert.equal(databaseShortName(undefined), undefined);
  assert.equal(testLabel('tests/test_a.py::TestX::test_b[1]', 'test_b[1]'), 'TestX::test_b[1]');
  assert.equal(testLabel('adds a job', 'adds a job'), 'adds a job');
  assert.equal(testLabel('tests/test_a.py::test_b'), 'test_b');
});

test('how a transaction ended: the outcome, the brief note and the predicate of a rule message', () => {
  const ended = (outcome: 'commit' | 'rollback' | 'open', cause?: RollbackCause, w = writes) => ({ outcome, cause, writes: w });
  assert.equal(transactionOutcome(ended('commit'), 'app/jobs.py:11'), 'committed at app/jobs.py:11');
  assert.equal(transactionOutcome(ended('rollback', 'session-close'), 'app/worker.py:22'), 'rolled back: session closed without commit at app/worker.py:22');
  assert.equal(transactionOutcome(ended('rollback', 'error')), 'rolled back by an error');
  assert.equal(transactionOutcome(ended('rollback', 'explicit', [])), 'ended, nothing to commit', 'a read-only transaction lost nothing');
  assert.equal(transactionOutcome(ended('rollback', undefined), 'a.py:3'), 'ended at a.py:3 without a recorded commit or rollback');
  assert.equal(transactionOutcome(ended('open')), 'never ended (still open when the trace stopped)');
  assert.equal(transactionOutcomeBrief(undefined), 'autocommit');
  assert.equal(transactionOutcomeBrief(ended('rollback', 'session-close')), 'rolled back at close');
  assert.equal(transactionOutcomeBrief(ended('rollback', 'pool-reset', [])), 'read only');
  assert.equal(rollbackText({ outcome: 'rollback', cause: 'session-close', session: {} as never }), 'was closed without COMMIT');
  assert.equal(rollbackText({ outcome: 'rollback', cause: 'session-close', session: undefined }), 'ended without COMMIT when its session closed');
  assert.equal(rollbackText({ outcome: 'open', cause: undefined, session: undefined }), 'never committed before the trace ended');
  // A cause this version does not know (a newer agent's) reads as no recorded cause, never as 'undefined'.
  assert.equal(transactionOutcome(ended('rollback', 'teleported' as RollbackCause)), 'ended without a recorded commit or rollback');
  assert.equal(transactionOutcomeBrief(ended('rollback', 'teleported' as RollbackCause)), 'not committed');
  assert.equal(rollbackText({ outcome: 'rollback', cause: 'teleported' as RollbackCause, session: undefined }), 'ended without COMMIT');
  for (const [cause, words] of Object.entries(ROLLBACK_WORDING)) {
    for (const [form, text] of Object.entries(words)) assert.ok(text.length > 0 && !/rolled back: rolled back/.test(text), `${cause} ${form}`);
  }
});

test('paths read relative to the run folder when inside it, and as recorded otherwise', () => {
  assert.equal(relPath('/proj/app/jobs.py', '/proj'), 'app/jobs.py');
  assert.equal(relPath('/proj/..hidden/x.py', '/proj'), '..hidden/x.py', 'a folder whose name starts with two dots is inside');
  assert.equal(relPath('/other/x.py', '/proj'), '/other/x.py');
  assert.equal(relPath('/proj/x.py', undefined), '/proj/x.py');
  assert.equal(relPath('app/x.py', '/proj'), 'app/x.py');
});

/** Every .ts file under `dir`. */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : name.endsWith('.ts') ? [path] : [];
  });
}

test('no module outside src/present keeps its own copy of the shared words', () => {
  const copies = [
    /\b(function|const)\s+(plural|capitalize|relPath|shortPath|durationText|timeLabel|testLabel|testShortName|databaseShortName)\b/,
    /Record<RollbackCause,\s*string>/,
    /\/\s*1e6\b/,
  ];
  const src = join(repoRoot, 'src');
  const found: string[] = [];
  for (const file of sources(src)) {
    const rel = relative(src, file);
    // The Node agent is its own bundle in the user's process: it imports nothing of the engine.
    if (rel.startsWith('present') || rel.startsWith(join('agents', 'node'))) continue;
    const text = readFileSync(file, 'utf8');
    for (const re of copies) if (re.test(text)) found.push(`${rel}: ${re.source}`);
  }
  assert.deepEqual(found, []);
});

test("a finding's stack words come from the trace: Python's SQLAlchemy, or the Node driver and ORM it shows", () => {
  assert.equal(stackKind({ lang: 'python', driver: 'psycopg2' }), 'python');
  assert.equal(stackKind({ lang: 'node', driver: 'pg' }), 'pg');
  assert.equal(stackKind({ lang: 'node', driver: 'better-sqlite3' }), 'better-sqlite3');
  // The session's class names the ORM, whatever else the process loaded.
  assert.equal(stackKind({ lang: 'node', driver: 'pg', sessionCls: 'Knex.Transaction', libs: { typeorm: '0.3.20' } }), 'knex');
  assert.equal(stackKind({ lang: 'node', driver: 'pg', sessionCls: 'PostgresQueryRunner' }), 'typeorm');
  assert.equal(stackKind({ lang: 'node', driver: 'pg', sessionCls: 'Prisma.TransactionClient' }), 'prisma');
  assert.equal(stackKind({ lang: 'node', driver: 'better-sqlite3', sessionCls: 'BetterSQLiteTransaction' }), 'drizzle');
  // No session: the one ORM of the process; with two, the driver's words fit both.
  assert.equal(stackKind({ lang: 'node', driver: 'better-sqlite3', libs: { 'better-sqlite3': '12.4.1', typeorm: '0.3.20' } }), 'typeorm');
  assert.equal(stackKind({ lang: 'node', driver: 'pg', libs: { knex: '3.1.0', typeorm: '0.3.20' } }), 'pg');
  // Python's words stay Python's; no Node stack's words name a Python thing.
  assert.match(STACK_WORDING.python.memoryAdvice, /StaticPool/);
  for (const [kind, words] of Object.entries(STACK_WORDING)) {
    if (kind === 'python') continue;
    const text = Object.values(words).join(' ');
    assert.doesNotMatch(text, /\bengine\b|session factory|StaticPool|sessionmaker|\bsession\b|reset-on-return/, kind);
  }
});

test("counts leave the sessions out where a driver was used directly, as the editor's lens does: never '0 sessions' beside work that ran, and the run's line names the connections instead", () => {
  const pg = { system: 'postgresql', name: 'shop', host: 'localhost', port: 5432 } as const;
  const run = trace();
  run
    .process(1, { t0: 1_000n })
    .connect('c1', pg, { driver: 'pg', pool: 'p1' })
    .begin('t1')
    .execute('INSERT INTO orders (item) VALUES ($1)', { rows: 1 })
    .execute('COMMIT')
    .commit();
  const model = loadModel(run.write());
  assert.equal(summaryLine(model, []), 'txlens: 0 tests (0 failed) · no findings · 1 process · 1 connection · 1 transaction (1 commit, 0 rollbacks) · 2 statements');
  assert.equal(namesSessions({ sessions: 0, transactions: 0, statements: 3 }), false, 'statements in autocommit, no session');
  assert.equal(namesSessions({ sessions: 0, transactions: 0, statements: 0 }), true, 'nothing ran: 0 sessions says so');
  assert.equal(namesSessions({ sessions: 0, sharedSessions: 1, transactions: 2 }), true);
});
