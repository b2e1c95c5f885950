// sqlite-memory-isolation on real runs (SQLite only: the bug is SQLite's): worker
// threads on `sqlite:///:memory:` each get their own empty database ("no such
// table", "Expected 1 success, got 0"); a shared-cache memory database and a
// StaticPool engine are the fixes and stay quiet. The model part (one database
// per process and name for shared-cache memory databases) is pinned on hand-built
// connect events.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { databaseKey } from '../../src/model/model';
import { describeFindings, expectFinding, expectNoErrors, expectPytestFailed, ofRule, reportAgain, runFixture } from './harness';

const RULE = 'sqlite-memory-isolation';
const T = 'tests/test_claims.py::';

describe('databaseKey for SQLite memory databases', () => {
  test('each private memory connection is its own database', () => {
    const db = { system: 'sqlite', memory: true, name: ':memory:', url: 'sqlite:///:memory:' };
    assert.notEqual(databaseKey(db, { key: '7:c1' }), databaseKey(db, { key: '7:c2' }));
    const empty = { system: 'sqlite', memory: true, name: ':memory:', url: 'sqlite://' };
    assert.notEqual(databaseKey(empty, { key: '7:c1' }), databaseKey(empty, { key: '7:c2' }));
  });

  test('a shared-cache memory database is one per process and name', () => {
    // SQLAlchemy gives the URI options in the url; sqlite3 in the name.
    const viaEngine = { system: 'sqlite', memory: true, name: 'file:jobs', url: 'sqlite:///file:jobs?cache=shared&mode=memory&uri=true' };
    const viaDriver = { system: 'sqlite', memory: true, name: 'file:jobs?mode=memory&cache=shared' };
    assert.equal(databaseKey(viaEngine, { key: '7:c1' }), databaseKey(viaEngine, { key: '7:c2' }));
    assert.equal(databaseKey(viaEngine, { key: '7:c1' }), databaseKey(viaDriver, { key: '7:c9' }));
    assert.notEqual(databaseKey(viaEngine, { key: '7:c1' }), databaseKey(viaEngine, { key: '8:c1' }), 'another process has its own');
    const other = { system: 'sqlite', memory: true, name: 'file:other?mode=memory&cache=shared' };
    assert.notEqual(databaseKey(other, { key: '7:c1' }), databaseKey(viaDriver, { key: '7:c1' }));
    const unnamed = { system: 'sqlite', memory: true, name: 'file::memory:', url: 'sqlite:///file::memory:?cache=shared&uri=true' };
    assert.equal(databaseKey(unnamed, { key: '7:c1' }), databaseKey(unnamed, { key: '7:c3' }));
    const privateNamed = { system: 'sqlite', memory: true, name: 'file:jobs', url: 'sqlite:///file:jobs?mode=memory&uri=true' };
    assert.notEqual(databaseKey(privateNamed, { key: '7:c1' }), databaseKey(privateNamed, { key: '7:c2' }), 'without cache=shared it is private');
  });
});

for (const env of ['sa14', 'sa20'] as const) {
  describe(`${RULE} under ${env} on sqlite`, () => {
    test('buggy: fires at the engine the threads connected through', async () => {
      const run = await runFixture(RULE, 'buggy', env, 'sqlite');
      expectPytestFailed(run, [`${T}test_only_one_worker_claims_job`]);
      assert.match(run.output, /Expected 1 success, got 0/);
      const found = ofRule(run.findings, RULE);
      const f = expectFinding(found, {
        rule: RULE,
        severity: 'error',
        file: 'tests/conftest.py',
        line: 10,
        test: `${T}test_only_one_worker_claims_job`,
        related: [
          ['app/claims.py', 11],
          ['tests/conftest.py', 11],
        ],
      });
      assert.match(f.message, /no such table: jobs/);
      assert.match(f.message, /another thread/);
      assert.equal(found.length, 1, describeFindings(found));
      assert.equal(run.exitCode, 1);
      assert.deepEqual(ofRule(await reportAgain(run), RULE), ofRule(run.findings, RULE), 'txlens report on the kept trace gives the same findings');
    });

    test('fixed: shared-cache memory database and StaticPool, no error finding', async () => {
      const run = await runFixture(RULE, 'fixed', env, 'sqlite');
      assert.doesNotMatch(run.output, /FAILED/, run.output.slice(-2000));
      expectNoErrors(run.findings);
      assert.deepEqual(ofRule(run.findings, RULE), []);
      assert.deepEqual(ofRule(run.findings, 'shared-connection-concurrency'), [], 'threads taking turns on one connection');
      assert.equal(run.exitCode, 0);
    });
  });
}
