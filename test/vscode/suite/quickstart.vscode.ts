// The extension in a real VS Code on the bundled example (examples/quickstart,
// three tests failing on purpose): Trace Tests, then what a person sees:
// CodeLens over the tests, diagnostics with rule ids, the hover's session
// story, a quick-fix that makes its test pass on the next traced run, and the
// session timeline.
//
// The workspace is a scratch copy of the example whose .vscode/settings.json
// points txlens.testCommand at a Python environment with SQLAlchemy 2.0 and
// pytest (scripts/vscode-e2e.mjs and test/vscode/run-electron.mjs prepare it).
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { queryFrames, screenshot, skip, sleep, test } from './harness';

const EXTENSION_ID = 'txlens.txlens';
const FAILING_TEST = 'tests/test_jobs.py::test_failed_job_is_reported';

/** Lines as the editor numbers them in the example (1-based, as people read them). */
const LINES = {
  testCreateJob: 5, // tests/test_jobs.py: def test_create_job
  testFailedJob: 16, // tests/test_jobs.py: def test_failed_job_is_reported
  workerImport: 8, // app/worker.py: job = session.get(Job, job_id), on the dev database
  workerFlush: 21, // app/worker.py: session.flush(), the UPDATE that is never committed
  workerClose: 22, // app/worker.py: session.close() without commit
  listJobs: 17, // app/jobs.py: the read that cannot see the fixture's flushed row
};

function workspaceRoot(): vscode.Uri {
  const folder = vscode.workspace.workspaceFolders?.[0];
  assert.ok(folder, 'the suite runs with the quickstart copy open as the workspace folder');
  return folder.uri;
}
const fileUri = (rel: string) => vscode.Uri.joinPath(workspaceRoot(), rel);

async function open(rel: string, line: number): Promise<vscode.TextEditor> {
  const doc = await vscode.workspace.openTextDocument(fileUri(rel));
  const editor = await vscode.window.showTextDocument(doc, { preview: false, viewColumn: vscode.ViewColumn.One });
  const pos = new vscode.Position(line - 1, doc.lineAt(line - 1).firstNonWhitespaceCharacterIndex);
  editor.selection = new vscode.Selection(pos, pos);
  editor.revealRange(new vscode.Range(pos, pos), vscode.TextEditorRevealType.InCenter);
  return editor;
}

function codeOf(d: vscode.Diagnostic): string | undefined {
  const c = d.code;
  if (c === undefined) return undefined;
  return typeof c === 'object' ? String(c.value) : String(c);
}

function describe(ds: readonly vscode.Diagnostic[]): string {
  return ds.map((d) => `${codeOf(d)}@${d.range.start.line + 1}: ${d.message}`).join('\n') || '(none)';
}

/** The diagnostics of `rel`, waiting briefly for them to be published after a run. */
async function diagnosticsOf(rel: string, until: (ds: readonly vscode.Diagnostic[]) => boolean): Promise<readonly vscode.Diagnostic[]> {
  const uri = fileUri(rel);
  let ds = vscode.languages.getDiagnostics(uri);
  for (let i = 0; i < 50 && !until(ds); i++) {
    await sleep(100);
    ds = vscode.languages.getDiagnostics(uri);
  }
  return ds;
}

function hoverText(hovers: vscode.Hover[]): string {
  return hovers
    .flatMap((h) => h.contents)
    .map((c) => (typeof c === 'string' ? c : 'value' in c ? c.value : ''))
    .join('\n');
}

/** What `txlens._state` returns: only the parts these tests read, each optional so a shape change fails with a message. */
interface State {
  summary?: { tests?: number; sessions?: number; transactions?: number; statements?: number };
  tests?: { id: string; outcome?: string }[];
  findings?: { rule: string; test?: string }[];
  [key: string]: unknown;
}

async function state(): Promise<State> {
  const s = await vscode.commands.executeCommand<State>('txlens._state');
  assert.ok(s && typeof s === 'object', `txlens._state returned ${JSON.stringify(s)}`);
  return s;
}

async function traceTests(): Promise<State> {
  await vscode.commands.executeCommand('txlens.traceTests');
  return state();
}

test('the extension activates in a pytest workspace and registers its commands', async () => {
  const ext = vscode.extensions.getExtension(EXTENSION_ID);
  assert.ok(ext, `${EXTENSION_ID} is loaded as the extension under development`);
  await ext.activate();
  assert.ok(ext.isActive);
  const commands = await vscode.commands.getCommands(true);
  for (const id of ['txlens.traceTests', 'txlens._state']) assert.ok(commands.includes(id), `${id} is registered`);
});

test('Trace Tests runs the workspace tests under capture and analyses the run', async () => {
  const s = await traceTests();
  assert.equal(s.summary?.tests, 4, `four tests ran: ${JSON.stringify(s.summary)}`);
  assert.ok((s.summary?.sessions ?? 0) >= 4, `sessions were traced: ${JSON.stringify(s.summary)}`);
});

test('CodeLens over a test tells what its sessions and transactions did', async () => {
  const editor = await open('tests/test_jobs.py', LINES.testFailedJob);
  const lenses = await vscode.commands.executeCommand<vscode.CodeLens[]>(
    'vscode.executeCodeLensProvider',
    editor.document.uri,
    100, // resolve them all, as the editor does for visible ones
  );
  const over = (line: number) =>
    lenses.filter((l) => l.range.start.line === line - 1).map((l) => l.command?.title ?? '').filter(Boolean);
  const failed = over(LINES.testFailedJob).join(' | ');
  assert.match(failed, /\d+ sessions?/, `CodeLens over test_failed_job_is_reported: ${failed}`);
  assert.match(failed, /\d+ transactions?/, `CodeLens over test_failed_job_is_reported: ${failed}`);
  assert.match(failed, /missing-commit|finding/, `CodeLens names the finding: ${failed}`);
  const passing = over(LINES.testCreateJob).join(' | ');
  assert.match(passing, /Trace/, `a Trace action over test_create_job: ${passing}`);
  await screenshot('01-codelens');
});

