// lock-wait on real runs: the teardown cleanup (TRUNCATE with lock_timeout on
// PostgreSQL, DELETE with a busy timeout on SQLite) waits behind a test session
// that pytest has not closed yet, and fails; and behind a background export that
// holds its transaction open, and goes on only when the export commits.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { COMBINATIONS, describeFindings, expectFinding, expectNoErrors, ofRule, reportAgain, runFixture } from './harness';

const RULE = 'lock-wait';
const T = 'tests/test_jobs.py::';

for (const { env, backend } of COMBINATIONS) {
  describe(`${RULE} under ${env} on ${backend}`, () => {
    const cleanupLine = backend === 'postgres' ? 21 : 23;
    test('buggy: fires at the waiting cleanup, naming the idle holder', async () => {
      const run = await runFixture(RULE, 'buggy', env, backend);
      assert.match(run.output, new RegExp(`ERROR at teardown of test_job_is_saved`), run.output.slice(-2000));
      const found = ofRule(run.findings, RULE);
      // Both findings sit on the cleanup line: tell them apart by test.
      const inTest = (name: string) => found.filter((f) => f.test === `${T}${name}`);
      const failed = expectFinding(inTest('test_job_is_saved'), {
        rule: RULE,
        severity: 'error',
        file: 'tests/conftest.py',
        line: cleanupLine,
        test: `${T}test_job_is_saved`,
        related: [['tests/test_jobs.py', 12], ['tests/test_jobs.py', 11]],
      });
      assert.match(failed.message, backend === 'postgres' ? /^TRUNCATE jobs by .* failed: canceling statement due to lock timeout/ : /^DELETE from jobs by .* failed: database is locked/);
      const waited = expectFinding(inTest('test_export_runs_in_background'), {
        rule: RULE,
        severity: 'error',
        file: 'tests/conftest.py',
        line: cleanupLine,
        test: `${T}test_export_runs_in_background`,
        related: [['app/export.py', 11], ['app/export.py', 14]],
      });
      assert.match(waited.message, /it went on only when S\d+'s transaction ended \(COMMIT at app\/export\.py:14\)/);
      assert.equal(found.length, 2, describeFindings(found));
      assert.deepEqual(await reportAgain(run), run.findings, 'txlens report on the kept trace gives the same findings');
    });

    test('fixed: no error finding', async () => {
      const run = await runFixture(RULE, 'fixed', env, backend);
      assert.doesNotMatch(run.output, /FAILED|ERROR/, run.output.slice(-2000));
      expectNoErrors(run.findings);
      assert.deepEqual(ofRule(run.findings, RULE), []);
      assert.equal(run.exitCode, 0);
    });
  });
}
