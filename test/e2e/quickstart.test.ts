// The bundled example that `npm run demo` traces: its three failing tests are
// the seed stories, and txlens must explain each one under its test, with the
// session story, in text and in JSON, live and again from the kept trace.
import assert from 'node:assert/strict';
import { cpSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { python, repoRoot, runCli, tempDir } from '../support/env';

interface Doc {
  findings: { rule: string; severity: string; location: { file: string; line: number }; test?: string; related: { file: string; line: number }[]; fixes: unknown[] }[];
  summary: Record<string, number>;
  trace: string;
}

let work = '';
let text = '';
let json: Doc;
let jsonExit: number | null = null;

before(async () => {
  work = realpathSync(tempDir('quickstart'));
  cpSync(join(repoRoot, 'examples', 'quickstart'), work, { recursive: true });
  const py = python('sa20');
  const cmd = ['--', py, '-m', 'pytest', '-q', '-p', 'no:cacheprovider'];
  const t = await runCli(['run', ...cmd], { cwd: work });
  text = t.stdout;
  const j = await runCli(['run', '--json', ...cmd], { cwd: work });
  jsonExit = j.code;
  json = JSON.parse(j.stdout) as Doc;
});

const byRule = (rule: string) => json.findings.find((f) => f.rule === rule);

test('each failing test is explained by the rule that names its cause, at the line to look at', () => {
  assert.equal(jsonExit, 1, 'three example tests fail on purpose: the exit status is pytest’s');
  assert.deepEqual(
    json.findings.filter((f) => f.severity === 'error').map((f) => [f.rule, f.test, `${f.location.file}:${f.location.line}`]).sort(),
    [
      ['missing-commit', 'tests/test_jobs.py::test_failed_job_is_reported', 'app/worker.py:22'],
      ['non-test-database', 'tests/test_jobs.py::test_worker_runs_job', 'app/worker.py:8'],
      ['stale-import-patch', 'tests/test_jobs.py::test_worker_runs_job', 'tests/conftest.py:14'],
      ['uncommitted-read', 'tests/test_jobs.py::test_listed_jobs_include_new_one', 'app/jobs.py:17'],
    ],
  );
  assert.ok(byRule('non-test-database')!.related.some((r) => r.file === 'app/db.py'), 'points at the engine the worker really used');
  assert.ok(byRule('uncommitted-read')!.related.some((r) => r.file === 'tests/test_jobs.py' && r.line === 25), 'points at the uncommitted INSERT');
  // The static and the dynamic side tell one missing-commit story once, with the fix only the source can offer.
  assert.equal(json.findings.filter((f) => f.rule === 'missing-commit').length, 1);
  assert.ok(byRule('missing-commit')!.fixes.length > 0, 'the run finding carries the insert-commit fix');
  assert.equal(byRule('stale-import-patch')!.fixes.length, 2, 'both patch fixes are offered');
});

test('the text report groups findings under their test, with the sessions that explain them', () => {
  const section = (id: string) => {
    const start = text.indexOf(`tests/test_jobs.py::${id} `);
    assert.ok(start >= 0, `no line for ${id} in:\n${text}`);
    const next = text.indexOf('\ntests/', start + 1);
    return text.slice(start, next < 0 ? undefined : next);
  };
  const missing = section('test_failed_job_is_reported');
  assert.match(missing, /✗ AssertionError: assert 'PENDING' == 'FAILED'/);
  assert.match(missing, /error missing-commit {2}app\/worker\.py:22/);
  assert.match(missing, /sessions:\n/);
  assert.match(missing, /S\d+ \(app\/worker\.py:18\) tx\d+: SELECT jobs, UPDATE jobs → rolled back: session closed without commit at app\/worker\.py:22/);
  const wrongDb = section('test_worker_runs_job');
  assert.match(wrongDb, /\[quickstart-dev\.db\]: SELECT jobs/, 'the story names the database each session used');
  assert.match(wrongDb, /\[test\.db\]: INSERT jobs → committed/);
  // A passing test without findings gets no line: the report scales to suites of hundreds of tests.
  assert.doesNotMatch(text, /test_create_job/);
  assert.match(text, /^txlens: 4 tests \(3 failed\) · 4 findings \(4 errors, 0 warnings, 0 info\) · /m);
});

test('report on the kept trace gives the same findings', async () => {
  const again = await runCli(['report', '--json', json.trace], { cwd: work });
  assert.equal(again.code, 1, again.stderr);
  const doc = JSON.parse(again.stdout) as Doc;
  assert.deepEqual(doc.findings, json.findings);
  assert.deepEqual(doc.summary, json.summary);
});
