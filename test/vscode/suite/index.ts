// Entry point VS Code loads as `extensionTestsPath` (scripts/vscode-e2e.mjs in
// code-server, test/vscode/run-electron.mjs in desktop VS Code). The test files
// register their tests on import, each under the editor session it belongs to
// (harness.ts suite()); run() executes the current session's tests in order.
import './quickstart.vscode';
import './node.vscode';
import { runRegistered } from './harness';

export function run(): Promise<void> {
  return runRegistered();
}
