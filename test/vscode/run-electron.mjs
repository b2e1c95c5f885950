// The in-editor suite in desktop VS Code, for contributors whose machine can
// reach VS Code's download server: @vscode/test-electron downloads VS Code
// (cached in .vscode-test/) and runs test/vscode/suite in one VS Code per
// session of test/vscode/workspace.mjs (the quickstart example, a TypeScript
// project, that project untrusted). CI and machines without that server use
// scripts/vscode-e2e.mjs (code-server in headless Chromium) instead; both load
// the same suite bundle.
//
//   node esbuild.mjs --tests && node test/vscode/run-electron.mjs [--version=stable|insiders|1.99.3]
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTests } from '@vscode/test-electron';
import { SESSIONS, repoRoot, suiteEntry } from './workspace.mjs';

const versionArg = process.argv.find((a) => a.startsWith('--version='));
const version = versionArg ? versionArg.slice('--version='.length) : 'stable';

const build = spawnSync(process.execPath, ['esbuild.mjs', '--tests'], { cwd: repoRoot, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

const scratch = mkdtempSync(join(tmpdir(), 'txlens-vscode-'));
let code = 0;
try {
  // One VS Code per session (SESSIONS in workspace.mjs), as scripts/vscode-e2e.mjs runs them.
  for (const session of SESSIONS) {
    const dir = join(scratch, session.name);
    mkdirSync(dir);
    const workspace = session.prepare(dir);
    const userData = join(dir, 'user-data');
    mkdirSync(join(userData, 'User'), { recursive: true });
    // An untrusted session opens its folder in restricted mode without asking.
    const settings = { 'security.workspace.trust.enabled': !session.trusted, 'security.workspace.trust.startupPrompt': 'never' };
    writeFileSync(join(userData, 'User', 'settings.json'), `${JSON.stringify(settings, null, 2)}\n`);
    const extensions = join(dir, 'extensions');
    mkdirSync(extensions);
    try {
      const result = await runTests({
        version,
        extensionDevelopmentPath: repoRoot,
        extensionTestsPath: suiteEntry,
        extensionTestsEnv: { TXLENS_E2E_SUITE: session.name },
        launchArgs: [
          workspace,
          '--disable-extensions',
          ...(session.trusted ? ['--disable-workspace-trust'] : []),
          '--skip-welcome',
          '--skip-release-notes',
          `--user-data-dir=${userData}`,
          `--extensions-dir=${extensions}`,
        ],
      });
      if (result !== 0) code = result;
    } catch (e) {
      process.stderr.write(`txlens vscode (electron, ${session.name}): ${e instanceof Error ? e.message : String(e)}\n`);
      code = 1;
    }
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
process.exit(code);
