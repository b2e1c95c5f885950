// The pure core: only the editor layer (src/editor) may import `vscode`;
// everything else runs and is tested in plain Node. This fails on the first
// module outside src/editor that imports it, statically or dynamically.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import ts from 'typescript';
import { repoRoot } from '../support/env';

const SOURCE = /\.(?:[cm]?ts|tsx|[cm]?js)$/;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => SOURCE.test(f) && !f.endsWith('.d.ts'))
    .map((f) => join(dir, f));
}

function importsOf(file: string): string[] {
  const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  return info.importedFiles.map((i) => i.fileName);
}

test('nothing outside src/editor imports vscode', () => {
  const src = join(repoRoot, 'src');
  const files = sourceFiles(src);
  assert.ok(files.length > 50, `expected the sources under ${src}`);
  const offenders = files
    .filter((f) => !relative(src, f).startsWith(`editor${sep}`))
    .filter((f) => importsOf(f).some((name) => name === 'vscode' || name.startsWith('vscode/')))
    .map((f) => relative(repoRoot, f));
  assert.deepEqual(offenders, []);
});

test('the check sees a vscode import where there is one', () => {
  // Guards the guard: the editor layer does import vscode, so the same reading must find it there.
  const editor = sourceFiles(join(repoRoot, 'src', 'editor'));
  assert.ok(editor.some((f) => importsOf(f).includes('vscode')));
});
