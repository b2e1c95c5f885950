// The extension in a real VS Code on a TypeScript project: notes on
// better-sqlite3, tested under node:test through tsx (a copy of the buggy
// test/fixtures/node/sqlite-ts, prepared by test/vscode/workspace.mjs). Nothing
// tells txlens the test command: it reads package.json. Two sessions:
//
// - 'node' (trusted): the Trace CodeLens and Trace Test at Cursor trace one test
//   with node's own name filter; Trace Tests traces the suite; the findings land
//   in Problems at the TypeScript lines, with the hover and the after-line note;
//   the session timeline shows the run; the Testing view's "Run with txlens"
//   profile runs one test and reports its outcome and finding.
// - 'node-untrusted': the same project in restricted mode: every way to run a
//   test (commands, CodeLens, Testing profile) runs nothing and traces nothing.
import * as assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { queryFrames, screenshot, sleep, suite, test } from './harness';
import { type RunSummary, diagnosticAt, hoverText, lensTitles, lenses, open, workspaceRoot } from './workbench';

const EXTENSION_ID = 'txlens.txlens';
const TEST_FILE = 'test/notes.test.ts';
const APP_FILE = 'app/notes.ts';
/** The file the untrusted copy's test command would create (UNTRUSTED_SENTINEL in test/vscode/workspace.mjs). */
const UNTRUSTED_SENTINEL = 'command-ran.txt';

/** Lines as the editor numbers them (1-based). */
const LINES = {
  savedDraft: 15, // test/notes.test.ts: test('a saved draft is kept'
  importAll: 21, // test/notes.test.ts: test('an import stores every note and a summary'
  tagsListed: 28, // test/notes.test.ts: test('tags created on the store are listed'
  draftInsert: 14, // app/notes.ts: the INSERT inside BEGIN
  draftClose: 15, // app/notes.ts: db.close() without COMMIT
  memoryOpen: 38, // app/notes.ts: new Database(':memory:') in openStore()
};

const ID = {
  savedDraft: `${TEST_FILE} > notes > a saved draft is kept`,
  importAll: `${TEST_FILE} > notes > an import stores every note and a summary`,
  tagsListed: `${TEST_FILE} > tags created on the store are listed`,
};

interface State {
  trusted: boolean;
  running: boolean;
  lastRun?: RunSummary;
  lineNotes: { file: string; line: number; text: string; attention: boolean }[];
  diagnostics: number;
  testing: { id: string; label: string; result: string; messages: string[] }[] | null;
}

const state = () => vscode.commands.executeCommand<State>('txlens._state');

function outcomes(run: RunSummary | undefined): Record<string, string | undefined> {
  return Object.fromEntries((run?.tests ?? []).map((t) => [t.id, t.outcome]));
}

/** The Trace action over the test at `line`, as the editor offers it. */
async function traceAction(line: number): Promise<vscode.Command> {
  const all = await lenses(TEST_FILE);
  const action = all.find((l) => l.range.start.line === line - 1 && l.command?.command === 'txlens.traceTests')?.command;
  assert.ok(action, `a Trace action at ${TEST_FILE}:${line}: ${all.map((l) => `${l.range.start.line + 1} ${l.command?.title}`).join(' | ')}`);
  return action;
}

/** Runs the test at the cursor through the Testing view (its default profile, "Run with txlens"), and returns what the profile reported. */
async function runInTestingView(line: number): Promise<State['testing']> {
  const before = (await state()).testing;
  await open(TEST_FILE, line + 1);
  // The Testing view learns the file's tests when it is opened; give it a moment before asking for the test at the cursor.
  await sleep(1000);
  await vscode.commands.executeCommand('testing.runAtCursor');
  let now = await state();
  for (const deadline = Date.now() + 120_000; (now.testing === before || now.running) && Date.now() < deadline; await sleep(250)) now = await state();
  assert.notEqual(now.testing, before, 'the "Run with txlens" profile ran and reported');
  return now.testing;
}

// ---- the trusted project -------------------------------------------------------------------

suite('node');

