// A failed statement's `err` honours the params mode on every path into the agent:
// PostgreSQL UNIQUE violations (whose DETAIL quotes the row) and bad integer input
// (whose message quotes the value), raised through SQLAlchemy (psycopg2, and asyncpg
// under the asyncio extension) and through the DB-API drivers directly (psycopg2,
// psycopg 3, asyncpg), against a real server. The value is a unique marker: it may
// appear in the trace under `--params values` only, and the errors stay recognisable
// (type, SQLSTATE, the key columns of the DETAIL) in every mode. The marker is also a
// literal the app writes into its SQL (masked as `…` with every other literal, the rest
// of the statement kept) and the primary key of an ORM object read from the identity map
// (`identity_hit.key`: `…` per key column outside values mode).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readTrace } from '../../src/trace/reader';
import type { TraceEvent } from '../../src/trace/schema';
import { createDatabase, python, pythonTraceEnv, tempDir } from '../support/env';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- err is read field by field
type Ev = TraceEvent & Record<string, any>;
type ParamsMode = 'off' | 'types' | 'values';

// Each path's duplicate comes from the table itself (INSERT ... SELECT), so the marker
// reaches that statement only through the server's DETAIL, never through its parameters.
const SCRIPT = `
import asyncio, os
import asyncpg, psycopg, psycopg2
from sqlalchemy import Column, String, create_engine, text
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.orm import Session, declarative_base

MARKER = os.environ["MARKER"]
URL = os.environ["DATABASE_URL"]


def expect(error, call):
    try:
        call()
    except error:
        return
    raise AssertionError("expected %s" % error.__name__)


async def expect_async(error, call):
    try:
        await call()
    except error:
        return
    raise AssertionError("expected %s" % error.__name__)


conn = psycopg2.connect(URL)
cur = conn.cursor()
cur.execute("create table via_psycopg2 (email text unique)")
cur.execute("insert into via_psycopg2 (email) values (%s)", (MARKER,))
conn.commit()
expect(psycopg2.errors.UniqueViolation, lambda: cur.execute("insert into via_psycopg2 (email) select email from via_psycopg2"))
conn.rollback()
expect(psycopg2.errors.InvalidTextRepresentation, lambda: cur.execute("select %s::int as via_psycopg2", (MARKER,)))
conn.rollback()
# The app writes the value into its SQL: a literal is a row value like a parameter.
cur.execute("select count(*) from via_psycopg2 where email = '" + MARKER + "' and 1 = 1")
assert cur.fetchone()[0] == 1
conn.close()

with psycopg.connect(URL) as conn:
    conn.execute("create table via_psycopg (email text unique)")
    conn.execute("insert into via_psycopg (email) values (%s)", (MARKER,))
    conn.commit()
    expect(psycopg.errors.UniqueViolation, lambda: conn.execute("insert into via_psycopg (email) select email from via_psycopg"))
    conn.rollback()
    expect(psycopg.errors.InvalidTextRepresentation, lambda: conn.execute("select %s::int as via_psycopg", (MARKER,)))
    conn.rollback()

engine = create_engine(URL.replace("postgresql://", "postgresql+psycopg2://", 1))
with engine.begin() as c:
    c.execute(text("create table via_sqlalchemy (email text unique)"))
    c.execute(text("insert into via_sqlalchemy (email) values (:email)"), {"email": MARKER})
with engine.connect() as c:
    expect(IntegrityError, lambda: c.execute(text("insert into via_sqlalchemy (email) select email from via_sqlalchemy")))
with engine.connect() as c:
    expect(DataError, lambda: c.execute(text("select cast(:email as integer) as via_sqlalchemy"), {"email": MARKER}))
with engine.connect() as c:
    assert c.execute(text("select count(*) from via_sqlalchemy where email = '" + MARKER + "' and 1 = 1")).scalar() == 1


# An ORM object whose primary key is the marker, read twice: the second read is an identity-map hit.
class Account(declarative_base()):
    __tablename__ = "via_orm"
    email = Column(String, primary_key=True)


Account.metadata.create_all(engine)
with Session(engine, expire_on_commit=False) as session:
    account = Account(email=MARKER)  # held: the identity map keeps only what the code references
    session.add(account)
    session.commit()
    assert session.get(Account, MARKER) is account
engine.dispose()


async def main():
    conn = await asyncpg.connect(URL)
    await conn.execute("create table via_asyncpg (email text unique)")
    await conn.execute("insert into via_asyncpg (email) values ($1)", MARKER)
    await expect_async(asyncpg.UniqueViolationError, lambda: conn.execute("insert into via_asyncpg (email) select email from via_asyncpg"))
    await expect_async(asyncpg.InvalidTextRepresentationError, lambda: conn.fetchval("select $1::text::int as via_asyncpg", MARKER))
    await conn.close()

    engine = create_async_engine(URL.replace("postgresql://", "postgresql+asyncpg://", 1))
    async with engine.begin() as c:
        await c.execute(text("create table via_sqlalchemy_asyncpg (email text unique)"))
        await c.execute(text("insert into via_sqlalchemy_asyncpg (email) values (:email)"), {"email": MARKER})

    async def duplicate():
        async with engine.begin() as c:
            await c.execute(text("insert into via_sqlalchemy_asyncpg (email) select email from via_sqlalchemy_asyncpg"))

    await expect_async(IntegrityError, duplicate)
    await engine.dispose()


asyncio.run(main())
print("done")
`;

