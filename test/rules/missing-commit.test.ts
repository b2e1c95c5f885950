// missing-commit on real runs: a worker that flushes and closes, one that closes
// with unflushed changes, a Core connection left without commit; and what must
// stay quiet: a rollback after an IntegrityError and a rollback-isolation fixture.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  COMBINATIONS,
  describeFindings,
  expectFinding,
  expectNoErrors,
  expectPytestFailed,
  ofRule,
  reportAgain,
  runFixture,
} from './harness';

const RULE = 'missing-commit';
const T = 'tests/test_jobs.py::';

for (const { env, backend } of COMBINATIONS) {
  describe(`${RULE} under ${env} on ${backend}`, () => {
    test('buggy: fires where each commit is missing, and nowhere else', async () => {
      const run = await runFixture(RULE, 'buggy', env, backend);
      expectPytestFailed(run, [`${T}test_failed_job_is_reported`, `${T}test_cancelled_job_is_reported`, `${T}test_purged_job_is_gone`]);
      const found = ofRule(run.findings, RULE);
      // flush() then close(): the close is where the commit belongs; the UPDATE is related.
      const flushed = expectFinding(found, {
        rule: RULE,
        severity: 'error',
        file: 'app/worker.py',
        line: 12,
        test: `${T}test_failed_job_is_reported`,
        related: [['app/worker.py', 11]],
      });
      assert.match(flushed.message, /UPDATE jobs/);
      // Changes never flushed: no SQL at all, only the close that dropped them.
      const unflushed = expectFinding(found, {
        rule: RULE,
        severity: 'error',
        file: 'app/worker.py',
        line: 19,
        test: `${T}test_cancelled_job_is_reported`,
      });
      assert.match(unflushed.message, /1 changed Job/);
      // A Core connection left by its `with` block without commit.
      expectFinding(found, {
        rule: RULE,
        severity: 'error',
        file: 'app/worker.py',
        line: 23,
        test: `${T}test_purged_job_is_gone`,
        related: [['app/worker.py', 24]],
      });
      // The explicit rollback after IntegrityError and the rollback-isolation fixture are not missing commits.
      assert.equal(found.length, 3, describeFindings(found));
      assert.equal(run.exitCode, 1);
      assert.deepEqual(await reportAgain(run), run.findings, 'txlens report on the kept trace gives the same findings');
    });

    test('flask teardown: a request that succeeded without commit loses its row when the session is removed', async () => {
      // The buggy twin of the flask-request-error pattern: no error reached the teardown, so
      // nothing but the missing commit discarded the row. A warning where the test passed,
      // an error where the test's own read came back without it.
      const run = await runFixture(RULE, 'flask-teardown', env, backend);
      const F = 'tests/test_todos.py::';
      expectPytestFailed(run, [`${F}test_created_todo_is_listed`]);
      const found = ofRule(run.findings, RULE);
      const passed = expectFinding(found, { rule: RULE, severity: 'warning', file: 'tests/test_todos.py', line: 2, test: `${F}test_create_answers_201` });
      assert.match(passed.message, /holding unsaved changes \(1 new Todo \(todos\)\)/);
      expectFinding(found, {
        rule: RULE,
        severity: 'error',
        file: 'tests/test_todos.py',
        line: 7,
        test: `${F}test_created_todo_is_listed`,
        related: [['app/__init__.py', 31]],
      });
      assert.equal(found.length, 2, describeFindings(found));
    });

    test('fixed: no error finding', async () => {
      const run = await runFixture(RULE, 'fixed', env, backend);
      assert.doesNotMatch(run.output, /FAILED/, run.output.slice(-2000));
      expectNoErrors(run.findings);
      assert.deepEqual(ofRule(run.findings, RULE), []);
      assert.equal(run.exitCode, 0);
    });
  });
}
