// Statements sent by an ORM flush are reported at the line that changed the
// object (the attribute set, the add, the delete), with the flush's own line
// (the autoflushing query, flush(), commit()) as `flushAt`; Core and bulk
// statements keep the line that executed them. Real SQLAlchemy 1.4 and 2.0 on
// a SQLite file and on PostgreSQL, and through the asyncio extension.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { createDatabase, python, SQLALCHEMY_LINES } from '../support/env';
import { agentLines, copyFixture, markerLine, runPython, type PythonRun } from './harness';
import type { RecordedEvent } from '../support/trace-files';

const VERSIONS = SQLALCHEMY_LINES;

function statements(events: RecordedEvent[], sql: RegExp): RecordedEvent[] {
  return events.filter((e) => e.k === 'stmt' && sql.test(e.sql));
}

function only(found: RecordedEvent[], what: string): RecordedEvent {
  assert.equal(found.length, 1, `expected exactly one ${what}, found ${found.length}:\n${found.map((e) => JSON.stringify(e)).join('\n')}`);
  return found[0];
}

for (const version of VERSIONS) {
  for (const db of ['sqlite', 'postgres'] as const) {
    describe(`flushed statements at their change line: SQLAlchemy ${version} on ${db}`, () => {
      let run: PythonRun;
      let script: string;
      let events: RecordedEvent[];
      const line = (name: string) => markerLine(script, name);
      const frame = (name: string, fn = 'main') => [script, line(name), fn];
      const flushedAt = (name: string) => (e: RecordedEvent) => Array.isArray(e.flushAt) && e.flushAt[1] === line(name);

      before(async () => {
        const workspace = copyFixture('agent');
        script = join(workspace, 'flush_sites.py');
        const url =
          db === 'sqlite'
            ? `sqlite:///${join(workspace, 'flush_sites.db')}`
            : (await createDatabase(`flush_sites_${version}`)).replace(/^postgres(ql)?:/, 'postgresql+psycopg2:');
        run = runPython(python(version), [script, url], { cwd: workspace });
        events = run.events;
      });

      it('runs to completion without a word from the agent', () => {
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(agentLines(run.stderr), []);
        assert.equal(events.filter((e) => e.k === 'agent_error').length, 0);
      });

      it('add() at one line, commit() at another: the INSERT is at the add, flushed by the commit', () => {
        const insert = only(statements(events, /^INSERT INTO authors/).filter(flushedAt('add-commit')), 'INSERT flushed by @add-commit');
        assert.deepEqual(insert.at, frame('add'));
        assert.deepEqual(insert.flushAt, frame('add-commit'));
        assert.equal(insert.alsoAt, undefined);
        assert.match(insert.tx, /^t\d+$/);
        assert.match(insert.sess, /^s\d+$/);
      });

      it('an attribute set, then a query that autoflushes: the UPDATE is at the first set, flushed by the query', () => {
        const autoflushed = only(statements(events, /^UPDATE authors/).filter(flushedAt('autoflush-query')), 'UPDATE flushed by @autoflush-query');
        assert.deepEqual(autoflushed.at, frame('set'));
        // The query itself is still where it ran.
        const query = only(
          statements(events, /^SELECT/).filter((e) => e.at?.[1] === line('autoflush-query')),
          'SELECT at @autoflush-query',
        );
        assert.equal(query.flushAt, undefined);
        assert.equal(query.tx, autoflushed.tx);
      });

      it('an explicit flush(): the UPDATE is at the set inside the helper that changed the object', () => {
        const flushed = only(statements(events, /^UPDATE authors/).filter(flushedAt('explicit-flush')), 'UPDATE flushed by @explicit-flush');
        assert.deepEqual(flushed.at, frame('helper-set', 'rename'));
        assert.deepEqual(flushed.flushAt, frame('explicit-flush'));
      });

      it('a relationship cascade: the new child is at the append that added it', () => {
        const child = only(statements(events, /^INSERT INTO books/).filter(flushedAt('cascade-commit')), 'INSERT INTO books flushed by @cascade-commit');
        assert.deepEqual(child.at, frame('cascade-append'));
      });

      it('a batch of objects added at different lines: at the first, the others in alsoAt', () => {
        const batch = statements(events, /^INSERT INTO authors/).filter(flushedAt('batch-flush'));
        assert.ok(batch.length >= 1 && batch.length <= 2, JSON.stringify(batch));
        if (batch.length === 1) {
          // One executemany (or multi-row INSERT) for both objects.
          assert.deepEqual(batch[0].at, frame('batch-first'));
          assert.deepEqual(batch[0].alsoAt, [frame('batch-second')]);
        } else {
          // A dialect that needs each new row's key back sends one INSERT per object.
          assert.deepEqual(batch.map((e) => e.at), [frame('batch-first'), frame('batch-second')]);
          assert.ok(batch.every((e) => e.alsoAt === undefined));
        }
      });

      it('a delete: the DELETE is at the delete() line, flushed by the commit', () => {
        const deleted = only(statements(events, /^DELETE FROM authors/), 'DELETE FROM authors');
        assert.deepEqual(deleted.at, frame('delete'));
        assert.deepEqual(deleted.flushAt, frame('delete-commit'));
      });

      it('Core and ORM bulk statements keep the line that executed them, with no flush site', () => {
        for (const [marker, sql] of [
          ['orm-bulk-update', /^UPDATE authors/],
          ['core-insert', /^INSERT INTO books/],
          ['text-update', /^UPDATE books/],
        ] as const) {
          const st = only(statements(events, sql).filter((e) => e.at?.[1] === line(marker)), `${sql} at @${marker}`);
          assert.deepEqual(st.at, frame(marker));
          assert.equal(st.flushAt, undefined, JSON.stringify(st));
          assert.equal(st.alsoAt, undefined);
        }
      });

      it('reads the unit of work needs (lazy loads) keep their own line and no flush site', () => {
        for (const st of statements(events, /^SELECT/)) assert.equal(st.flushAt, undefined, JSON.stringify(st));
      });
    });
  }
}
