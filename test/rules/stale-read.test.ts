// stale-read on real runs: a worker subprocess commits FAILED while the test's
// session answers COMPLETED from its identity map (expire_on_commit=False), and,
// on PostgreSQL, a REPEATABLE READ transaction keeps reading its old snapshot.
// The fixed twin reloads with populate_existing and ends the snapshot first.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { COMBINATIONS, describeFindings, expectFinding, expectNoErrors, expectPytestFailed, ofRule, reportAgain, runFixture } from './harness';

const RULE = 'stale-read';
const T = 'tests/test_jobs.py::';

for (const { env, backend } of COMBINATIONS) {
  describe(`${RULE} under ${env} on ${backend}`, () => {
    test('buggy: fires at the stale reads, naming the worker commit', async () => {
      const run = await runFixture(RULE, 'buggy', env, backend);
      const failing = [`${T}test_rerun_reports_worker_failure`];
      if (backend === 'postgres') failing.push(`${T}test_status_poll_sees_worker_failure`);
      expectPytestFailed(run, failing);
      const found = ofRule(run.findings, RULE);
      const hit = expectFinding(found, {
        rule: RULE,
        severity: 'error',
        file: 'app/jobs.py',
        line: 7,
        test: `${T}test_rerun_reports_worker_failure`,
        related: [['app/worker.py', 12], ['tests/conftest.py', 40]],
      });
      assert.match(hit.message, /returned Job \(jobs id=1\) from its identity map, without SQL, after session S\d+ \(app\/worker\.py:9\) in process \d+ had committed UPDATE jobs/);
      if (backend === 'postgres') {
        const snap = expectFinding(found, {
          rule: RULE,
          severity: 'error',
          file: 'app/jobs.py',
          line: 11,
          test: `${T}test_status_poll_sees_worker_failure`,
          related: [['app/worker.py', 12]],
        });
        assert.match(snap.message, /in REPEATABLE READ transaction tx\d+, whose snapshot was taken/);
      }
      assert.equal(found.length, backend === 'postgres' ? 2 : 1, describeFindings(found));
      assert.deepEqual(await reportAgain(run), run.findings, 'txlens report on the kept trace gives the same findings');
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
