// Patterns learned from tracing public test suites, each a fixture project under
// test/fixtures/node/ with a twin that keeps the finding: the fixed twin is the
// suite's pattern, which must earn no finding; the buggy twin is the defect the
// rule exists for. Real mocha, better-sqlite3 and `txlens run`; the traced run's
// verdicts equal the untraced run's.
//
// memory-per-file: a query-builder suite opens a fresh SQLite ":memory:"
// database in each spec file's before() and closes it in after(), with the same
// tables in every file. The databases never lived at the same time, so nothing
// was meant to be shared: sqlite-memory-isolation stays silent. Two memory
// databases open at once for the same table keep its warning.
//
// trx-fan-out: an ORM test suite's fixture reset runs one Knex transaction whose
// callback fans out per table (Promise.all, or a promise library's map), each
// branch a read then a write on the transaction it was handed. pg queues them
// on the transaction's one connection and Knex commits after all of them: one
// unit of work, so shared-connection-concurrency stays silent. A plain pg
// Client shared by two callers keeps its finding (fixtures.test.ts).
//
// concurrent-migrate (from graphile-worker): a job queue's suite drops its schema
// (DROP SCHEMA ... CASCADE) and installs it again from several connections at
// once, which race on each migration's number in the migrations table. The
// losers' unique violations are on rows another installer of the same test
// committed while they waited, not on the rows the earlier test committed before
// the drop: test-state-leak stays silent. A reset that drops another schema
// leaves those rows in place, and the installers' collisions with them keep
// their errors.
//
// parallel-transactions (from Kysely): a query builder's suite runs units of work at once
// through its transaction wrapper (db.transaction().execute(fn)), every other one throwing:
// each commits or rolls back on its own, so a rolled-back unit that spans its siblings'
// commits is no test isolation they escape, and commit-escapes-rollback stays silent. The
// package tests its own published code (package.json "files"), whose frames are not the
// test's lines. A test that holds a transaction of its own and rolls it back at the end,
// while the wrapper commits on another connection, keeps the warning.
//
// listen-proxy: a job queue's suite reaches its own test database through a TCP
// proxy the test starts (to cut a LISTEN connection half-open), so the listener's
// connection names another port: another database to the trace. Its heartbeat
// asks the server which channels it listens on and reads no table: non-test-database
// stays silent. The same heartbeat on a development database keeps its warning.
//
// typeorm-als-helper (from typeorm-transactional): a transaction library for TypeORM that
// hands each unit of work's manager to the code it calls through async context. Its suite
// runs the library's TypeScript sources, compiled to ES2015 (ts-jest, target ES6): an
// `await` is a generator step __awaiter resumes, so TypeORM's statements hold no frame of
// the test, and they stand at the line that opened their transaction. The package publishes
// the dist/ its tsconfig builds from src/ (no "files": an .npmignore leaves src/ out), so
// that line is the test's call of the library, not the library's own. Units a test runs
// at once, each counting only its own uncommitted entry, and a REPEATABLE READ unit that
// counts again after a unit it began committed, contrast what isolation hides: neither
// uncommitted-read nor stale-read. A unit a hook began and left open keeps both warnings.
//
// flagged-transaction: TypeORM's own query runners (its suite runs their
// sources) open a transaction of their own only when the caller has none, and
// commit or roll back under the same test of the same const flag. No path
// begins and skips the commit: the static missing-commit the run adds for the
// files it traced stays silent. Beginning always and committing only under the
// flag keeps its warning.
//
// sibling-rollback (from Objection.js): a graph upsert's test runs several invalid
// graphs at once, each in its own Knex transaction that reads the rows, deletes them
// and then fails validation, so all roll back. One reads while another holds its
// DELETE: a sibling's write that was rolled back was never meant to be seen, and
// uncommitted-read stays silent. Siblings that commit after the other's read keep the
// warning.
//
// inlined-values (from Massive.js, on pg-promise): a data mapper formats values into the SQL
// text, so no parameters reach the trace, and runs each query from its own pool check-out's
// callback, where no frame is the suite's. A test of the primary key collides on purpose with
// the row an earlier test committed, and passes: test-state-leak reads the keys from the
// INSERT's text, places the statements at the line that checked the connection out, and warns
// of the order dependence; a later test that fails on another leftover key is an error. Tests
// that collide with their own rows or the schema's seed earn nothing.
//
// sequelize-query-wrapper (from Outline): an app puts functions of its own in place of its Sequelize
// instance's query (logging a failed statement's error before rethrowing it) and transaction
// (a statement timeout set first in each transaction), each handing the call on to Sequelize's.
// Every statement of every model call passes through the query wrapper's line, which is where no
// statement was asked for: statements stand at the app's lines past it, transactions at the line
// that asked for them. A count that leaves out its transaction keeps its uncommitted-read, at the count.
//
// paranoid-lookup (from Outline): an app on Sequelize serves one request while another renames a
// row in its transaction; the first looks up another row of the same table by its UUID, through a
// paranoid model, whose lookups Sequelize writes as one bracketed AND list
// (`WHERE ("note"."deletedAt" IS NULL AND "note"."id" = '...')`). The keys in the brackets are the
// lookup's: it read another row than the one renamed, and uncommitted-read stays silent (Outline's
// vitest workers, each on its own team's rows, drew 58 such warnings). A lookup of the renamed row
// keeps the warning.
//
// parallel-workers (from Outline): a test runner runs two test files at once, each in a process of
// its own, on one database (node:test's process per file, as vitest's and jest's workers): one
// file's test holds its team's draft uncommitted while the other's counts its own team's notes
// through a join, with no key of the notes table to tell the rows apart. Neither test was meant
// to see the other's rows: uncommitted-read stays silent. A job worker the test started, which
// runs no test, holding the draft the test counts keeps the warning.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, realpathSync, renameSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { createDatabase, repoRoot, runCli, tempDir } from '../support/env';
import { fixtureEnv, type Report } from './ground-truth';
import { loadModel } from '../../src/model/model';

