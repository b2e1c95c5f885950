// A large, real-looking workspace (1,000 Python and 1,000 TypeScript/JavaScript files, every
// pattern correct) must produce no finding; with bugs seeded, exactly the seeded errors and
// warnings, at their lines. The generator is shared with bench/static.ts.
import assert from 'node:assert/strict';
import { appendFileSync, rmSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { test } from 'node:test';
import { generateStaticWorkspace, type SeededBug } from '../../bench/static-workspace';
import type { Finding } from '../../src/analysis/findings';
import { StaticChecker } from '../../src/static/checker';
import { tempDir } from '../support/env';

const SEEDED = 12;

function rel(root: string, f: Finding): string {
  return relative(root, f.location.file).split(sep).join('/');
}

function describe(root: string, fs: Finding[]): string {
  return fs.map((f) => `  ${f.severity} ${f.rule} ${rel(root, f)}:${f.location.line} ${f.message.slice(0, 160)}`).join('\n');
}

function key(b: { rel: string; line: number; rule: string; severity: string }): string {
  return `${b.severity} ${b.rule} ${b.rel}:${b.line}`;
}

test('large workspace: correct patterns in 2,000 files give no finding at all', async () => {
  const root = join(tempDir('static-large-clean'), 'ws');
  const ws = generateStaticWorkspace(root);
  try {
    assert.equal(ws.python.length, 1000);
    assert.equal(ws.typescript.length, 1000);
    const checker = new StaticChecker(root);
    const { findings, notes } = await checker.check();
    assert.deepEqual(notes, [], 'every file is analysed');
    // Not even an info: endpoints whose injected session is committed by its dependency say nothing.
    assert.equal(findings.length, 0, `false findings:\n${describe(root, findings)}`);
    // A change that keeps every pattern correct keeps the workspace clean through update().
    const changed = join(root, ws.python[ws.python.length >> 1]);
    appendFileSync(changed, '\n# touched\n');
    const after = await checker.update(changed);
    assert.deepEqual(after.findings.filter((f) => f.severity !== 'info').map((f) => key({ ...f.location, rel: rel(root, f), rule: f.rule, severity: f.severity })), []);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test(`large workspace: ${SEEDED} seeded bugs are found exactly, at their lines`, async () => {
  const root = join(tempDir('static-large-seeded'), 'ws');
  const ws = generateStaticWorkspace(root, { bugs: SEEDED });
  try {
    assert.equal(new Set(ws.seeded.map((b) => b.what)).size, SEEDED);
    const { findings } = await new StaticChecker(root).check();
    const loud = findings.filter((f) => f.severity !== 'info');
    const found = loud.map((f) => key({ rel: rel(root, f), line: f.location.line, rule: f.rule, severity: f.severity })).sort();
    const expected = ws.seeded.map((b: SeededBug) => key(b)).sort();
    assert.deepEqual(found, expected, `findings:\n${describe(root, loud)}`);
    // From the source alone every finding is at most a warning (a run raises the ones it confirms).
    assert.ok(ws.seeded.some((b) => b.severity === 'warning' && b.rule === 'missing-commit' && b.rel.endsWith('.py')));
    assert.ok(ws.seeded.some((b) => b.severity === 'warning' && b.rule === 'missing-commit' && b.rel.endsWith('.ts')));
    assert.ok(ws.seeded.some((b) => b.severity === 'warning' && b.rule === 'stale-import-patch'));
    assert.ok(findings.every((f) => f.severity !== 'error'));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
