/**
 * The extension as one disposable object: it owns every registration and
 * tears them all down in dispose(). It adapts the engine to VS Code: running
 * the tests traced, then showing the run through ./views.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import * as vscode from 'vscode';
import { describeRuns } from '../capture/run-list';
import { terminalRunDir } from '../capture/runs';
import { Command } from './commands';
import type { Analysed, PlainDiagnostic, StaticChecker, TracedTests } from '../engine';
import { Engine, loadEngine } from './engineLoader';
import type { LocatedTest } from './present/locate';
import { RunState, statusText } from './present/status';
import { terminalEnvMutations } from './present/terminalEnv';
import { commandForSelection, detectTestCommand, splitCommand } from './present/testCommand';
import { readSettings, SETTINGS_SECTION, TxlensSettings } from './settings';
import { TxlensTesting } from './testing';
import { TimelinePanel, TimelineResult, TIMELINE_PANEL_TITLE } from './timeline';
import { FindingsView, LineNotesView, lineReader, SessionHovers, Shown, TestCodeLenses, TestIndex } from './views';

/** What `txlens.traceTests` takes: nothing (the whole suite), a file, or one test in it. */
export interface TraceRequest {
  file?: string;
  test?: LocatedTest;
  /** Workspace folder to run in, when no file says it. */
  folder?: string;
}

/** What `txlens.traceTests` resolves to, and `txlens._state` reports for the last run. */
export interface RunSummary {
  ok: boolean;
  /** Why nothing ran or the run failed: 'untrusted', 'busy', 'no-folder', 'no-command', or the launch error. */
  reason?: string;
  command?: string[];
  cwd?: string;
  trace?: string;
  exitCode?: number | null;
  cancelled?: boolean;
  tests?: { id: string; outcome?: string }[];
  findings?: { rule: string; severity: string; file: string; line: number; test?: string }[];
  summary?: Record<string, number>;
}

/** An analysed run, traced just now (with its process result) or opened from a kept trace. */
type Result = Analysed & Partial<Pick<TracedTests, 'run' | 'cancelled'>>;

const SOURCE_LANGUAGES = new Set(['python', 'typescript', 'javascript', 'typescriptreact', 'javascriptreact']);

