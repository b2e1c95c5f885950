// The in-editor suite in desktop VS Code, for contributors whose machine can
// reach VS Code's download server: @vscode/test-electron downloads VS Code
// (cached in .vscode-test/) and runs test/vscode/suite against a scratch copy of
// examples/quickstart. CI and machines without that server use
// scripts/vscode-e2e.mjs (code-server in headless Chromium) instead; both load
// the same suite bundle.
//
//   node esbuild.mjs --tests && node test/vscode/run-electron.mjs [--version=stable|insiders|1.99.3]
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTests } from '@vscode/test-electron';
import { prepareQuickstartWorkspace, repoRoot, suiteEntry } from './workspace.mjs';

const versionArg = process.argv.find((a) => a.startsWith('--version='));
const version = versionArg ? versionArg.slice('--version='.length) : 'stable';

const build = spawnSync(process.execPath, ['esbuild.mjs', '--tests'], { cwd: repoRoot, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

const scratch = mkdtempSync(join(tmpdir(), 'txlens-vscode-'));
let code;
try {
  const { workspace } = prepareQuickstartWorkspace(scratch);
  const userData = join(scratch, 'user-data');
  const extensions = join(scratch, 'extensions');
  mkdirSync(extensions);
  code = await runTests({
    version,
    extensionDevelopmentPath: repoRoot,
    extensionTestsPath: suiteEntry,
    launchArgs: [
      workspace,
      '--disable-extensions',
      '--disable-workspace-trust',
      '--skip-welcome',
      '--skip-release-notes',
      `--user-data-dir=${userData}`,
      `--extensions-dir=${extensions}`,
    ],
  });
} catch (e) {
  process.stderr.write(`txlens vscode (electron): ${e instanceof Error ? e.message : String(e)}\n`);
  code = 1;
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
process.exit(code);
