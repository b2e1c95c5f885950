// `txlens run -- node --test` for real over the Node fixture projects
// (test/fixtures/node/: plain pg on the throwaway PostgreSQL, better-sqlite3 on
// files and :memory:), each a buggy and a fixed twin. For every run:
// (a) what txlens counted equals the database's own record of the same run:
//     Postgres's statement log (log_statement=all, set on the run's database
//     alone) and better-sqlite3's `verbose` callback (the fixture appends each
//     statement SQLite runs, and each open, to a file);
// (b) the rules name the buggy twin's bugs at their JavaScript lines and stay
//     silent on the fixed twin;
// (c) the runner reports the same outcomes with and without the agent;
// under node:test (both fixtures) and mocha 11 and 12 (the better-sqlite3 one; mocha 12 is
// ES modules, whose Runner and Suite the agent hooks through their sources);
// and every line the agent wrote passes the trace format's JSON Schema.
import assert from 'node:assert/strict';
import { cpSync, readFileSync, realpathSync } from 'node:fs';
import { join, sep } from 'node:path';
import { before, describe, test } from 'node:test';
import { createDatabase, mocha12Dir, repoRoot, tempDir } from '../support/env';
import { loggedDatabase, type LoggedDatabase } from './pg-log';
import { fixtureEnv, groundTruth, located, runUntraced, tracedRun, txlensCounts, verdicts, type Counts, type Report, type TraceLine } from './ground-truth';
import { validate, type JsonSchema } from '../support/json-schema';

type Twin = 'buggy' | 'fixed';
type Kind = 'pg' | 'sqlite';
type Runner = 'node:test' | 'mocha' | 'mocha 12' | 'mocha --parallel';

/** The test command of each runner, run from the fixture project (mocha's specs live in spec/). */
function testCommand(runner: Runner): string[] {
  if (runner === 'mocha') return [process.execPath, join(repoRoot, 'node_modules', 'mocha', 'bin', 'mocha.js'), '--reporter', 'tap', 'spec/'];
  if (runner === 'mocha 12') return [process.execPath, join(mocha12Dir, 'bin', 'mocha.js'), '--reporter', 'tap', 'spec/'];
  // Worker processes run the spec files; the parent replays their events to its reporter.
  if (runner === 'mocha --parallel') return [process.execPath, join(repoRoot, 'node_modules', 'mocha', 'bin', 'mocha.js'), '--parallel', '--jobs', '2', '--reporter', 'tap', 'spec/'];
  // TAP, which verdicts() reads, named: Node 23 and later write the spec reporter's output by default.
  return [process.execPath, '--test', '--test-reporter=tap', 'test/'];
}

const schema = JSON.parse(readFileSync(join(repoRoot, 'docs', 'trace-format.schema.json'), 'utf8')) as JsonSchema;

function copyFixture(kind: Kind, twin: Twin, label: string): string {
  const dir = realpathSync(tempDir(`node-${kind}-${twin}-${label}`));
  cpSync(join(repoRoot, 'test', 'fixtures', 'node', kind, twin), dir, { recursive: true });
  return dir;
}


// ---- the runs ------------------------------------------------------------------------

interface Outcome {
  project: string;
  report: Report;
  events: TraceLine[];
  processes: TraceLine[][];
  tracedVerdicts: string[];
  untracedVerdicts: string[];
  untracedCode: number | null;
  exitCode: number | null;
  stderr: string;
  truth: Counts;
  /** Statements SQLite refused to compile (never run, so not in its log), from the trace. */
  failedCompiles: number;
}

async function runFixture(kind: Kind, twin: Twin, runner: Runner): Promise<Outcome> {
  const label = `${kind}_${twin}_${runner.startsWith('mocha') ? runner.replace(/\W+/g, '') : 'nodetest'}`;
  const project = copyFixture(kind, twin, 'traced');
  const plain = copyFixture(kind, twin, 'plain');
  const traceDir = join(tempDir(`trace-${label}`), 'run');
  let env: NodeJS.ProcessEnv;
  let plainEnv: NodeJS.ProcessEnv;
  let pgDb: LoggedDatabase | undefined;
  const sqlLog = join(project, 'sql.ndjson');
  if (kind === 'pg') {
    pgDb = await loggedDatabase(`node_${label}`);
    env = fixtureEnv({ DATABASE_URL: pgDb.url });
    plainEnv = fixtureEnv({ DATABASE_URL: await createDatabase(`node_${label}_plain`) });
  } else {
    env = fixtureEnv({ NOTES_SQL_LOG: sqlLog });
    plainEnv = fixtureEnv({});
  }
  const run = await tracedRun(testCommand(runner), { cwd: project, env, traceDir });
  const untraced = await runUntraced(plain, testCommand(runner), plainEnv);
  const truth = await groundTruth(pgDb ? { pg: [pgDb] } : { sqlLog });
  return {
    project,
    report: run.report,
    events: run.events,
    processes: run.processes,
    tracedVerdicts: verdicts(run.stderr),
    untracedVerdicts: verdicts(untraced.out),
    untracedCode: untraced.code,
    exitCode: run.exitCode,
    stderr: run.context,
    truth,
    failedCompiles: kind === 'sqlite' ? run.events.filter((e) => e.k === 'stmt' && e.err).length : 0,
  };
}

