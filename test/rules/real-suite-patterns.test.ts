// Look-alikes from real suites that must earn no finding at all, from any rule: each
// project under test/fixtures/patterns reproduces a pattern that once drew false
// errors or floods of warnings. Their buggy twins live with each rule's own test.
//
// - autoflush-unit-tests: model __init__ queries autoflush pending INSERTs; tearDown
//   removes the session and drops the tables (was: missing-commit errors).
// - drop-recreate-unique: every test drops and recreates its tables, and one test
//   inserts a key twice to check its own UNIQUE constraint (was: test-state-leak error).
// - commits-on-purpose: the app commits for real; the test's read-only session is
//   rolled back at teardown, after the commits (was: commit-escapes-rollback warnings).
// - random-id-404: lookups of random ids expected to 404 while a fixture holds an
//   uncommitted row (was: uncommitted-read warnings).
// - savepoint-recipe: SQLAlchemy's transactional-test recipe (2.0 join_transaction_mode=
//   "create_savepoint", 1.4 begin_nested + after_transaction_end) with app code calling
//   commit(), which only releases a SAVEPOINT; on SQLite with SQLAlchemy's own BEGIN.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { COMBINATIONS, describeFindings, runProject } from './harness';

const PATTERNS = ['autoflush-unit-tests', 'drop-recreate-unique', 'commits-on-purpose', 'random-id-404', 'savepoint-recipe'];

for (const pattern of PATTERNS) {
  describe(`real-suite pattern ${pattern}`, () => {
    for (const { env, backend } of COMBINATIONS) {
      test(`passes and earns no finding under ${env} on ${backend}`, async () => {
        const run = await runProject(`patterns/${pattern}`, pattern, env, backend);
        assert.doesNotMatch(run.output, /FAILED|ERROR/, run.output.slice(-2000));
        assert.deepEqual(run.findings, [], describeFindings(run.findings));
        assert.equal(run.exitCode, 0);
      });
    }
  });
}
