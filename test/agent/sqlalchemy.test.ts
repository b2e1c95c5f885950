// The Python agent inside real SQLAlchemy 1.4 and 2.0 programs, on a SQLite
// file and on PostgreSQL (psycopg2), plus asyncpg and aiosqlite through
// SQLAlchemy's asyncio layer. Lines are found through `# @marker` comments in
// the fixtures, so editing a fixture cannot silently break an expectation.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { createDatabase, python, SQLALCHEMY_LINES } from '../support/env';
import { agentLines, copyFixture, markerLine, runPython, type PythonRun } from './harness';
import type { RecordedEvent } from '../support/trace-files';

const VERSIONS = SQLALCHEMY_LINES;

function only(events: RecordedEvent[], what: string, pred: (e: RecordedEvent) => boolean): RecordedEvent {
  const found = events.filter(pred);
  assert.equal(found.length, 1, `expected exactly one ${what}, found ${found.length}:\n${found.map((e) => JSON.stringify(e)).join('\n')}`);
  return found[0];
}

function atLine(file: string, line: number) {
  return (e: RecordedEvent) => Array.isArray(e.at) && e.at[0] === file && e.at[1] === line;
}

/** A statement a flush sent: at the line that changed the object, flushed at the flush's line. */
function flushed(file: string, changeLine: number, flushLine: number) {
  return (e: RecordedEvent) => atLine(file, changeLine)(e) && Array.isArray(e.flushAt) && e.flushAt[0] === file && e.flushAt[1] === flushLine;
}

function withPsycopg2(url: string): string {
  return url.replace(/^postgres(ql)?:/, 'postgresql+psycopg2:');
}

function withAsyncpg(url: string): string {
  return url.replace(/^postgres(ql)?:/, 'postgresql+asyncpg:');
}