const EXPECTED: Record<Kind, Record<Twin, { findings: string[]; failedCompiles: number }>> = {
  pg: {
    buggy: {
      findings: [
        // placeOrder() ends its client with the INSERT uncommitted.
        'missing-commit app/orders.js:13',
        // reserve() releases its client mid-transaction...
        'pool-release-in-transaction app/orders.js:20',
        // ...whose INSERT pool.end() later discards,
        'missing-commit app/orders.js:19',
        // ...and which the test's own count cannot see.
        'uncommitted-read test/orders.test.js:14',
        // importBatch() counts through another pooled connection before its COMMIT.
        'uncommitted-read app/orders.js:30',
        // cancelOrder() sends BEGIN through pool.query (a warning: its DELETE found the same client).
        'pool-release-in-transaction app/orders.js:41',
        // signUp()'s autocommit INSERT is still there when the next test signs the same customer up.
        'test-state-leak app/customers.js:5',
        // transferAudited() runs transfer() and audit() at once on one Client: the transfer's UPDATE
        // is sent while the audit's INSERT, queued inside the transfer's BEGIN, is still running (the
        // INSERT takes a tenth of a second, so its reply never comes in the same read as the BEGIN's:
        // the interleaving is what the trace shows of two callers, and the rule sees it every run);
        // in each of its two tests (a warning where the transfer committed, an error where the
        // refused transfer's ROLLBACK took the audit with it and the test failed).
        'shared-connection-concurrency app/accounts.js:9',
        'shared-connection-concurrency app/accounts.js:9',
      ].sort(),
      failedCompiles: 0,
    },
    fixed: { findings: [], failedCompiles: 0 },
  },
  sqlite: {
    buggy: {
      findings: [
        // saveDraft() closes its handle with the INSERT uncommitted.
        'missing-commit app/notes.js:12',
        // openStore() opens a fresh :memory: database for every caller.
        'sqlite-memory-isolation app/notes.js:35',
      ].sort(),
      // tagNames()'s SELECT on the second :memory: database: "no such table".
      failedCompiles: 1,
    },
    fixed: { findings: [], failedCompiles: 0 },
  },
};

const RUNS: Array<[Kind, Runner]> = [
  ['pg', 'node:test'],
  ['sqlite', 'node:test'],
  ['sqlite', 'mocha'],
  ['sqlite', 'mocha 12'],
  ['sqlite', 'mocha --parallel'],
];

