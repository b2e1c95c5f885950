// uncommitted-read on real runs: a fixture flushes a customer without committing,
// and the FastAPI app (its own session, its own connection) answers 404 and an
// empty search. The fixed twin commits in the fixture.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { COMBINATIONS, describeFindings, expectFinding, expectNoErrors, expectPytestFailed, ofRule, reportAgain, runFixture } from './harness';

const RULE = 'uncommitted-read';
const T = 'tests/test_customers.py::';

for (const { env, backend } of COMBINATIONS) {
  describe(`${RULE} under ${env} on ${backend}`, () => {
    test('buggy: fires at the API reads, naming the fixture INSERT', async () => {
      const run = await runFixture(RULE, 'buggy', env, backend);
      expectPytestFailed(run, [`${T}test_api_returns_the_fixture_customer`, `${T}test_search_finds_the_fixture_customer`]);
      const found = ofRule(run.findings, RULE);
      const byId = expectFinding(found, {
        rule: RULE,
        severity: 'error',
        file: 'app/api.py',
        line: 17,
        test: `${T}test_api_returns_the_fixture_customer`,
        related: [['tests/conftest.py', 30]],
      });
      assert.match(byId.message, /^session S\d+ \(app\/api\.py:16\) read customers id=1 while session S\d+ \(tests\/conftest\.py:18\) held an uncommitted INSERT into it; the row was invisible to S\d+\./);
      const byEmail = expectFinding(found, {
        rule: RULE,
        severity: 'error',
        file: 'app/api.py',
        line: 26,
        test: `${T}test_search_finds_the_fixture_customer`,
        related: [['tests/conftest.py', 30]],
      });
      assert.match(byEmail.message, /read customers email=ada@example\.com while/);
      assert.equal(found.length, 2, describeFindings(found));
      assert.deepEqual(await reportAgain(run), run.findings, 'txlens report on the kept trace gives the same findings');
    });

    test('concurrent writers: a thread that looks up another writer\'s uncommitted row by name misses it', async () => {
      // The buggy twin of the concurrent-writers pattern: the same threads, but B reads A's row.
      const run = await runFixture(RULE, 'concurrent-writers', env, backend);
      const test = 'tests/test_writers.py::test_reader_finds_the_other_writers_article';
      expectPytestFailed(run, [test]);
      const found = ofRule(run.findings, RULE);
      const f = expectFinding(found, { rule: RULE, severity: 'error', file: 'tests/test_writers.py', line: 31, test, related: [['tests/test_writers.py', 22]] });
      assert.match(f.message, /read articles name=a-1 while/);
      assert.equal(found.length, 1, describeFindings(found));
    });

    test('concurrent update: a count misses the row another writer renamed into its filter', async () => {
      // The buggy twin of the concurrent-update-count pattern: B's uncommitted new name matches A's LIKE.
      const run = await runFixture(RULE, 'concurrent-update', env, backend);
      const test = 'tests/test_counts.py::test_count_sees_the_row_another_writer_renamed_into_it';
      expectPytestFailed(run, [test]);
      const found = ofRule(run.findings, RULE);
      const f = expectFinding(found, {
        rule: RULE,
        severity: 'warning',
        file: 'tests/test_counts.py',
        line: 27,
        test,
        related: [['tests/test_counts.py', 37], ['tests/test_counts.py', 40]],
      });
      assert.match(f.message, /held an uncommitted UPDATE of it; S\d+ saw the values from before the UPDATE/);
      assert.equal(found.length, 1, describeFindings(found));
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
