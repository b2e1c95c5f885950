// test-state-leak on real runs: one test seeds alice@example.com and commits, a later
// one registers her again and hits the UNIQUE constraint. The finding must point at
// the seeding commit, not at the more recent commit of bob's row into the same table.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { COMBINATIONS, describeFindings, expectFinding, expectNoErrors, expectPytestFailed, ofRule, reportAgain, runFixture } from './harness';

const RULE = 'test-state-leak';
const T = 'tests/test_signup.py::';

for (const { env, backend } of COMBINATIONS) {
  describe(`${RULE} under ${env} on ${backend}`, () => {
    test('buggy: the earlier test that committed the duplicate key', async () => {
      const run = await runFixture(RULE, 'buggy', env, backend);
      expectPytestFailed(run, [`${T}test_register_alice`]);
      const found = ofRule(run.findings, RULE);
      const f = expectFinding(found, {
        rule: RULE,
        severity: 'error',
        file: 'tests/test_signup.py',
        line: 9,
        test: `${T}test_register_alice`,
        related: [['app/users.py', 9]],
      });
      assert.match(f.message, /test_admin_is_seeded/);
      assert.match(f.message, /alice@example\.com/);
      assert.equal(found.length, 1, describeFindings(found));
      assert.deepEqual(await reportAgain(run), run.findings);
    });

    test('fixed: no error finding', async () => {
      const run = await runFixture(RULE, 'fixed', env, backend);
      assert.doesNotMatch(run.output, /FAILED/, run.output.slice(-2000));
      expectNoErrors(run.findings);
      assert.deepEqual(ofRule(run.findings, RULE), []);
    });
  });
}

describe(`${RULE} without captured parameters`, () => {
  test('falls back to the last commit into the table, as a warning', async () => {
    const run = await runFixture(RULE, 'buggy', 'sa20', 'sqlite', { runArgs: ['--params', 'off'] });
    const found = ofRule(run.findings, RULE);
    // bob's registration is the last commit into users before the failure: a guess, so a warning.
    const f = expectFinding(found, { rule: RULE, severity: 'warning', file: 'app/users.py', line: 9, test: `${T}test_register_alice` });
    assert.match(f.message, /parameters were not captured/);
  });
});