for (const version of VERSIONS) {
  for (const db of ['sqlite', 'postgres'] as const) {
    describe(`SQLAlchemy ${version} on ${db}: sync scenarios`, () => {
      let run: PythonRun;
      let script: string;
      let events: RecordedEvent[];
      let url: string;
      const line = (name: string) => markerLine(script, name);

      before(async () => {
        const workspace = copyFixture('agent');
        script = join(workspace, 'scenarios.py');
        url = db === 'sqlite' ? `sqlite:///${join(workspace, 'scenarios.db')}` : withPsycopg2(await createDatabase(`agent_${version}`));
        run = runPython(python(version), [script, url], { cwd: workspace });
        events = run.events;
      });

      it('runs to completion without a word from the agent', () => {
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(agentLines(run.stderr), []);
        assert.equal(run.processes.length, 1);
        const header = run.processes[0].header;
        assert.equal(header.k, 'header');
        assert.equal(header.v, 1);
        assert.equal(header.lang, 'python');
        assert.equal(typeof header.t0, 'string');
        assert.equal(events.filter((e) => e.k === 'agent_error').length, 0);
      });

      it('describes the connection: database, driver, engine line, no password', () => {
        const connect = events.find((e) => e.k === 'connect');
        assert.ok(connect, 'a connect event');
        assert.deepEqual(connect.engineAt, [script, line('engine'), 'main']);
        assert.match(connect.engine, /^e\d+$/);
        assert.match(connect.pool, /^p\d+$/);
        if (db === 'sqlite') {
          assert.equal(connect.db.system, 'sqlite');
          assert.equal(connect.db.file, join(script, '..', 'scenarios.db'));
          assert.equal(connect.driver, 'sqlite3');
        } else {
          assert.equal(connect.db.system, 'postgresql');
          assert.equal(connect.driver, 'psycopg2');
          assert.equal(connect.db.name, new URL(url.replace(/^[^:]+:/, 'postgres:')).pathname.slice(1));
          const password = decodeURIComponent(new URL(url.replace(/^[^:]+:/, 'postgres:')).password);
          assert.ok(password.length > 0);
          for (const e of events) assert.ok(!JSON.stringify(e).includes(password), `password leaked in ${JSON.stringify(e)}`);
        }
      });

      it('gives statements their user line, transaction and session', () => {
        // The commit flushed the INSERT; it is reported at the add() that made the object pending.
        const insert = only(events, 'INSERT at @insert-add flushed at @insert-commit', (e) => e.k === 'stmt' && /^INSERT INTO users/.test(e.sql) && flushed(script, line('insert-add'), line('insert-commit'))(e));
        assert.match(insert.tx, /^t\d+$/);
        assert.match(insert.sess, /^s\d+$/);
        assert.match(insert.conn, /^c\d+$/);
        // psycopg2 takes named parameters, sqlite3 positional ones.
        assert.deepEqual(Array.isArray(insert.params) ? insert.params : Object.values(insert.params), [1, 'ada']);
        assert.equal(insert.rows, 1);
        assert.equal(typeof insert.dur, 'number');
        const begin = only(events, 'begin of the insert transaction', (e) => e.k === 'begin' && e.tx === insert.tx);
        assert.equal(begin.sess, insert.sess);
        assert.equal(begin.conn, insert.conn);
        const commit = only(events, 'commit of the insert transaction', (e) => e.k === 'commit' && e.tx === insert.tx);
        assert.deepEqual(commit.at, [script, line('insert-commit'), 'main']);
        const open = only(events, 'session_open', (e) => e.k === 'session_open' && e.sess === insert.sess);
        assert.equal(open.cls, 'Session');

        const select = only(events, 'SELECT at @select', (e) => e.k === 'stmt' && /^SELECT/.test(e.sql) && atLine(script, line('select'))(e));
        assert.equal(select.sess, insert.sess);
        assert.match(select.tx, /^t\d+$/);
        assert.notEqual(select.tx, insert.tx, 'the commit ended the first transaction');
      });

      it('reports a session closed without commit as a session-close rollback at the close line', () => {
        const write = only(events, 'INSERT at @uncommitted-add flushed at @uncommitted-flush', (e) => e.k === 'stmt' && flushed(script, line('uncommitted-add'), line('uncommitted-flush'))(e));
        const rollback = only(events, 'rollback of the uncommitted write', (e) => e.k === 'rollback' && e.tx === write.tx);
        assert.equal(rollback.cause, 'session-close');
        assert.equal(rollback.sess, write.sess);
        assert.deepEqual(rollback.at, [script, line('uncommitted-close'), 'main']);
        assert.equal(events.filter((e) => e.k === 'commit' && e.tx === write.tx).length, 0);
        const closed = only(events, 'session_close', (e) => e.k === 'session_close' && e.sess === write.sess);
        assert.deepEqual(closed.at, [script, line('uncommitted-close'), 'main']);
      });

      it("sees the pool's reset-on-return roll back a raw connection's open write", () => {
        const at = atLine(script, line('raw-close'));
        const reset = only(events, 'reset at @raw-close', (e) => e.k === 'reset' && at(e));
        assert.equal(reset.rolledBack, true);
        const rollback = only(events, 'pool-reset rollback at @raw-close', (e) => e.k === 'rollback' && at(e));
        assert.equal(rollback.cause, 'pool-reset');
        assert.equal(rollback.conn, reset.conn);
        // Resets of connections that had nothing open say so.
        assert.ok(events.some((e) => e.k === 'reset' && e.rolledBack === false));
      });

      if (version === 'sa14') {
        it('1.4 legacy Connection: the implicit transaction of a write is rolled back by the pool', () => {
          const update = only(events, 'UPDATE at @legacy-update', (e) => e.k === 'stmt' && atLine(script, line('legacy-update'))(e));
          assert.match(update.tx, /^t\d+$/);
          const begin = only(events, 'implicit begin', (e) => e.k === 'begin' && e.tx === update.tx);
          assert.equal(begin.implicit, true);
          const at = atLine(script, line('legacy-close'));
          const reset = only(events, 'reset at @legacy-close', (e) => e.k === 'reset' && at(e));
          assert.equal(reset.rolledBack, true);
          const rollback = only(events, 'rollback of the legacy write', (e) => e.k === 'rollback' && e.tx === update.tx);
          assert.equal(rollback.cause, 'pool-reset');
          assert.deepEqual(rollback.at, [script, line('legacy-close'), 'main']);
        });
      }

      it('records identity-map hits, which run no SQL, with their line', () => {
        const hit = only(events, 'identity_hit at @identity-hit', (e) => e.k === 'identity_hit' && atLine(script, line('identity-hit'))(e));
        assert.equal(hit.entity, 'User');
        assert.equal(hit.table, 'users');
        assert.deepEqual(hit.key, ['1']);
        assert.match(hit.sess, /^s\d+$/);
        assert.equal(events.filter((e) => e.k === 'stmt' && atLine(script, line('identity-hit'))(e)).length, 0);
      });

      it('reports a failed statement with its error and the error rollback', () => {
        const failed = only(events, 'failed INSERT', (e) => e.k === 'stmt' && e.err && flushed(script, line('duplicate-add'), line('duplicate-commit'))(e));
        assert.equal(failed.err.type, db === 'sqlite' ? 'sqlite3.IntegrityError' : 'psycopg2.errors.UniqueViolation');
        assert.ok(failed.err.message.length > 0 && !failed.err.message.includes('\n'));
        if (db === 'postgres') assert.equal(failed.err.code, '23505');
        const rollback = only(events, 'rollback of the failed transaction', (e) => e.k === 'rollback' && e.tx === failed.tx);
        assert.equal(rollback.cause, 'error');
      });

      it('reports an explicit rollback as explicit', () => {
        const rollback = only(events, 'rollback at @explicit-rollback', (e) => e.k === 'rollback' && atLine(script, line('explicit-rollback'))(e));
        assert.equal(rollback.cause, 'explicit');
      });

      it('a teardown handed the request\'s error closes with cause error and no pending changes; without one, a plain close', () => {
        const inserts = events.filter((e) => e.k === 'stmt' && atLine(script, line('request-add'))(e));
        assert.equal(inserts.length, 2, 'one flushed INSERT per request');
        const [failed, succeeded] = inserts;
        const failedRollback = only(events, 'rollback of the failed request', (e) => e.k === 'rollback' && e.tx === failed.tx);
        assert.equal(failedRollback.cause, 'error');
        assert.deepEqual(failedRollback.at, [script, line('teardown-remove'), 'teardown']);
        const failedClose = only(events, 'session_close of the failed request', (e) => e.k === 'session_close' && e.sess === failed.sess);
        assert.equal(failedClose.pending, undefined, 'the unflushed User was the error\'s to discard');
        const plainRollback = only(events, 'rollback of the request that succeeded', (e) => e.k === 'rollback' && e.tx === succeeded.tx);
        assert.equal(plainRollback.cause, 'session-close');
        const plainClose = only(events, 'session_close of the request that succeeded', (e) => e.k === 'session_close' && e.sess === succeeded.sess);
        assert.deepEqual(plainClose.pending, [{ op: 'insert', entity: 'User', table: 'users', count: 1 }]);
      });
    });
  }

  for (const db of ['aiosqlite', 'asyncpg'] as const) {
    describe(`SQLAlchemy ${version} with ${db}: async scenarios`, () => {
      let run: PythonRun;
      let script: string;
      let events: RecordedEvent[];
      const line = (name: string) => markerLine(script, name);

      before(async () => {
        const workspace = copyFixture('agent');
        script = join(workspace, 'async_scenarios.py');
        const url = db === 'aiosqlite' ? `sqlite+aiosqlite:///${join(workspace, 'async.db')}` : withAsyncpg(await createDatabase(`agent_async_${version}`));
        run = runPython(python(version), [script, url], { cwd: workspace });
        events = run.events;
      });

      it('runs to completion without a word from the agent', () => {
        assert.equal(run.code, 0, run.stderr);
        assert.deepEqual(agentLines(run.stderr), []);
        const connect = events.find((e) => e.k === 'connect');
        assert.ok(connect);
        assert.equal(connect.driver, db);
        assert.deepEqual(connect.engineAt, [script, line('async-engine'), 'main']);
      });

      it('follows statements through the greenlet back to the awaiting line, with task and session', () => {
        // The awaited commit flushed the INSERT: reported at the add(), flushed at the await.
        const insert = only(events, 'INSERT at @async-insert-add flushed at @async-insert-commit', (e) => e.k === 'stmt' && /^INSERT INTO users/.test(e.sql) && flushed(script, line('async-insert-add'), line('async-insert-commit'))(e));
        assert.match(insert.sess, /^s\d+$/);
        assert.match(insert.tx, /^t\d+$/);
        assert.equal(typeof insert.task, 'number');
        const open = only(events, 'session_open', (e) => e.k === 'session_open' && e.sess === insert.sess);
        assert.equal(open.cls, 'AsyncSession');
        only(events, 'commit', (e) => e.k === 'commit' && e.tx === insert.tx);
        only(events, 'SELECT at @async-select', (e) => e.k === 'stmt' && atLine(script, line('async-select'))(e) && e.sess === insert.sess);
      });

      it('records the identity-map hit of an awaited get', () => {
        const hit = only(events, 'identity_hit', (e) => e.k === 'identity_hit' && atLine(script, line('async-identity-hit'))(e));
        assert.equal(hit.entity, 'User');
        assert.deepEqual(hit.key, ['1']);
      });

      it('reports the uncommitted async session as a session-close rollback at its close line', () => {
        const write = only(events, 'INSERT at @async-uncommitted-add flushed at @async-uncommitted-flush', (e) => e.k === 'stmt' && flushed(script, line('async-uncommitted-add'), line('async-uncommitted-flush'))(e));
        const rollback = only(events, 'rollback', (e) => e.k === 'rollback' && e.tx === write.tx);
        assert.equal(rollback.cause, 'session-close');
        assert.equal(rollback.sess, write.sess);
        assert.deepEqual(rollback.at, [script, line('async-uncommitted-close'), 'main']);
      });
    });
  }
}

