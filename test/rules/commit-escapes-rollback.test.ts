// commit-escapes-rollback on real runs (the factory_boy story): the `db` fixture rolls
// back at teardown, but UserFactory commits on its own session. alice's commit breaks a
// later test (error); carol's breaks nothing yet (warning). The fixed twin joins the
// factory's session to the test's outer transaction, where commit() only releases a
// SAVEPOINT: nothing must fire.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { COMBINATIONS, describeFindings, expectFinding, expectNoErrors, expectPytestFailed, ofRule, reportAgain, runFixture } from './harness';

const RULE = 'commit-escapes-rollback';
const T = 'tests/test_users.py::';

for (const { env, backend } of COMBINATIONS) {
  describe(`${RULE} under ${env} on ${backend}`, () => {
    test('buggy: factory commits escape the teardown rollback', async () => {
      const run = await runFixture(RULE, 'buggy', env, backend);
      expectPytestFailed(run, [`${T}test_users_are_counted`]);
      const found = ofRule(run.findings, RULE);
      const broke = expectFinding(found, {
        rule: RULE,
        severity: 'error',
        file: 'tests/test_users.py',
        line: 15,
        test: `${T}test_user_has_email`,
        related: [['tests/conftest.py', 26]],
      });
      assert.match(broke.message, /test_users_are_counted/);
      expectFinding(found, {
        rule: RULE,
        severity: 'warning',
        file: 'tests/test_users.py',
        line: 8,
        test: `${T}test_user_can_be_renamed`,
        related: [['tests/conftest.py', 26]],
      });
      // The failing test's own factory call never committed: nothing there.
      assert.equal(found.length, 2, describeFindings(found));
      // The same story from the other side: the leak that failed the later test.
      expectFinding(ofRule(run.findings, 'test-state-leak'), {
        rule: 'test-state-leak',
        severity: 'error',
        file: 'tests/test_users.py',
        line: 15,
        test: `${T}test_users_are_counted`,
        related: [['tests/test_users.py', 20]],
      });
      assert.deepEqual(await reportAgain(run), run.findings);
    });

    test('fixed: savepoint-joined factories, nothing fires', async () => {
      const run = await runFixture(RULE, 'fixed', env, backend);
      assert.doesNotMatch(run.output, /FAILED/, run.output.slice(-2000));
      expectNoErrors(run.findings);
      assert.deepEqual(ofRule(run.findings, RULE), [], describeFindings(run.findings));
    });
  });
}

// The transactional-test recipe on SQLite without SQLAlchemy's own BEGIN: pysqlite sends
// none before a SAVEPOINT, so the app's commit() (a RELEASE) commits for real and the
// outer rollback undoes nothing. Postgres and the recipe with BEGIN are the look-alike
// (test/fixtures/patterns/savepoint-recipe).
for (const env of ['sa14', 'sa20'] as const) {
  describe(`${RULE} under ${env} on sqlite: a RELEASE that SQLite took as COMMIT`, () => {
    test('the app commit is named, and the collision it caused in later tests', async () => {
      const run = await runFixture(RULE, 'sqlite-savepoint', env, 'sqlite');
      const A = 'tests/test_accounts.py::';
      expectPytestFailed(run, [`${A}test_deposit_adds_up`, `${A}test_each_test_starts_empty`]);
      const escaped = expectFinding(ofRule(run.findings, RULE), {
        rule: RULE,
        severity: 'error',
        file: 'app/accounts.py',
        line: 18,
        test: `${A}test_new_account_is_empty`,
        related: [['tests/conftest.py', 38]],
      });
      assert.match(escaped.message, /SQLite took that RELEASE as COMMIT/);
      const leaks = ofRule(run.findings, 'test-state-leak');
      assert.equal(leaks.length, 2, describeFindings(leaks));
      assert.ok(leaks.every((f) => f.severity === 'error' && f.location.file === 'app/accounts.py' && f.location.line === 18), describeFindings(leaks));
    });
  });
}
