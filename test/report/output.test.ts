// The CLI's output on real runs of test/fixtures/report/notes: the text report
// lists only tests that failed or have a finding (every test with --all) and
// ends with one summary line; --fail-on decides the exit status from findings,
// but never over a failing test command; paths read relative to the project
// wherever `report` runs; a session-scoped fixture's session counts as shared.
import assert from 'node:assert/strict';
import { cpSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { analyse } from '../../src/analysis/analyse';
import { failsOn, type Finding } from '../../src/analysis/findings';
import { diagnosticsFor } from '../../src/editor/present/diagnostics';
import { textReport } from '../../src/report/render';
import { testLens } from '../../src/editor/present/lens';
import { hoverMarkdown } from '../../src/editor/present/hover';
import { locateTests } from '../../src/editor/present/locate';
import { loadModel } from '../../src/model/model';
import { type CliResult, python, repoRoot, runCli, tempDir } from '../support/env';

let project = '';

/** A fresh copy of the notes project (its SQLite file lives inside it). */
function copyProject(label: string): string {
  const dir = realpathSync(tempDir(`report-notes-${label}`));
  cpSync(join(repoRoot, 'test', 'fixtures', 'report', 'notes'), dir, {
    recursive: true,
    filter: (src) => !/(__pycache__|\.pytest_cache|\.pyc$|notes\.db$)/.test(src),
  });
  return dir;
}

/** `txlens run ARGS -- pytest TESTS` in `dir`, the trace kept at `<dir>/.txlens/runs/<name>`. */
function traced(dir: string, name: string, tests: string[], args: string[] = []): Promise<CliResult> {
  const trace = join(dir, '.txlens', 'runs', name);
  return runCli(['run', ...args, '--trace', trace, '--', python('sa20'), '-m', 'pytest', '-q', '-p', 'no:cacheprovider', ...tests], { cwd: dir });
}

const severities = (json: string) => (JSON.parse(json) as { findings: { severity: string; rule: string }[] }).findings.map((f) => `${f.severity} ${f.rule}`);

before(() => {
  project = copyProject('main');
});

test('a green run with no finding prints no per-test block, only the summary line; --all prints every test', async () => {
  const r = await traced(project, 'quiet', ['tests/test_shared.py']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.deepEqual(lines.length, 2, r.stdout);
  assert.match(lines[0], /^txlens: 3 tests \(0 failed\) · no findings · 1 process · \d+ sessions? · \d+ transactions \(.*\) · \d+ statements$/);
  assert.equal(lines[1], 'Trace: .txlens/runs/quiet');
  const all = await runCli(['report', '--all', join(project, '.txlens', 'runs', 'quiet')], { cwd: project });
  assert.equal(all.code, 0, all.stderr);
  for (const name of ['test_the_seeded_note_is_there', 'test_the_seeded_note_reads_by_id', 'test_the_seeded_note_is_listed']) {
    assert.match(all.stdout, new RegExp(`^tests/test_shared\\.py::${name} +passed `, 'm'), all.stdout);
  }
  assert.match(all.stdout, /^txlens: 3 tests \(0 failed\) · no findings/m);
});

test('a session from a session-scoped fixture reads as shared in the per-test line, the CodeLens and the hover', async () => {
  const trace = join(project, '.txlens', 'runs', 'quiet');
  const all = await runCli(['report', '--all', trace], { cwd: project });
  const line = (name: string) => all.stdout.split('\n').find((l) => l.startsWith(`tests/test_shared.py::${name} `)) ?? '';
  // The first test's setup opened the session; the later ones use it.
  assert.match(line('test_the_seeded_note_is_there'), / 1 session · 1 transaction /);
  assert.match(line('test_the_seeded_note_reads_by_id'), / 1 shared session · 1 transaction /);
  assert.match(line('test_the_seeded_note_is_listed'), / 1 shared session · 1 transaction /);

  const model = loadModel(trace);
  const { findings } = analyse(model);
  const file = join(project, 'tests', 'test_shared.py');
  const source = readFileSync(file, 'utf8');
  const located = locateTests(source, 'python').find((t) => t.name === 'test_the_seeded_note_reads_by_id');
  assert.ok(located);
  assert.equal(testLens(model, findings, file, located)?.text, '1 shared session · 1 transaction · 0 commits · 0 findings');
  const getLine = source.split('\n').findIndex((l) => l.includes('db.get(Note, 1)')) + 1;
  const hover = hoverMarkdown(model, file, getLine);
  assert.ok(hover);
  assert.match(hover, /Session S\d+ \(Session\) opened at \[tests\/conftest\.py:\d+\][^,]*, shared: opened before this test started/);
});

test('--fail-on on a run whose only finding is a warning: error (default) and never exit 0, warning exits 1', async () => {
  const base = await traced(project, 'warning', ['tests/test_patch.py'], ['--json']);
  assert.deepEqual(severities(base.stdout), ['warning stale-import-patch'], 'the run shows no harm: a static warning only');
  assert.equal(base.code, 0);
  const failOn = async (level: string) => (await traced(project, `warning-${level}`, ['tests/test_patch.py'], ['--fail-on', level])).code;
  assert.equal(await failOn('error'), 0);
  assert.equal(await failOn('warning'), 1);
  assert.equal(await failOn('never'), 0);
  const check = async (level: string) => (await runCli(['check', '--fail-on', level, 'tests/test_patch.py'], { cwd: project })).code;
  assert.equal(await check('error'), 0);
  assert.equal(await check('warning'), 1);
  assert.equal(await check('never'), 0);
  const bad = await runCli(['run', '--fail-on', 'sometimes', '--', 'true'], { cwd: project });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--fail-on takes one of: error, warning, never/);
});

test("--fail-on on a run with an error: a failing test command keeps its status; report follows --fail-on", async () => {
  const run = await traced(project, 'error', ['tests/test_lost.py'], ['--json']);
  assert.ok(severities(run.stdout).includes('error missing-commit'), run.stdout);
  assert.equal(run.code, 1, "pytest's status");
  const never = await traced(project, 'error-never', ['tests/test_lost.py'], ['--fail-on', 'never']);
  assert.equal(never.code, 1, '--fail-on never does not hide a failing test command');
  const trace = join(project, '.txlens', 'runs', 'error');
  const report = async (level: string) => (await runCli(['report', '--fail-on', level, trace], { cwd: project })).code;
  assert.equal(await report('error'), 1);
  assert.equal(await report('warning'), 1);
  assert.equal(await report('never'), 0);
});

test('report from another working directory prints paths relative to the project root', async () => {
  const trace = join(project, '.txlens', 'runs', 'error');
  const elsewhere = realpathSync(tempDir('report-elsewhere'));
  const text = await runCli(['report', trace], { cwd: elsewhere });
  assert.equal(text.code, 1, text.stderr);
  assert.match(text.stdout, /^tests\/test_lost\.py::test_a_saved_note_is_listed +failed /m);
  assert.match(text.stdout, /error missing-commit {2}app\/notes\.py:9$/m);
  assert.match(text.stdout, /S\d+ \(app\/notes\.py:6\) tx\d+: INSERT notes → rolled back: session closed without commit at app\/notes\.py:9/);
  assert.doesNotMatch(text.stdout, /\.\.\//, 'no path climbs out of the working directory of report');
  const json = await runCli(['report', '--json', trace], { cwd: elsewhere });
  const doc = JSON.parse(json.stdout) as { findings: { location: { file: string }; related: { file: string }[] }[] };
  const files = doc.findings.flatMap((f) => [f.location.file, ...f.related.map((r) => r.file)]);
  assert.ok(files.length > 0 && files.every((f) => f.startsWith('app/') || f.startsWith('tests/')), files.join(', '));
  const fromProject = JSON.parse((await runCli(['report', '--json', trace], { cwd: project })).stdout) as typeof doc;
  assert.deepEqual(fromProject.findings, doc.findings, 'the same document from anywhere');
});

test('info is a severity everywhere: the text report counts it, the editor shows Information, and no --fail-on fails on it', async () => {
  const trace = join(project, '.txlens', 'runs', 'quiet');
  const model = loadModel(trace);
  const test = model.tests.find((t) => t.name === 'test_the_seeded_note_reads_by_id')!;
  const note: Finding = {
    rule: 'missing-commit',
    severity: 'info',
    message: 'A note for the reader.',
    location: { file: join(project, 'tests', 'test_shared.py'), line: 10 },
    related: [],
    test: test.id,
    fixes: [],
  };
  const text = textReport(model, [note], project);
  assert.match(text, /^tests\/test_shared\.py::test_the_seeded_note_reads_by_id +passed +1 shared session/m, 'a test with a finding gets its line');
  assert.match(text, /^ {4}info missing-commit {2}tests\/test_shared\.py:10$/m);
  assert.doesNotMatch(text, /test_the_seeded_note_is_there/, 'quiet tests stay out');
  assert.match(text, /· 1 finding \(0 errors, 0 warnings, 1 info\) ·/);
  assert.deepEqual(diagnosticsFor([note], () => '').map((d) => d.severity), ['info']);
  for (const level of ['error', 'warning', 'never'] as const) assert.equal(failsOn([note], level), false, level);
  assert.equal(failsOn([{ ...note, severity: 'warning' }], 'warning'), true);
  assert.equal(failsOn([{ ...note, severity: 'error' }], 'never'), false);
});
