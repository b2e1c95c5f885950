// pool-release-in-transaction on real runs: with pool_reset_on_return=None, an audit
// helper writes on the raw DB-API connection and returns it to the pool uncommitted;
// the next borrower's session runs inside that transaction and its rollback undoes
// the audit row. Fixed twin: the helper commits before releasing.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { COMBINATIONS, describeFindings, expectFinding, expectNoErrors, expectPytestFailed, ofRule, reportAgain, runFixture } from './harness';

const RULE = 'pool-release-in-transaction';
const T = 'tests/test_reservations.py::';

for (const { env, backend } of COMBINATIONS) {
  describe(`${RULE} under ${env} on ${backend}`, () => {
    test('buggy: the release with the transaction open, and the borrower inside it', async () => {
      const run = await runFixture(RULE, 'buggy', env, backend);
      expectPytestFailed(run, [`${T}test_refused_reservation_is_audited`]);
      const found = ofRule(run.findings, RULE);
      const f = expectFinding(found, {
        rule: RULE,
        severity: 'error',
        file: 'app/audit.py',
        line: 13,
        test: `${T}test_refused_reservation_is_audited`,
        related: [
          ['app/reservations.py', 8],
          ['app/reservations.py', 11],
        ],
      });
      assert.match(f.message, /rolled it back/);
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
