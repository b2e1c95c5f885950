import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { StaticChecker } from '../../src/static/checker';
import { runCli, tempDir } from '../support/env';

// A new object added and never committed (adding an object made elsewhere is not a write by itself).
const WRITER = `from app.db import Item, SessionLocal


def save(name):
    session = SessionLocal()
    session.add(Item(name=name))
    session.close()
`;

function badWorkspace(): string {
  const ws = tempDir('static-bad-input');
  mkdirSync(join(ws, 'app/loop'), { recursive: true });
  writeFileSync(join(ws, 'app/__init__.py'), '');
  writeFileSync(join(ws, 'app/db.py'), 'SessionLocal = None\n');
  writeFileSync(join(ws, 'app/writer.py'), WRITER);
  writeFileSync(join(ws, 'app/broken.py'), 'def oops(:\n    return 1\n');
  writeFileSync(join(ws, 'app/binary.py'), Buffer.from([0x70, 0x72, 0x69, 0x6e, 0x74, 0x00, 0x01, 0x02]));
  writeFileSync(join(ws, 'app/huge.py'), '# filler\n'.repeat(130_000));
  symlinkSync('..', join(ws, 'app/loop/back'));
  symlinkSync('missing-target', join(ws, 'app/dangling.py'));
  mkdirSync(join(ws, 'node_modules/pkg'), { recursive: true });
  writeFileSync(join(ws, 'node_modules/pkg/ignored.py'), WRITER);
  mkdirSync(join(ws, '.venv/lib'), { recursive: true });
  writeFileSync(join(ws, '.venv/lib/ignored.py'), WRITER);
  return ws;
}

test('bad input: syntax errors, binary and huge files, symlink loops are skipped with a note; the rest is still checked', async () => {
  const ws = badWorkspace();
  const { findings, notes } = await new StaticChecker(ws).check();
  assert.deepEqual(
    findings.map((f) => `${f.rule} ${f.location.file.slice(ws.length + 1)}:${f.location.line}`),
    ['missing-commit app/writer.py:6'],
  );
  const text = notes.join('\n');
  assert.match(text, /app\/broken\.py: skipped, syntax error \(line 1/);
  assert.match(text, /app\/binary\.py: skipped, binary content/);
  assert.match(text, /app\/huge\.py: skipped, larger than 1 MB/);
  assert.match(text, /app\/loop\/back: skipped, symbolic link loop/);
  assert.match(text, /app\/dangling\.py: skipped, broken symbolic link/);
  assert.doesNotMatch(text, /node_modules|\.venv/);
});

test('bad input: the CLI reports the notes in JSON and does not crash', async () => {
  const ws = badWorkspace();
  // Static findings are warnings: --fail-on warning makes the one finding fail the check.
  const r = await runCli(['check', '--json', '--fail-on', 'warning', '--root', ws]);
  assert.equal(r.code, 1, r.stderr);
  const doc = JSON.parse(r.stdout);
  assert.equal(doc.findings.length, 1);
  assert.ok(doc.notes.length >= 5);
});

test('bad input: usage errors exit 2', async () => {
  assert.equal((await runCli(['check', '--bogus'])).code, 2);
  assert.equal((await runCli(['check', '--root'])).code, 2);
  assert.equal((await runCli(['check', 'no/such/path'])).code, 2);
  assert.equal((await runCli(['check', '--fail-on', 'sometimes'])).code, 2);
});

test('bad input: a file that becomes unparsable on update keeps the checker alive', async () => {
  const ws = badWorkspace();
  const checker = new StaticChecker(ws);
  await checker.check();
  writeFileSync(join(ws, 'app/writer.py'), WRITER + 'def (\n');
  const up = await checker.update(join(ws, 'app/writer.py'));
  assert.deepEqual(up.findings, []);
  assert.match(up.notes.join('\n'), /writer\.py: skipped, syntax error/);
  writeFileSync(join(ws, 'app/writer.py'), WRITER);
  const back = await checker.update(join(ws, 'app/writer.py'));
  assert.equal(back.findings.length, 1);
});