export class TxlensExtension implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[] = [];
  private readonly output = vscode.window.createOutputChannel('txlens');
  private readonly status = vscode.window.createStatusBarItem('txlens.status', vscode.StatusBarAlignment.Left, 10);
  private readonly index = new TestIndex();
  private readonly runFindings: FindingsView;
  private readonly staticFindings: FindingsView;
  private readonly lenses: TestCodeLenses;
  private readonly notes: LineNotesView;
  private readonly testing: TxlensTesting;
  private readonly timeline: TimelinePanel;
  private shown?: Shown;
  private state: RunState = { kind: 'idle' };
  private running?: { promise: Promise<RunSummary>; abort: AbortController };
  private lastSummary?: RunSummary;
  private checkers = new Map<string, Promise<StaticChecker>>();

  constructor(private readonly context: vscode.ExtensionContext) {
    const ext = context.extensionPath;
    this.runFindings = new FindingsView('txlens', ext);
    this.staticFindings = new FindingsView('txlens-static', ext);
    this.lenses = new TestCodeLenses(this.index, () => this.shown, (doc) => this.settings(doc.uri).codeLens);
    this.notes = new LineNotesView(() => this.shown, (doc) => this.settings(doc.uri).lineNotes);
    this.testing = new TxlensTesting(this.index, (req, token) => this.traceTests(req, token), () => this.shown);
    this.timeline = new TimelinePanel(context.extensionUri);
    this.disposables.push(this.output, this.status, this.runFindings, this.staticFindings, this.notes, this.testing, this.timeline);

    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each command takes its own arguments, as VS Code's registerCommand does
    const reg = (id: Command, fn: (...args: any[]) => unknown) => this.disposables.push(vscode.commands.registerCommand(id, fn));
    reg(Command.TraceTests, (req?: TraceRequest) => this.traceTests(req));
    reg(Command.TraceTestAtCursor, () => this.traceTestAtCursor());
    reg(Command.CheckWorkspace, () => this.checkWorkspace());
    reg(Command.OpenTimeline, () => this.openTimeline());
    reg(Command.OpenTrace, (dir?: string) => this.openTrace(dir));
    reg(Command.ClearTrace, () => this.clearTrace());
    reg(Command.ShowOutput, () => this.output.show(true));
    reg(Command.State, () => this.stateForTests());

    const files = { scheme: 'file' };
    const sources = [...SOURCE_LANGUAGES].map((language) => ({ ...files, language }));
    this.disposables.push(
      vscode.languages.registerCodeLensProvider(sources, this.lenses),
      vscode.languages.registerHoverProvider(sources, new SessionHovers(() => this.shown)),
      vscode.languages.registerCodeActionsProvider(files, this.runFindings, { providedCodeActionKinds: FindingsView.kinds }),
      vscode.languages.registerCodeActionsProvider(files, this.staticFindings, { providedCodeActionKinds: FindingsView.kinds }),
      vscode.window.onDidChangeVisibleTextEditors((editors) => this.notes.render(editors)),
      vscode.workspace.onDidCloseTextDocument((doc) => this.index.forget(doc)),
      vscode.workspace.onDidOpenTextDocument((doc) => this.checkDocument(doc)),
      vscode.workspace.onDidSaveTextDocument((doc) => this.checkDocument(doc)),
      vscode.workspace.onDidGrantWorkspaceTrust(() => {
        this.applyTerminalTracing();
        this.setState(this.state.kind === 'untrusted' ? { kind: 'idle' } : this.state);
      }),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (!e.affectsConfiguration(SETTINGS_SECTION)) return;
        if (e.affectsConfiguration(`${SETTINGS_SECTION}.traceTerminal`)) this.applyTerminalTracing();
        if (e.affectsConfiguration(`${SETTINGS_SECTION}.testing`)) this.testing.enable(this.settings().testing);
        this.lenses.refresh();
        this.notes.render();
      }),
    );

    this.status.name = 'txlens';
    this.setState(vscode.workspace.isTrusted ? { kind: 'idle' } : { kind: 'untrusted' });
    this.status.show();
    this.testing.enable(this.settings().testing);
    this.applyTerminalTracing();
    // Documents open at start-up get their static check after activation has returned.
    const startup = setTimeout(() => vscode.workspace.textDocuments.forEach((d) => this.checkDocument(d)), 500);
    this.disposables.push({ dispose: () => clearTimeout(startup) });
  }

  private engine(): Engine {
    return loadEngine(this.context.extensionPath);
  }

  settings(scope?: vscode.Uri): TxlensSettings {
    const cfg = vscode.workspace.getConfiguration(SETTINGS_SECTION, scope);
    return readSettings((key) => cfg.get(key));
  }

  private setState(state: RunState): void {
    this.state = state;
    const s = statusText(state);
    this.status.text = s.text;
    this.status.tooltip = s.tooltip;
    this.status.backgroundColor = s.attention ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    this.status.command = state.kind === 'idle' ? Command.TraceTests : state.kind === 'untrusted' ? 'workbench.trust.manage' : Command.ShowOutput;
  }

  private folderFor(req: TraceRequest | undefined): vscode.WorkspaceFolder | undefined {
    if (req?.file) return vscode.workspace.getWorkspaceFolder(vscode.Uri.file(req.file));
    if (req?.folder) return vscode.workspace.getWorkspaceFolder(vscode.Uri.file(req.folder));
    const active = vscode.window.activeTextEditor?.document.uri;
    return (active && vscode.workspace.getWorkspaceFolder(active)) ?? vscode.workspace.workspaceFolders?.[0];
  }

  /**
   * The test command for a folder: the setting, else what the workspace
   * suggests. `suite` runs everything; `narrowable` is the runner's own command,
   * which a file or a test is added to.
   */
  testCommand(folder: vscode.WorkspaceFolder): { suite: string; narrowable: string } | undefined {
    const configured = this.settings(folder.uri).testCommand.trim();
    if (configured) return { suite: configured, narrowable: configured };
    const root = folder.uri.fsPath;
    const detected = detectTestCommand({
      has: (rel) => existsSync(join(root, rel)),
      read: (rel) => {
        try {
          return readFileSync(join(root, rel), 'utf8');
        } catch {
          return undefined;
        }
      },
      platform: process.platform,
    });
    return detected && { suite: detected.suiteCommand ?? detected.command, narrowable: detected.command };
  }

  /**
   * Runs the tests traced, then shows the run. Resolves when the run and its
   * analysis are done (extension tests await the command's result).
   */
  traceTests(req?: TraceRequest, token?: vscode.CancellationToken): Promise<RunSummary> {
    if (!vscode.workspace.isTrusted) {
      this.setState({ kind: 'untrusted' });
      void vscode.window.showWarningMessage('txlens runs no test command in an untrusted workspace. Trust this workspace to trace its tests.', 'Manage Workspace Trust').then((pick) => {
        if (pick) void vscode.commands.executeCommand('workbench.trust.manage');
      });
      return Promise.resolve({ ok: false, reason: 'untrusted' });
    }
    if (this.running) {
      void vscode.window.showInformationMessage('txlens is already tracing a run; wait for it or cancel it.');
      return Promise.resolve({ ok: false, reason: 'busy' });
    }
    const folder = this.folderFor(req);
    if (!folder) {
      void vscode.window.showErrorMessage('txlens: open a folder with tests to trace them.');
      return Promise.resolve({ ok: false, reason: 'no-folder' });
    }
    const commands = this.testCommand(folder);
    if (!commands) {
      void vscode.window.showErrorMessage('txlens: no test command found. Set txlens.testCommand, e.g. "python -m pytest -q".', 'Open Settings').then((pick) => {
        if (pick) void vscode.commands.executeCommand('workbench.action.openSettings', `${SETTINGS_SECTION}.testCommand`);
      });
      return Promise.resolve({ ok: false, reason: 'no-command' });
    }
    const cwd = folder.uri.fsPath;
    const rel = req?.file ? relative(cwd, req.file).split('\\').join('/') : undefined;
    const command = rel ? commandForSelection(splitCommand(commands.narrowable), rel, req?.test) : splitCommand(commands.suite);
    const abort = new AbortController();
    token?.onCancellationRequested(() => abort.abort());
    const promise = this.runWithProgress(command, cwd, abort, folder).finally(() => (this.running = undefined));
    this.running = { promise, abort };
    return promise;
  }

  private async runWithProgress(command: string[], cwd: string, abort: AbortController, folder: vscode.WorkspaceFolder): Promise<RunSummary> {
    const settings = this.settings(folder.uri);
    this.setState({ kind: 'running', command: command.join(' ') });
    this.output.appendLine(`$ ${command.join(' ')}   (in ${cwd})`);
    return vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'txlens: tracing tests', cancellable: true },
      async (progress, token) => {
        token.onCancellationRequested(() => abort.abort());
        progress.report({ message: command.join(' ') });
        let result: TracedTests;
        try {
          result = await this.engine().traceTests({
            command,
            cwd,
            agentDir: join(this.context.extensionPath, 'dist', 'agents'),
            params: settings.params,
            keepRuns: settings.keepRuns,
            signal: abort.signal,
            output: (text) => this.output.append(text),
          });
        } catch (e) {
          const reason = (e as Error).message;
          this.output.appendLine(`txlens: ${reason}`);
          this.setState({ kind: 'failed', reason });
          void vscode.window.showErrorMessage(`txlens: ${reason}`, 'Show Output').then((pick) => pick && this.output.show(true));
          return (this.lastSummary = { ok: false, reason, command, cwd });
        }
        progress.report({ message: 'analysing the trace' });
        this.show(result);
        const summary = this.summarise(result, command, cwd);
        this.output.appendLine(
          `txlens: ${summary.tests!.length} tests, ${summary.findings!.length} findings${result.cancelled ? ' (cancelled)' : ''}; trace in ${relative(cwd, result.dir)}`,
        );
        return (this.lastSummary = summary);
      },
    );
  }

  private summarise(result: Result, command?: string[], cwd?: string): RunSummary {
    const m = result.model;
    const seen = new Set<string>();
    const tests = m.tests.filter((t) => !seen.has(t.id) && seen.add(t.id)).map((t) => ({ id: t.id, outcome: t.outcome }));
    return {
      ok: true,
      command,
      cwd,
      trace: result.dir,
      exitCode: result.run?.exitCode ?? null,
      cancelled: result.cancelled ?? false,
      tests,
      findings: result.findings.map((f) => ({ rule: f.rule, severity: f.severity, file: f.location.file, line: f.location.line, test: f.test })),
      summary: {
        processes: m.processes.length,
        sessions: m.sessions.length,
        transactions: m.transactions.length,
        commits: m.commits,
        rollbacks: m.rollbacks,
        statements: m.statements.length,
        tests: tests.length,
      },
    };
  }

  /** Shows an analysed run everywhere: CodeLens, notes, hovers, Problems, status bar. */
  private show(result: Result): void {
    const engine = this.engine();
    const analysed = { dir: result.dir, model: result.model, findings: result.findings, ruleErrors: result.ruleErrors };
    const notes = engine.lineNotes(analysed.model);
    const notesByFile = new Map<string, typeof notes>();
    for (const n of notes) {
      const list = notesByFile.get(n.file);
      if (list) list.push(n);
      else notesByFile.set(n.file, [n]);
    }
    this.shown = { engine, analysed, notes, notesByFile };
    if (this.timeline.visible) this.timeline.update(this.timelineView(this.shown));
    const diagnostics: PlainDiagnostic[] = engine.diagnosticsFor(analysed.findings, (rule) => this.runFindings.docsTarget(rule), lineReader());
    this.runFindings.set(diagnostics);
    this.lenses.refresh();
    this.notes.render();
    for (const e of analysed.ruleErrors) this.output.appendLine(`txlens: ${e}`);
    const ids = new Map(analysed.model.tests.map((t) => [t.id, t.outcome]));
    this.setState({
      kind: 'done',
      tests: ids.size,
      failedTests: [...ids.values()].filter((o) => o === 'failed' || o === 'error').length,
      findings: analysed.findings.length,
      errors: analysed.findings.filter((f) => f.severity === 'error').length,
      cancelled: result.cancelled ?? false,
      exitCode: result.run?.exitCode ?? null,
    });
  }

  shownRun(): Shown | undefined {
    return this.shown;
  }

  private traceTestAtCursor(): Promise<RunSummary> {
    const editor = vscode.window.activeTextEditor;
    if (!editor) return this.traceTests();
    const line = editor.selection.active.line + 1;
    const tests = this.index.testsIn(editor.document);
    // The innermost test or suite around the cursor; the whole file when the cursor is outside every test.
    const around = tests.filter((t) => t.line <= line && line <= t.endLine).sort((a, b) => b.line - a.line)[0];
    if (tests.length === 0) {
      void vscode.window.showInformationMessage('txlens: no test at the cursor; tracing the whole suite.');
      return this.traceTests({ folder: editor.document.uri.fsPath });
    }
    return this.traceTests({ file: editor.document.uri.fsPath, test: around });
  }

  private async openTrace(dir?: string): Promise<RunSummary | undefined> {
    if (!dir) {
      const picks: (vscode.QuickPickItem & { dir?: string })[] = [];
      for (const folder of vscode.workspace.workspaceFolders ?? []) {
        for (const { name, dir: path, live, command, terminal } of describeRuns(folder.uri.fsPath)) {
          const detail = command?.join(' ') ?? (terminal ? 'traced in the integrated terminal' : '');
          picks.push({ label: name, description: live ? `${folder.name} · running` : folder.name, detail, dir: path });
        }
      }
      picks.push({ label: '$(folder-opened) Browse…' });
      const pick = await vscode.window.showQuickPick(picks, { title: 'txlens: open a traced run', placeHolder: 'Newest first' });
      if (!pick) return undefined;
      dir = pick.dir;
      if (!dir) {
        const chosen = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, openLabel: 'Open Trace' });
        dir = chosen?.[0]?.fsPath;
      }
      if (!dir) return undefined;
    }
    try {
      const analysed = this.engine().analyseTrace(dir);
      this.show(analysed);
      return (this.lastSummary = this.summarise(analysed));
    } catch (e) {
      void vscode.window.showErrorMessage(`txlens: ${(e as Error).message}`);
      return { ok: false, reason: (e as Error).message };
    }
  }

  private clearTrace(): void {
    this.shown = undefined;
    this.lastSummary = undefined;
    this.runFindings.clear();
    this.lenses.refresh();
    this.notes.render();
    this.setState(vscode.workspace.isTrusted ? { kind: 'idle' } : { kind: 'untrusted' });
  }

  /** Resolves once the webview has drawn the run (extension tests read the lane count from the result). */
  private openTimeline(): Promise<TimelineResult> {
    if (!this.shown) {
      void vscode.window.showInformationMessage('txlens: trace your tests or open a kept trace first; the timeline shows that run.', 'Trace Tests', 'Open Trace…').then((pick) => {
        if (pick) void vscode.commands.executeCommand(pick === 'Trace Tests' ? Command.TraceTests : Command.OpenTrace);
      });
      return Promise.resolve({ title: TIMELINE_PANEL_TITLE, reason: 'no-run' });
    }
    return this.timeline.show(this.timelineView(this.shown));
  }

  private timelineView(shown: Shown) {
    const dir = vscode.Uri.file(shown.analysed.dir);
    const cwd = (vscode.workspace.getWorkspaceFolder(dir) ?? vscode.workspace.workspaceFolders?.[0])?.uri.fsPath ?? shown.analysed.dir;
    return shown.engine.timelineView(shown.analysed.model, shown.analysed.findings, { cwd });
  }

  // ---- static analysis ---------------------------------------------------------------

  private checkerFor(folder: vscode.WorkspaceFolder): Promise<StaticChecker> {
    const root = folder.uri.fsPath;
    let c = this.checkers.get(root);
    if (!c) {
      c = Promise.resolve().then(() => this.engine().createStaticChecker(root));
      this.checkers.set(root, c);
    }
    return c;
  }

  private staticDiagnostics(findings: Parameters<Engine['diagnosticsFor']>[0]): PlainDiagnostic[] {
    return this.engine().diagnosticsFor(findings, (rule) => this.staticFindings.docsTarget(rule), lineReader());
  }

  private checkDocument(doc: vscode.TextDocument): void {
    if (doc.uri.scheme !== 'file' || !SOURCE_LANGUAGES.has(doc.languageId)) return;
    const folder = vscode.workspace.getWorkspaceFolder(doc.uri);
    if (!folder || !this.settings(doc.uri).staticAnalysis) return;
    void this.checkerFor(folder)
      .then((checker) => checker.update(doc.uri.fsPath))
      .then((result) => this.staticFindings.set(this.staticDiagnostics(result.findings), result.affected))
      .catch((e) => this.output.appendLine(`txlens: static check of ${doc.uri.fsPath} failed: ${(e as Error).message}`));
  }

  private async checkWorkspace(): Promise<{ findings: number; notes: string[] }> {
    const all: PlainDiagnostic[] = [];
    const notes: string[] = [];
    await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: 'txlens: checking the workspace' }, async () => {
      for (const folder of vscode.workspace.workspaceFolders ?? []) {
        const result = await (await this.checkerFor(folder)).check();
        all.push(...this.staticDiagnostics(result.findings));
        notes.push(...result.notes);
      }
    });
    this.staticFindings.set(all);
    for (const n of notes) this.output.appendLine(`txlens: ${n}`);
    return { findings: all.length, notes };
  }

  // ---- terminal tracing --------------------------------------------------------------------

  private applyTerminalTracing(): void {
    const env = this.context.environmentVariableCollection;
    env.clear();
    const folder = vscode.workspace.workspaceFolders?.[0];
    if (!folder || !vscode.workspace.isTrusted || !this.settings(folder.uri).traceTerminal) return;
    const root = folder.uri.fsPath;
    let traceDir: string;
    try {
      traceDir = terminalRunDir(root, this.settings(folder.uri).keepRuns);
    } catch (e) {
      this.output.appendLine(`txlens: terminal tracing is off: ${(e as Error).message}`);
      return;
    }
    const mutations = terminalEnvMutations(process.env, {
      traceDir,
      workspace: root,
      agentDir: join(this.context.extensionPath, 'dist', 'agents'),
      params: this.settings(folder.uri).params,
    });
    env.description = 'txlens traces the tests you run in this terminal (setting txlens.traceTerminal).';
    for (const m of mutations) {
      if (m.op === 'prepend') env.prepend(m.name, m.value);
      else if (m.op === 'append') env.append(m.name, m.value);
      else env.replace(m.name, m.value);
    }
  }

  // ---- for extension tests -----------------------------------------------------------------

  /** Resolves when the current run (if any) is over. */
  whenIdle(): Promise<unknown> {
    return this.running?.promise ?? Promise.resolve();
  }

  private stateForTests(): unknown {
    const s = statusText(this.state);
    return {
      trusted: vscode.workspace.isTrusted,
      running: this.running !== undefined,
      state: this.state.kind,
      status: s.text,
      lastRun: this.lastSummary,
      lineNotes: this.shown?.notes.map((n) => ({ file: n.file, line: n.line, text: n.text, attention: n.attention })) ?? [],
      diagnostics: this.runFindings.count(),
      staticDiagnostics: this.staticFindings.count(),
      engineLoaded: this.shown !== undefined || this.checkers.size > 0,
      timeline: this.timeline.rendered ?? null,
      testing: this.testing.lastReported ?? null,
    };
  }

  dispose(): void {
    this.running?.abort.abort();
    this.context.environmentVariableCollection.clear();
    for (const d of this.disposables.splice(0).reverse()) d.dispose();
  }
}