test('the extension activates in a TypeScript project and offers Trace over each node:test test', async () => {
  const ext = vscode.extensions.getExtension(EXTENSION_ID);
  assert.ok(ext, `${EXTENSION_ID} is loaded as the extension under development`);
  await ext.activate();
  assert.ok(ext.isActive);
  assert.equal(vscode.workspace.isTrusted, true);
  await open(TEST_FILE, LINES.savedDraft);
  for (const line of [LINES.savedDraft, LINES.importAll, LINES.tagsListed]) {
    assert.match(await lensTitles(TEST_FILE, line), /\bTrace\b/, `a Trace CodeLens at ${TEST_FILE}:${line}`);
  }
  await screenshot('node-01-codelens-before');
});

test('the Trace CodeLens over a TypeScript test traces that test alone, with node\'s own name filter', async () => {
  const action = await traceAction(LINES.importAll);
  const one = await vscode.commands.executeCommand<RunSummary>(action.command, ...(action.arguments ?? []));
  assert.equal(one?.ok, true, JSON.stringify(one));
  assert.deepEqual(one.command, ['node', '--import', 'tsx', '--test', '--test-name-pattern=an import stores every note and a summary', TEST_FILE]);
  assert.deepEqual(outcomes(one), { [ID.importAll]: 'passed' });
  assert.deepEqual(one.findings, [], 'the import commits: nothing to report');
  assert.ok((one.summary?.commits ?? 0) >= 1 && (one.summary?.statements ?? 0) > 0, `its statements and commit were traced: ${JSON.stringify(one.summary)}`);
});

test('Trace Test at Cursor traces the test around the cursor', async () => {
  await open(TEST_FILE, LINES.tagsListed + 2);
  const one = await vscode.commands.executeCommand<RunSummary>('txlens.traceTestAtCursor');
  assert.equal(one?.ok, true, JSON.stringify(one));
  assert.ok(one.command?.includes('--test-name-pattern=tags created on the store are listed'), JSON.stringify(one.command));
  assert.deepEqual(outcomes(one), { [ID.tagsListed]: 'failed' });
  assert.deepEqual(
    one.findings?.map((f) => `${f.rule}@${f.file.split(/[\\/]/).slice(-2).join('/')}:${f.line}`),
    [`sqlite-memory-isolation@${APP_FILE}:${LINES.memoryOpen}`],
  );
});

test('Trace Tests runs the script package.json names, and finds both bugs at their TypeScript lines', async () => {
  const run = await vscode.commands.executeCommand<RunSummary>('txlens.traceTests');
  assert.equal(run?.ok, true, JSON.stringify(run));
  assert.deepEqual(run.command, ['npm', 'test'], 'the test script names the TypeScript file; node 20 finds none by itself');
  assert.deepEqual(outcomes(run), { [ID.savedDraft]: 'failed', [ID.importAll]: 'passed', [ID.tagsListed]: 'failed' });
  const errors = (run.findings ?? []).filter((f) => f.severity === 'error');
  const at = (f: { rule: string; file: string; line: number }) => `${f.rule}@${f.file.split(/[\\/]/).slice(-2).join('/')}:${f.line}`;
  assert.deepEqual(errors.map(at).sort(), [`missing-commit@${APP_FILE}:${LINES.draftClose}`, `sqlite-memory-isolation@${APP_FILE}:${LINES.memoryOpen}`]);
  assert.equal(errors.find((f) => f.rule === 'missing-commit')?.test, ID.savedDraft);
  assert.ok((await state()).diagnostics >= 2, 'the findings are published as diagnostics');
});

test('the CodeLens over a TypeScript test tells what its connections and transactions did', async () => {
  await open(TEST_FILE, LINES.savedDraft);
  const failed = await lensTitles(TEST_FILE, LINES.savedDraft);
  assert.match(failed, /\bTrace\b/, failed);
  assert.match(failed, /\bfailed\b/, failed);
  assert.match(failed, /\b1 transaction\b/, failed);
  // better-sqlite3 used directly has no ORM session: the lens does not read '0 sessions'.
  assert.doesNotMatch(failed, /\bsessions?\b/, failed);
  assert.match(failed, /\b1 finding\b/, failed);
  const passing = await lensTitles(TEST_FILE, LINES.importAll);
  assert.doesNotMatch(passing, /\bfailed\b/, passing);
  assert.match(passing, /\b0 findings\b/, passing);
  await screenshot('node-02-codelens');
});