const mocha = [process.execPath, join(repoRoot, 'node_modules', 'mocha', 'bin', 'mocha.js'), '--reporter', 'tap', 'spec/'];
/** mocha for suites whose Sequelize pools keep the process alive and whose first statements are slow: --exit, a long timeout. */
const mochaExit = [process.execPath, join(repoRoot, 'node_modules', 'mocha', 'bin', 'mocha.js'), '--exit', '--timeout', '30000', '--reporter', 'tap', 'spec/'];

function copyFixture(name: string, twin?: 'fixed' | 'buggy'): string {
  const dir = realpathSync(tempDir(`suite-pattern-${name}-${twin ?? 'silent'}`));
  cpSync(join(repoRoot, 'test', 'fixtures', 'node', name, ...(twin ? [twin] : [])), dir, { recursive: true });
  // A fixture's vendor/ is its node_modules/ (which git keeps none of): a library's frames are not the suite's.
  if (existsSync(join(dir, 'vendor'))) renameSync(join(dir, 'vendor'), join(dir, 'node_modules'));
  return dir;
}

/** The TAP verdict lines ("ok 1 - ...", "not ok 2 - ..."), which must be the same traced and untraced. */
function verdicts(out: string): string[] {
  return out.split('\n').filter((l) => /^(not )?ok \d+ /.test(l));
}

/** Each finding as 'severity rule folder/file:line'. */
function located(report: Report): string[] {
  return report.findings.map((f) => `${f.severity} ${f.rule} ${f.location.file.split('/').slice(-2).join('/')}:${f.location.line}`);
}

/** jest in a fixture's folder, its verdicts written as JSON to results.json there. */
const jest = [process.execPath, join(repoRoot, 'node_modules', 'jest', 'bin', 'jest.js'), '--ci', '--cacheDirectory', '.jest-cache', '--json', '--outputFile', 'results.json'];

