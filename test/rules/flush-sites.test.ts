// A write an ORM autoflush sent is reported at the line that changed the object,
// with the flush (the query that autoflushed) as a related place: missing-commit
// on a worker that sets a job's status, runs a query (autoflush) and leaves a
// session scope that closes without commit.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { COMBINATIONS, describeFindings, expectFinding, expectPytestFailed, ofRule, reportAgain, runFixture } from './harness';

const RULE = 'missing-commit';
const T = 'tests/test_jobs.py::';

for (const { env, backend } of COMBINATIONS) {
  describe(`${RULE} on an autoflushed write under ${env} on ${backend}`, () => {
    test('points at the attribute set, with the autoflushing query and the close as related', async () => {
      const run = await runFixture(RULE, 'autoflush', env, backend);
      expectPytestFailed(run, [`${T}test_started_job_is_running`]);
      const found = ofRule(run.findings, RULE);
      const f = expectFinding(found, {
        rule: RULE,
        severity: 'error',
        file: 'app/jobs.py',
        line: 24, // job.status = "RUNNING"
        test: `${T}test_started_job_is_running`,
        related: [
          ['app/jobs.py', 26], // the query whose autoflush sent the UPDATE
          ['app/db.py', 21], // session_scope's close(), where the transaction ended
        ],
      });
      assert.match(f.message, /UPDATE jobs at app\/jobs\.py:24 \(flushed at app\/jobs\.py:26\)/);
      const flushed = f.related.find((r) => r.line === 26)!;
      assert.match(flushed.message, /UPDATE jobs sent to the database here/);
      assert.equal(found.length, 1, describeFindings(found));
      assert.deepEqual(await reportAgain(run), run.findings, 'txlens report on the kept trace gives the same findings');
    });
  });
}
