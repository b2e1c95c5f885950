// non-test-database on real runs: an app module imported its session factory by
// name, so while the tests run it keeps writing to and reading from the
// development database (a file `app_dev.db` on SQLite, a `..._dev_...` database on
// PostgreSQL) instead of the test database the fixture created. The fixed twin
// looks the factory up through its module. The quickstart example shows the
// same story on the demo's test_worker_runs_job.
import assert from 'node:assert/strict';
import { cpSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createDatabase, python, repoRoot, runCli, tempDir, type PythonEnvName } from '../support/env';
import {
  COMBINATIONS,
  describeFindings,
  expectFinding,
  expectNoErrors,
  expectPytestFailed,
  ofRule,
  reportAgain,
  type Backend,
  type FindingJson,
  type RuleRun,
} from './harness';

const RULE = 'non-test-database';
const T = 'tests/test_signups.py::';

async function run(project: string, env: PythonEnvName, extraEnv: NodeJS.ProcessEnv, label: string): Promise<RuleRun> {
  const trace = join(realpathSync(tempDir(`${label}-trace`)), 'run');
  const result = await runCli(['run', '--json', '--trace', trace, '--', python(env), '-m', 'pytest', '-q', '-p', 'no:cacheprovider'], {
    cwd: project,
    env: extraEnv,
  });
  assert.ok(result.code !== 2 && result.stdout.trim() !== '', `txlens run failed (exit ${result.code}):\n${result.stderr.slice(-3000)}`);
  const doc = JSON.parse(result.stdout) as { findings: FindingJson[]; trace: string; notes?: string[] };
  return { project, trace: doc.trace, findings: doc.findings, output: result.stderr, exitCode: result.code, notes: doc.notes ?? [] };
}

function copy(source: string, label: string): string {
  const project = realpathSync(tempDir(label));
  cpSync(source, project, { recursive: true, filter: (src) => !/(__pycache__|\.pytest_cache|\.pyc$|\.db$)/.test(src) });
  return project;
}

/** The fixture needs two databases: the test database (RULE_DB_URL) and the app's development one (APP_DB_URL). */
async function runNonTestFixture(variant: 'buggy' | 'fixed', env: PythonEnvName, backend: Backend): Promise<{ run: RuleRun; testDb: string; devDb: string }> {
  const label = `${RULE}-${variant}-${env}-${backend}`;
  const project = copy(join(repoRoot, 'test', 'fixtures', 'rules', RULE, variant), label);
  let testUrl: string;
  let devUrl: string;
  if (backend === 'sqlite') {
    testUrl = `sqlite:///${join(project, 'test.db')}`;
    devUrl = `sqlite:///${join(project, 'app_dev.db')}`;
  } else {
    testUrl = await createDatabase(`ntd_test_${env}`);
    devUrl = await createDatabase(`ntd_dev_${env}`);
  }
  const name = (url: string) => (backend === 'sqlite' ? url.slice(url.lastIndexOf('/') + 1) : new URL(url).pathname.slice(1));
  return { run: await run(project, env, { RULE_DB_URL: testUrl, APP_DB_URL: devUrl }, label), testDb: name(testUrl), devDb: name(devUrl) };
}

