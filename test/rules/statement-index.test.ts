// The one pass over a run's statements the rules share (src/analysis/statement-index.ts), on
// hand-built traces: what it records for the rules that read it (lock-wait walks every
// position beside the durations and the failures, test-state-leak reads only the failures).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { statementIndex } from '../../src/analysis/statement-index';
import { loadModel } from '../../src/model/model';
import type { DatabaseInfo } from '../../src/trace/schema';
import { trace, type ProcessBuilder } from '../support/trace-builder';

const APP = '/proj/app/service.py';
const db: DatabaseInfo = { system: 'sqlite', file: '/proj/x.db' };
const ms = 1e6;
const locked = { type: 'OperationalError', message: 'database is locked' };
const duplicate = { type: 'IntegrityError', message: 'UNIQUE constraint failed: users.email' };

function model(events: (p: ProcessBuilder) => void) {
  const run = trace();
  events(run.process(1, { t0: 1_000n }));
  return loadModel(run.write());
}

test('the failed statements are kept once, as their positions in the model, ascending; the durations beside them', () => {
  const m = model((p) =>
    p
      .connect('c1', db)
      .connect('c2', db)
      .begin('t1', { conn: 'c1', t: 1 * ms })
      .execute('INSERT INTO users (email) VALUES (?)', { conn: 'c1', t: 2 * ms, dur: ms / 2, rows: 1, at: [APP, 10, 'a'] })
      .execute('INSERT INTO users (email) VALUES (?)', { conn: 'c1', t: 3 * ms, dur: ms / 4, err: duplicate, at: [APP, 11, 'a'] })
      .begin('t2', { conn: 'c2', t: 4 * ms })
      .execute('SELECT * FROM users', { conn: 'c2', t: 5 * ms, dur: 2 * ms, rows: 1, at: [APP, 20, 'b'] })
      .execute('UPDATE users SET email = ?', { conn: 'c2', t: 6 * ms, dur: 900 * ms, err: locked, at: [APP, 21, 'b'] })
      .rollback('error', { conn: 'c2', t: 7 * ms })
      .commit({ conn: 'c1', t: 8 * ms }),
  );
  const index = statementIndex(m);
  const statements = m.statements;
  assert.equal(statements.length, 4);
  const expectedFailed = statements.flatMap((st, i) => (st.err ? [i] : []));
  assert.equal(expectedFailed.length, 2);
  assert.deepEqual([...index.failed], expectedFailed);
  assert.deepEqual(
    index.failed.map((i) => statements[i].at?.[1]),
    [11, 21],
  );
  assert.deepEqual([...index.durations], statements.map((st) => st.dur ?? 0));
  // Reads only, by table and database.
  assert.deepEqual(index.reads.get('users', statements[0].connection.dbKey ?? '')?.reads, statements.filter((st) => st.op === 'read'));
  // Kept per model: a second rule asking gets the same pass.
  assert.equal(statementIndex(m), index);
});

test('a run with no failure has none listed', () => {
  const m = model((p) =>
    p
      .connect('c1', db)
      .begin('t1', { t: 1 * ms })
      .execute('INSERT INTO users (email) VALUES (?)', { t: 2 * ms, dur: ms, rows: 1, at: [APP, 10, 'a'] })
      .commit({ t: 3 * ms }),
  );
  assert.deepEqual([...statementIndex(m).failed], []);
  assert.deepEqual([...statementIndex(m).durations], [ms]);
});
