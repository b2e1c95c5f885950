// The workspace the in-editor suite opens, shared by both ways of running it
// (scripts/vscode-e2e.mjs, test/vscode/run-electron.mjs): a scratch copy of the
// bundled example whose settings point txlens at the SQLAlchemy 2.0 test venv.
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
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
