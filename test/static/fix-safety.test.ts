// Fixes that cannot break code: a missing-commit fix matches the session it commits (sync
// `session.commit()` or `await session.commit()`, from the session's type, the `with` that
// opened it, an isinstance branch, how the branch calls it), every fix is re-parsed on a
// scratch copy before it is offered, and `check --fix` never writes a file that does not parse.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import type { Finding } from '../../src/analysis/findings';
import { StaticChecker } from '../../src/static/checker';
import { applyPreferredFixes } from '../../src/static/apply-fixes';
import { EditPlan } from '../../src/static/fix';
import { pythonPlugin } from '../../src/static/python/plugin';
import type { LanguagePlugin } from '../../src/static/types';
import { typescriptPlugin } from '../../src/static/typescript/plugin';
import { runCli, tempDir } from '../support/env';
import { copyProject, fixturesDir, pytest } from './python-support';

const FIXTURE = join(fixturesDir, 'sync-async');
const REPO = 'inventory/repository.py';

function summary(root: string, findings: Finding[]): string[] {
  return findings.map((f) => `${f.rule} ${relative(root, f.location.file)}:${f.location.line} ${f.fixes.map((x) => x.title).join(' | ')}`);
}

test('sync and async branches: each missing commit gets the commit its own session needs', async () => {
  const { findings, notes } = await new StaticChecker(FIXTURE).check();
  assert.deepEqual(notes, []);
  assert.deepEqual(summary(FIXTURE, findings), [
    `missing-commit ${REPO}:16 Commit after the last write: session.commit()`, // session: Session
    `missing-commit ${REPO}:23 Commit after the last write: await session.commit()`, // session: AsyncSession
    // restock(): one async def, two sessions; the sync branch (the later write) first, the other after a re-check.
    `missing-commit ${REPO}:36 Commit after the last write: session.commit()`,
  ]);
  // Inside the try, before the finally closes the session.
  assert.deepEqual(findings[0].fixes[0].edits.map((e) => [e.startLine, e.newText]), [[16, '\n            session.commit()']]);
});

test('sync and async branches: the suite fails, check --fix makes it pass under SQLAlchemy 1.4 and 2.0', async () => {
  const ws = copyProject('sync-async');
  for (const venv of ['sa14', 'sa20'] as const) {
    const before = pytest(ws, {}, venv);
    assert.equal(before.ok, false);
    assert.match(before.output, /4 failed, 1 passed/, `${venv}: ${before.output}`);
  }
  const fixed = await runCli(['check', '--fix'], { cwd: ws });
  assert.equal(fixed.code, 0, fixed.stdout + fixed.stderr);
  assert.equal(fixed.stdout.match(/^fixed missing-commit/gm)?.length, 4, fixed.stdout);
  assert.match(fixed.stdout, /txlens check: no findings/);
  const text = readFileSync(join(ws, REPO), 'utf8');
  assert.match(text, /item = await session\.get\(Item, item_id\)\n {12}item\.stock \+= amount\n {12}await session\.commit\(\)\n {12}await session\.close\(\)/);
  assert.match(text, /item = session\.get\(Item, item_id\)\n {12}item\.stock \+= amount\n {12}session\.commit\(\)\n {12}session\.close\(\)/);
  assert.doesNotMatch(text, /session\.add\(item\)\n\s+(await )?session\.commit/, 'attaching a detached item writes nothing');
  for (const venv of ['sa14', 'sa20'] as const) {
    const after = pytest(ws, {}, venv);
    assert.ok(after.ok, `${venv}: ${after.output}`);
    assert.match(after.output, /5 passed/);
  }
});

test('an async def alone does not make a session async: no fix when the code does not say which', async () => {
  const ws = join(tempDir('static-unknown-kind'), 'ws');
  mkdirSync(join(ws, 'app'), { recursive: true });
  writeFileSync(join(ws, 'app', '__init__.py'), '');
  writeFileSync(
    join(ws, 'app', 'jobs.py'),
    [
      'from app.db import SessionLocal, Job',
      '',
      '',
      'async def enqueue(name):',
      '    session = SessionLocal()',
      '    session.add(Job(name=name))',
      '    print("queued")',
      '',
      '',
      'def enqueue_sync(name):',
      '    session = SessionLocal()',
      '    session.add(Job(name=name))',
      '',
    ].join('\n'),
  );
  const { findings } = await new StaticChecker(ws).check();
  assert.deepEqual(summary(ws, findings), ['missing-commit app/jobs.py:6 ', 'missing-commit app/jobs.py:12 Commit after the last write: session.commit()']);
});