for (const version of VERSIONS) {
  describe(`SQLAlchemy ${version} on postgres: savepoints, and SQLAlchemy's fast path left alone`, () => {
    let run: PythonRun;
    let script: string;
    const line = (name: string) => markerLine(script, name);

    before(async () => {
      const workspace = copyFixture('agent');
      script = join(workspace, 'savepoints.py');
      run = runPython(python(version), [script, withPsycopg2(await createDatabase(`savepoints_${version}`))], { cwd: workspace });
    });

    it('sets no ConnectionEvents listener (each would send every statement through event dispatch)', () => {
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(agentLines(run.stderr), []);
      assert.match(run.stdout, /^has_events False False False$/m);
      assert.match(run.stdout, /^rows \[2\]$/m);
    });

    it('records each savepoint after its SAVEPOINT (sent with the first statement inside it), under the name SQLAlchemy gave it', () => {
      const sps = run.events.filter((e) => e.k === 'savepoint');
      assert.deepEqual(
        sps.map((e) => [e.action, e.name, e.at?.[1]]),
        [
          ['begin', 'sa_savepoint_1', line('savepoint-undone')],
          ['rollback', 'sa_savepoint_1', line('rollback-to')],
          ['begin', 'sa_savepoint_2', line('savepoint-kept')],
          ['release', 'sa_savepoint_2', line('release')],
        ],
      );
      const tx = sps[0].tx;
      assert.match(tx, /^t\d+$/);
      assert.ok(sps.every((e) => e.tx === tx && e.sess !== undefined));
      const order = run.events.filter((e) => e.k === 'savepoint' || (e.k === 'stmt' && /SAVEPOINT/.test(e.sql))).map((e) => (e.k === 'stmt' ? e.sql.split(' ')[0] : e.action));
      assert.deepEqual(order, ['SAVEPOINT', 'begin', 'ROLLBACK', 'rollback', 'SAVEPOINT', 'begin', 'RELEASE', 'release']);
    });
  });
}
