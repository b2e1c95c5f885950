// The VS Code layer. It adapts the engine's model and findings to VS Code
// APIs and nothing else; the editor issue fills it in.
import * as vscode from 'vscode';

export function activate(context: vscode.ExtensionContext): void {
  context.subscriptions.push(
    vscode.commands.registerCommand('txlens.traceTests', () => {
      void vscode.window.showInformationMessage('txlens: run `txlens run -- <test command>` in a terminal for now.');
    }),
  );
}

export function deactivate(): void {}
