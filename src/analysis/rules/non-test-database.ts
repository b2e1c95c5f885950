/**
 * non-test-database: during a test, code wrote to (or read from) a database that
 * is not the test database: the development database an app module bound its
 * session factory to at import, a file next to the project, a server database
 * named `app_dev`. Tests then fail with "not found" (the test's rows are in the
 * test database, the code looks elsewhere), and the run leaves rows in a
 * database people care about.
 *
 * Which databases are test databases (judged per `dbKey`, over the whole run):
 * - never one whose database or file name has dev, development, prod,
 *   production, staging or live as a word (those are always suspicious);
 * - memory databases, names containing "test", files in a temporary folder
 *   outside the project (pytest's tmp_path), databases whose schema was created
 *   while a test (or its fixtures) ran, databases reached through an engine
 *   created in test code (conftest.py, test_*.py), and SQLite files opened in test
 *   code without an engine (better-sqlite3's `new Database(file)` in a spec).
 * A test's other databases are suspicious only when the test database is known
 * without doubt: exactly one test database in the test (else in the run).
 * A read of no table (`SELECT 1`, a server function such as a LISTEN health check)
 * says nothing about where the test's data is: it counts only on a dev or prod
 * database, where connecting at all is the defect. A test's TCP proxy to its own
 * database (another port, so another database to the trace) is seen that way.
 *
 * Severity: error when the test wrote to the suspicious database. When it only
 * read: error if the test failed after reading a table from it that the test
 * had written to its test database (the rows were looked for in the wrong place:
 * "Job not found"), else warning. Statements outside tests (module-level
 * `create_all` at import, collection) are not judged.
 *
 * Location: the first statement of the test on that database (a write when there
 * is one). Related: where that database's engine was made, where the test
 * database's engine was made, and the test's own write the code could not see.
 */
import { tmpdir } from 'node:os';
import { basename, isAbsolute, relative } from 'node:path';
import type { ModelConnection, ModelRun, ModelStatement } from '../../model/model';
import type { DynamicRule, Finding, RelatedLocation } from '../findings';
import { statementIndex } from '../statement-index';
import { relPath } from '../../present/paths';
import { STACK_WORDING } from '../../present/wording';
import { connectionWording, finding, firstFrame, flushRelated, isTestCode, place, related, statementRelated } from './util';

const RULE = 'non-test-database';

const DEV_PROD_WORDS = new Set(['dev', 'development', 'prod', 'production', 'staging', 'live']);

interface DbFacts {
  key: string;
  conn: ModelConnection;
  devProd: boolean;
  testish: boolean;
}

interface TestUse {
  test: string;
  /** Per database: the first statement, the first write. */
  dbs: Map<string, { first: ModelStatement; firstWrite?: ModelStatement; reads: ModelStatement[] }>;
  /** Tables the test wrote to a test database, with the first write. */
  testWrites: Map<string, ModelStatement>;
}

/** The words of a database or file name: 'quickstart-dev.db' → quickstart, dev, db; 'appDev' → app, dev. */
function nameWords(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w !== '');
}

function dbName(conn: ModelConnection): string {
  const db = conn.db;
  if (!db) return '';
  if (db.system === 'sqlite') {
    if (db.memory) return db.name ?? ':memory:';
    return basename(db.file ?? db.name ?? '');
  }
  return db.name ?? '';
}

function isDevProd(conn: ModelConnection): boolean {
  return nameWords(dbName(conn)).some((w) => DEV_PROD_WORDS.has(w));
}

const TEMP_ROOTS = [tmpdir(), '/tmp', '/var/tmp', '/private/tmp', '/var/folders', '/private/var/folders'];

function inside(dir: string, file: string): boolean {
  const r = relative(dir, file);
  return r !== '' && !r.startsWith('..') && !isAbsolute(r);
}