/** Each test's status and full name ('passed units of work …'), from the results.json jest wrote in `dir` (none when it wrote none). */
function jestVerdicts(dir: string): string[] {
  if (!existsSync(join(dir, 'results.json'))) return [];
  const results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as { testResults: { assertionResults: { fullName: string; status: string }[] }[] };
  return results.testResults.flatMap((file) => file.assertionResults.map((t) => `${t.status} ${t.fullName}`));
}

const nodeTest = [process.execPath, '--test', '--test-reporter', 'tap', 'test/'];

/**
 * The fixture twin run traced and untraced, each in a copy of its own: the report and both runs' verdicts.
 * `command` defaults to mocha; with `database`, each run gets a fresh Postgres database of that name in DATABASE_URL.
 */
async function traced(
  name: string,
  twin: 'fixed' | 'buggy',
  opts: { command?: string[]; database?: string } = {},
): Promise<{ report: Report; verdicts: string[]; untraced: string[] }> {
  const command = opts.command ?? mocha;
  const env = async () => fixtureEnv(opts.database ? { DATABASE_URL: await createDatabase(opts.database) } : {});
  const result = await runCli(['run', '--json', '--fail-on', 'never', '--', ...command], { cwd: copyFixture(name, twin), env: await env() });
  const report = JSON.parse(result.stdout) as Report;
  const plain = spawnSync(command[0], command.slice(1), { cwd: copyFixture(name, twin), env: { ...process.env, ...(await env()) }, encoding: 'utf8' });
  return { report, verdicts: verdicts(result.stderr), untraced: verdicts(plain.stdout) };
}

describe('memory-per-file: a fresh SQLite memory database per spec file', () => {
  test('the suite pattern earns no finding, with the same verdicts traced and untraced', async () => {
    const run = await traced('memory-per-file', 'fixed');
    assert.equal(run.untraced.length, 2);
    assert.deepEqual(run.verdicts, run.untraced);
    assert.equal(run.report.summary.statements > 0, true, 'the statements were traced');
    assert.deepEqual(run.report.findings, []);
  });

  test('two memory databases open at once for the same table keep the warning, at the line that opened them', async () => {
    const run = await traced('memory-per-file', 'buggy');
    assert.deepEqual(run.verdicts, run.untraced);
    const found = located(run.report);
    assert.deepEqual(found, ['warning sqlite-memory-isolation app/people.js:6']);
  });
});

describe('trx-fan-out: one Knex transaction fanned out with Promise.all', () => {
  test('the fan-out earns no finding, with the same verdicts traced and untraced', async () => {
    // node:test, as the Knex fixtures run; --test-force-exit leaves the pool to the exit.
    const nodeTest = [process.execPath, '--test', '--test-reporter', 'tap', '--test-force-exit', 'test/'];
    const env = fixtureEnv({ DATABASE_URL: await createDatabase('fan_out') });
    const result = await runCli(['run', '--json', '--fail-on', 'never', '--', ...nodeTest], { cwd: copyFixture('trx-fan-out'), env });
    const report = JSON.parse(result.stdout) as Report;
    const untracedEnv = { ...process.env, ...fixtureEnv({ DATABASE_URL: await createDatabase('fan_out') }) };
    const plain = spawnSync(nodeTest[0], nodeTest.slice(1), { cwd: copyFixture('trx-fan-out'), env: untracedEnv, encoding: 'utf8' });
    const untraced = verdicts(plain.stdout);
    assert.equal(untraced.filter((v) => v.startsWith('ok')).length, 2, plain.stdout + plain.stderr);
    assert.deepEqual(verdicts(result.stderr), untraced);
    // Each reseed is one Knex transaction whose four branches interleaved on its connection.
    assert.equal(report.summary.transactions, 3);
    assert.deepEqual(report.findings, []);
  });
});

