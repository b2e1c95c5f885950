// The VS Code layer's entry point. Activation builds one TxlensExtension
// (which owns every registration) and hands it to VS Code for teardown; the
// engine itself loads on first use (./engineLoader), keeping activation cheap.
import type * as vscode from 'vscode';
import { TxlensExtension } from './txlens';

export interface TxlensApi {
  /** Resolves when the current traced run, if any, is over. */
  whenIdle(): Promise<unknown>;
}

export function activate(context: vscode.ExtensionContext): TxlensApi {
  const ext = new TxlensExtension(context);
  context.subscriptions.push(ext);
  return { whenIdle: () => ext.whenIdle() };
}

export function deactivate(): void {}
