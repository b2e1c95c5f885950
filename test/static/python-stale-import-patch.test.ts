import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { StaticChecker } from '../../src/static/checker';
import type { Finding } from '../../src/analysis/findings';
import { python, runCli } from '../support/env';
import { applyFixes, copyFixture, fixture, pytest } from './python-support';

const RULE = 'stale-import-patch';
// One test per patch style: monkeypatch string / module+name, @mock.patch with a value,
// @patch with the mock argument, with patch.object, with patch(...) as m, mocker.patch, mocker.patch.object.
const PATCH_LINES = [26, 32, 39, 50, 60, 66, 72, 78];

function env(ws: string): NodeJS.ProcessEnv {
  // The "development" database the code falls back to when a patch misses: inside the copy, never the repository.
  return { JOBS_DATABASE_URL: `sqlite:///${join(ws, 'jobs_dev.db')}` };
}

test('stale-import-patch: every patch style is found at the patch, with both importers as related', async () => {
  const root = fixture(RULE, 'buggy');
  const { findings, notes } = await new StaticChecker(root).check();
  assert.deepEqual(notes, []);
  const mine = findings.filter((f) => f.rule === RULE);
  assert.equal(mine.length, findings.length, 'no other rule fires on this fixture');
  assert.deepEqual(
    mine.map((f) => `${relative(root, f.location.file)}:${f.location.line}`),
    PATCH_LINES.map((l) => `tests/test_worker.py:${l}`),
  );
  for (const f of mine) {
    assert.equal(f.severity, 'warning');
    assert.deepEqual(
      f.related.map((r) => `${relative(root, r.file)}:${r.line}`),
      ['src/jobs/stats.py:5', 'src/jobs/worker.py:2'],
    );
    assert.match(f.message, /jobs\.db\.SessionLocal/);
    assert.equal(f.fixes.length, 2);
    assert.equal(f.fixes.filter((x) => x.preferred).length, 1);
    assert.match(f.test ?? '', /^tests\/test_worker\.py::test_/);
  }
});

test('stale-import-patch: the fixed twin (module looked up at call time) has no findings', async () => {
  const { findings } = await new StaticChecker(fixture(RULE, 'fixed')).check();
  assert.deepEqual(findings, []);
});

test('stale-import-patch: the buggy suite really fails: the worker uses the real SessionLocal', () => {
  const ws = copyFixture(RULE, 'buggy');
  const r = pytest(ws, env(ws));
  assert.equal(r.ok, false);
  assert.match(r.output, /8 failed/);
});

test('stale-import-patch: txlens check --fix (look the name up at call time) makes the suite pass', async () => {
  const ws = copyFixture(RULE, 'buggy');
  const before = await runCli(['check', '--json'], { cwd: ws });
  assert.equal(before.code, 0, before.stderr);
  const doc = JSON.parse(before.stdout);
  assert.equal(doc.version, 1);
  assert.equal(doc.findings.length, PATCH_LINES.length);
  assert.equal(doc.findings[0].location.file, 'tests/test_worker.py');
  const fixed = await runCli(['check', '--fix'], { cwd: ws });
  assert.equal(fixed.code, 0, fixed.stderr);
  assert.match(fixed.stdout, /fixed stale-import-patch: Look SessionLocal up at call time/);
  assert.match(fixed.stdout, /txlens check: no findings/);
  assert.match(readFileSync(join(ws, 'src/jobs/stats.py'), 'utf8'), /from \. import db as db_module/);
  const r = pytest(ws, env(ws));
  assert.ok(r.ok, r.output);
  assert.match(r.output, /8 passed/);
});

test('stale-import-patch: the other fix (also patch the importing modules) makes the suite pass too', async () => {
  const ws = copyFixture(RULE, 'buggy');
  const checker = new StaticChecker(ws);
  const { findings } = await checker.check();
  const applied = applyFixes(findings, (f) => f.fixes.find((x) => !x.preferred));
  assert.equal(applied, PATCH_LINES.length);
  const r = pytest(ws, env(ws));
  assert.ok(r.ok, r.output);
  assert.match(r.output, /8 passed/);
  const again = await new StaticChecker(ws).check();
  assert.deepEqual(again.findings, []);
});

test('stale-import-patch: updating one importer re-links the tests that patch the name', async () => {
  const ws = copyFixture(RULE, 'buggy');
  const checker = new StaticChecker(ws);
  await checker.check();
  const worker = join(ws, 'src/jobs/worker.py');
  const text = readFileSync(worker, 'utf8').replace('from jobs.db import Job, SessionLocal', 'from jobs import db\nfrom jobs.db import Job').replace(/with SessionLocal\(\)/g, 'with db.SessionLocal()');
  writeFileSync(worker, text);
  const up = await checker.update(worker);
  assert.ok(up.affected.includes(join(ws, 'tests/test_worker.py')), 'the patching test file is re-linked');
  const inTests = up.findings.filter((f) => f.location.file === join(ws, 'tests/test_worker.py'));
  assert.equal(inTests.length, PATCH_LINES.length);
  for (const f of inTests) assert.deepEqual(f.related.map((r) => relative(ws, r.file)), ['src/jobs/stats.py']);
});

test('stale-import-patch: txlens run includes the static findings and raises the one the trace confirms to error', async () => {
  const ws = copyFixture(RULE, 'buggy');
  const r = await runCli(['run', '--json', '--', python('sa20'), '-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-k', 'monkeypatch_string'], {
    cwd: ws,
    env: env(ws),
  });
  assert.equal(r.code, 1, r.stderr);
  const doc = JSON.parse(r.stdout);
  const dynamic = doc.findings.find((f: Finding) => f.rule === 'non-test-database');
  assert.ok(dynamic, 'the run saw the worker use jobs_dev.db');
  assert.equal(dynamic.location.file, 'src/jobs/worker.py');
  const confirmed = doc.findings.filter((f: Finding) => f.rule === RULE && f.severity === 'error');
  assert.deepEqual(confirmed.map((f: Finding) => `${f.location.file}:${f.location.line}`), ['tests/test_worker.py:26']);
  assert.match(confirmed[0].message, /Confirmed by the run/);
  assert.ok(confirmed[0].related.some((x: { file: string; line: number }) => x.file === 'src/jobs/worker.py' && x.line === dynamic.location.line));
  // The patches of the tests that did not run stay warnings: the source alone says so.
  const unconfirmed = doc.findings.filter((f: Finding) => f.rule === RULE && f.severity === 'warning');
  assert.equal(unconfirmed.length, PATCH_LINES.length - 1);
});
