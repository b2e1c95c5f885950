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
// - factory-flush: factory_boy factories with sqlalchemy_session_persistence="flush" into
//   the test's session, rolled back at teardown; the same keys in every test.
// - xdist-shared-connection: pytest-xdist workers (-n 2), each with a database of its own
//   and one session-scoped connection carrying every test's outer transaction.
// - sqlmodel-fastapi (SQLAlchemy 2.0 only): a session-scoped SQLModel session beside the
//   API's own sessions; the test commits on purpose; a random UUID expected to 404.
// - flask-scoped-session: Flask-SQLAlchemy's db.session shared by the test and its
//   requests, tables created and dropped per test.
// - coverage-data-file: a coverage-like tool installed as a plugin writes its own SQLite
//   data file `.coverage` from its trace function during the first test (and a state
//   file from a hook); the app writes through its module-level engine (was:
//   non-test-database errors on every app write, `.coverage` taken for the test database).
// - static-pool-memory: one StaticPool connection (Flask-SQLAlchemy 2.x's in-memory SQLite
//   set-up) whose scoped session leaves a read open while teardown's drop_all commits on
//   the same connection (was: pool-release-in-transaction errors).
// - concurrent-writers: threads, each with its own connection and session, insert rows
//   keyed by the database (INSERT ... RETURNING id), commit, read their own rows back by
//   key and count them by a LIKE on their own names while another writer's INSERT is
//   uncommitted (was: uncommitted-read warnings on every refresh).
// - concurrent-update-count: a thread counts rows by a LIKE on their names while another
//   thread holds an uncommitted UPDATE that renames a row to a name the filter cannot match,
//   or changes a column the count never reads (was: uncommitted-read warnings; the reader
//   sees the old row version, and the new one would not change its count).
// - flask-request-error: a Flask request adds a row (flushed or not) and then fails; Flask
//   answers 500 and hands the error to its teardown, where Flask-SQLAlchemy removes the
//   session; the test asserts the row is absent (was: missing-commit warnings, as on
//   Flask-SQLAlchemy 2.5.1's own test_roll_back_on_failure).
// - module-engine-swap: documentation-style tutorial modules whose tests swap the module's
//   file engine (echo on, never connected) for a fresh in-memory one per test, with print()
//   patched; every test writes the same UNIQUE names into its own empty database through the
//   same URL `sqlite://` (as SQLModel's own tutorial tests do). Capture must not open the
//   file database either.
// - freezegun-frozen-clock: tests freeze the clock around requests that write and read
//   (freezegun's start()/stop() in a helper, and @freeze_time with tick=True), as event-window
//   tests do. freezegun swaps every module attribute that is the real time.monotonic_ns for
//   its fake, the agent's own clock included, which stamped each frozen event with the
//   frozen date in epoch nanoseconds (was: events decades after their test, and "events out
//   of order" on CTFd's suite). Asserted beyond no finding: no event outside its test's window.
// - app-per-test-memory: a Flask-SQLAlchemy app per test on `sqlite://` (a StaticPool
//   connection per app, never disposed), two apps one after the other in one test, the second
//   reading its own fresh config table while the first's connection sits open and unused (was:
//   sqlite-memory-isolation errors on three of CTFd's export/import tests).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { PythonEnvName } from '../support/env';
import { readProcessFiles } from '../support/trace-files';
import { COMBINATIONS, describeFindings, runProject, type RuleRun } from './harness';

interface Pattern {
  name: string;
  envs?: PythonEnvName[];
  pytestArgs?: string[];
  /** Further checks of the run beyond "passes and earns no finding". */
  check?: (run: RuleRun) => void;
}

/** Every event between its test's start and end, in the order written: none stamped with another clock. */
function eventsWithinTheirTests(run: RuleRun): void {
  assert.deepEqual(run.notes, []);
  for (const lines of readProcessFiles(run.trace)) {
    let window: { id: string; start: number } | undefined;
    let last = -Infinity;
    for (const e of lines) {
      if (e.k === 'header') continue;
      assert.ok(e.t >= last, `${e.k} at t=${e.t} after an event at t=${last}`);
      last = e.t;
      if (e.k === 'test_start') window = { id: e.id, start: e.t };
      else if (e.k === 'test_end') window = undefined;
      else if (window) assert.ok(e.t >= window.start, `${e.k} in ${window.id} before its test started`);
    }
  }
}

const PATTERNS: Pattern[] = [
  { name: 'autoflush-unit-tests' },
  { name: 'drop-recreate-unique' },
  { name: 'commits-on-purpose' },
  { name: 'random-id-404' },
  { name: 'savepoint-recipe' },
  { name: 'factory-flush' },
  { name: 'xdist-shared-connection', pytestArgs: ['-n', '2'] },
  { name: 'sqlmodel-fastapi', envs: ['sa20'] },
  { name: 'flask-scoped-session' },
  { name: 'coverage-data-file' },
  { name: 'static-pool-memory' },
  { name: 'concurrent-writers' },
  { name: 'concurrent-update-count' },
  { name: 'flask-request-error' },
  { name: 'module-engine-swap' },
  { name: 'freezegun-frozen-clock', check: eventsWithinTheirTests },
  { name: 'app-per-test-memory' },
];

for (const pattern of PATTERNS) {
  describe(`real-suite pattern ${pattern.name}`, () => {
    for (const { env, backend } of COMBINATIONS) {
      if (pattern.envs && !pattern.envs.includes(env)) continue;
      test(`passes and earns no finding under ${env} on ${backend}`, async () => {
        const run = await runProject(`patterns/${pattern.name}`, pattern.name, env, backend, { pytestArgs: pattern.pytestArgs });
        assert.doesNotMatch(run.output, /FAILED|ERROR/, run.output.slice(-2000));
        assert.deepEqual(run.findings, [], describeFindings(run.findings));
        assert.equal(run.exitCode, 0);
        pattern.check?.(run);
      });
    }
  });
}