for (const [kind, runner] of RUNS) {
  for (const twin of ['buggy', 'fixed'] as const) {
    describe(`${runner} over plain ${kind === 'pg' ? 'pg on PostgreSQL' : 'better-sqlite3'}, ${twin} twin`, () => {
      let outcome: Outcome | undefined;
      const ran = (): Outcome => {
        assert.ok(outcome, 'the traced run did not complete (see the first failure)');
        return outcome;
      };

      before(async () => {
        outcome = await runFixture(kind, twin, runner);
      });

      test('the tests have the same outcomes traced and untraced', () => {
        const o = ran();
        assert.ok(o.untracedVerdicts.length >= 3, `no TAP verdicts from the untraced run:\n${o.untracedVerdicts.join('\n')}`);
        assert.deepEqual(o.tracedVerdicts, o.untracedVerdicts, o.stderr);
        assert.equal(o.exitCode, o.untracedCode);
        if (twin === 'fixed') assert.equal(o.exitCode, 0, o.stderr);
        else assert.notEqual(o.exitCode, 0, o.stderr);
        assert.ok(!/txlens: capture/.test(o.stderr), `the agent reported a problem: ${o.stderr}`);
      });

      test("txlens's counts equal the database's own log of the run", (t) => {
        const o = ran();
        assert.ok(o.truth.statements > 0, 'the database logged nothing');
        const counted = txlensCounts(o.report.summary, o.events, { withoutFailedCompiles: kind === 'sqlite' });
        t.diagnostic(`counts ${JSON.stringify(counted)}; refused to compile: ${o.failedCompiles}`);
        assert.deepEqual(counted, o.truth);
        assert.equal(o.failedCompiles, EXPECTED[kind][twin].failedCompiles);
        if (kind === 'sqlite') assert.equal(o.report.summary.statements, o.truth.statements + o.failedCompiles);
      });

      test(twin === 'buggy' ? 'the rules name each bug at its line' : 'the rules stay silent', () => {
        assert.deepEqual(located(ran().report), EXPECTED[kind][twin].findings);
      });

      if (kind === 'pg') {
        test('a Client shared by two async calls: an error where the test failed for it, a warning where nothing broke', () => {
          const found = ran().report.findings.filter((f) => f.rule === 'shared-connection-concurrency');
          const severities = found.map((f) => `${f.severity} ${(f as { test?: string }).test ?? ''}`).sort();
          if (twin === 'fixed') return assert.deepEqual(severities, []);
          assert.deepEqual(severities, ['error test/accounts.test.js > accounts > a refused transfer is audited too', 'warning test/accounts.test.js > accounts > a transfer is audited']);
          for (const f of found) assert.match(f.message, /used by two async calls at once: UPDATE accounts .* while another call's INSERT audit .* both inside transaction/, f.message);
          const leak = ran().report.findings.find((f) => f.rule === 'test-state-leak');
          if (leak) assert.match(leak.message, /in autocommit at app\/customers\.js:5/, leak.message);
        });
      }

      test("the findings speak plain pg's or better-sqlite3's words, never SQLAlchemy's", () => {
        for (const f of ran().report.findings) {
          assert.doesNotMatch(f.message, /\bengine\b|session factory|StaticPool|sessionmaker|\bsession S\d|reset-on-return/, f.message);
          if (f.rule === 'pool-release-in-transaction') assert.match(f.message, /client\.release\(\)/, f.message);
          if (f.rule === 'pool-release-in-transaction' && /pool\.query/.test(f.message)) assert.equal(f.severity, 'warning', f.message);
          if (f.rule === 'sqlite-memory-isolation') assert.match(f.message, /one Database handle/, f.message);
        }
      });

      test(`tests are recorded with their ${runner} names and outcomes`, () => {
        const o = ran();
        const ends = new Map(o.events.filter((e) => e.k === 'test_end').map((e) => [e.id!, e.outcome!]));
        assert.equal(o.report.summary.tests, ends.size);
        // Each test started once and ended (a --parallel parent replaying its workers' tests records none).
        assert.equal(o.events.filter((e) => e.k === 'test_start').length, ends.size);
        assert.equal(o.events.filter((e) => e.k === 'test_end').length, ends.size);
        let matched = 0;
        for (const v of o.untracedVerdicts) {
          // node:test names the leaf ('a saved draft is kept'), mocha the full title ('notes a saved draft is kept');
          // suite lines ('notes') have no test of their own in the trace.
          const name = v.replace(/^\d+:(not ok|ok) - /, '');
          const id = [...ends.keys()].find((k) => {
            const path = k.split(' > ').slice(1);
            return path[path.length - 1] === name || path.join(' ') === name;
          });
          if (!id) continue;
          matched++;
          assert.equal(ends.get(id), v.includes(':not ok') ? 'failed' : 'passed', id);
        }
        assert.equal(matched, ends.size, `test ids: ${[...ends.keys()].join(', ')}; verdicts: ${o.untracedVerdicts.join(', ')}`);
        assert.ok(ends.size >= 3);
      });

      test('every line is valid trace format, and every statement points into the project', () => {
        const o = ran();
        for (const events of o.processes) {
          assert.equal(events[0].k, 'header');
          assert.equal(events[0].lang, 'node');
          for (const e of events) assert.deepEqual(validate(schema, e), [], JSON.stringify(e));
        }
        const statements = o.events.filter((e) => e.k === 'stmt');
        const outside = statements.filter((e) => !e.at || !e.at[0].startsWith(o.project + sep));
        assert.deepEqual(outside.map((e) => [e.sql, e.at]), []);
      });
    });
  }
}