describe("listen-proxy: a LISTEN heartbeat through the test's own TCP proxy", () => {
  /** A fresh test database and development database for each run, traced and untraced. */
  const databases = async () => fixtureEnv({ DATABASE_URL: await createDatabase('listen_proxy'), DEV_DATABASE_URL: await createDatabase('listen_dev') });

  async function run(twin: 'fixed' | 'buggy'): Promise<{ report: Report; traceDir: string; verdicts: string[]; untraced: string[] }> {
    const project = copyFixture('listen-proxy', twin);
    const result = await runCli(['run', '--json', '--fail-on', 'never', '--', ...nodeTest], { cwd: project, env: await databases() });
    const plain = spawnSync(nodeTest[0], nodeTest.slice(1), { cwd: copyFixture('listen-proxy', twin), env: { ...process.env, ...(await databases()) }, encoding: 'utf8' });
    const report = JSON.parse(result.stdout) as Report;
    return { report, traceDir: resolve(project, report.trace), verdicts: verdicts(result.stderr), untraced: verdicts(plain.stdout) };
  }

  test('the suite pattern earns no finding, with the same verdicts traced and untraced', async () => {
    const { report, traceDir, verdicts: traced, untraced } = await run('fixed');
    assert.deepEqual(untraced, ['ok 1 - a job notified through the pool reaches the listener']);
    assert.deepEqual(traced, untraced);
    // Two databases to the trace: the test's, and the same one through the proxy's port, where the heartbeats ran.
    const model = loadModel(traceDir);
    assert.equal(new Set(model.connections.map((c) => c.dbKey)).size, 2);
    assert.equal(model.statements.filter((st) => /pg_listening_channels/.test(st.sql)).length, 2);
    assert.deepEqual(report.findings, []);
  });

  test('the heartbeat on a development database keeps the warning, at the heartbeat', async () => {
    const { report, verdicts: traced, untraced } = await run('buggy');
    assert.deepEqual(untraced, ['not ok 1 - a job notified through the pool reaches the listener']);
    assert.deepEqual(traced, untraced);
    const found = located(report);
    assert.deepEqual(found, ['warning non-test-database app/listener.js:13']);
  });
});

describe('concurrent-migrate: schema installers racing after a DROP SCHEMA reset', () => {
  const run = (twin: 'fixed' | 'buggy') => traced('concurrent-migrate', twin, { command: nodeTest, database: 'concurrent_migrate' });

  test('the suite pattern earns no finding, with the same verdicts traced and untraced', async () => {
    const { report, verdicts: traced, untraced } = await run('fixed');
    assert.deepEqual(untraced, ['ok 1 - one installer runs every migration', 'ok 2 - concurrent installers run each migration once']);
    assert.deepEqual(traced, untraced);
    // Three migrations run once each, in both tests; every other attempt of the racing installers rolled back.
    assert.equal(report.summary.commits, 6);
    assert.deepEqual(report.findings, []);
  });

  test("a reset that drops another schema keeps the errors, at the first test's commits", async () => {
    const { report, verdicts: traced, untraced } = await run('buggy');
    assert.deepEqual(untraced, ['ok 1 - one installer runs every migration', 'not ok 2 - concurrent installers run each migration once']);
    assert.deepEqual(traced, untraced);
    const found = located(report);
    assert.deepEqual(found, Array(3).fill('error test-state-leak app/migrate.js:28'));
  });
});

describe('parallel-transactions: units of work through a transaction wrapper at once, some rolled back', () => {
  const run = (twin: 'fixed' | 'buggy') => traced('parallel-transactions', twin, { command: nodeTest, database: 'parallel_tx' });

  test('the suite pattern earns no finding, with the same verdicts traced and untraced', async () => {
    const { report, verdicts: traced, untraced } = await run('fixed');
    assert.deepEqual(untraced, ['ok 1 - transactions run in parallel commit or roll back each on its own']);
    assert.deepEqual(traced, untraced);
    assert.equal(report.summary.commits, 4);
    assert.equal(report.summary.rollbacks, 4);
    assert.deepEqual(report.findings, []);
  });

  test("a test's own rolled-back transaction around the wrapper's commit keeps the warning, at the test's call", async () => {
    const { report, verdicts: traced, untraced } = await run('buggy');
    assert.deepEqual(untraced, ['ok 1 - a rename inside the test transaction', 'not ok 2 - the table starts empty']);
    assert.deepEqual(traced, untraced);
    const found = located(report);
    assert.deepEqual(found, ['warning commit-escapes-rollback test/transactions.test.js:17']);
  });
});

