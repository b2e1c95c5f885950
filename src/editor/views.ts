/**
 * How a run looks in the editor: CodeLens over tests, after-line notes,
 * hovers, diagnostics and their code actions. Every text comes from the pure
 * modules in ./present (through the lazily loaded engine for anything that
 * needs a model); this file only maps them onto VS Code objects.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { COLORS } from './colors';
import { Command } from './commands';
import type { Engine } from './engineLoader';
import type { Analysed, LineNote, PlainDiagnostic, PlainRange } from '../engine';
import { diagnosticKey } from './present/diagnostics';
import { isTestFileName, languageOf, LocatedTest, locateTests } from './present/locate';


export function toRange(r: PlainRange): vscode.Range {
  return new vscode.Range(r.startLine, r.startCharacter, r.endLine, r.endCharacter);
}

/** The run shown in the editor, with what was derived from it once. */
export interface Shown {
  engine: Engine;
  analysed: Analysed;
  notes: LineNote[];
  notesByFile: Map<string, LineNote[]>;
}

/** Located tests per document version: CodeLens asks often, the text rarely changes. */
export class TestIndex {
  private cache = new Map<string, { version: number; tests: LocatedTest[] }>();

  testsIn(doc: vscode.TextDocument): LocatedTest[] {
    const lang = languageOf(doc.languageId) ?? languageOf(doc.fileName);
    if (!lang || doc.uri.scheme !== 'file' || !isTestFileName(doc.fileName)) return [];
    const key = doc.uri.toString();
    const hit = this.cache.get(key);
    if (hit && hit.version === doc.version) return hit.tests;
    const tests = locateTests(doc.getText(), lang);
    this.cache.set(key, { version: doc.version, tests });
    return tests;
  }

  forget(doc: vscode.TextDocument): void {
    this.cache.delete(doc.uri.toString());
  }
}

export class TestCodeLenses implements vscode.CodeLensProvider {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.changed.event;

  constructor(
    private readonly index: TestIndex,
    private readonly shown: () => Shown | undefined,
    private readonly enabled: (doc: vscode.TextDocument) => boolean,
  ) {}

  refresh(): void {
    this.changed.fire();
  }

  provideCodeLenses(doc: vscode.TextDocument): vscode.CodeLens[] {
    if (!this.enabled(doc)) return [];
    const tests = this.index.testsIn(doc);
    if (tests.length === 0) return [];
    const file = doc.uri.fsPath;
    const lenses: vscode.CodeLens[] = [];
    const top = new vscode.Range(0, 0, 0, 0);
    lenses.push(new vscode.CodeLens(top, { title: '$(play) Trace file', command: Command.TraceTests, arguments: [{ file }], tooltip: 'Run the tests of this file with txlens' }));
    const shown = this.shown();
    const fileText = shown?.engine.fileLensText(shown.analysed.model, shown.analysed.findings, file);
    if (fileText) lenses.push(new vscode.CodeLens(top, { title: fileText, command: Command.OpenTimeline, arguments: [{ file }] }));
    for (const t of tests) {
      const at = new vscode.Range(t.line - 1, 0, t.line - 1, 0);
      lenses.push(new vscode.CodeLens(at, { title: '$(play) Trace', command: Command.TraceTests, arguments: [{ file, test: t }], tooltip: `Run ${t.path.join(' › ')} with txlens` }));
      const lens = shown?.engine.testLens(shown.analysed.model, shown.analysed.findings, file, t);
      if (lens) {
        lenses.push(
          new vscode.CodeLens(at, {
            title: lens.text,
            command: Command.OpenTimeline,
            arguments: [{ file, tests: lens.tests.map((m) => m.id) }],
            tooltip: 'Open the session timeline of this test',
          }),
        );
      }
    }
    return lenses;
  }
}

export class LineNotesView implements vscode.Disposable {
  private readonly plain = vscode.window.createTextEditorDecorationType({
    after: { color: new vscode.ThemeColor(COLORS.note), margin: '0 0 0 2em', fontStyle: 'italic' },
    rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed,
  });
  private readonly attention = vscode.window.createTextEditorDecorationType({
    after: { color: new vscode.ThemeColor(COLORS.attention), margin: '0 0 0 2em', fontStyle: 'italic' },
    backgroundColor: new vscode.ThemeColor(COLORS.attentionLine),
    isWholeLine: true,
    rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed,
  });

  constructor(
    private readonly shown: () => Shown | undefined,
    private readonly enabled: (doc: vscode.TextDocument) => boolean,
  ) {}

  /** Draws the notes in every visible editor (and clears them where there are none). */
  render(editors: readonly vscode.TextEditor[] = vscode.window.visibleTextEditors): void {
    const shown = this.shown();
    for (const editor of editors) {
      const notes = shown && this.enabled(editor.document) ? (shown.notesByFile.get(editor.document.uri.fsPath) ?? []) : [];
      const toOption = (n: LineNote): vscode.DecorationOptions => {
        const line = Math.min(n.line - 1, Math.max(0, editor.document.lineCount - 1));
        const end = editor.document.lineAt(line).range.end;
        return { range: new vscode.Range(end, end), renderOptions: { after: { contentText: n.text } } };
      };
      editor.setDecorations(this.plain, notes.filter((n) => !n.attention).map(toOption));
      editor.setDecorations(this.attention, notes.filter((n) => n.attention).map(toOption));
    }
  }