const PATHS = ['via_psycopg2', 'via_psycopg', 'via_sqlalchemy', 'via_asyncpg', 'via_sqlalchemy_asyncpg'];
// Paths that also send an integer cast of the marker (a message that quotes the value).
const CAST_PATHS = ['via_psycopg2', 'via_psycopg', 'via_sqlalchemy', 'via_asyncpg'];

function runScript(mode: ParamsMode, url: string, marker: string): { events: Ev[]; raw: string } {
  const workspace = tempDir(`error-params-${mode}`);
  const traceDir = tempDir(`error-params-${mode}-trace`);
  const script = join(workspace, 'app.py');
  writeFileSync(script, SCRIPT);
  const env = { ...pythonTraceEnv(traceDir, workspace, { params: mode }), MARKER: marker, DATABASE_URL: url };
  const r = spawnSync(python('sa20'), [script], { cwd: workspace, env, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `script failed:\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /done/);
  assert.doesNotMatch(r.stderr, /txlens:/, 'capture ran to the end');
  const trace = readTrace(traceDir);
  const raw = readdirSync(traceDir)
    .map((f) => readFileSync(join(traceDir, f), 'latin1'))
    .join('');
  return { events: trace.processes.flatMap((p) => p.events) as Ev[], raw };
}

function failedStatement(events: Ev[], path: string, code: string): Ev {
  const table = new RegExp(`\\b${path}\\b`);
  const found = events.filter((e) => e.k === 'stmt' && e.err?.code === code && typeof e.sql === 'string' && table.test(e.sql));
  assert.equal(found.length, 1, `one ${code} error ${path}: ${JSON.stringify(events.filter((e) => e.err).map((e) => [e.sql, e.err]))}`);
  return found[0];
}

describe('a failed statement keeps no row value outside --params values', () => {
  for (const mode of ['off', 'types', 'values'] as const) {
    it(`--params ${mode}: UNIQUE and bad-input errors through SQLAlchemy and the DB-API drivers`, async () => {
      const marker = `TXLROW${randomBytes(6).toString('hex')}`;
      const url = (await createDatabase(`error_params_${mode}`)).replace(/^postgres(ql)?:/, 'postgresql:');
      const { events, raw } = runScript(mode, url, marker);

      for (const path of PATHS) {
        const err = failedStatement(events, path, '23505').err;
        assert.match(err.type, /UniqueViolation/, `${path}: the driver's own error`);
        assert.match(err.message, /duplicate key value violates unique constraint "via_\w+_email_key"/, `${path}: constraint names are kept`);
        if (mode === 'values') {
          assert.equal(err.detail, `Key (email)=(${marker}) already exists.`, `${path}: the server's DETAIL as it was`);
        } else {
          assert.equal(err.detail, 'Key (email)=(\u2026) already exists.', `${path}: only the key columns of the DETAIL`);
        }
      }
      for (const path of CAST_PATHS) {
        const err = failedStatement(events, path, '22P02').err;
        if (mode === 'values') {
          assert.ok(err.message.includes(marker), `${path}: the message as the server wrote it: ${err.message}`);
        } else {
          assert.equal(err.message, 'invalid input syntax for type integer: "\u2026"', `${path}: the quoted value is gone`);
        }
      }

      // Literals the app wrote into its SQL, and an identity-map hit on the marker's row.
      for (const path of ['via_psycopg2', 'via_sqlalchemy']) {
        const read = events.filter((e) => e.k === 'stmt' && e.sql.startsWith(`select count(*) from ${path} where`));
        assert.equal(read.length, 1, `${path}: the read with literals`);
        const expected = mode === 'values' ? `email = '${marker}' and 1 = 1` : 'email = \u2026 and \u2026 = \u2026';
        assert.ok(read[0].sql.endsWith(expected), `${path}: ${read[0].sql}`);
      }
      const hits = events.filter((e) => e.k === 'identity_hit');
      assert.equal(hits.length, 1, JSON.stringify(hits));
      assert.equal(hits[0].table, 'via_orm');
      assert.deepEqual(hits[0].pk, ['email']);
      assert.deepEqual(hits[0].key, [mode === 'values' ? `'${marker}'` : '\u2026'], 'the key is a row value');

      if (mode === 'values') {
        assert.ok(raw.includes(marker), 'values mode keeps the values');
      } else {
        const at = raw.indexOf(marker);
        assert.equal(at, -1, `--params ${mode} wrote a row value: …${raw.slice(Math.max(0, at - 160), at + 40)}…`);
      }
    });
  }
});
