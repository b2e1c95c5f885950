// What every in-editor suite does to the workbench: open a file at a line,
// read the CodeLens, the diagnostics and the hovers as a person would see them,
// and the shape of what the Trace commands resolve to. Each suite opens one
// workspace folder; paths here are relative to it.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { sleep } from './harness';

/** What `txlens.traceTests` resolves to (and `txlens._state` keeps as lastRun): only the parts the suites read. */
export interface RunSummary {
  ok: boolean;
  reason?: string;
  command?: string[];
  tests?: { id: string; outcome?: string }[];
  findings?: { rule: string; severity: string; file: string; line: number; test?: string }[];
  summary?: Record<string, number>;
}

export function workspaceRoot(): vscode.Uri {
  const folder = vscode.workspace.workspaceFolders?.[0];
  assert.ok(folder, 'the suite runs with its project open as the workspace folder');
  return folder.uri;
}

export const fileUri = (rel: string): vscode.Uri => vscode.Uri.joinPath(workspaceRoot(), rel);

/** Opens `rel` with the cursor on the first word of `line` (1-based, as people read lines). */
export async function open(rel: string, line: number): Promise<vscode.TextEditor> {
  const doc = await vscode.workspace.openTextDocument(fileUri(rel));
  const editor = await vscode.window.showTextDocument(doc, { preview: false, viewColumn: vscode.ViewColumn.One });
  const pos = new vscode.Position(line - 1, doc.lineAt(line - 1).firstNonWhitespaceCharacterIndex);
  editor.selection = new vscode.Selection(pos, pos);
  editor.revealRange(new vscode.Range(pos, pos), vscode.TextEditorRevealType.InCenter);
  return editor;
}

export function codeOf(d: vscode.Diagnostic): string | undefined {
  const c = d.code;
  if (c === undefined) return undefined;
  return typeof c === 'object' ? String(c.value) : String(c);
}

/** The diagnostics, one per line, for an assertion's message. */
export function describe(ds: readonly vscode.Diagnostic[]): string {
  return ds.map((d) => `${d.source}:${codeOf(d)}@${d.range.start.line + 1}: ${d.message}`).join('\n') || '(none)';
}

/** The diagnostics of `rel`, waiting briefly for them to be published after a run. */
export async function diagnosticsOf(rel: string, until: (ds: readonly vscode.Diagnostic[]) => boolean): Promise<readonly vscode.Diagnostic[]> {
  const uri = fileUri(rel);
  let ds = vscode.languages.getDiagnostics(uri);
  for (let i = 0; i < 50 && !until(ds); i++) {
    await sleep(100);
    ds = vscode.languages.getDiagnostics(uri);
  }
  return ds;
}

/** txlens's diagnostic with rule `rule` at `line` (1-based) of `rel`, waiting briefly for it to be published. */
export async function diagnosticAt(rel: string, rule: string, line: number): Promise<vscode.Diagnostic> {
  const at = (d: vscode.Diagnostic) => d.source === 'txlens' && codeOf(d) === rule && d.range.start.line + 1 === line;
  const ds = await diagnosticsOf(rel, (list) => list.some(at));
  const found = ds.find(at);
  assert.ok(found, `${rule} at ${rel}:${line} among:\n${describe(ds)}`);
  return found;
}

export async function lenses(rel: string): Promise<vscode.CodeLens[]> {
  const doc = await vscode.workspace.openTextDocument(fileUri(rel));
  // 100: resolve them all, as the editor does for the visible ones.
  return vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', doc.uri, 100);
}

/** The titles of the CodeLens over `line` (1-based) of `rel`, joined by ' | '. */
export async function lensTitles(rel: string, line: number): Promise<string> {
  return (await lenses(rel))
    .filter((l) => l.range.start.line === line - 1)
    .map((l) => l.command?.title ?? '')
    .filter(Boolean)
    .join(' | ');
}

/** The hovers' text as one string, markdown included. */
export function hoverText(hovers: vscode.Hover[]): string {
  return hovers
    .flatMap((h) => h.contents)
    .map((c) => (typeof c === 'string' ? c : 'value' in c ? c.value : ''))
    .join('\n');
}