  dispose(): void {
    this.plain.dispose();
    this.attention.dispose();
  }
}

export class SessionHovers implements vscode.HoverProvider {
  constructor(private readonly shown: () => Shown | undefined) {}

  provideHover(doc: vscode.TextDocument, pos: vscode.Position): vscode.Hover | undefined {
    const shown = this.shown();
    if (!shown || !shown.notesByFile.has(doc.uri.fsPath)) return undefined;
    const md = shown.engine.hoverMarkdown(shown.analysed.model, doc.uri.fsPath, pos.line + 1);
    if (!md) return undefined;
    const text = new vscode.MarkdownString(md);
    text.supportThemeIcons = true;
    return new vscode.Hover(text, doc.lineAt(pos.line).range);
  }
}

/** Reads source lines for diagnostic ranges, one read per file per batch. */
export function lineReader(): (file: string, line: number) => string | undefined {
  const files = new Map<string, string[] | undefined>();
  return (file, line) => {
    if (!files.has(file)) {
      const open = vscode.workspace.textDocuments.find((d) => d.uri.fsPath === file);
      let lines: string[] | undefined;
      try {
        lines = (open ? open.getText() : readFileSync(file, 'utf8')).split(/\r?\n/);
      } catch {
        lines = undefined;
      }
      files.set(file, lines);
    }
    return files.get(file)?.[line - 1];
  };
}

export function docsUri(extensionPath: string, rule: string): vscode.Uri {
  return vscode.Uri.file(join(extensionPath, 'dist', 'docs', 'rules', `${rule}.md`));
}

const SEVERITY: Record<PlainDiagnostic['severity'], vscode.DiagnosticSeverity> = {
  error: vscode.DiagnosticSeverity.Error,
  warning: vscode.DiagnosticSeverity.Warning,
  info: vscode.DiagnosticSeverity.Information,
};

/**
 * Findings in the Problems panel, and their fixes as quick fixes. A
 * diagnostic and its code actions are joined by the rule id `code` (plus
 * place and message), as in the code-actions sample.
 */
export class FindingsView implements vscode.CodeActionProvider, vscode.Disposable {
  static readonly kinds = [vscode.CodeActionKind.QuickFix];
  readonly collection: vscode.DiagnosticCollection;
  private readonly fixes = new Map<string, PlainDiagnostic>();

  constructor(
    name: string,
    private readonly extensionPath: string,
  ) {
    this.collection = vscode.languages.createDiagnosticCollection(name);
  }

  toDiagnostic(d: PlainDiagnostic): vscode.Diagnostic {
    const diag = new vscode.Diagnostic(toRange(d.range), d.message, SEVERITY[d.severity]);
    diag.source = d.source;
    diag.code = { value: d.code.value, target: vscode.Uri.parse(d.code.target) };
    diag.relatedInformation = d.related.map((r) => new vscode.DiagnosticRelatedInformation(new vscode.Location(vscode.Uri.file(r.file), toRange(r.range)), r.message));
    return diag;
  }

  /** Replaces the diagnostics of `files` (all files when undefined) with `diagnostics`. */
  set(diagnostics: PlainDiagnostic[], files?: string[]): void {
    const grouped = new Map<string, PlainDiagnostic[]>();
    for (const d of diagnostics) {
      const list = grouped.get(d.file);
      if (list) list.push(d);
      else grouped.set(d.file, [d]);
    }
    if (files) {
      const touched = new Set(files);
      for (const [key, d] of this.fixes) if (touched.has(d.file)) this.fixes.delete(key);
      for (const f of files) if (!grouped.has(f)) this.collection.delete(vscode.Uri.file(f));
    } else {
      this.collection.clear();
      this.fixes.clear();
    }
    for (const [file, list] of grouped) {
      this.collection.set(vscode.Uri.file(file), list.map((d) => this.toDiagnostic(d)));
      for (const d of list) if (d.fixes.length > 0) this.fixes.set(diagnosticKey(d), d);
    }
  }

  clear(): void {
    this.collection.clear();
    this.fixes.clear();
  }

  count(): number {
    let n = 0;
    this.collection.forEach((_uri, list) => (n += list.length));
    return n;
  }

  docsTarget(rule: string): string {
    return docsUri(this.extensionPath, rule).toString();
  }

  provideCodeActions(doc: vscode.TextDocument, _range: vscode.Range, context: vscode.CodeActionContext): vscode.CodeAction[] {
    const actions: vscode.CodeAction[] = [];
    for (const diag of context.diagnostics) {
      if (diag.source !== 'txlens' || typeof diag.code !== 'object') continue;
      const key = diagnosticKey({ file: doc.uri.fsPath, range: { startLine: diag.range.start.line }, code: { value: String(diag.code.value) }, message: diag.message });
      const plain = this.fixes.get(key);
      if (!plain) continue;
      for (const fix of plain.fixes) {
        const action = new vscode.CodeAction(fix.title, vscode.CodeActionKind.QuickFix);
        action.diagnostics = [diag];
        action.isPreferred = fix.preferred;
        action.edit = new vscode.WorkspaceEdit();
        for (const e of fix.edits) action.edit.replace(vscode.Uri.file(e.file), toRange(e.range), e.newText);
        actions.push(action);
      }
    }
    return actions;
  }

  dispose(): void {
    this.collection.dispose();
  }
}
