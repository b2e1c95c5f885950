// missing-commit (static) on `session.add(obj)` that only attaches a detached object so a
// relationship can be lazy-loaded: no write, so no finding (and no fix that could break the
// code). The look-alikes that do write (a new object, a changed attribute) keep their finding.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { StaticChecker } from '../../src/static/checker';
import { runCli } from '../support/env';
import { copyProject, fixturesDir, pytest } from './python-support';

const FIXTURE = join(fixturesDir, 'reattach');

test('reattach: adding a detached, unchanged object to lazy-load its books is no write, in sync and async code', async () => {
  const { findings, notes } = await new StaticChecker(FIXTURE).check();
  assert.deepEqual(notes, []);
  assert.deepEqual(findings, []);
});

test('reattach: the fixture suite passes under SQLAlchemy 1.4 and 2.0, and check --fix leaves it alone', async () => {
  const ws = copyProject('reattach');
  const before = readFileSync(join(ws, 'library/catalog.py'), 'utf8');
  const fix = await runCli(['check', '--fix'], { cwd: ws });
  assert.equal(fix.code, 0, fix.stdout + fix.stderr);
  assert.match(fix.stdout, /no fix to apply/);
  assert.equal(readFileSync(join(ws, 'library/catalog.py'), 'utf8'), before);
  for (const venv of ['sa14', 'sa20'] as const) {
    const run = pytest(ws, {}, venv);
    assert.ok(run.ok, `${venv}: ${run.output}`);
    assert.match(run.output, /2 passed/);
  }
});

test('reattach look-alikes: a changed attribute or a new object added without commit are still found', async () => {
  const ws = copyProject('reattach');
  const file = join(ws, 'library/catalog.py');
  writeFileSync(
    file,
    readFileSync(file, 'utf8') +
      [
        '',
        '',
        'def rename(author: Author, name: str) -> None:',
        '    with SessionLocal() as session:',
        '        author.name = name',
        '        session.add(author)',
        '',
        '',
        'def add_book(author: Author, title: str) -> None:',
        '    with SessionLocal() as session:',
        '        session.add(Book(title=title, author_id=author.id))',
        '',
        '',
        'async def add_book_async(author_id: int, title: str) -> None:',
        '    async with AsyncSessionLocal() as session:',
        '        book = Book(title=title, author_id=author_id)',
        '        session.add(book)',
        '',
      ].join('\n'),
  );
  writeFileSync(file, readFileSync(file, 'utf8').replace('import AsyncSessionLocal, Author,', 'import AsyncSessionLocal, Author, Book,'));
  const { findings } = await new StaticChecker(ws).check();
  assert.deepEqual(
    findings.map((f) => `${f.rule} ${relative(ws, f.location.file)}:${f.location.line}`),
    ['missing-commit library/catalog.py:27', 'missing-commit library/catalog.py:32', 'missing-commit library/catalog.py:38'],
  );
});
