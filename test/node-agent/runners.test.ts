// `txlens run` for real under each Node test runner the agent supports beyond
// CommonJS node:test and mocha (fixtures.test.ts): jest (its module registry,
// its worker processes, ES module test files), vitest (forks and threads pools, and the vmThreads and
// vmForks pools, which load CommonJS packages themselves; vitest 4's forks and threads), node:test from ES
// modules, and TypeScript through tsx and vitest, over the fixture projects in
// test/fixtures/node/ (pg and sqlite in JavaScript, pg-ts and sqlite-ts in
// TypeScript), each a buggy and a fixed twin. For every run:
// (a) what txlens counted equals the database's own record of the same run
//     (Postgres's statement log; better-sqlite3's `verbose` callback);
// (b) the rules name the buggy twin's bugs at their JavaScript or TypeScript
//     lines and stay silent on the fixed twin;
// (c) the runner reports the same outcomes with and without the agent, and each
//     test is in the trace with its id, file, line and outcome;
// and every line the agent wrote passes the trace format's JSON Schema.
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readFileSync, realpathSync, symlinkSync } from 'node:fs';
import { join, sep } from 'node:path';
import { before, describe, test } from 'node:test';
import { createDatabase, node24, repoRoot, tempDir, vitest4Dir } from '../support/env';
import { loggedDatabase, type LoggedDatabase } from './pg-log';
import { fixtureEnv, groundTruth, located, runUntraced, tracedRun, txlensCounts, type Counts, type Report, type TraceLine } from './ground-truth';
import { validate, type JsonSchema } from '../support/json-schema';

type Twin = 'buggy' | 'fixed';
type Fixture = 'pg' | 'sqlite' | 'pg-ts' | 'sqlite-ts';
type Runner =
  | 'jest'
  | 'jest ESM'
  | 'vitest forks'
  | 'vitest threads'
  | 'vitest vmThreads'
  | 'vitest vmForks'
  | 'vitest 4 forks'
  | 'vitest 4 threads'
  | 'node:test ESM'
  | 'node:test tsx'
  | 'Node 24 vitest 5 forks'
  | 'Node 24 node:test ESM';

const modules = join(repoRoot, 'node_modules');
const schema = JSON.parse(readFileSync(join(repoRoot, 'docs', 'trace-format.schema.json'), 'utf8')) as JsonSchema;
const RESULTS = 'runner-results.json';

/** The test command, run from the fixture project. jest and vitest write their verdicts to a JSON file. */
function testCommand(runner: Runner, fixture: Fixture): string[] {
  const node = runner.startsWith('Node 24') ? node24.node : process.execPath;
  switch (runner) {
    case 'jest':
      // Two workers and a fresh cache (no timings of earlier runs): jest runs several test files in its worker processes.
      return [node, join(modules, 'jest', 'bin', 'jest.js'), '--ci', '--maxWorkers', '2', '--cacheDirectory', '.jest-cache', '--json', '--outputFile', RESULTS];
    case 'jest ESM':
      // ES module test files (.mjs), which jest links itself in vm modules; the packages they import are CommonJS.
      return [node, '--experimental-vm-modules', join(modules, 'jest', 'bin', 'jest.js'), '--ci', '--cacheDirectory', '.jest-cache', '--testMatch', '**/jest-esm/**/*.test.mjs', '--json', '--outputFile', RESULTS];
    case 'vitest forks':
    case 'vitest threads':
    case 'vitest vmThreads':
    case 'vitest vmForks':
      return [node, join(modules, 'vitest', 'vitest.mjs'), 'run', '--pool', runner.split(' ')[1], '--reporter', 'json', '--outputFile', RESULTS, 'vitest/'];
    case 'vitest 4 forks':
    case 'vitest 4 threads':
      // The project's own vitest, linked to vitest 4 (copyFixture).
      return [node, join('node_modules', 'vitest', 'vitest.mjs'), 'run', '--pool', runner.split(' ')[2], '--reporter', 'json', '--outputFile', RESULTS, 'vitest/'];
    // TAP, which verdicts() reads, named: Node 23 and later write the spec reporter's output by default.
    case 'Node 24 vitest 5 forks':
      return [node, join('node_modules', 'vitest', 'vitest.mjs'), 'run', '--pool', 'forks', '--reporter', 'json', '--outputFile', RESULTS, 'vitest/'];
    case 'node:test ESM':
      return [node, '--test', '--test-reporter=tap', 'esm/'];
    // Node 22 and later take a directory given to --test for a module to run: a glob names the files.
    case 'Node 24 node:test ESM':
      return [node, '--test', '--test-reporter=tap', 'esm/**/*.test.mjs'];
    case 'node:test tsx':
      return [node, '--import', 'tsx', '--test', '--test-reporter=tap', join('test', fixture.startsWith('pg') ? 'orders.test.ts' : 'notes.test.ts')];
  }
}

