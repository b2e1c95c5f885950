// `txlens run` for real over the ORM fixture projects (test/fixtures/node/<orm>/),
// each a buggy and a fixed twin on the throwaway PostgreSQL: Knex under node:test
// (JavaScript), Prisma 7 with @prisma/adapter-pg under node:test (TypeScript via
// tsx, its client generated here, never committed), Drizzle on node-postgres
// under mocha (JavaScript, its CommonJS build) and as an ES module in TypeScript
// (its ES module build) under vitest and under node:test through tsx, TypeORM on better-sqlite3 under node:test (TypeScript
// via tsx) and on PostgreSQL under node:test (JavaScript), Sequelize on
// PostgreSQL under mocha (JavaScript). For every run:
// (a) txlens's counts equal the database's own log of the same run: Postgres's
//     statement log over every database the run touched, better-sqlite3's
//     `verbose` callback;
// (b) the rules name the buggy twin's bugs at their JS/TS lines, and stay silent
//     on the fixed twin;
// (c) the runner reports the same outcomes with and without the agent;
// (d) the ORM's transactions are sessions: their statements carry them, and
//     every line the agent wrote is valid trace format.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync, realpathSync, symlinkSync } from 'node:fs';
import { join, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { before, describe, test } from 'node:test';
import { Client } from 'pg';
import { createDatabase, pgAdminUrl, repoRoot, runCli, tempDir } from '../support/env';
import { readProcessFiles } from '../support/trace-files';
import { loggedDatabase, type LoggedDatabase } from './pg-log';
import { countSql, fixtureEnv, groundTruth, runUntraced, tracedRun, txlensCounts, verboseLog, verdicts, type Counts } from './ground-truth';
import { validate, type JsonSchema } from '../support/json-schema';

const schema = JSON.parse(readFileSync(join(repoRoot, 'docs', 'trace-format.schema.json'), 'utf8')) as JsonSchema;

type Twin = 'buggy' | 'fixed';
type Orm = 'knex' | 'prisma' | 'drizzle' | 'drizzle-esm vitest' | 'drizzle-esm tsx' | 'typeorm' | 'typeorm-pg' | 'sequelize';

/** The fixture folder of each (test/fixtures/node/<folder>): the same project run two ways shares one. */
const FIXTURE: Partial<Record<Orm, string>> = { 'drizzle-esm vitest': 'drizzle-esm', 'drizzle-esm tsx': 'drizzle-esm' };

/** Projects run as ES modules, which resolve packages from node_modules folders only (no NODE_PATH). */
const ES_MODULES = new Set<Orm>(['prisma', 'drizzle-esm vitest', 'drizzle-esm tsx']);

/** The fixtures on better-sqlite3; the others run on the throwaway PostgreSQL. */
const ON_SQLITE = new Set<Orm>(['typeorm']);

interface TraceLine {
  k: string;
  conn?: string;
  sess?: string;
  tx?: string;
  sql?: string;
  cause?: string;
  cls?: string;
  at?: [string, number, string];
}

interface Report {
  findings: { rule: string; severity: string; message: string; location: { file: string; line: number; column?: number } }[];
  summary: { transactions: number; commits: number; rollbacks: number; statements: number; tests: number };
  trace: string;
}

const TSX = pathToFileURL(join(repoRoot, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;

const COMMAND: Record<Orm, string[]> = {
  // A leaked Knex transaction keeps its pooled connection: knex.destroy() would wait for it forever.
  knex: [process.execPath, '--test', '--test-force-exit', 'test/'],
  prisma: [process.execPath, '--import', TSX, '--test', 'test/orders.test.ts'],
  drizzle: [process.execPath, join(repoRoot, 'node_modules', 'mocha', 'bin', 'mocha.js'), '--reporter', 'tap', 'spec/'],
  // vitest loads drizzle-orm, a dependency in node_modules, with Node's own import: its ES module build.
  'drizzle-esm vitest': [process.execPath, join(repoRoot, 'node_modules', 'vitest', 'vitest.mjs'), 'run', '--reporter', 'tap', 'test/'],
  'drizzle-esm tsx': [process.execPath, '--import', TSX, '--test', 'test/stock.test.ts'],
  typeorm: [process.execPath, '--import', TSX, '--test', 'test/notes.test.ts'],
  'typeorm-pg': [process.execPath, '--test', 'test/'],
  // A leaked Sequelize transaction keeps its pooled connection: --exit ends mocha all the same. The first
  // connection (sync() in a before hook) reads the server's types, which can outlast mocha's 2 s on a busy machine.
  sequelize: [process.execPath, join(repoRoot, 'node_modules', 'mocha', 'bin', 'mocha.js'), '--exit', '--timeout', '30000', '--reporter', 'tap', 'spec/'],
};

/** The session class each ORM's transactions are recorded as. */
const SESSION_CLASS: Record<Orm, string> = {
  knex: 'Knex.Transaction',
  prisma: 'Prisma.TransactionClient',
  drizzle: 'NodePgTransaction',
  'drizzle-esm vitest': 'NodePgTransaction',
  'drizzle-esm tsx': 'NodePgTransaction',
  typeorm: 'BetterSqlite3QueryRunner',
  'typeorm-pg': 'PostgresQueryRunner',
  sequelize: 'Sequelize.Transaction',
};

/** What each buggy twin's findings call the ORM's things (what the user sees in their code). */
const ORM_WORDS: Record<Orm, Array<[rule: string, words: RegExp]>> = {
  knex: [['uncommitted-read', /Knex transaction S\d+/]],
  prisma: [['non-test-database', /Prisma client/]],
  drizzle: [['shared-connection-concurrency', /Drizzle transaction S\d+/]],
  'drizzle-esm vitest': [['shared-connection-concurrency', /Drizzle transaction S\d+/]],
  'drizzle-esm tsx': [['shared-connection-concurrency', /Drizzle transaction S\d+/]],
  typeorm: [['sqlite-memory-isolation', /DataSource/]],
  'typeorm-pg': [['pool-release-in-transaction', /query runner S\d+.*queryRunner\.release\(\)|queryRunner\.release\(\)/]],
  sequelize: [['uncommitted-read', /Sequelize transaction S\d+/]],
};

/** Dynamic findings, as 'rule severity file:line' (static ones, which have a column, are another suite's). */
const EXPECTED: Record<Orm, Record<Twin, string[]>> = {
  knex: {
    buggy: [
      // recordPayment() returns early with its INSERT uncommitted; the test's read of payments cannot see it.
      'missing-commit error app/orders.js:10',
      'uncommitted-read error test/orders.test.js:25',
      // placeOrder() counts through `db`, outside its own transaction, in three tests (two of them fail).
      'uncommitted-read error app/orders.js:20',
      'uncommitted-read error app/orders.js:20',
      'uncommitted-read warning app/orders.js:20',
      // The first signup's committed customer is still there when the second test signs up again.
      'test-state-leak error app/orders.js:26',
    ].sort(),
    fixed: [],
  },
  prisma: {
    buggy: [
      // The app's client prefers APP_DATABASE_URL: each placed order goes to the dev database.
      'non-test-database error app/orders.ts:11',
      'non-test-database error app/orders.ts:11',
    ],
    fixed: [],
  },
  drizzle: {
    buggy: [
      // reserveAll() runs its transactions at once on the app's one pg Client.
      'shared-connection-concurrency error app/stock.js:21',
    ],
    fixed: [],
  },
  // The same app as an ES module in TypeScript: the same finding, at the same line of app/stock.ts.
  'drizzle-esm vitest': {
    buggy: ['shared-connection-concurrency error app/stock.ts:21'],
    fixed: [],
  },
  'drizzle-esm tsx': {
    buggy: ['shared-connection-concurrency error app/stock.ts:21'],
    fixed: [],
  },
  typeorm: {
    buggy: [
      // openStore() makes a new DataSource, so a new :memory: database, for every caller.
      'sqlite-memory-isolation error app/store.ts:36',
    ],
    fixed: [],
  },
  'typeorm-pg': {
    buggy: [
      // withdraw() releases its QueryRunner mid-transaction; the pool's next borrower (the test's read) runs in it.
      'pool-release-in-transaction error app/accounts.js:30',
      // ...and the refused UPDATE is rolled back only when the connection closes.
      'missing-commit warning app/accounts.js:28',
    ].sort(),
    fixed: [],
  },
  sequelize: {
    buggy: [
      // deposit() returns early from its unmanaged transaction: the deposit's INSERT is never committed...
      'missing-commit error app/bank.js:19',
      // ...so the test's own count of deposits cannot see it.
      'uncommitted-read error spec/bank.spec.js:21',
      // openAccount() counts without its transaction, on another connection, in three tests (two of them fail).
      'uncommitted-read error app/bank.js:12',
      'uncommitted-read error app/bank.js:12',
      'uncommitted-read warning app/bank.js:12',
    ].sort(),
    fixed: [],
  },
};

const generatedClients = new Map<string, string>();

/** Prisma's client for a fixture's schema (its `prisma/` folder), generated once (offline: generate needs no engine). */
function prismaClient(fixture = join('prisma', 'fixed')): string {
  const known = generatedClients.get(fixture);
  if (known) return known;
  const dir = realpathSync(tempDir('prisma-client'));
  cpSync(join(repoRoot, 'test', 'fixtures', 'node', fixture, 'prisma'), join(dir, 'prisma'), { recursive: true });
  const result = spawnSync(process.execPath, [join(repoRoot, 'node_modules', 'prisma', 'build', 'index.js'), 'generate', '--schema', 'prisma/schema.prisma'], {
    cwd: dir,
    env: { ...process.env, ...fixtureEnv({ PRISMA_SCHEMA_ENGINE_BINARY: '/bin/false', PRISMA_ENGINES_CHECKSUM_IGNORE_MISSING: '1', PRISMA_HIDE_UPDATE_MESSAGE: '1' }) },
    encoding: 'utf8',
  });
  assert.equal(result.status, 0, `prisma generate failed:\n${result.stdout}\n${result.stderr}`);
  const generated = join(dir, 'generated');
  generatedClients.set(fixture, generated);
  return generated;
}

function copyFixture(orm: Orm, twin: Twin, label: string): string {
  const dir = realpathSync(tempDir(`node-${orm}-${twin}-${label}`));
  cpSync(join(repoRoot, 'test', 'fixtures', 'node', FIXTURE[orm] ?? orm, twin), dir, { recursive: true });
  // The generated Prisma client imports its query compiler with import(), which NODE_PATH does not serve.
  if (orm === 'prisma') cpSync(prismaClient(), join(dir, 'generated'), { recursive: true });
  if (ES_MODULES.has(orm)) symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}

/** The developer's dev database the buggy Prisma app reaches: its schema exists, made without logging. */
async function devDatabase(url: string): Promise<void> {
  const client = new Client({ connectionString: url, options: '-c log_statement=none' });
  await client.connect();
  try {
    await client.query('CREATE TABLE orders (id serial PRIMARY KEY, customer text NOT NULL)');
    await client.query('CREATE TABLE order_lines (id serial PRIMARY KEY, order_id int NOT NULL REFERENCES orders (id), sku text NOT NULL, qty int NOT NULL)');
  } finally {
    await client.end();
  }
}

/** The admin URL with another database. */
function withDatabase(url: string, admin: string): string {
  const u = new URL(admin);
  u.pathname = new URL(url).pathname;
  return u.href;
}

interface Outcome {
  project: string;
  report: Report;
  events: TraceLine[];
  tracedVerdicts: string[];
  untracedVerdicts: string[];
  untracedCode: number | null;
  exitCode: number | null;
  stderr: string;
  /** All the traced run's stderr (`stderr` is its tail, for messages). */
  fullStderr: string;
  truth: Counts;
}

async function databases(orm: Orm, label: string, project: string): Promise<{ logged: LoggedDatabase[]; env: NodeJS.ProcessEnv }> {
  if (ON_SQLITE.has(orm)) return { logged: [], env: { NOTES_SQL_LOG: join(project, 'sql.ndjson') } };
  const testDb = await loggedDatabase(`${orm}_test_${label}`);
  if (orm !== 'prisma') return { logged: [testDb], env: { DATABASE_URL: testDb.url } };
  const devDb = await loggedDatabase(`shop_dev_${label}`);
  await devDatabase(withDatabase(devDb.url, await pgAdminUrl()));
  return { logged: [testDb, devDb], env: { DATABASE_URL: testDb.url, APP_DATABASE_URL: devDb.url } };
}

async function runFixture(orm: Orm, twin: Twin): Promise<Outcome> {
  const project = copyFixture(orm, twin, 'traced');
  const plain = copyFixture(orm, twin, 'plain');
  const traceDir = join(tempDir(`trace-${orm}-${twin}`), 'run');
  const { logged, env } = await databases(orm, twin, project);
  const plainEnv: NodeJS.ProcessEnv = ON_SQLITE.has(orm) ? {} : { DATABASE_URL: await createDatabase(`${orm}_test_${twin}_plain`) };
  if (orm === 'prisma') {
    plainEnv.APP_DATABASE_URL = await createDatabase(`shop_dev_${twin}_plain`);
    await devDatabase(plainEnv.APP_DATABASE_URL);
  }
  const run = await tracedRun<TraceLine, Report>(COMMAND[orm], { cwd: project, env: fixtureEnv(env), traceDir });
  const untraced = await runUntraced(plain, COMMAND[orm], fixtureEnv(plainEnv));
  const truth = await groundTruth(env.NOTES_SQL_LOG ? { sqlLog: env.NOTES_SQL_LOG } : { pg: logged, perConnection: true });
  return {
    project,
    report: run.report,
    events: run.events,
    tracedVerdicts: verdicts(run.stderr),
    untracedVerdicts: verdicts(untraced.out),
    untracedCode: untraced.code,
    exitCode: run.exitCode,
    stderr: run.context,
    fullStderr: run.stderr,
    truth,
  };
}

function located(report: Report): string[] {
  return report.findings
    .filter((f) => f.location.column === undefined)
    .map((f) => `${f.rule} ${f.severity} ${f.location.file}:${f.location.line}`)
    .sort();
}

for (const orm of ['knex', 'prisma', 'drizzle', 'drizzle-esm vitest', 'drizzle-esm tsx', 'typeorm', 'typeorm-pg', 'sequelize'] as const) {
  for (const twin of ['buggy', 'fixed'] as const) {
    describe(`${orm} on ${ON_SQLITE.has(orm) ? 'better-sqlite3' : 'PostgreSQL'}, ${twin} twin`, () => {
      let outcome: Outcome | undefined;
      const ran = (): Outcome => {
        assert.ok(outcome, 'the traced run did not complete (see the first failure)');
        return outcome;
      };

      before(async () => {
        outcome = await runFixture(orm, twin);
      });

      test('the tests have the same outcomes traced and untraced', () => {
        const o = ran();
        assert.ok(o.untracedVerdicts.length >= 2, `no TAP verdicts from the untraced run:\n${o.untracedVerdicts.join('\n')}`);
        assert.deepEqual(o.tracedVerdicts, o.untracedVerdicts, o.stderr);
        assert.equal(o.exitCode, o.untracedCode);
        if (twin === 'fixed') assert.equal(o.exitCode, 0, o.stderr);
        else assert.notEqual(o.exitCode, 0, o.stderr);
        assert.ok(!/txlens: capture/.test(o.stderr), `the agent reported a problem: ${o.stderr}`);
        // Drizzle's ES module build is hooked in full: the note on a build traced in part is not given.
        assert.doesNotMatch(o.fullStderr, /traced in part/);
      });

      test("txlens's counts equal the database's own log of the run", (t) => {
        const o = ran();
        assert.ok(o.truth.statements > 0, 'the database logged nothing');
        const counted = txlensCounts(o.report.summary, o.events);
        t.diagnostic(`counts ${JSON.stringify(counted)}`);
        assert.deepEqual(counted, o.truth);
      });

      test(twin === 'buggy' ? 'the rules name each bug at its line' : 'the rules stay silent', () => {
        assert.deepEqual(located(ran().report), EXPECTED[orm][twin]);
      });

      test("the findings speak the stack's words: the ORM's, never SQLAlchemy's", () => {
        for (const f of ran().report.findings.filter((f) => f.location.column === undefined)) {
          assert.doesNotMatch(f.message, /\bengine\b|session factory|StaticPool|sessionmaker|\bsession S\d|reset-on-return/, f.message);
          const own = ORM_WORDS[orm].find(([rule]) => rule === f.rule);
          if (own) assert.match(f.message, own[1], f.message);
        }
      });

      test("the ORM's transactions are sessions, which their statements carry", () => {
        const o = ran();
        const opened = o.events.filter((e) => e.k === 'session_open');
        assert.ok(opened.length >= 2, 'no session recorded');
        assert.ok(opened.every((e) => e.cls === SESSION_CLASS[orm] && e.at?.[0].startsWith(o.project + sep)), JSON.stringify(opened));
        // Every transaction's BEGIN and its end carry the session that ran it.
        const ids = new Set(opened.map((e) => e.k === 'session_open' && (e as { sess?: string }).sess));
        const bounds = o.events.filter((e) => e.k === 'begin' || e.k === 'commit');
        assert.ok(bounds.length > 0);
        for (const e of bounds) assert.ok(e.sess !== undefined && ids.has(e.sess), JSON.stringify(e));
        // A statement that names its place names the project's own line.
        const outside = o.events.filter((e) => e.k === 'stmt' && e.at && !e.at[0].startsWith(o.project + sep));
        assert.deepEqual(outside, []);
        // Sessions, their classes and the tasks of their statements are valid trace format.
        for (const e of o.events) assert.deepEqual(validate(schema, e), [], JSON.stringify(e));
      });
    });
  }
}

// One transaction through Knex, Drizzle and Prisma (@prisma/adapter-better-sqlite3)
// each, and a Prisma batch $transaction([...]), on better-sqlite3 files: every one is a session that its BEGIN, statements
// and COMMIT carry, placed at the TypeScript lines. Counts equal better-sqlite3's
// verbose log over the databases it can log (Knex opens its own without options).
describe('Knex, Drizzle and Prisma transactions on better-sqlite3', () => {
  let project = '';
  let events: TraceLine[] = [];
  let stderr = '';

  before(async () => {
    project = realpathSync(tempDir('node-orm-sqlite'));
    cpSync(join(repoRoot, 'test', 'fixtures', 'node', 'orm-sqlite'), project, { recursive: true });
    cpSync(prismaClient('orm-sqlite'), join(project, 'generated'), { recursive: true });
    symlinkSync(join(repoRoot, 'node_modules'), join(project, 'node_modules'), 'dir');
    const traceDir = join(tempDir('trace-orm-sqlite'), 'run');
    const command = [process.execPath, '--import', TSX, '--test', 'test/transactions.test.ts'];
    const result = await runCli(['run', '--json', '--trace', traceDir, '--', ...command], { cwd: project, env: fixtureEnv({ NOTES_SQL_LOG: join(project, 'sql.ndjson') }) });
    stderr = result.stderr;
    events = readProcessFiles<TraceLine>((JSON.parse(result.stdout) as Report).trace).flat();
  });

  test('each transaction is a session of its ORM, at the line that started it', () => {
    const opened = events.filter((e) => e.k === 'session_open');
    assert.deepEqual(
      opened.map((e) => [e.cls, e.at?.[0], e.at?.[1]]),
      [
        ['Knex.Transaction', join(project, 'test', 'transactions.test.ts'), 37],
        ['BetterSQLiteTransaction', join(project, 'test', 'transactions.test.ts'), 48],
        ['Prisma.TransactionClient', join(project, 'test', 'transactions.test.ts'), 59],
        // A batch $transaction([...]) is a session too: the engine's one transaction for the batch.
        ['Prisma.BatchTransaction', join(project, 'test', 'transactions.test.ts'), 69],
      ],
      stderr,
    );
    for (const open of opened) {
      const sess = (open as { sess?: string }).sess;
      const own = events.filter((e) => e.sess === sess && (e.k === 'begin' || e.k === 'stmt' || e.k === 'commit'));
      // BEGIN, two INSERTs, COMMIT as statements, and the begin and commit events.
      assert.deepEqual(own.map((e) => e.k), ['begin', 'stmt', 'stmt', 'stmt', 'stmt', 'commit'], JSON.stringify(own));
      const inserts = own.filter((e) => e.k === 'stmt' && /insert/i.test(e.sql ?? ''));
      if (open.cls === 'Prisma.BatchTransaction') {
        // The engine sends a batch's statements from one request: each is placed inside the $transaction([...]) call.
        for (const e of inserts) assert.ok([open.at![1] + 1, open.at![1] + 2].includes(e.at![1]), JSON.stringify(e.at));
      } else assert.deepEqual(inserts.map((e) => e.at?.[1]), [open.at![1] + 1, open.at![1] + 2]);
    }
  });

  test("counts equal better-sqlite3's verbose log of the databases it logged", () => {
    const knexConn = events.find((e) => e.k === 'begin' && e.sess === (events.find((o) => o.cls === 'Knex.Transaction') as { sess?: string }).sess)?.conn;
    assert.ok(knexConn);
    const logged = events.filter((e) => e.conn !== knexConn);
    const log = verboseLog(join(project, 'sql.ndjson'));
    const truth = countSql(log.sql, log.opens);
    const stmts = logged.filter((e) => e.k === 'stmt');
    assert.deepEqual(
      {
        connections: logged.filter((e) => e.k === 'connect').length,
        statements: stmts.length,
        transactions: logged.filter((e) => e.k === 'begin').length,
        commits: logged.filter((e) => e.k === 'commit').length,
        explicitRollbacks: 0,
        uncommitted: 0,
      },
      truth,
    );
  });
});