test('a missing-commit diagnostic at app/worker.py:22, and the other findings where they belong', async () => {
  const worker = await diagnosticsOf('app/worker.py', (ds) => ds.some((d) => codeOf(d) === 'missing-commit'));
  const missing = worker.find((d) => codeOf(d) === 'missing-commit');
  assert.ok(missing, `missing-commit among app/worker.py diagnostics:\n${describe(worker)}`);
  assert.equal(missing.range.start.line + 1, LINES.workerClose, describe([missing]));
  assert.equal(missing.severity, vscode.DiagnosticSeverity.Error);
  assert.equal(missing.source, 'txlens');
  const wrongDb = worker.find((d) => codeOf(d) === 'non-test-database');
  assert.ok(wrongDb, `non-test-database among app/worker.py diagnostics:\n${describe(worker)}`);
  assert.equal(wrongDb.range.start.line + 1, LINES.workerImport, describe([wrongDb]));
  const jobs = await diagnosticsOf('app/jobs.py', (ds) => ds.some((d) => codeOf(d) === 'uncommitted-read'));
  const unseen = jobs.find((d) => codeOf(d) === 'uncommitted-read');
  assert.ok(unseen, `uncommitted-read among app/jobs.py diagnostics:\n${describe(jobs)}`);
  assert.equal(unseen.range.start.line + 1, LINES.listJobs, describe([unseen]));

  await open('app/worker.py', LINES.workerClose);
  await vscode.commands.executeCommand('workbench.actions.view.problems');
  await screenshot('02-diagnostics');
  await vscode.commands.executeCommand('workbench.action.closePanel');
});

test('the hover over the flushed UPDATE tells its session story', async () => {
  const editor = await open('app/worker.py', LINES.workerFlush);
  const position = new vscode.Position(LINES.workerFlush - 1, editor.document.lineAt(LINES.workerFlush - 1).firstNonWhitespaceCharacterIndex + 2);
  const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', editor.document.uri, position);
  const text = hoverText(hovers);
  assert.match(text, /txlens/, `the txlens hover on app/worker.py:${LINES.workerFlush}:\n${text}`);
  assert.match(text, /UPDATE jobs/, text);
  assert.match(text, /session closed without commit/, text);
  editor.selection = new vscode.Selection(position, position);
  await vscode.commands.executeCommand('editor.action.showHover');
  await screenshot('03-hover');
  await vscode.commands.executeCommand('editor.action.hideHover').then(undefined, () => undefined);
});

test('the missing-commit quick-fix, applied, makes its test pass on the next traced run', async () => {
  const editor = await open('app/worker.py', LINES.workerClose);
  const uri = editor.document.uri;
  const missing = vscode.languages.getDiagnostics(uri).find((d) => codeOf(d) === 'missing-commit');
  assert.ok(missing, 'the missing-commit diagnostic is still there');
  const actions = await vscode.commands.executeCommand<vscode.CodeAction[]>(
    'vscode.executeCodeActionProvider',
    uri,
    missing.range,
    vscode.CodeActionKind.QuickFix.value,
  );
  const fixes = actions.filter((a) => a.diagnostics?.some((d) => codeOf(d) === 'missing-commit') && a.edit);
  assert.ok(fixes.length > 0, `a quick-fix with an edit for missing-commit: ${actions.map((a) => a.title).join(' | ') || '(no actions)'}`);
  const fix = fixes.find((a) => a.isPreferred) ?? fixes[0];

  editor.selection = new vscode.Selection(missing.range.start, missing.range.start);
  await vscode.commands.executeCommand('editor.action.quickFix');
  await screenshot('04-quickfix');
  await vscode.commands.executeCommand('hideCodeActionWidget').then(undefined, () => undefined);

  assert.ok(await vscode.workspace.applyEdit(fix.edit!), `applying "${fix.title}"`);
  const doc = await vscode.workspace.openTextDocument(uri);
  assert.ok(await doc.save(), 'saving app/worker.py');
  const markFailed = doc.getText().slice(doc.getText().indexOf('def mark_failed'));
  assert.match(markFailed, /session\.commit\(\)/, `the fix commits in mark_failed:\n${markFailed}`);

  const after = await traceTests();
  const outcome = after.tests?.find((t) => t.id === FAILING_TEST)?.outcome;
  assert.equal(outcome, 'passed', `${FAILING_TEST} after the fix: ${JSON.stringify(after.tests)}`);
  const worker = await diagnosticsOf('app/worker.py', (ds) => !ds.some((d) => codeOf(d) === 'missing-commit'));
  assert.ok(!worker.some((d) => codeOf(d) === 'missing-commit'), `no missing-commit left:\n${describe(worker)}`);
  await open('tests/test_jobs.py', LINES.testFailedJob);
  await screenshot('05-after-fix');
});

skip('the session timeline renders one lane per session', 'the timeline webview is not built yet', async () => {
  await vscode.commands.executeCommand('txlens.openTimeline');
  const found = await queryFrames('timeline-lanes', '[data-lane]');
  await screenshot('06-timeline');
  if (found === undefined) return; // desktop VS Code: no browser driver to look inside the webview
  const lanes = found.flatMap((f) => f.texts);
  assert.ok(lanes.length > 1, `the timeline drew a lane per session: ${JSON.stringify(found)}`);
  assert.ok(lanes.every((t) => /S\d+/.test(t)), `each lane is labelled with its session: ${JSON.stringify(lanes)}`);
});