test('Problems shows each finding at its TypeScript line, pointing at the statements involved', async () => {
  const missing = await diagnosticAt(APP_FILE, 'missing-commit', LINES.draftClose);
  assert.equal(missing.severity, vscode.DiagnosticSeverity.Error);
  assert.match(missing.message, /INSERT into notes/, missing.message);
  assert.ok(
    missing.relatedInformation?.some((r) => r.location.uri.path.endsWith(`/${APP_FILE}`) && r.location.range.start.line + 1 === LINES.draftInsert),
    `missing-commit points at the INSERT it lost: ${JSON.stringify(missing.relatedInformation?.map((r) => [r.location.uri.path, r.location.range.start.line + 1]))}`,
  );
  const memory = await diagnosticAt(APP_FILE, 'sqlite-memory-isolation', LINES.memoryOpen);
  assert.equal(memory.severity, vscode.DiagnosticSeverity.Error);
  assert.match(memory.message, /:memory:/, memory.message);
  await open(APP_FILE, LINES.draftClose);
  await vscode.commands.executeCommand('workbench.actions.view.problems');
  await screenshot('node-03-problems');
  await vscode.commands.executeCommand('workbench.action.closePanel');
});

test('the hover and the after-line note over the lost INSERT tell its story', async () => {
  const editor = await open(APP_FILE, LINES.draftInsert);
  const line = editor.document.lineAt(LINES.draftInsert - 1);
  const position = new vscode.Position(LINES.draftInsert - 1, line.firstNonWhitespaceCharacterIndex + 2);
  const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', editor.document.uri, position);
  const text = hoverText(hovers);
  assert.match(text, /txlens/, `the txlens hover on ${APP_FILE}:${LINES.draftInsert}:\n${text}`);
  assert.match(text, /INSERT/, text);
  assert.match(text, /without commit|never committed|rolled back/, text);

  const notes = (await state()).lineNotes.filter((n) => n.file.endsWith(APP_FILE));
  const note = notes.find((n) => n.line === LINES.draftInsert);
  assert.ok(note, `an after-line note at ${APP_FILE}:${LINES.draftInsert}: ${JSON.stringify(notes)}`);
  assert.match(note.text, /INSERT notes/, note.text);
  assert.equal(note.attention, true, 'a write that was never committed asks for attention');
  editor.selection = new vscode.Selection(position, position);
  await vscode.commands.executeCommand('editor.action.showHover');
  await screenshot('node-04-hover-and-note');
  await vscode.commands.executeCommand('editor.action.hideHover').then(undefined, () => undefined);
});

interface TimelineResult {
  rendered?: { lanes: number; bars: number; ticks: number; arrows: number; markers: number; laneIds: string[] };
  reason?: string;
}

test('the session timeline shows the run: a lane per connection, its transactions and the findings', async () => {
  const run = (await state()).lastRun;
  assert.ok(run?.ok && run.command?.join(' ') === 'npm test', `the whole suite's run is the one shown: ${JSON.stringify(run?.command)}`);
  const result = await vscode.commands.executeCommand<TimelineResult>('txlens.openTimeline');
  const drawn = result?.rendered;
  assert.ok(drawn, `the timeline page reported what it drew: ${JSON.stringify(result)}`);
  // better-sqlite3 has no ORM session: each handle is a connection lane.
  assert.ok(drawn.lanes >= 2 && drawn.laneIds.every((id) => /^[SC]\d+$/.test(id)), JSON.stringify(drawn));
  // It opens on the tests that failed or have findings: the draft's lost transaction is drawn, the passing import's commit is a pick away.
  assert.ok(drawn.bars >= (run.summary?.rollbacks ?? 1), `a bar for the lost transaction: ${JSON.stringify(drawn)} for ${JSON.stringify(run.summary)}`);
  assert.ok(drawn.ticks > 0, JSON.stringify(drawn));
  assert.ok(drawn.markers >= (run.findings?.length ?? 1), `a marker per finding: ${JSON.stringify(drawn)}`);
  let found = await queryFrames('node-timeline-lanes', '[data-lane]');
  for (const deadline = Date.now() + 30_000; found && found.flatMap((f) => f.texts).length < drawn.lanes && Date.now() < deadline; ) {
    await sleep(500);
    found = await queryFrames('node-timeline-lanes', '[data-lane]');
  }
  await screenshot('node-05-timeline');
  await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
  if (found === undefined) return; // desktop VS Code: no browser driver to look inside the webview
  assert.deepEqual(found.flatMap((f) => f.data.map((d) => d['data-lane'])), drawn.laneIds, `lanes in the webview: ${JSON.stringify(found)}`);
});