describe('flagged-transaction: begin and commit under the same const flag (TypeORM clearDatabase)', () => {
  test('the suite pattern earns no finding, with the same verdicts traced and untraced', async () => {
    const run = await traced('flagged-transaction', 'fixed');
    assert.deepEqual(run.untraced, ['ok 1 notes clearing removes every note']);
    assert.deepEqual(run.verdicts, run.untraced);
    assert.equal(run.report.summary.transactions, 1, 'clearNotes ran its own transaction');
    assert.deepEqual(run.report.findings, []);
  });

  test('beginning always and committing only under the flag keeps the warning, at the last write', async () => {
    const run = await traced('flagged-transaction', 'buggy');
    assert.deepEqual(run.verdicts, run.untraced);
    const found = located(run.report);
    assert.deepEqual(found, ['warning missing-commit app/notes.js:18']);
  });
});

describe('sibling-rollback: units of work at once through one transaction line, all rolled back', () => {
  const run = (twin: 'fixed' | 'buggy') => traced('sibling-rollback', twin, { database: 'sibling_rollback' });

  test('the suite pattern earns no finding, with the same verdicts traced and untraced', async () => {
    const { report, verdicts: traced, untraced } = await run('fixed');
    assert.deepEqual(untraced, ['ok 1 catalog invalid replaces at once all roll back and leave the items']);
    assert.deepEqual(traced, untraced);
    assert.equal(report.summary.rollbacks, 2);
    assert.deepEqual(report.findings, []);
  });

  test('a sibling that commits after the other read keeps the warning, at the read', async () => {
    const { report, verdicts: traced, untraced } = await run('buggy');
    assert.deepEqual(untraced, ['ok 1 catalog valid replaces at once both succeed']);
    assert.deepEqual(traced, untraced);
    assert.equal(report.summary.commits, 2);
    const found = located(report);
    assert.deepEqual(found, ['warning uncommitted-read app/catalog.js:13']);
  });
});

// isolation-contrast: Sequelize's own "supports transactions" tests begin a
// transaction, write in it, and read beside it without it in the same test
// body, asserting the row is not there until COMMIT. A passing test that holds
// both ends earns no uncommitted-read; a transaction begun in a hook, whose row
// the test's read misses, keeps the warning.
describe('isolation-contrast: a test reads beside the transaction it began itself (Sequelize)', () => {
  const run = (twin: 'fixed' | 'buggy') => traced('isolation-contrast', twin, { database: 'isolation_contrast' });

  test('the suite pattern earns no finding, with the same verdicts traced and untraced', async () => {
    const { report, verdicts: traced, untraced } = await run('fixed');
    assert.deepEqual(untraced, ['ok 1 notes a note written in a transaction is seen only through it until COMMIT']);
    assert.deepEqual(traced, untraced);
    assert.equal(report.summary.rollbacks, 1);
    assert.deepEqual(report.findings, []);
  });

  test("a hook's uncommitted row the test's read misses keeps the warning", async () => {
    const { report, verdicts: traced, untraced } = await run('buggy');
    assert.deepEqual(untraced, ['ok 1 notes the list holds no deleted note']);
    assert.deepEqual(traced, untraced);
    // The hook keeps its transaction for the afterEach that rolls it back: no missing-commit either.
    const found = located(report);
    assert.deepEqual(found, ['warning uncommitted-read spec/notes.spec.js:19']);
  });
});

