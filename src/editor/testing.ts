/**
 * The Testing view: a test controller whose tests come from the same locator
 * as the CodeLens, with one run profile, "Run with txlens", that traces the
 * chosen tests and reports each test's outcome and findings.
 */
import { relative } from 'node:path';
import * as vscode from 'vscode';
import type { RunSummary, TraceRequest } from './txlens';
import { isTestFileName, languageOf, LocatedTest, TEST_FILE_GLOB } from './present/locate';
import type { Shown, TestIndex } from './views';

const SKIP_GLOB = '**/{node_modules,.venv,venv,.tox,.txlens,.git,dist,out,site-packages}/**';

interface ItemData {
  file: string;
  test?: LocatedTest;
}

/** What the last "Run with txlens" reported for one test item (extension tests read it through txlens._state). */
export interface ReportedResult {
  id: string;
  label: string;
  result: 'passed' | 'failed' | 'skipped';
  messages: string[];
}

export class TxlensTesting implements vscode.Disposable {
  private controller?: vscode.TestController;
  private readonly data = new WeakMap<vscode.TestItem, ItemData>();
  private readonly watchers: vscode.Disposable[] = [];
  /** The results the last run reported, once it ended. */
  lastReported?: ReportedResult[];

  constructor(
    private readonly index: TestIndex,
    private readonly trace: (req: TraceRequest, token: vscode.CancellationToken) => Promise<RunSummary>,
    private readonly shown: () => Shown | undefined,
  ) {}

  enable(on: boolean): void {
    if (on && !this.controller) this.create();
    else if (!on && this.controller) this.teardown();
  }

  private create(): void {
    const c = vscode.tests.createTestController('txlens', 'txlens');
    this.controller = c;
    c.resolveHandler = async (item) => {
      if (!item) await this.discover();
      else await this.refreshFile(item);
    };
    c.createRunProfile('Run with txlens', vscode.TestRunProfileKind.Run, (req, token) => this.run(req, token), true);
    const onDoc = (doc: vscode.TextDocument) => {
      if (doc.uri.scheme === 'file' && isTestFileName(doc.fileName) && languageOf(doc.languageId)) void this.refreshFile(this.fileItem(doc.uri), doc);
    };
    this.watchers.push(vscode.workspace.onDidOpenTextDocument(onDoc), vscode.workspace.onDidChangeTextDocument((e) => onDoc(e.document)));
  }

  private async discover(): Promise<void> {
    const uris = await vscode.workspace.findFiles(TEST_FILE_GLOB, SKIP_GLOB, 2000);
    for (const uri of uris) this.fileItem(uri).canResolveChildren = true;
  }

  private fileItem(uri: vscode.Uri): vscode.TestItem {
    const c = this.controller!;
    const existing = c.items.get(uri.toString());
    if (existing) return existing;
    const folder = vscode.workspace.getWorkspaceFolder(uri);
    const label = folder ? relative(folder.uri.fsPath, uri.fsPath).split('\\').join('/') : uri.fsPath;
    const item = c.createTestItem(uri.toString(), label, uri);
    item.canResolveChildren = true;
    this.data.set(item, { file: uri.fsPath });
    c.items.add(item);
    return item;
  }

  private async refreshFile(item: vscode.TestItem, doc?: vscode.TextDocument): Promise<void> {
    const c = this.controller;
    const uri = item.uri;
    if (!c || !uri) return;
    const d = doc ?? (await vscode.workspace.openTextDocument(uri));
    const tests = this.index.testsIn(d);
    // Rebuild the tree: suites hold the tests whose path they prefix.
    const byPath = new Map<string, vscode.TestItem>();
    const roots: vscode.TestItem[] = [];
    for (const t of tests) {
      const id = `${uri.toString()}::${t.path.join('::')}`;
      const child = c.createTestItem(id, t.name, uri);
      child.range = new vscode.Range(t.line - 1, 0, t.endLine - 1, 0);
      this.data.set(child, { file: uri.fsPath, test: t });
      const parent = byPath.get(t.path.slice(0, -1).join('::'));
      if (parent) parent.children.add(child);
      else roots.push(child);
      byPath.set(t.path.join('::'), child);
    }
    item.children.replace(roots);
    item.canResolveChildren = false;
  }

  private async run(request: vscode.TestRunRequest, token: vscode.CancellationToken): Promise<void> {
    const c = this.controller!;
    const run = c.createTestRun(request, 'txlens', true);
    if (!request.include && c.items.size === 0) await this.discover();
    const chosen = request.include ?? [...collect(c.items)];
    // Files nobody expanded yet: find their tests first, so each gets its own result.
    await Promise.all(chosen.filter((i) => i.canResolveChildren && !this.data.get(i)?.test).map((i) => this.refreshFile(i)));
    const leaves: vscode.TestItem[] = [];
    const walk = (item: vscode.TestItem) => {
      if (request.exclude?.includes(item)) return;
      if (item.children.size === 0) leaves.push(item);
      item.children.forEach(walk);
    };
    chosen.forEach(walk);
    for (const l of leaves) run.started(l);
    // One item narrows the command to it; several run the whole suite (runners take one selection well).
    const one = request.include?.length === 1 ? this.data.get(request.include[0]) : undefined;
    const summary = await this.trace(one ? { file: one.file, test: one.test } : {}, token);
    const shown = this.shown();
    const reported: ReportedResult[] = [];
    for (const leaf of leaves) {
      const d = this.data.get(leaf);
      const lens = d?.test && shown ? shown.engine.testLens(shown.analysed.model, shown.analysed.findings, d.file, d.test) : undefined;
      if (!summary.ok || !lens) {
        run.skipped(leaf);
        reported.push({ id: leaf.id, label: leaf.label, result: 'skipped', messages: [] });
        continue;
      }
      run.appendOutput(`${d!.test!.path.join(' › ')}: ${lens.text}\r\n`, undefined, leaf);
      if (lens.passed) {
        run.passed(leaf);
        reported.push({ id: leaf.id, label: leaf.label, result: 'passed', messages: [] });
      } else {
        const messages = lens.tests.filter((t) => t.message).map((t) => new vscode.TestMessage(t.message!));
        for (const f of lens.findings) {
          const m = new vscode.TestMessage(`${f.rule}: ${f.message}`);
          m.location = new vscode.Location(vscode.Uri.file(f.location.file), new vscode.Position(f.location.line - 1, 0));
          messages.push(m);
        }
        const shownMessages = messages.length ? messages : [new vscode.TestMessage('failed')];
        run.failed(leaf, shownMessages);
        reported.push({ id: leaf.id, label: leaf.label, result: 'failed', messages: shownMessages.map((m) => String(typeof m.message === 'string' ? m.message : m.message.value)) });
      }
    }
    run.end();
    this.lastReported = reported;
  }

  private teardown(): void {
    this.controller?.dispose();
    this.controller = undefined;
    for (const w of this.watchers.splice(0)) w.dispose();
  }

  dispose(): void {
    this.teardown();
  }
}

function* collect(items: vscode.TestItemCollection): Iterable<vscode.TestItem> {
  const out: vscode.TestItem[] = [];
  items.forEach((i) => out.push(i));
  yield* out;
}