/**
 * A copy of the twin, with a node_modules of its own that links the packages it
 * imports (ES imports and vite resolve from the project, not NODE_PATH; vitest
 * keeps its cache there, inside the copy).
 */
function copyFixture(fixture: Fixture, twin: Twin, runner: Runner, label: string): string {
  const dir = realpathSync(tempDir(`node-${fixture}-${twin}-${label}`));
  cpSync(join(repoRoot, 'test', 'fixtures', 'node', fixture, twin), dir, { recursive: true });
  mkdirSync(join(dir, 'node_modules'));
  for (const name of ['pg', 'tsx']) symlinkSync(join(modules, name), join(dir, 'node_modules', name), 'dir');
  const [betterSqlite3, vitest] = runner.startsWith('Node 24')
    ? [node24.betterSqlite3, node24.vitest]
    : [join(modules, 'better-sqlite3'), runner.startsWith('vitest 4') ? vitest4Dir : join(modules, 'vitest')];
  symlinkSync(betterSqlite3, join(dir, 'node_modules', 'better-sqlite3'), 'dir');
  symlinkSync(vitest, join(dir, 'node_modules', 'vitest'), 'dir');
  return dir;
}

type Verdict = [name: string, outcome: 'passed' | 'failed'];

/** The runner's own verdicts: 'suite > test' (jest, vitest) or the test's own name (node:test's TAP). */
function verdicts(runner: Runner, dir: string, output: string): Verdict[] {
  if (runner.includes('node:test')) {
    const out: Verdict[] = [];
    for (const line of output.split('\n')) {
      const m = /^\s*(not ok|ok) \d+ - (.*?)(\s+#.*)?$/.exec(line);
      if (m) out.push([m[2], m[1] === 'ok' ? 'passed' : 'failed']);
    }
    // The suites' own lines ('notes', 'orders') and file lines are no tests.
    return out.filter(([name]) => name !== 'notes' && name !== 'orders' && !/\.[cm]?[jt]s$/.test(name));
  }
  const file = join(dir, RESULTS);
  if (!existsSync(file)) return [];
  const results = JSON.parse(readFileSync(file, 'utf8')) as {
    testResults: Array<{ assertionResults: Array<{ ancestorTitles: string[]; title: string; status: string }> }>;
  };
  return results.testResults
    .flatMap((f) => f.assertionResults)
    .map((a): Verdict => [[...a.ancestorTitles, a.title].join(' > '), a.status === 'passed' ? 'passed' : 'failed'])
    .sort();
}

interface Outcome {
  project: string;
  report: Report;
  events: TraceLine[];
  processes: TraceLine[][];
  tracedVerdicts: Verdict[];
  untracedVerdicts: Verdict[];
  untracedCode: number | null;
  exitCode: number | null;
  stderr: string;
  truth: Counts;
  failedCompiles: number;
}

async function runFixture(fixture: Fixture, twin: Twin, runner: Runner): Promise<Outcome> {
  const label = `${fixture}_${twin}_${runner.replace(/\W+/g, '_')}`.replace(/-/g, '_');
  const project = copyFixture(fixture, twin, runner, 'traced');
  const plain = copyFixture(fixture, twin, runner, 'plain');
  const traceDir = join(tempDir(`trace-${label}`), 'run');
  const command = testCommand(runner, fixture);
  let env: NodeJS.ProcessEnv;
  let plainEnv: NodeJS.ProcessEnv;
  let pgDb: LoggedDatabase | undefined;
  const sqlLog = join(project, 'sql.ndjson');
  if (fixture.startsWith('pg')) {
    pgDb = await loggedDatabase(`node_${label}`);
    env = fixtureEnv({ DATABASE_URL: pgDb.url });
    plainEnv = fixtureEnv({ DATABASE_URL: await createDatabase(`node_${label}_plain`) });
  } else {
    env = fixtureEnv({ NOTES_SQL_LOG: sqlLog });
    plainEnv = fixtureEnv({});
  }
  const run = await tracedRun(command, { cwd: project, env, traceDir });
  const untraced = await runUntraced(plain, command, plainEnv);
  const truth = await groundTruth(pgDb ? { pg: [pgDb] } : { sqlLog });
  return {
    project,
    report: run.report,
    events: run.events,
    processes: run.processes,
    tracedVerdicts: verdicts(runner, project, run.stderr),
    untracedVerdicts: verdicts(runner, plain, untraced.out),
    untracedCode: untraced.code,
    exitCode: run.exitCode,
    stderr: run.context,
    truth,
    failedCompiles: fixture.startsWith('sqlite') ? run.events.filter((e) => e.k === 'stmt' && e.err).length : 0,
  };
}

/** The buggy twins' bugs, where each is in the app (the same lines whatever the runner) and in the test file. */
function expectedFindings(fixture: Fixture, twin: Twin, runner: Runner): string[] {
  if (twin === 'fixed') return [];
  if (fixture === 'sqlite' || fixture === 'sqlite-ts') {
    const [app, close, store] = fixture === 'sqlite' ? ['app/notes.js', 12, 35] : ['app/notes.ts', 15, 38];
    return [
      // saveDraft() closes its handle with the INSERT uncommitted.
      `missing-commit ${app}:${close}`,
      // openStore() opens a fresh :memory: database for every caller.
      `sqlite-memory-isolation ${app}:${store}`,
    ].sort();
  }
  const [app, end, insert, release, count] = fixture === 'pg' ? ['app/orders.js', 13, 19, 20, 30] : ['app/orders.ts', 16, 22, 23, 33];
  // The count() helper's SELECT in the test file.
  const testFile = runner === 'jest' ? 'jest/orders.test.js:13' : runner === 'jest ESM' ? 'jest-esm/orders.test.mjs:13' : runner.includes('vitest') ? 'vitest/orders.test.ts:13' : 'test/orders.test.ts:14';
  return [
    // placeOrder() ends its client with the INSERT uncommitted.
    `missing-commit ${app}:${end}`,
    // reserve() releases its client mid-transaction...
    `pool-release-in-transaction ${app}:${release}`,
    // ...whose INSERT pool.end() later discards,
    `missing-commit ${app}:${insert}`,
    // ...and which the test's own count cannot see.
    `uncommitted-read ${testFile}`,
    // importBatch() counts through another pooled connection before its COMMIT.
    `uncommitted-read ${app}:${count}`,
  ].sort();
}

const RUNS: Array<[Fixture, Runner]> = [
  ['pg', 'jest'],
  ['pg', 'jest ESM'],
  ['sqlite', 'jest'],
  ['sqlite', 'node:test ESM'],
  ['pg-ts', 'vitest forks'],
  ['pg-ts', 'node:test tsx'],
  ['sqlite-ts', 'vitest threads'],
  // A vm context per test file, whose CommonJS packages vitest loads itself.
  ['sqlite-ts', 'vitest vmThreads'],
  ['pg-ts', 'vitest vmForks'],
  // vitest 4: its own pool (no tinypool) and Vite's module runner (no vite-node).
  ['pg-ts', 'vitest 4 forks'],
  ['sqlite-ts', 'vitest 4 threads'],
  // The Node most suites run on now, with what needs Node 22 or later: vitest 5, better-sqlite3 13
  // (whose lib/database.js makes its Database class in a factory).
  ['sqlite-ts', 'Node 24 vitest 5 forks'],
  ['sqlite', 'Node 24 node:test ESM'],
  ['pg-ts', 'Node 24 vitest 5 forks'],
  ['sqlite-ts', 'node:test tsx'],
];

for (const [fixture, runner] of RUNS) {
  for (const twin of ['buggy', 'fixed'] as const) {
    describe(`${runner} over ${fixture}, ${twin} twin`, () => {
      let outcome: Outcome | undefined;
      const ran = (): Outcome => {
        assert.ok(outcome, 'the traced run did not complete (see the first failure)');
        return outcome;
      };

      before(async () => {
        outcome = await runFixture(fixture, twin, runner);
      });

      test('the tests have the same outcomes traced and untraced', () => {
        const o = ran();
        assert.ok(o.untracedVerdicts.length >= 3, `no verdicts from the untraced run:\n${JSON.stringify(o.untracedVerdicts)}`);
        assert.deepEqual(o.tracedVerdicts, o.untracedVerdicts, o.stderr);
        assert.equal(o.exitCode, o.untracedCode);
        if (twin === 'fixed') assert.equal(o.exitCode, 0, o.stderr);
        else assert.notEqual(o.exitCode, 0, o.stderr);
        assert.ok(!/txlens: (capture|.* is not supported)/.test(o.stderr), `the agent reported a problem: ${o.stderr}`);
      });

      test("txlens's counts equal the database's own log of the run", (t) => {
        const o = ran();
        assert.ok(o.truth.statements > 0, 'the database logged nothing');
        const sqlite = fixture.startsWith('sqlite');
        const counted = txlensCounts(o.report.summary, o.events, { withoutFailedCompiles: sqlite });
        t.diagnostic(`counts ${JSON.stringify(counted)}; refused to compile: ${o.failedCompiles}; processes: ${o.processes.length}`);
        assert.deepEqual(counted, o.truth);
        assert.equal(o.failedCompiles, sqlite && twin === 'buggy' ? 1 : 0);
      });

      test(twin === 'buggy' ? 'the rules name each bug at its line' : 'the rules stay silent', () => {
        assert.deepEqual(located(ran().report), expectedFindings(fixture, twin, runner));
      });

      test(`tests are recorded with their ${runner} names, lines and outcomes`, () => {
        const o = ran();
        const starts = o.events.filter((e) => e.k === 'test_start') as Array<TraceLine & { file: string; line?: number }>;
        const ends = new Map(o.events.filter((e) => e.k === 'test_end').map((e) => [e.id!, e.outcome!]));
        assert.equal(o.report.summary.tests, ends.size);
        assert.equal(ends.size, o.untracedVerdicts.length, `test ids: ${[...ends.keys()].join(', ')}`);
        for (const [name, verdict] of o.untracedVerdicts) {
          const id = [...ends.keys()].find((k) => {
            const path = k.split(' > ').slice(1);
            return path.join(' > ') === name || path[path.length - 1] === name;
          });
          assert.ok(id, `no test in the trace for ${name}: ${[...ends.keys()].join(', ')}`);
          assert.equal(ends.get(id), verdict, id);
          // The test's own line: the line of its test()/it() call in its file.
          const start = starts.find((s) => s.id === id)!;
          assert.ok(start.file.startsWith(o.project + sep), start.file);
          const source = readFileSync(start.file, 'utf8').split('\n');
          assert.ok(start.line && /\b(test|it)\(/.test(source[start.line - 1]), `${id} at line ${start.line}: ${source[(start.line ?? 1) - 1]}`);
          assert.ok(source[start.line - 1].includes(id.split(' > ').pop()!), `${id} at line ${start.line}`);
        }
        if (runner === 'jest' && fixture === 'sqlite') {
          // Two test files: jest ran them in its worker processes, each traced.
          const testing = o.processes.filter((p) => p.some((e) => e.k === 'test_start'));
          assert.ok(testing.length >= 2, `test boundaries in ${testing.length} process(es)`);
        }
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
        if (fixture.endsWith('-ts')) assert.ok(statements.every((e) => e.at![0].endsWith('.ts')), 'a statement of the TypeScript project points at generated code');
      });
    });
  }
}
