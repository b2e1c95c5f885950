// The Node example `npm run demo` traces after the Python one: a node:test suite
// on better-sqlite3 whose four failing tests are the seed stories. txlens must
// explain each one under its test, at the line to look at, with the places
// that tell the story, and the failure's own words on the test's line.
import assert from 'node:assert/strict';
import { cpSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { repoRoot, runCli, tempDir } from '../support/env';

interface Doc {
  findings: { rule: string; severity: string; location: { file: string; line: number }; test?: string; related: { file: string; line: number }[] }[];
  summary: Record<string, number>;
  trace: string;
}

let work = '';
let text = '';
let json: Doc;
let jsonExit: number | null = null;

before(async () => {
  work = realpathSync(tempDir('quickstart-node'));
  cpSync(join(repoRoot, 'examples', 'quickstart-node'), work, { recursive: true });
  // As the demo runs it: better-sqlite3 from txlens's own node_modules.
  const env = { NODE_PATH: join(repoRoot, 'node_modules'), NODE_TEST_CONTEXT: undefined, NODE_OPTIONS: undefined };
  const cmd = ['--', process.execPath, '--test', '--test-reporter=dot'];
  text = (await runCli(['run', ...cmd], { cwd: work, env })).stdout;
  const j = await runCli(['run', '--json', ...cmd], { cwd: work, env });
  jsonExit = j.code;
  json = JSON.parse(j.stdout) as Doc;
});

const byRule = (rule: string) => json.findings.find((f) => f.rule === rule);

test('each failing test is explained by the rule that names its cause, as an error, at the line to look at', () => {
  assert.equal(jsonExit, 1, 'four example tests fail on purpose: the exit status is node --test’s');
  assert.deepEqual(
    json.findings.map((f) => [f.severity, f.rule, f.test, `${f.location.file}:${f.location.line}`]).sort(),
    [
      ['error', 'missing-commit', 'test/jobs.test.js > a failed job is reported', 'app/worker.js:9'],
      ['error', 'sqlite-memory-isolation', 'test/stats.test.js > jobs are counted by status', 'app/db.js:6'],
      ['error', 'test-state-leak', 'test/jobs.test.js > a rerun job starts pending again', 'app/jobs.js:7'],
      ['error', 'uncommitted-read', 'test/jobs.test.js > a job added by the test is found by name', 'app/jobs.js:25'],
    ],
  );
  assert.ok(byRule('missing-commit')!.related.some((r) => r.file === 'app/worker.js' && r.line === 8), 'points at the UPDATE that was lost');
  assert.ok(byRule('uncommitted-read')!.related.some((r) => r.file === 'test/jobs.test.js' && r.line === 33), 'points at the uncommitted INSERT');
  assert.ok(byRule('sqlite-memory-isolation')!.related.some((r) => r.file === 'app/stats.js' && r.line === 9), 'points at the read that failed');
  assert.deepEqual(json.summary, { processes: 2, sessions: 0, transactions: 2, commits: 0, rollbacks: 2, statements: 14, tests: 5 });
});

test("the text report gives each failing test its failure's own words and its finding", () => {
  const section = (name: string) => {
    const start = text.indexOf(`> ${name} `);
    assert.ok(start >= 0, `no line for ${name} in:\n${text}`);
    const next = text.indexOf('\ntest/', start + 1);
    return text.slice(start, next < 0 ? undefined : next);
  };
  // node:assert's values, from below its first line.
  assert.match(section('a failed job is reported'), /✗ Expected values to be strictly equal: .*'PENDING'.*'FAILED'\n {4}error missing-commit {2}app\/worker\.js:9/);
  assert.match(section('a rerun job starts pending again'), /✗ UNIQUE constraint failed: jobs\.name\n {4}error test-state-leak {2}app\/jobs\.js:7/);
  assert.match(section('jobs are counted by status'), /✗ no such table: jobs\n {4}error sqlite-memory-isolation {2}app\/db\.js:6/);
  assert.doesNotMatch(text, /^test\/jobs\.test\.js > a new job is pending/m, 'the passing test, whose leak the later test pays for, gets no line of its own');
  assert.match(text, /^txlens: 5 tests \(4 failed\) · 4 findings \(4 errors, 0 warnings, 0 info\) · 2 processes · 11 connections · 2 transactions \(0 commits, 2 rollbacks\) · 14 statements$/m, 'a connection per Database the code opened');
});
