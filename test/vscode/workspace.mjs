// The workspaces the in-editor suite opens, shared by both ways of running it
// (scripts/vscode-e2e.mjs, test/vscode/run-electron.mjs), one editor session
// each: a scratch copy of the bundled example whose settings point txlens at the
// SQLAlchemy 2.0 test venv, and a TypeScript project on better-sqlite3 whose
// tests run under node:test through tsx, opened trusted and untrusted.
import { cpSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensurePythonEnv } from '../../scripts/python-env.mjs';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The bundle VS Code loads as extensionTestsPath (built by `node esbuild.mjs --tests`). */
export const suiteEntry = join(repoRoot, 'out', 'test', 'vscode', 'suite', 'index.js');

/** Copies examples/quickstart into `scratch` and returns the copy's path. */
export function prepareQuickstartWorkspace(scratch) {
  const python = ensurePythonEnv('sa20');
  const workspace = join(scratch, 'quickstart');
  cpSync(join(repoRoot, 'examples', 'quickstart'), workspace, {
    recursive: true,
    filter: (src) => !/(__pycache__|\.pytest_cache|\.txlens|\.db)$/.test(src),
  });
  mkdirSync(join(workspace, '.vscode'), { recursive: true });
  const quoted = /[\s"'\\$]/.test(python) ? JSON.stringify(python) : python;
  const settings = {
    'txlens.testCommand': `${quoted} -m pytest -q -p no:cacheprovider`,
    'python.defaultInterpreterPath': python,
  };
  writeFileSync(join(workspace, '.vscode', 'settings.json'), `${JSON.stringify(settings, null, 2)}\n`);
  return { workspace, python };
}

/**
 * The editor sessions of the suite, in the order they run: each opens its own
 * workspace and runs the tests registered under its name
 * (test/vscode/suite/harness.ts reads TXLENS_E2E_SUITE).
 */
export const SESSIONS = [
  { name: 'quickstart', trusted: true, prepare: (scratch) => prepareQuickstartWorkspace(scratch).workspace },
  { name: 'node', trusted: true, prepare: (scratch) => prepareNodeWorkspace(scratch) },
  { name: 'node-untrusted', trusted: false, prepare: (scratch) => prepareNodeWorkspace(scratch, { untrusted: true }) },
];

/** A file the untrusted session's test command would create: its absence shows that nothing ran. */
export const UNTRUSTED_SENTINEL = 'command-ran.txt';

/**
 * Copies the buggy TypeScript notes project (test/fixtures/node/sqlite-ts) into
 * `scratch` as a project of its own: a package.json whose test script runs its
 * tests under node:test through tsx, as such a project would, and its packages
 * (better-sqlite3, tsx) from this repository's node_modules through a link.
 * Nothing tells txlens the command: the editor detects it from package.json.
 * The untrusted copy names a test command in its folder settings that would
 * leave UNTRUSTED_SENTINEL behind if anything ran it.
 */
export function prepareNodeWorkspace(scratch, { untrusted = false } = {}) {
  const fixture = join(repoRoot, 'test', 'fixtures', 'node', 'sqlite-ts', 'buggy');
  const workspace = join(scratch, untrusted ? 'notes-untrusted' : 'notes-ts');
  mkdirSync(workspace, { recursive: true });
  for (const dir of ['app', 'test']) cpSync(join(fixture, dir), join(workspace, dir), { recursive: true });
  const pkg = {
    name: 'notes-ts',
    private: true,
    scripts: { test: 'node --import tsx --test test/notes.test.ts' },
    dependencies: { 'better-sqlite3': '*' },
    devDependencies: { tsx: '*', '@types/better-sqlite3': '*', '@types/node': '*' },
  };
  writeFileSync(join(workspace, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  symlinkSync(join(repoRoot, 'node_modules'), join(workspace, 'node_modules'), 'dir');
  if (untrusted) {
    mkdirSync(join(workspace, '.vscode'), { recursive: true });
    const command = `node -e "require('fs').writeFileSync('${UNTRUSTED_SENTINEL}', 'ran')"`;
    writeFileSync(join(workspace, '.vscode', 'settings.json'), `${JSON.stringify({ 'txlens.testCommand': command }, null, 2)}\n`);
  }
  return workspace;
}
