// The Python agent's DB-API hooks (sqlite3, psycopg2, psycopg 3, asyncpg) against
// real SQLite files and :memory:, and a real PostgreSQL: small scripts run under
// the agent's environment, then their trace is read back with the project's reader.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readTrace } from '../../src/trace/reader';
import { createDatabase, python, pythonTraceEnv, SQLALCHEMY_LINES, tempDir, type PythonEnvName } from '../support/env';
import type { RecordedEvent } from '../support/trace-files';

/** Events are read field by field across every kind. */
type Ev = RecordedEvent;

interface Traced {
  events: Ev[];
  stdout: string;
  stderr: string;
  script: string;
  /** 1-based line of the script line that ends with `# @name`. */
  line(name: string): number;
  /** Every event of the trace files, as raw text (for "never written" checks). */
  raw: string;
}

function runTraced(
  source: string,
  opts: { env?: PythonEnvName; vars?: Record<string, string>; extraEnv?: NodeJS.ProcessEnv } = {},
): Traced {
  const workspace = tempDir('dbapi-ws');
  const traceDir = tempDir('dbapi-trace');
  const script = join(workspace, 'app.py');
  let text = source;
  for (const [k, v] of Object.entries(opts.vars ?? {})) text = text.split(`{{${k}}}`).join(v);
  writeFileSync(script, text);
  const env = { ...pythonTraceEnv(traceDir, workspace), ...opts.extraEnv };
  const r = spawnSync(python(opts.env ?? 'sa20'), [script], { cwd: workspace, env, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `script failed:\n${r.stdout}\n${r.stderr}`);
  const trace = readTrace(traceDir);
  assert.equal(trace.skipped.total, 0, `reader skipped lines: ${JSON.stringify(trace.skipped)}`);
  assert.equal(trace.processes.length, 1, 'one traced process');
  const lines = text.split('\n');
  const raw = readdirSync(traceDir)
    .map((f) => readFileSync(join(traceDir, f), 'utf8'))
    .join('');
  return {
    events: trace.processes[0].events as Ev[],
    stdout: r.stdout,
    stderr: r.stderr,
    script,
    raw,
    line(name) {
      const i = lines.findIndex((l) => l.trimEnd().endsWith(`# @${name}`));
      assert.ok(i >= 0, `marker @${name} not in script`);
      return i + 1;
    },
  };
}

const kinds = (events: Ev[], conn?: string) =>
  events.filter((e) => conn === undefined || e.conn === conn).map((e) => (e.k === 'stmt' ? `stmt:${e.sql}` : e.k === 'rollback' ? `rollback:${e.cause}` : e.k));

function stmt(events: Ev[], sql: string): Ev {
  const found = events.filter((e) => e.k === 'stmt' && e.sql === sql);
  assert.equal(found.length, 1, `exactly one stmt ${JSON.stringify(sql)}, got ${found.length}`);
  return found[0];
}

function at(t: Traced, e: Ev): number {
  assert.ok(e.at, `event ${e.k} has a user frame`);
  assert.equal(e.at[0], t.script, 'frame is in the user script');
  return e.at[1];
}

test('sqlite3 legacy mode: implicit BEGIN before DML, commit, rollback, with-blocks, close, user lines', () => {
  const t = runTraced(`
import sqlite3, os
conn = sqlite3.connect("app.db")  # @connect
assert isinstance(conn, sqlite3.Connection) and type(conn).__name__ == "Connection"
conn.execute("create table item(id integer primary key, name text unique)")  # @ddl
conn.execute("insert into item(name) values (?)", ("a",))  # @insert1
conn.commit()  # @commit1
cur = conn.cursor()
assert isinstance(cur, sqlite3.Cursor)
cur.executemany("insert into item(name) values (?)", [("b",), ("c",)])  # @many
conn.rollback()  # @rollback1
with conn:  # @with_ok
    conn.execute("update item set name = ? where id = ?", ("a2", 1))  # @update
try:
    with conn:  # @with_err
        conn.execute("insert into item(name) values ('a2')")  # @dup
except sqlite3.IntegrityError:
    pass
rows = conn.execute("select * from item").fetchall()  # @select
print(rows)
conn.execute("delete from item")  # @delete
conn.close()  # @close
mem = sqlite3.connect(":memory:")  # @mem
mem.execute("select 1")
uri = sqlite3.connect("file:shared?mode=memory&cache=shared", uri=True)  # @uri
import gc
dropped = sqlite3.connect(":memory:")
dropped.execute("create table g(x)")
dropped.execute("insert into g values (1)")  # @dropped_insert
del dropped
gc.collect()
`);
  assert.match(t.stdout, /\[\(1, 'a2'\)\]/, 'the driver behaved as without the agent');
  const ev = t.events;
  const connect = ev.find((e) => e.k === 'connect')!;
  assert.equal(connect.driver, 'sqlite3');
  assert.deepEqual(connect.db, { system: 'sqlite', name: 'app.db', file: join(t.script, '..', 'app.db') });
  assert.equal(at(t, connect), t.line('connect'));
  const c1 = connect.conn;
  assert.deepEqual(kinds(ev, c1), [
    'connect',
    'stmt:create table item(id integer primary key, name text unique)',
    'begin',
    'stmt:insert into item(name) values (?)',
    'commit',
    'begin',
    'stmt:insert into item(name) values (?)',
    'rollback:explicit',
    'begin',
    'stmt:update item set name = ? where id = ?',
    'commit',
    'begin',
    "stmt:insert into item(name) values ('a2')",
    'rollback:error',
    'stmt:select * from item',
    'begin',
    'stmt:delete from item',
    'rollback:close',
    'close',
  ]);
  // The sqlite3 module's own BEGIN: implicit, placed at the DML line that caused it.
  const begins = ev.filter((e) => e.k === 'begin' && e.conn === c1);
  assert.ok(begins.every((b) => b.implicit === true));
  assert.equal(at(t, begins[0]), t.line('insert1'));
  const ins = ev.filter((e) => e.k === 'stmt' && e.sql === 'insert into item(name) values (?)');
  assert.equal(at(t, ins[0]), t.line('insert1'));
  assert.deepEqual(ins[0].params, ['a']);
  assert.equal(ins[0].rows, 1);
  assert.equal(ins[0].tx, begins[0].tx);
  assert.equal(typeof ins[0].dur, 'number');
  assert.equal(at(t, ins[1]), t.line('many'));
  assert.equal(ins[1].many, 2);
  assert.deepEqual(ins[1].params, [['b'], ['c']]);
  const ddl = stmt(ev, 'create table item(id integer primary key, name text unique)');
  assert.equal(at(t, ddl), t.line('ddl'));
  assert.equal(ddl.tx, undefined, 'legacy mode runs DDL outside a transaction');
  const commits = ev.filter((e) => e.k === 'commit');
  assert.equal(at(t, commits[0]), t.line('commit1'));
  assert.equal(commits[0].tx, begins[0].tx);
  assert.equal(at(t, commits[1]), t.line('with_ok'));
  const rollbacks = ev.filter((e) => e.k === 'rollback');
  assert.equal(at(t, rollbacks[0]), t.line('rollback1'));
  assert.equal(at(t, rollbacks[1]), t.line('with_err'));
  assert.equal(at(t, rollbacks[2]), t.line('close'));
  const dup = stmt(ev, "insert into item(name) values ('a2')");
  assert.equal(at(t, dup), t.line('dup'));
  // The name Python's traceback prints.
  assert.equal(dup.err.type, 'sqlite3.IntegrityError');
  assert.match(dup.err.message, /UNIQUE constraint failed/);
  assert.equal(stmt(ev, 'select * from item').tx, undefined);

  const mem = ev.filter((e) => e.k === 'connect')[1];
  assert.deepEqual(mem.db, { system: 'sqlite', name: ':memory:', memory: true });
  assert.equal(at(t, mem), t.line('mem'));
  const uri = ev.filter((e) => e.k === 'connect')[2];
  assert.equal(uri.db.memory, true);
  assert.equal(uri.db.file, undefined);
  // Dropped without commit or close: its transaction dies with the object.
  const dropped = ev.filter((e) => e.k === 'connect')[3];
  assert.deepEqual(kinds(ev, dropped.conn), ['connect', 'stmt:create table g(x)', 'begin', 'stmt:insert into g values (1)', 'rollback:gc', 'close']);
  assert.equal(ev.find((e) => e.k === 'rollback' && e.cause === 'gc')!.at, undefined, 'collection happens at no meaningful user line');
});

test('sqlite3 autocommit (isolation_level=None): BEGIN/COMMIT as SQL, savepoints, executescript, own factories', () => {
  const t = runTraced(`
import sqlite3
from sqlite3 import connect  # bound by name after the agent hooked sqlite3
class MyConn(sqlite3.Connection):
    marker = "mine"
class MyCursor(sqlite3.Cursor):
    pass
conn = connect(":memory:", isolation_level=None, factory=MyConn)
assert isinstance(conn, MyConn) and conn.marker == "mine"
conn.execute("create table t(x)")
conn.execute("insert into t values (1)")  # @auto
conn.execute("BEGIN")  # @begin
conn.execute("SAVEPOINT sp1")  # @sp
conn.execute("insert into t values (2)")
conn.execute("ROLLBACK TO sp1")
conn.execute("COMMIT")  # @commit
cur = conn.cursor(MyCursor)
assert type(cur).__name__ == "MyCursor" and isinstance(cur, MyCursor)
cur.execute("insert into t values (3)")  # @mycursor
conn.executescript("BEGIN; insert into t values (4); COMMIT;")  # @script
`);
  const ev = t.events;
  assert.deepEqual(kinds(ev), [
    'connect',
    'stmt:create table t(x)',
    'stmt:insert into t values (1)',
    'begin',
    'stmt:BEGIN',
    'stmt:SAVEPOINT sp1',
    'savepoint',
    'stmt:insert into t values (2)',
    'stmt:ROLLBACK TO sp1',
    'savepoint',
    'stmt:COMMIT',
    'commit',
    'stmt:insert into t values (3)',
    'stmt:BEGIN; insert into t values (4); COMMIT;',
  ]);
  assert.equal(stmt(ev, 'insert into t values (1)').tx, undefined, 'autocommit: no transaction');
  const begin = ev.find((e) => e.k === 'begin')!;
  assert.equal(begin.implicit, undefined, 'BEGIN written by the code is not implicit');
  assert.equal(at(t, begin), t.line('begin'));
  const sps = ev.filter((e) => e.k === 'savepoint');
  assert.deepEqual(
    sps.map((s) => [s.action, s.name, s.tx]),
    [
      ['begin', 'sp1', begin.tx],
      ['rollback', 'sp1', begin.tx],
    ],
  );
  assert.equal(at(t, ev.find((e) => e.k === 'commit')!), t.line('commit'));
  assert.equal(at(t, stmt(ev, 'insert into t values (3)')), t.line('mycursor'));
  assert.equal(at(t, stmt(ev, 'BEGIN; insert into t values (4); COMMIT;')), t.line('script'));
  // The script opens and commits its transaction within one call: the driver is idle before and
  // after, so it is one statement outside a transaction (state is compared per call, not per SQL).
  assert.equal(stmt(ev, 'BEGIN; insert into t values (4); COMMIT;').tx, undefined);
});

test('psycopg2: implicit begin, SQLSTATE 23505, rollback on close with a transaction open, no password', async () => {
  const url = await createDatabase('dbapi_pg2');
  const password = decodeURIComponent(new URL(url).password);
  assert.ok(password, 'the test server requires a password, so leaking it would show');
  const t = runTraced(
    `
import psycopg2, psycopg2.extensions, psycopg2.extras
conn = psycopg2.connect("{{url}}")  # @connect
assert isinstance(conn, psycopg2.extensions.connection) and conn.autocommit is False
cur = conn.cursor()
cur.execute("create table acct(id int primary key, owner text)")  # @ddl
conn.commit()  # @commit_ddl
cur.execute("insert into acct values (%s, %s)", (1, "ann"))  # @ins
conn.commit()
try:
    cur.execute("insert into acct values (%s, %s)", (1, "bob"))  # @dup
except psycopg2.errors.UniqueViolation as exc:
    print("pgcode", exc.pgcode)
conn.rollback()  # @rollback
with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as dc:
    dc.execute("select owner from acct where id = %(id)s", {"id": 1})  # @dict
    print(dict(dc.fetchone()))
conn.commit()
try:
    with conn:  # @with_err
        conn.cursor().execute("update acct set owner = 'x'")
        raise RuntimeError("boom")
except RuntimeError:
    pass
conn.cursor().execute("update acct set owner = 'carol' where id = 1")  # @pending
conn.close()  # @close
`,
    { vars: { url } },
  );
  assert.match(t.stdout, /pgcode 23505/);
  assert.match(t.stdout, /\{'owner': 'ann'\}/);
  assert.ok(!t.raw.includes(password), 'the password is never written');
  const ev = t.events;
  const connect = ev.find((e) => e.k === 'connect')!;
  assert.equal(connect.driver, 'psycopg2');
  const u = new URL(url);
  assert.equal(connect.db.system, 'postgresql');
  assert.equal(connect.db.name, u.pathname.slice(1));
  assert.equal(connect.db.host, u.hostname);
  assert.equal(connect.db.port, Number(u.port));
  assert.equal(connect.db.url, `postgresql://${u.username}@${u.hostname}:${u.port}${u.pathname}`);
  assert.equal(at(t, connect), t.line('connect'));
  assert.deepEqual(kinds(ev), [
    'connect',
    'begin',
    'stmt:create table acct(id int primary key, owner text)',
    'commit',
    'begin',
    'stmt:insert into acct values (%s, %s)',
    'commit',
    'begin',
    'stmt:insert into acct values (%s, %s)',
    'rollback:explicit',
    'begin',
    'stmt:select owner from acct where id = %(id)s',
    'commit',
    'begin',
    "stmt:update acct set owner = 'x'",
    'rollback:error',
    'begin',
    "stmt:update acct set owner = 'carol' where id = 1",
    'rollback:close',
    'close',
  ]);
  const begin = ev.find((e) => e.k === 'begin')!;
  assert.equal(begin.implicit, true, 'psycopg2 sent BEGIN itself');
  assert.equal(at(t, begin), t.line('ddl'));
  const [ins, dup] = ev.filter((e) => e.k === 'stmt' && e.sql === 'insert into acct values (%s, %s)');
  assert.equal(at(t, ins), t.line('ins'));
  assert.deepEqual(ins.params, [1, 'ann']);
  assert.equal(ins.rows, 1);
  assert.equal(at(t, dup), t.line('dup'));
  assert.equal(dup.err.code, '23505');
  assert.equal(dup.err.type, 'psycopg2.errors.UniqueViolation');
  assert.deepEqual(stmt(ev, 'select owner from acct where id = %(id)s').params, { id: 1 });
  const rollbacks = ev.filter((e) => e.k === 'rollback');
  assert.equal(at(t, rollbacks[0]), t.line('rollback'));
  assert.equal(at(t, rollbacks[1]), t.line('with_err'));
  const closeRollback = rollbacks[2];
  assert.equal(closeRollback.cause, 'close');
  assert.equal(at(t, closeRollback), t.line('close'));
  assert.equal(closeRollback.tx, stmt(ev, "update acct set owner = 'carol' where id = 1").tx);
});

test('psycopg 3 sync and async: transaction() blocks, savepoints, SQLSTATE, error rollbacks, tasks', async () => {
  const url = await createDatabase('dbapi_pg3');
  const t = runTraced(
    `
import asyncio, psycopg
with psycopg.connect("{{url}}") as conn:  # @connect
    assert isinstance(conn, psycopg.Connection)
    conn.execute("create table job(id int primary key, state text)")
    conn.commit()
    with conn.transaction():  # @tx
        conn.execute("insert into job values (%s, %s)", (1, "new"))  # @ins
        with conn.transaction():  # @sp
            conn.cursor().execute("update job set state = 'run'")
    try:
        conn.execute("insert into job values (%s, %s)", (1, "dup"))  # @dup
    except psycopg.errors.UniqueViolation as exc:
        print("sqlstate", exc.sqlstate)
    conn.rollback()

async def main():
    aconn = await psycopg.AsyncConnection.connect("{{url}}", autocommit=True)  # @aconnect
    assert isinstance(aconn, psycopg.AsyncConnection)
    cur = aconn.cursor()
    assert isinstance(cur, psycopg.AsyncCursor)
    await cur.execute("select state from job where id = %s", (1,))  # @aselect
    print("state", (await cur.fetchone())[0])
    try:
        async with aconn.transaction():  # @atx
            await aconn.execute("update job set state = 'failed'")
            raise ValueError("worker crashed")
    except ValueError:
        pass
    await aconn.close()
asyncio.run(main())
`,
    { vars: { url } },
  );
  assert.match(t.stdout, /sqlstate 23505/);
  assert.match(t.stdout, /state run/);
  const ev = t.events;
  const [c1, c2] = ev.filter((e) => e.k === 'connect');
  assert.equal(c1.driver, 'psycopg');
  assert.equal(at(t, c1), t.line('connect'));
  assert.equal(at(t, c2), t.line('aconnect'));
  assert.deepEqual(kinds(ev, c1.conn), [
    'connect',
    'begin',
    'stmt:create table job(id int primary key, state text)',
    'commit',
    'begin',
    'stmt:insert into job values (%s, %s)',
    'savepoint',
    "stmt:update job set state = 'run'",
    'savepoint',
    'commit',
    'begin',
    'stmt:insert into job values (%s, %s)',
    'rollback:explicit',
    'close',
  ]);
  const blockBegin = ev.filter((e) => e.k === 'begin' && e.conn === c1.conn)[1];
  assert.equal(blockBegin.implicit, undefined, 'transaction() asked for the BEGIN');
  assert.equal(at(t, blockBegin), t.line('tx'));
  const sps = ev.filter((e) => e.k === 'savepoint');
  assert.deepEqual(
    sps.map((s) => s.action),
    ['begin', 'release'],
  );
  assert.equal(at(t, sps[0]), t.line('sp'));
  const [ins, dup] = ev.filter((e) => e.k === 'stmt' && e.sql === 'insert into job values (%s, %s)');
  assert.equal(at(t, ins), t.line('ins'));
  assert.equal(dup.err.code, '23505');
  assert.equal(at(t, dup), t.line('dup'));

  assert.deepEqual(kinds(ev, c2.conn), [
    'connect',
    'stmt:select state from job where id = %s',
    'begin',
    "stmt:update job set state = 'failed'",
    'rollback:error',
    'close',
  ]);
  const aselect = stmt(ev, 'select state from job where id = %s');
  assert.equal(aselect.tx, undefined, 'autocommit: outside a transaction');
  assert.equal(at(t, aselect), t.line('aselect'));
  assert.equal(typeof aselect.task, 'number', 'async statements carry their task');
  const arollback = ev.find((e) => e.k === 'rollback' && e.conn === c2.conn)!;
  assert.equal(at(t, arollback), t.line('atx'));
});

test('asyncpg: statements of two tasks carry different task ids, SQLSTATE 23505, transactions, close, pool reset', async () => {
  const url = await createDatabase('dbapi_apg');
  const t = runTraced(
    `
import asyncio, asyncpg

async def add(conn, n):
    await conn.execute("insert into evt values ($1)", n)  # @task_insert

async def main():
    a = await asyncpg.connect("{{url}}")  # @connect
    assert isinstance(a, asyncpg.Connection)
    b = await asyncpg.connect("{{url}}")
    await a.execute("create table evt(id int primary key)")
    await asyncio.gather(add(a, 1), add(b, 2))
    try:
        await a.execute("insert into evt values ($1)", 1)  # @dup
    except asyncpg.UniqueViolationError as exc:
        print("sqlstate", exc.sqlstate)
    async with a.transaction():  # @tx
        await a.execute("insert into evt values (3)")
        rows = await a.fetch("select id from evt order by id")  # @fetch
        print("ids", [r["id"] for r in rows])
    try:
        async with a.transaction():  # @tx_err
            await a.execute("insert into evt values (4)")
            raise ValueError("boom")
    except ValueError:
        pass
    tr = b.transaction()
    await tr.start()
    await b.execute("insert into evt values (5)")
    await b.close()  # @close
    pool = await asyncpg.create_pool("{{url}}", min_size=1, max_size=1)
    async with pool.acquire() as pc:
        await pc.execute("BEGIN")
        await pc.execute("insert into evt values (6)")
    await pool.close()
    await a.close()
asyncio.run(main())
`,
    { vars: { url } },
  );
  assert.match(t.stdout, /sqlstate 23505/);
  assert.match(t.stdout, /ids \[1, 2, 3\]/);
  const ev = t.events;
  const [a, b, p] = ev.filter((e) => e.k === 'connect');
  assert.equal(a.driver, 'asyncpg');
  assert.equal(at(t, a), t.line('connect'));
  const taskInserts = ev.filter((e) => e.k === 'stmt' && e.sql === 'insert into evt values ($1)' && !e.err);
  assert.equal(taskInserts.length, 2);
  assert.deepEqual(taskInserts.map((e) => e.conn).sort(), [a.conn, b.conn].sort());
  for (const e of taskInserts) assert.equal(at(t, e), t.line('task_insert'));
  assert.equal(typeof taskInserts[0].task, 'number');
  assert.equal(typeof taskInserts[1].task, 'number');
  assert.notEqual(taskInserts[0].task, taskInserts[1].task, 'two tasks, two task ids');
  const mainTask = ev.find((e) => e.k === 'stmt' && e.sql === 'create table evt(id int primary key)')!.task;
  assert.ok(!taskInserts.some((e) => e.task === mainTask));

  const dup = ev.find((e) => e.k === 'stmt' && e.err)!;
  assert.equal(dup.err.code, '23505');
  assert.equal(dup.err.type, 'asyncpg.exceptions.UniqueViolationError');
  assert.equal(at(t, dup), t.line('dup'));
  assert.deepEqual(dup.params, [1]);

  assert.deepEqual(kinds(ev, a.conn).slice(4), [
    'begin',
    'stmt:BEGIN;',
    'stmt:insert into evt values (3)',
    'stmt:select id from evt order by id',
    'stmt:COMMIT;',
    'commit',
    'begin',
    'stmt:BEGIN;',
    'stmt:insert into evt values (4)',
    'stmt:ROLLBACK;',
    'rollback:error',
    'close',
  ]);
  const txBegin = ev.find((e) => e.k === 'begin' && e.conn === a.conn)!;
  assert.equal(txBegin.implicit, undefined);
  assert.equal(at(t, txBegin), t.line('tx'));
  assert.equal(stmt(ev, 'select id from evt order by id').rows, 3);
  assert.equal(at(t, ev.find((e) => e.k === 'rollback' && e.conn === a.conn)!), t.line('tx_err'));

  const bEnd = ev.filter((e) => e.conn === b.conn).slice(-2);
  assert.deepEqual(kinds(bEnd), ['rollback:close', 'close']);
  assert.equal(at(t, bEnd[0]), t.line('close'));

  // The pool's reset-on-release: its ROLLBACK/RESET ALL are not the code's statements.
  assert.deepEqual(kinds(ev, p.conn), ['connect', 'begin', 'stmt:BEGIN', 'stmt:insert into evt values (6)', 'rollback:pool-reset', 'close']);
});

for (const envName of SQLALCHEMY_LINES) {
  test(`SQLAlchemy ${envName} on sqlite3 is traced once, by the SQLAlchemy hooks; a bare connection beside it by the DB-API hooks`, () => {
    const t = runTraced(
      `
import sqlite3
from sqlalchemy import create_engine, text
engine = create_engine("sqlite:///orm.db")
with engine.begin() as c:
    c.execute(text("create table thing(id integer primary key, name text)"))
    c.execute(text("insert into thing(name) values ('via-engine')"))
made = create_engine("sqlite://", creator=lambda: sqlite3.connect(":memory:"))
with made.connect() as c:
    c.execute(text("select 'via-creator'"))
bare = sqlite3.connect("orm.db")  # @bare
print(bare.execute("select name from thing").fetchall())  # @bare_select
bare.close()
`,
      { env: envName },
    );
    assert.match(t.stdout, /via-engine/);
    const ev = t.events;
    const connects = ev.filter((e) => e.k === 'connect');
    const bare = connects.filter((e) => e.engine === undefined);
    assert.equal(bare.length, 1, 'only the bare connection is a DB-API one');
    assert.equal(at(t, bare[0]), t.line('bare'));
    assert.ok(connects.length >= 3, 'the engines connected too');
    for (const sql of [
      'create table thing(id integer primary key, name text)',
      "insert into thing(name) values ('via-engine')",
      "select 'via-creator'",
      'select name from thing',
    ]) {
      stmt(ev, sql);
    }
    const engineConns = new Set<string | undefined>(connects.filter((e) => e.engine !== undefined).map((e) => e.conn));
    assert.ok(engineConns.has(stmt(ev, "insert into thing(name) values ('via-engine')").conn));
    assert.ok(engineConns.has(stmt(ev, "select 'via-creator'").conn));
    const bareSelect = stmt(ev, 'select name from thing');
    assert.equal(bareSelect.conn, bare[0].conn);
    assert.equal(at(t, bareSelect), t.line('bare_select'));
  });
}

test('an error inside the DB-API hooks stops capture, never the program', () => {
  const t = runTraced(
    `
import sqlite3
conn = sqlite3.connect(":memory:")
conn.execute("create table t(x)")
conn.execute("insert into t values (1)")
conn.commit()
print("rows", conn.execute("select count(*) from t").fetchone()[0])
conn.close()
`,
    { extraEnv: { TXLENS_FAULT_INJECT: 'dbapi.stmt' } },
  );
  assert.match(t.stdout, /rows 1/);
  const stderrLines = t.stderr.split('\n').filter((l) => l.startsWith('txlens:'));
  assert.equal(stderrLines.length, 1, t.stderr);
  const kindsSeen = t.events.map((e) => e.k);
  assert.deepEqual(kindsSeen, ['connect', 'agent_error']);
});