describe('inlined-values: a data mapper that writes values into the SQL text (Massive.js on pg-promise)', () => {
  const run = (twin: 'fixed' | 'buggy') => traced('inlined-values', twin, { database: 'inlined_values' });

  test('tests that collide with their own rows or the seed earn no finding, with the same verdicts traced and untraced', async () => {
    const { report, verdicts: traced, untraced } = await run('fixed');
    assert.deepEqual(untraced, ['ok 1 compound primary keys inserts', 'ok 2 compound primary keys detects pk collisions', 'ok 3 compound primary keys saves a new pair']);
    assert.deepEqual(traced, untraced);
    assert.deepEqual(report.findings, []);
  });

  test("leftover keys read from the INSERT's text: a warning for the passing test, an error for the failing one, at the spec's lines", async () => {
    const { report, verdicts: traced, untraced } = await run('buggy');
    assert.deepEqual(untraced, ['ok 1 compound primary keys inserts', 'ok 2 compound primary keys detects pk collisions', 'not ok 3 compound primary keys saves a new pair']);
    assert.deepEqual(traced, untraced);
    // Both at the earlier test's INSERTs: no frame of the library's, and the statement's own frame is the check-out's.
    assert.deepEqual(located(report).sort(), ['error test-state-leak spec/pairs.spec.js:18', 'warning test-state-leak spec/pairs.spec.js:16']);
    const warning = report.findings.find((f) => f.severity === 'warning')!;
    assert.match(warning.message, /key_one = "123", key_two = "456"/);
    assert.match(warning.message, /The test passed/);
    const error = report.findings.find((f) => f.severity === 'error')!;
    assert.match(error.message, /saves a new pair ran: its INSERT at spec\/pairs\.spec\.js:27 failed/);
  });
});

describe('typeorm-als-helper: a transaction library testing its own ES2015-compiled sources (typeorm-transactional)', () => {
  async function run(twin: 'fixed' | 'buggy'): Promise<{ report: Report; verdicts: string[]; untraced: string[] }> {
    const tracedDir = copyFixture('typeorm-als-helper', twin);
    const env = async () => fixtureEnv({ DATABASE_URL: await createDatabase('typeorm_als_helper') });
    const result = await runCli(['run', '--json', '--fail-on', 'never', '--', ...jest], { cwd: tracedDir, env: await env() });
    const plainDir = copyFixture('typeorm-als-helper', twin);
    spawnSync(process.execPath, jest.slice(1), { cwd: plainDir, env: { ...process.env, ...(await env()) }, encoding: 'utf8' });
    return { report: JSON.parse(result.stdout) as Report, verdicts: jestVerdicts(tracedDir), untraced: jestVerdicts(plainDir) };
  }

  test('units the test began itself, at once and under REPEATABLE READ, earn no finding, with the same verdicts traced and untraced', async () => {
    const { report, verdicts: traced, untraced } = await run('fixed');
    assert.deepEqual(untraced, [
      'passed units of work running at once, each sees only its own entry until they commit',
      'passed units of work under REPEATABLE READ, keeps its snapshot while another unit commits',
    ]);
    assert.deepEqual(traced, untraced);
    assert.equal(report.summary.commits, 5);
    assert.deepEqual(report.findings, []);
  });

  test("a hook's unit left open keeps the warnings, at the test's units: the count that missed its entry, and the snapshot it committed behind", async () => {
    const { report, verdicts: traced, untraced } = await run('buggy');
    assert.deepEqual(untraced, ['passed units of work count no more entries than were written', 'passed units of work under REPEATABLE READ, count the same entries twice']);
    assert.deepEqual(traced, untraced);
    assert.deepEqual(located(report).sort(), ['warning stale-read test/units.test.ts:42', 'warning uncommitted-read test/units.test.ts:37', 'warning uncommitted-read test/units.test.ts:42']);
  });
});