/** A file in a temporary folder that is not the project's own folder (projects can live in temp folders too). */
function inTempOutsideProject(model: ModelRun, file: string | undefined): boolean {
  if (!file) return false;
  const cwd = model.run?.cwd;
  if (cwd && inside(cwd, file)) return false;
  return /[\\/]pytest-of-[^\\/]+[\\/]/.test(file) || TEMP_ROOTS.some((root) => root && inside(root, file));
}

/** Per model, how many databases (by key) each server database name stands for in the run. */
const sharedNames = new WeakMap<ModelRun, Map<string, Set<string>>>();

/** Whether another database of the run has the same name (the same name on another server or port). */
function nameShared(model: ModelRun, name: string): boolean {
  let names = sharedNames.get(model);
  if (!names) {
    names = new Map();
    for (const c of model.connections) {
      if (!c.db?.name || !c.dbKey || c.db.system === 'sqlite') continue;
      let keys = names.get(c.db.name);
      if (!keys) names.set(c.db.name, (keys = new Set()));
      keys.add(c.dbKey);
    }
    sharedNames.set(model, names);
  }
  return (names.get(name)?.size ?? 0) > 1;
}

/**
 * How people name a database in a message: the file (relative to the project when inside it) or the
 * database name, with its server when another database of the run has that name too ("pgboss on
 * 127.0.0.1:40123" beside "pgboss on 127.0.0.1:5432", not "pgboss instead of pgboss").
 */
function displayName(model: ModelRun, conn: ModelConnection): string {
  const db = conn.db;
  if (db?.system === 'sqlite' && !db.memory && db.file) {
    const short = relPath(db.file, model.run?.cwd);
    return isAbsolute(short) ? basename(short) : short;
  }
  if (db?.memory) return 'an in-memory SQLite database';
  if (db?.name && (db.host || db.port) && nameShared(model, db.name)) return `${db.name} on ${[db.host, db.port].filter((x) => x !== undefined && x !== '').join(':')}`;
  return db?.name ?? conn.dbKey ?? 'an unknown database';
}

/** What the connections alone tell about each database; `schemaMadeInTests` adds what the statements tell. */
function connectionFacts(model: ModelRun): Map<string, DbFacts> {
  const facts = new Map<string, DbFacts>();
  for (const conn of model.connections) {
    if (!conn.dbKey || !conn.db) continue;
    let f = facts.get(conn.dbKey);
    if (!f) {
      f = { key: conn.dbKey, conn, devProd: isDevProd(conn), testish: false };
      facts.set(conn.dbKey, f);
    }
    if (f.devProd) continue;
    if (
      conn.db.memory ||
      dbName(conn).toLowerCase().includes('test') ||
      (conn.db.system === 'sqlite' && inTempOutsideProject(model, conn.db.file)) ||
      isTestCode(model, conn.engineAt) ||
      // A SQLite file with no engine opened in test code: the handle (better-sqlite3's Database) is made
      // there, as an engine is, so the test chose the file (a backup it reads back, a second database).
      (conn.db.system === 'sqlite' && conn.engineAt === undefined && isTestCode(model, conn.at))
    ) {
      f.testish = true;
    }
  }
  return facts;
}

/** Schema created while a test or its fixtures ran: the test set-up made this database. */
function schemaMadeInTests(model: ModelRun, facts: Map<string, DbFacts>): void {
  const statements = model.statements;
  for (const i of statementIndex(model).ddl) {
    const st = statements[i];
    if (!st.test || st.err || !st.connection.dbKey) continue;
    const f = facts.get(st.connection.dbKey);
    if (f && !f.devProd) f.testish = true;
  }
}

/** A database the rule may report: not a test database, and not a memory one (a test's scratch database). */
function suspicious(f: DbFacts | undefined): f is DbFacts {
  return !!f && !f.testish && !f.conn.db?.memory;
}

/** Whether any database is suspicious: most runs use test databases only, and then no statement needs a look. */
function anySuspicious(facts: Map<string, DbFacts>): boolean {
  for (const f of facts.values()) if (suspicious(f)) return true;
  return false;
}

