// FastAPI dependency overrides keyed on a callable no route depends on (here a same-named
// wrapper, `notes.deps.get_db`, while the routes use `Depends(notes.db.get_db)`): the requests
// reach the development database. txlens names the cause at the override line, with a fix that
// keys the override on the routes' dependency; the run confirms it and folds the per-route
// non-test-database findings into it. Real pytest, httpx TestClient, SQLite files for "dev" and "test".
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import type { Finding } from '../../src/analysis/findings';
import { StaticChecker } from '../../src/static/checker';
import { python, runCli } from '../support/env';
import { copyProject, fixturesDir, pytest } from './python-support';

const FIXTURE = join(fixturesDir, 'fastapi-override');
const OVERRIDE = 'tests/conftest.py:28';
const ROUTE_DEPENDS = ['notes/routes.py:15', 'notes/routes.py:23', 'notes/routes.py:31'];
const PYTEST = ['-m', 'pytest', '-q', '-p', 'no:cacheprovider'];

const at = (root: string, l: { file: string; line: number }) => `${relative(root, l.file) || l.file}:${l.line}`;

test('fastapi override: the finding sits at the override line and names the dependency the routes use', async () => {
  const { findings, notes } = await new StaticChecker(FIXTURE).check();
  assert.deepEqual(notes, []);
  assert.deepEqual(findings.map((f) => `${f.severity} ${f.rule} ${at(FIXTURE, f.location)}`), [`warning stale-import-patch ${OVERRIDE}`]);
  const [f] = findings;
  assert.match(f.message, /overrides notes\.deps\.get_db, but the routes depend on notes\.db\.get_db/);
  assert.deepEqual(f.related.map((r) => at(FIXTURE, r)), [...ROUTE_DEPENDS, 'notes/db.py:22', 'notes/deps.py:5']);
  assert.match(f.related[4].message, /calls notes\.db\.get_db/);
  const fix = f.fixes.find((x) => x.preferred)!;
  assert.match(fix.title, /Key the override on notes\.db\.get_db/);
  assert.deepEqual(fix.edits.map((e) => [e.startLine, e.newText]), [[7, 'notes.db']]);
});

test('fastapi override look-alikes: an override keyed on the routes\' dependency, directly or through a re-export, is silent', async () => {
  for (const [from, to] of [
    ['from notes.deps import get_db', 'from notes.db import get_db'],
    // notes.routes imports get_db from notes.db: the same function object under another module.
    ['from notes.deps import get_db', 'from notes.routes import get_db'],
  ]) {
    const ws = copyProject('fastapi-override');
    const conftest = join(ws, 'tests/conftest.py');
    writeFileSync(conftest, readFileSync(conftest, 'utf8').replace(from, to));
    const { findings } = await new StaticChecker(ws).check();
    assert.deepEqual(findings, [], to);
  }
  // A dependency override of something the app does not know at all (a third-party callable) says nothing either.
  const ws = copyProject('fastapi-override');
  const conftest = join(ws, 'tests/conftest.py');
  writeFileSync(conftest, readFileSync(conftest, 'utf8').replace('from notes.deps import get_db', 'from somewhere_else import get_db'));
  assert.deepEqual((await new StaticChecker(ws).check()).findings, []);
});

for (const venv of ['sa14', 'sa20'] as const) {
  test(`fastapi override (${venv}): the run confirms it at the override line, the fix makes the suite pass`, async () => {
    const ws = copyProject('fastapi-override');
    const before = pytest(ws, {}, venv);
    assert.equal(before.ok, false);
    assert.match(before.output, /2 failed, 1 passed/, before.output);

    const run = await runCli(['run', '--json', '--', python(venv), ...PYTEST], { cwd: ws });
    assert.equal(run.code, 1, run.stderr);
    const doc = JSON.parse(run.stdout);
    // One finding, at the cause: no per-route non-test-database errors beside it.
    assert.deepEqual(
      doc.findings.map((f: Finding) => `${f.severity} ${f.rule} ${f.location.file}:${f.location.line}`),
      [`error stale-import-patch ${OVERRIDE}`],
    );
    const [f] = doc.findings as Finding[];
    assert.match(f.message, /Confirmed by the run: 3 tests reached a non-test database/);
    const symptoms = f.related.filter((r) => r.message.startsWith('non-test-database'));
    assert.deepEqual(symptoms.map((r) => `${r.file}:${r.line}`).sort(), ['notes/routes.py:17', 'notes/routes.py:24', 'notes/routes.py:32']);
    for (const r of symptoms) assert.match(r.message, /notes_dev\.db/);

    const fixed = await runCli(['check', '--fix'], { cwd: ws });
    assert.equal(fixed.code, 0, fixed.stdout + fixed.stderr);
    assert.match(fixed.stdout, /^fixed stale-import-patch: Key the override on notes\.db\.get_db/m);
    assert.match(readFileSync(join(ws, 'tests/conftest.py'), 'utf8'), /^from notes\.db import get_db$/m);
    const after = pytest(ws, {}, venv);
    assert.ok(after.ok, after.output);
    assert.match(after.output, /3 passed/);
    const clean = await runCli(['run', '--json', '--', python(venv), ...PYTEST], { cwd: ws });
    assert.equal(clean.code, 0, clean.stderr);
    assert.deepEqual(JSON.parse(clean.stdout).findings, []);
  });
}

test('fastapi override keyed through a module attribute in dependency_overrides.update(): the fix imports the routes\' dependency and keys on it', async () => {
  const ws = copyProject('fastapi-override');
  const conftest = join(ws, 'tests/conftest.py');
  writeFileSync(
    conftest,
    readFileSync(conftest, 'utf8')
      .replace('from notes.deps import get_db\n', 'from notes import deps\n')
      .replace('app.dependency_overrides[get_db] = override_get_db', 'app.dependency_overrides.update({deps.get_db: override_get_db})'),
  );
  const { findings } = await new StaticChecker(ws).check();
  assert.deepEqual(findings.map((f) => `${f.severity} ${f.rule} ${at(ws, f.location)}`), [`warning stale-import-patch ${OVERRIDE}`]);
  const fixed = await runCli(['check', '--fix'], { cwd: ws });
  assert.equal(fixed.code, 0, fixed.stdout + fixed.stderr);
  const text = readFileSync(conftest, 'utf8');
  assert.match(text, /^from notes\.db import get_db$/m);
  assert.match(text, /app\.dependency_overrides\.update\(\{get_db: override_get_db\}\)/);
  const after = pytest(ws);
  assert.ok(after.ok, after.output);
  assert.match(after.output, /3 passed/);
});