test('the Testing view\'s "Run with txlens" runs one TypeScript test and reports its outcome and finding', async () => {
  const reported = await runInTestingView(LINES.savedDraft);
  assert.deepEqual(
    reported?.map((r) => [r.label, r.result]),
    [['a saved draft is kept', 'failed']],
    `what the profile reported: ${JSON.stringify(reported)}`,
  );
  assert.ok(reported[0].messages.some((m) => /^missing-commit: /.test(m)), JSON.stringify(reported[0].messages));
  const run = (await state()).lastRun;
  assert.deepEqual(run?.command, ['node', '--import', 'tsx', '--test', '--test-name-pattern=a saved draft is kept', TEST_FILE]);
  assert.deepEqual(outcomes(run), { [ID.savedDraft]: 'failed' });
  await vscode.commands.executeCommand('workbench.view.testing.focus').then(undefined, () => undefined);
  await screenshot('node-06-testing-view');
});

// ---- the same project, untrusted ------------------------------------------------------------

suite('node-untrusted');

/** Nothing ran: no trace folder, and not the configured command either (it would leave the sentinel). */
function assertNothingRan(what: string): void {
  const root = workspaceRoot().fsPath;
  assert.ok(!existsSync(join(root, '.txlens')), `${what}: no trace was written`);
  assert.ok(!existsSync(join(root, UNTRUSTED_SENTINEL)), `${what}: the test command did not run`);
}

test('an untrusted TypeScript project still shows its tests, and the extension says why it will not run them', async () => {
  const ext = vscode.extensions.getExtension(EXTENSION_ID);
  assert.ok(ext);
  await ext.activate();
  assert.equal(vscode.workspace.isTrusted, false, 'the workspace opened in restricted mode');
  const s = await state();
  assert.equal(s.trusted, false);
  await open(TEST_FILE, LINES.savedDraft);
  assert.match(await lensTitles(TEST_FILE, LINES.savedDraft), /\bTrace\b/);
  assertNothingRan('opening the project');
});

test('Trace Tests, the Trace CodeLens and Trace Test at Cursor run nothing in an untrusted workspace', async () => {
  const all = await vscode.commands.executeCommand<RunSummary>('txlens.traceTests');
  assert.deepEqual(all, { ok: false, reason: 'untrusted' });
  const action = await traceAction(LINES.savedDraft);
  const one = await vscode.commands.executeCommand<RunSummary>(action.command, ...(action.arguments ?? []));
  assert.deepEqual(one, { ok: false, reason: 'untrusted' });
  await open(TEST_FILE, LINES.tagsListed + 1);
  const atCursor = await vscode.commands.executeCommand<RunSummary>('txlens.traceTestAtCursor');
  assert.deepEqual(atCursor, { ok: false, reason: 'untrusted' });
  const s = await state();
  assert.equal(s.running, false);
  assert.equal(s.lastRun, undefined, 'no run was recorded');
  await sleep(1000); // a process started by mistake would have written by now
  assertNothingRan('the trace commands');
  await screenshot('node-untrusted-01-commands');
});

test('the Testing view\'s "Run with txlens" runs nothing in an untrusted workspace', async () => {
  await open(TEST_FILE, LINES.savedDraft + 1);
  await sleep(1000);
  // In restricted mode VS Code asks for trust before it calls any run profile, and the request stays
  // open while nobody answers: the run is started, not awaited.
  void vscode.commands.executeCommand('testing.runAtCursor').then(undefined, () => undefined);
  await sleep(5000);
  const s = await state();
  assert.equal(s.testing, null, `the profile reported nothing: ${JSON.stringify(s.testing)}`);
  assert.equal(s.lastRun, undefined, 'no run was recorded');
  assert.equal(s.running, false);
  assertNothingRan('the Testing profile');
  await screenshot('node-untrusted-02-testing');
  await vscode.commands.executeCommand('testing.cancelRun').then(undefined, () => undefined);
});
