// shared-connection-concurrency on real runs: one Session read from by two
// threads at once (SQLite and PostgreSQL: it passes, silently sharing one
// connection and transaction), and one AsyncSession under asyncio.gather on
// asyncpg ("another operation is in progress", PostgreSQL only). The fixed twin
// gives every thread and task its own session and hands a session from one
// thread to the next without overlap, which must not fire.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { COMBINATIONS, describeFindings, expectFinding, expectNoErrors, expectPytestFailed, ofRule, reportAgain, runFixture } from './harness';

const RULE = 'shared-connection-concurrency';

for (const { env, backend } of COMBINATIONS) {
  describe(`${RULE} under ${env} on ${backend}`, () => {
    test('buggy: fires at the second concurrent use', async () => {
      const run = await runFixture(RULE, 'buggy', env, backend);
      const found = ofRule(run.findings, RULE);
      // The threads' test passed: sharing the session is a real defect, but nothing broke this run (warning).
      const threads = expectFinding(found, {
        rule: RULE,
        severity: 'warning',
        file: 'app/reports.py',
        line: 8,
        test: 'tests/test_threads.py::test_reports_run_in_parallel',
        related: [
          ['app/reports.py', 8],
          ['tests/test_threads.py', 11],
        ],
      });
      assert.match(threads.message, /two threads at once/);
      if (backend === 'postgres') {
        expectPytestFailed(run, ['tests/test_async.py::test_tasks_marked_seen_together']);
        assert.match(run.output, /another operation is in progress/);
        const tasks = expectFinding(found, {
          rule: RULE,
          severity: 'error',
          file: 'app/store.py',
          line: 7,
          test: 'tests/test_async.py::test_tasks_marked_seen_together',
          related: [
            ['app/store.py', 8],
            ['tests/test_async.py', 17],
          ],
        });
        assert.match(tasks.message, /two asyncio tasks at once/);
        assert.match(tasks.message, /another operation is in progress/);
        assert.equal(found.length, 2, describeFindings(found));
      } else {
        assert.equal(found.length, 1, describeFindings(found));
      }
      // Exit status follows errors (and pytest's own failures): on SQLite only the warning is left.
      assert.equal(run.exitCode, backend === 'postgres' ? 1 : 0);
      assert.deepEqual(ofRule(await reportAgain(run), RULE), ofRule(run.findings, RULE), 'txlens report on the kept trace gives the same findings');
    });

    test('fixed: a session per thread and task, sequential hand-over; no error finding', async () => {
      const run = await runFixture(RULE, 'fixed', env, backend);
      assert.doesNotMatch(run.output, /FAILED/, run.output.slice(-2000));
      expectNoErrors(run.findings);
      assert.deepEqual(ofRule(run.findings, RULE), []);
      assert.equal(run.exitCode, 0);
    });
  });
}