function testUses(model: ModelRun, facts: Map<string, DbFacts>): Map<string, TestUse> {
  const uses = new Map<string, TestUse>();
  const statements = model.statements;
  // Statements come in runs of one test on one connection: the last statement's test use, database
  // entry and facts are the next one's most of the time, and are looked up again only when they change.
  let use: TestUse | undefined;
  let lastKey: string | undefined;
  let db: { first: ModelStatement; firstWrite?: ModelStatement; reads: ModelStatement[] } | undefined;
  let readsCount = false;
  let testish = false;
  let devProd = false;
  for (let i = 0; i < statements.length; i++) {
    const st = statements[i];
    const key = st.connection.dbKey;
    if (!st.test || !key || st.err) continue;
    const op = st.op;
    if (op !== 'read' && op !== 'write' && op !== 'ddl') continue;
    if (use?.test !== st.test) {
      use = uses.get(st.test);
      if (!use) uses.set(st.test, (use = { test: st.test, dbs: new Map(), testWrites: new Map() }));
      db = undefined;
    }
    if (key !== lastKey) {
      lastKey = key;
      const f = facts.get(key);
      // Reads matter only where the test may have looked for its rows in the wrong database (see `report`).
      readsCount = suspicious(f);
      testish = !!f?.testish;
      devProd = !!f?.devProd;
      db = undefined;
    }
    if (op === 'read' && !devProd && st.parsedSql && st.reads.length === 0) continue;
    if (!db) {
      db = use.dbs.get(key);
      if (!db) use.dbs.set(key, (db = { first: st, reads: [] }));
    }
    if (op === 'read') {
      if (readsCount) db.reads.push(st);
    }
    else {
      if (!db.firstWrite) db.firstWrite = st;
      if (op === 'write' && testish) {
        const tables = st.writes;
        for (let k = 0; k < tables.length; k++) if (!use.testWrites.has(tables[k])) use.testWrites.set(tables[k], st);
      }
    }
  }
  return uses;
}

function collapse(key: string): string {
  // Memory databases of one test are "the in-memory test database", however many connections made them.
  return key.startsWith('sqlite-memory:') ? 'sqlite-memory' : key;
}

/** Per model, each test's name by id: asked once per finding, thousands of times on a large run. */
const testNames = new WeakMap<ModelRun, Map<string, string>>();

function testName(model: ModelRun, id: string): string {
  let names = testNames.get(model);
  if (!names) {
    names = new Map();
    // The first test of an id wins, as a search from the start would find it.
    for (const t of model.tests) if (!names.has(t.id)) names.set(t.id, t.name);
    testNames.set(model, names);
  }
  return names.get(id) ?? id;
}

/** A read of a table the test had already written to its test database: the code looked for the test's rows here. */
function misplacedRead(use: TestUse, reads: ModelStatement[]): { read: ModelStatement; write: ModelStatement; table: string } | undefined {
  for (const read of reads) {
    for (const table of read.reads) {
      const write = use.testWrites.get(table);
      if (write && write.time <= read.start) return { read, write, table };
    }
  }
  return undefined;
}