/** A plugin whose fixes are broken on purpose (as a faulty rule would make them): the checker must not offer them. */
function breakingFixes<D>(base: LanguagePlugin<D>, garbage: string): LanguagePlugin<D> {
  return {
    ...base,
    analyze(file, ws) {
      const a = base.analyze(file, ws);
      for (const f of a.findings) for (const fix of f.fixes) for (const e of fix.edits) e.newText += garbage;
      return a;
    },
  };
}

test('a fix whose edited file would not parse is withheld (Python via tree-sitter, TypeScript via the compiler), and --fix writes nothing', async () => {
  const ws = join(tempDir('static-broken-fix'), 'ws');
  mkdirSync(join(ws, 'app'), { recursive: true });
  writeFileSync(join(ws, 'app', '__init__.py'), '');
  const py = ['from app.db import SessionLocal, Job', '', '', 'def enqueue(name):', '    session = SessionLocal()', '    session.add(Job(name=name))', '    session.close()', ''].join('\n');
  writeFileSync(join(ws, 'app', 'jobs.py'), py);
  mkdirSync(join(ws, 'src'));
  const ts = [
    "import { pool } from './db';",
    '',
    'export async function enqueue(name: string) {',
    '  const client = await pool.connect();',
    "  await client.query('BEGIN');",
    "  await client.query('INSERT INTO jobs(name) VALUES ($1)', [name]);",
    '  client.release();',
    '}',
    '',
  ].join('\n');
  writeFileSync(join(ws, 'src', 'jobs.ts'), ts);

  // The real plugins offer a fix for each, and it parses.
  const sound = await new StaticChecker(ws).check();
  assert.deepEqual(
    sound.findings.map((f) => `${relative(ws, f.location.file)} ${f.fixes.length}`),
    ['app/jobs.py 1', 'src/jobs.ts 1'],
  );

  const checker = new StaticChecker(ws, { plugins: [breakingFixes(pythonPlugin(), '\n    else:('), breakingFixes(typescriptPlugin(), ' }}) (')] });
  const { findings, notes } = await checker.check();
  assert.deepEqual(findings.map((f) => `${relative(ws, f.location.file)} ${f.rule} ${f.fixes.length}`), ['app/jobs.py missing-commit 0', 'src/jobs.ts missing-commit 0']);
  assert.equal(notes.length, 2, notes.join('\n'));
  for (const n of notes) assert.match(n, /fix withheld, the edited code would not parse/);
  assert.deepEqual(await applyPreferredFixes(checker, undefined), []);
  assert.equal(readFileSync(join(ws, 'app', 'jobs.py'), 'utf8'), py);
  assert.equal(readFileSync(join(ws, 'src', 'jobs.ts'), 'utf8'), ts);
});

test('a fix that parses alone but not after the fixes planned before it is refused, and apply writes only what parses', async () => {
  const ws = join(tempDir('static-fix-plan'), 'ws');
  mkdirSync(ws, { recursive: true });
  const file = join(ws, 'flags.py');
  const text = 'if a:\n    pass\nb = 2\n';
  writeFileSync(file, text);
  const checker = new StaticChecker(ws);
  await checker.check(); // loads the Python parser
  const at = (newText: string) => ({ file, startLine: 3, startColumn: 1, endLine: 3, endColumn: 1, newText });
  const addElse = [at('else:\n    pass\n')];
  const addLine = [at('c = 3\n')];
  // Each one alone parses.
  for (const edits of [addElse, addLine]) {
    const plan = new EditPlan((f, after, before) => checker.parsesAfterEdit(f, after, before));
    assert.equal(plan.add(edits), true);
  }
  // After `c = 3`, an `else:` has no `if`: refused, and the file gets only what parses.
  const plan = new EditPlan((f, after, before) => checker.parsesAfterEdit(f, after, before));
  assert.equal(plan.add(addLine), true);
  assert.equal(plan.add(addElse), false);
  assert.equal(plan.refusal, 'breaks-syntax');
  assert.deepEqual(plan.apply(), [file]);
  assert.equal(readFileSync(file, 'utf8'), 'if a:\n    pass\nc = 3\nb = 2\n');
  // A file of no loaded parser is never written blind.
  assert.equal(checker.parsesAfterEdit(join(ws, 'notes.txt'), 'x', ''), false);
});