for (const { env, backend } of COMBINATIONS) {
  describe(`${RULE} under ${env} on ${backend}`, () => {
    test('buggy: writes are errors, a read that missed the test rows is an error, other reads warn', async () => {
      const { run: r, testDb, devDb } = await runNonTestFixture('buggy', env, backend);
      expectPytestFailed(r, [`${T}test_signup_is_recorded`, `${T}test_signed_up_user_is_found`]);
      const found = ofRule(r.findings, RULE);
      const wrote = expectFinding(found, {
        rule: RULE,
        severity: 'error',
        file: 'app/signups.py',
        // The INSERT is at the add() that made it; the commit() whose flush sent it is related.
        line: 9,
        test: `${T}test_signup_is_recorded`,
        related: [
          ['app/db.py', 11],
          ['tests/conftest.py', 13],
          ['app/signups.py', 10],
        ],
      });
      assert.ok(wrote.message.includes(`wrote to users in ${devDb} (a development database)`), wrote.message);
      assert.ok(wrote.message.includes(`the test database ${testDb}`), wrote.message);
      const missed = expectFinding(found, {
        rule: RULE,
        severity: 'error',
        file: 'app/signups.py',
        line: 15,
        test: `${T}test_signed_up_user_is_found`,
        related: [
          ['app/db.py', 11],
          ['tests/conftest.py', 13],
          ['tests/test_signups.py', 16],
        ],
      });
      assert.match(missed.message, /read users from/);
      expectFinding(found, {
        rule: RULE,
        severity: 'warning',
        file: 'app/signups.py',
        line: 20,
        test: `${T}test_plans_are_listed`,
      });
      assert.equal(found.length, 3, describeFindings(found));
      assert.equal(r.exitCode, 1);
      assert.deepEqual(ofRule(await reportAgain(r), RULE), ofRule(r.findings, RULE), 'txlens report on the kept trace gives the same findings');
    });

    test('fixed: no error finding', async () => {
      const { run: r } = await runNonTestFixture('fixed', env, backend);
      assert.doesNotMatch(r.output, /FAILED/, r.output.slice(-2000));
      expectNoErrors(r.findings);
      assert.deepEqual(ofRule(r.findings, RULE), []);
      assert.equal(r.exitCode, 0);
    });
  });
}

describe(`${RULE} beside a coverage tool's own data file`, () => {
  // The buggy twin of the coverage-data-file pattern: the same tool writes `.coverage`
  // during the first test, and the app's development database is still named.
  test('buggy under a coverage-like plugin: the same findings, none about .coverage', async () => {
    const { run: plain } = await runNonTestFixture('buggy', 'sa20', 'sqlite');
    const label = `${RULE}-buggy-coverage-tool`;
    const project = copy(join(repoRoot, 'test', 'fixtures', 'rules', RULE, 'buggy'), label);
    const tool = join(repoRoot, 'test', 'fixtures', 'patterns', 'coverage-data-file');
    cpSync(join(tool, 'tools'), join(project, 'tools'), { recursive: true, filter: (src) => !/(__pycache__|\.pyc$)/.test(src) });
    cpSync(join(tool, 'conftest.py'), join(project, 'conftest.py'));
    const r = await run(project, 'sa20', { RULE_DB_URL: `sqlite:///${join(project, 'test.db')}`, APP_DB_URL: `sqlite:///${join(project, 'app_dev.db')}` }, label);
    const where = (fs: FindingJson[]) => ofRule(fs, RULE).map((f) => `${f.severity} ${f.location.file}:${f.location.line} ${f.test}`);
    assert.deepEqual(where(r.findings), where(plain.findings), describeFindings(r.findings));
    assert.equal(where(r.findings).length, 3, describeFindings(r.findings));
    assert.ok(!r.findings.some((f) => f.message.includes('.coverage')), describeFindings(r.findings));
  });
});

describe(`${RULE} in the quickstart example`, () => {
  test('test_worker_runs_job: the worker read quickstart-dev.db instead of the test database', async () => {
    const project = copy(join(repoRoot, 'examples', 'quickstart'), 'quickstart');
    const r = await run(project, 'sa20', {}, 'quickstart');
    const f = expectFinding(ofRule(r.findings, RULE), {
      rule: RULE,
      // Only a read, but the test failed because the rows it wrote were looked for there: "Job not found".
      severity: 'error',
      file: 'app/worker.py',
      line: 8,
      test: 'tests/test_jobs.py::test_worker_runs_job',
      related: [
        ['app/db.py', 9],
        ['tests/conftest.py', 11],
      ],
    });
    assert.match(f.message, /read jobs from quickstart-dev\.db \(a development database\)/);
    assert.match(f.message, /the test database test\.db that the test set up/);
    assert.equal(ofRule(r.findings, RULE).length, 1, describeFindings(r.findings));
  });
});