function report(
  model: ModelRun,
  use: TestUse,
  suspicious: DbFacts,
  db: { first: ModelStatement; firstWrite?: ModelStatement; reads: ModelStatement[] },
  testDb: DbFacts | undefined,
  testFailed: boolean,
): Finding | undefined {
  const misplaced = db.firstWrite ? undefined : misplacedRead(use, db.reads);
  const st = db.firstWrite ?? misplaced?.read ?? db.first;
  const conn = suspicious.conn;
  const at = firstFrame(st.at, conn.engineAt, conn.at);
  if (!at) return undefined;
  const severity = db.firstWrite || (testFailed && misplaced) ? 'error' : 'warning';
  const name = displayName(model, conn);
  const testDbName = testDb ? displayName(model, testDb.conn) : undefined;
  const testDbAt = testDb ? firstFrame(testDb.conn.engineAt, testDb.conn.at) : undefined;
  const setUp = testDbName ? `the test database ${testDbName} that the test set up${testDbAt ? ` (${place(model, testDbAt)})` : ''}` : 'the test database';
  const tables = (db.firstWrite ? db.firstWrite.writes : (misplaced ? [misplaced.table] : st.reads)).slice(0, 3).join(', ');
  const verb = db.firstWrite ? `wrote ${tables ? `to ${tables} in` : 'to'}` : `read ${tables ? `${tables} from` : ''}`;
  const kindText = suspicious.devProd ? `${name} (a ${devProdKind(conn)} database)` : name;
  let message = `${testName(model, use.test)} ${verb} ${kindText} at ${place(model, st.at)} instead of ${setUp}`;
  if (db.firstWrite) message += ', so the run changed data outside the test database.';
  else if (misplaced) message += `, so the ${misplaced.table} rows the test wrote to ${testDbName ?? 'its test database'} (${place(model, misplaced.write.at)}) were not there.`;
  else message += '.';
  const engineAt = firstFrame(conn.engineAt, conn.at);
  const words = connectionWording(conn, st.session?.cls);
  message += ` The code got ${name} through ${words.connectionSource} ${place(model, engineAt)}: ${words.useTestDatabase}`;
  const rel: RelatedLocation[] = [
    ...related(engineAt, words === STACK_WORDING.python ? `engine for ${name} created here` : `connection to ${name} opened here`),
    // A write an ORM flush sent is located at the line that changed the object; the flush is related.
    ...flushRelated(st),
    ...(testDbAt ? related(testDbAt, `test database ${testDbName} set up here`) : []),
    ...(misplaced ? statementRelated(misplaced.write, `the test wrote ${misplaced.table} to ${testDbName ?? 'the test database'} here`) : []),
  ];
  return finding(RULE, severity, message, at, { related: rel, test: use.test });
}

function devProdKind(conn: ModelConnection): string {
  const words = nameWords(dbName(conn));
  if (words.some((w) => w === 'prod' || w === 'production' || w === 'live')) return 'production';
  if (words.includes('staging')) return 'staging';
  return 'development';
}

export const nonTestDatabaseRule: DynamicRule = {
  id: RULE,
  check(model: ModelRun): Finding[] {
    // Statements only ever make a database a test database: when the connections leave none
    // suspicious, the statements cannot make one, and the run's statements need no pass at all.
    const facts = connectionFacts(model);
    if (!anySuspicious(facts)) return [];
    schemaMadeInTests(model, facts);
    if (!anySuspicious(facts)) return [];
    const uses = testUses(model, facts);
    const runTestDbs = new Map<string, DbFacts>();
    for (const use of uses.values())
      for (const key of use.dbs.keys()) {
        const f = facts.get(key);
        if (f?.testish && !runTestDbs.has(collapse(key))) runTestDbs.set(collapse(key), f);
      }
    const outcome = new Map(model.tests.map((t) => [t.id, t.outcome]));
    const findings: Finding[] = [];
    for (const use of uses.values()) {
      const testDbKeys = [...use.dbs.keys()].filter((k) => facts.get(k)?.testish);
      const distinct = new Set(testDbKeys.map(collapse));
      // The one test database, when there is no doubt which it is.
      let testDb: DbFacts | undefined;
      if (distinct.size === 1) testDb = facts.get(testDbKeys[0]);
      else if (distinct.size === 0 && runTestDbs.size === 1) testDb = [...runTestDbs.values()][0];
      for (const [key, db] of use.dbs) {
        const f = facts.get(key);
        if (!suspicious(f)) continue;
        if (!f.devProd && !testDb) continue;
        const found = report(model, use, f, db, testDb, outcome.get(use.test) === 'failed');
        if (found) findings.push(found);
      }
    }
    return findings;
  },
};