// propagation-jest (from MikroORM): a test of transaction propagation runs a Knex transaction
// of its own that throws, inside which the code commits an audit entry in a transaction of its
// own (MikroORM's REQUIRES_NEW), and then reads which rows survived. Under jest, whose test
// files run in a context of their own, Knex's transactions are sessions all the same. The
// rollback was the code's under test and the committed row is what the test looks for:
// commit-escapes-rollback stays silent. A test that runs in a transaction opened in beforeEach
// and rolled back in afterEach, while the audit commits beside it, keeps the warning.
describe('propagation-jest: a transaction that commits inside one that rolls back, under jest (MikroORM)', () => {
  async function run(twin: 'fixed' | 'buggy'): Promise<{ report: Report; traceDir: string; verdicts: string[]; untraced: string[] }> {
    const project = copyFixture('propagation-jest', twin);
    const result = await runCli(['run', '--json', '--fail-on', 'never', '--', ...jest], { cwd: project, env: fixtureEnv({ DATABASE_URL: await createDatabase('propagation_jest') }) });
    const plain = copyFixture('propagation-jest', twin);
    spawnSync(jest[0], jest.slice(1), { cwd: plain, env: { ...process.env, ...fixtureEnv({ DATABASE_URL: await createDatabase('propagation_jest') }) }, encoding: 'utf8' });
    const report = JSON.parse(result.stdout) as Report;
    return { report, traceDir: resolve(project, report.trace), verdicts: jestVerdicts(project), untraced: jestVerdicts(plain) };
  }

  test('the suite pattern earns no finding, with the same verdicts traced and untraced, and its transactions are sessions', async () => {
    const { report, traceDir, verdicts: traced, untraced } = await run('fixed');
    assert.deepEqual(untraced, ['passed an audit entry commits though the order around it rolls back', 'passed an order and its audit entry both commit']);
    assert.deepEqual(traced, untraced);
    assert.equal(report.summary.commits, 3);
    assert.equal(report.summary.rollbacks, 1);
    // Each transaction's statements, BEGIN to COMMIT or ROLLBACK, carry its session.
    const model = loadModel(traceDir);
    assert.equal(model.transactions.length, 4);
    for (const tx of model.transactions) assert.ok(tx.session && tx.statements.every((st) => st.session === tx.session), tx.label);
    assert.deepEqual(report.findings, []);
  });

  test("an audit commit beside the test's own rolled-back transaction keeps the warning, at the commit", async () => {
    const { report, verdicts: traced, untraced } = await run('buggy');
    assert.deepEqual(untraced, ['passed an order placed in the test transaction']);
    assert.deepEqual(traced, untraced);
    const found = located(report);
    assert.deepEqual(found, ['warning commit-escapes-rollback app/audit.js:7']);
    assert.match(report.findings[0].message, /rollback at test\/orders\.test\.js:19/);
    assert.match(report.findings[0].message, /the test's trx/);
  });
});

describe("sequelize-query-wrapper: the app's own functions in place of sequelize.query and sequelize.transaction (Outline)", () => {
  async function run(twin: 'fixed' | 'buggy'): Promise<{ report: Report; traceDir: string; verdicts: string[]; untraced: string[] }> {
    const project = copyFixture('sequelize-query-wrapper', twin);
    const result = await runCli(['run', '--json', '--fail-on', 'never', '--', ...mochaExit], { cwd: project, env: fixtureEnv({ DATABASE_URL: await createDatabase('query_wrapper') }) });
    const env = { ...process.env, ...fixtureEnv({ DATABASE_URL: await createDatabase('query_wrapper') }) };
    const plain = spawnSync(mochaExit[0], mochaExit.slice(1), { cwd: copyFixture('sequelize-query-wrapper', twin), env, encoding: 'utf8' });
    const report = JSON.parse(result.stdout) as Report;
    return { report, traceDir: resolve(project, report.trace), verdicts: verdicts(result.stderr), untraced: verdicts(plain.stdout) };
  }

  /** Each statement's and session's line as 'folder/file:line', sorted and counted. */
  function lines(traceDir: string): { statements: string[]; sessions: string[] } {
    const model = loadModel(traceDir);
    const at = (frame: [string, number, string] | undefined) => (frame ? `${frame[0].split('/').slice(-2).join('/')}:${frame[1]}` : 'none');
    return { statements: [...new Set(model.statements.map((st) => at(st.at)))].sort(), sessions: model.sessions.map((sess) => at(sess.at)) };
  }

  test('the suite pattern earns no finding; no statement and no session stands at a wrapper', async () => {
    const { report, traceDir, verdicts: traced, untraced } = await run('fixed');
    assert.deepEqual(untraced, ['ok 1 notes a first note is the only one with its title', 'ok 2 notes a note is stored']);
    assert.deepEqual(traced, untraced);
    assert.deepEqual(report.findings, []);
    const { statements, sessions } = lines(traceDir);
    // db.js:23 is the transaction wrapper's own SET LOCAL, sent there; the query wrapper's line (13) and the
    // transaction wrapper's call of Sequelize's (21) are no statement's. 'none': the connection's own setup.
    assert.deepEqual(statements, ['app/db.js:23', 'app/notes.js:6', 'app/notes.js:7', 'app/notes.js:8', 'none', 'spec/notes.spec.js:19', 'spec/notes.spec.js:7']);
    assert.deepEqual(sessions, ['app/notes.js:6', 'app/notes.js:6']);
  });

  test('a count without its transaction keeps uncommitted-read, at the count, not at the query wrapper', async () => {
    const { report, verdicts: traced, untraced } = await run('buggy');
    assert.deepEqual(untraced, ['not ok 1 notes a first note is the only one with its title', 'ok 2 notes a note is stored']);
    assert.deepEqual(traced, untraced);
    const found = located(report);
    assert.deepEqual(found, ['error uncommitted-read app/notes.js:10', 'warning uncommitted-read app/notes.js:10']);
    assert.match(report.findings[0].message, /Sequelize transaction S1 \(app\/notes\.js:8\)/);
  });
});

describe('paranoid-lookup: a bracketed Sequelize lookup of another row while a row is renamed (Outline)', () => {
  const run = (twin: 'fixed' | 'buggy') => traced('paranoid-lookup', twin, { command: mochaExit, database: 'paranoid_lookup' });

  test('the suite pattern earns no finding, with the same verdicts traced and untraced', async () => {
    const { report, verdicts: traced, untraced } = await run('fixed');
    assert.deepEqual(untraced, ['ok 1 notes a note is shown while another is renamed']);
    assert.deepEqual(traced, untraced);
    assert.equal(report.summary.commits, 1);
    assert.deepEqual(report.findings, []);
  });

  test('a lookup of the row being renamed keeps the warning, at the lookup, naming the row', async () => {
    const { report, verdicts: traced, untraced } = await run('buggy');
    assert.deepEqual(untraced, ['ok 1 notes a note is shown while it is renamed']);
    assert.deepEqual(traced, untraced);
    assert.deepEqual(located(report), ['warning uncommitted-read app/notes.js:14']);
    assert.match(report.findings[0].message, /read notes id=[0-9a-f-]{36} while Sequelize transaction S1 \(app\/notes\.js:7\)/);
  });
});

describe("parallel-workers: a test's read beside another test worker's uncommitted rows (Outline)", () => {
  const parallel = [process.execPath, '--test', '--test-concurrency=2', '--test-reporter', 'tap', 'test/'];
  const run = (twin: 'fixed' | 'buggy') => traced('parallel-workers', twin, { command: parallel, database: 'parallel_workers' });

  test('the suite pattern earns no finding, with the same verdicts traced and untraced', async () => {
    const { report, verdicts: traced, untraced } = await run('fixed');
    // The two files' processes run at once: their verdicts, without TAP's numbers, in any order.
    const unnumbered = (vs: string[]) => vs.map((v) => v.replace(/^(not )?ok \d+ - /, '$1ok ')).sort();
    assert.deepEqual(unnumbered(untraced), ["ok team a's draft is added", 'ok team b has no notes']);
    assert.deepEqual(unnumbered(traced), unnumbered(untraced));
    assert.equal(report.summary.commits, 1);
    assert.deepEqual(report.findings, []);
  });

  test('a job worker the test started, holding the rows the test counts, keeps the warning', async () => {
    const { report, verdicts: traced, untraced } = await run('buggy');
    assert.deepEqual(untraced, ['ok 1 - team b has no notes yet']);
    assert.deepEqual(traced, untraced);
    assert.deepEqual(located(report), ['warning uncommitted-read app/notes.js:8']);
    assert.match(report.findings[0].message, / in process \d+ held an uncommitted INSERT into it/);
  });
});
