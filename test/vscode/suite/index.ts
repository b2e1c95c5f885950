// Entry point VS Code loads as `extensionTestsPath` (scripts/vscode-e2e.mjs in
// code-server, test/vscode/run-electron.mjs in desktop VS Code). The test files
// register their tests on import; run() executes them in order.
import './quickstart.vscode';
import { runRegistered } from './harness';

export function run(): Promise<void> {
  return runRegistered();
}
