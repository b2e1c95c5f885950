// What the editor shows for a real run of the quickstart example: CodeLens
// texts, after-line notes, hovers and diagnostics, computed by the pure
// presentation modules from the model and findings the engine built.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, test } from 'node:test';
import type { Finding } from '../../src/analysis/findings';
import { diagnosticKey, diagnosticsFor } from '../../src/editor/present/diagnostics';
import { hoverMarkdown } from '../../src/editor/present/hover';
import { countsText, fileLensText, testLens } from '../../src/editor/present/lens';
import { lineNotes } from '../../src/editor/present/lines';
import { locateTests } from '../../src/editor/present/locate';
import { QuickstartRun, quickstartRun } from './quickstart-run';

let q: QuickstartRun;
before(async () => {
  q = await quickstartRun();
});

const located = (name: string) => {
  const t = locateTests(readFileSync(q.path('tests/test_jobs.py'), 'utf8'), 'python').find((x) => x.name === name);
  assert.ok(t, `locator finds ${name}`);
  return t;
};

test('CodeLens over each test counts its sessions, transactions, commits and findings', () => {
  const file = q.path('tests/test_jobs.py');
  const failed = testLens(q.model, q.findings, file, located('test_failed_job_is_reported'));
  assert.equal(failed?.text, 'failed · 3 sessions · 5 transactions · 2 commits · 1 finding');
  assert.equal(failed?.passed, false);
  assert.deepEqual(failed?.findings.map((f) => f.rule), ['missing-commit']);
  const passing = testLens(q.model, q.findings, file, located('test_create_job'));
  assert.equal(passing?.text, '2 sessions · 4 transactions · 2 commits · 0 findings');
  // A driver used directly (no ORM session): the sessions are left out rather than read '0 sessions'.
  assert.equal(countsText({ sessions: 0, sharedSessions: 0, transactions: 1, commits: 0 }, 1), '1 transaction · 0 commits · 1 finding');
  assert.equal(countsText({ sessions: 0, sharedSessions: 0, transactions: 0, commits: 0 }, 0), '0 sessions · 0 transactions · 0 commits · 0 findings');
  assert.equal(passing?.passed, true);
  assert.equal(fileLensText(q.model, q.findings, file), '4 tests traced (3 failed) · 3 findings');
  assert.equal(fileLensText(q.model, q.findings, q.path('app/worker.py')), undefined, 'no lens over a file without tests');
});

test('a line that ran SQL gets one note: session, transaction, statement and how it ended', () => {
  const notes = lineNotes(q.model);
  const at = (rel: string, text: string) => notes.find((n) => n.file === q.path(rel) && n.line === q.lineOf(rel, text));
  const lost = at('app/worker.py', 'job.status = "FAILED"') ?? at('app/worker.py', 'session.flush()');
  assert.ok(lost, `a note on the lost UPDATE; notes: ${JSON.stringify(notes.map((n) => [n.file.slice(q.work.length), n.line, n.text]))}`);
  assert.match(lost.text, /^S\d+ tx\d+ UPDATE jobs \[test\.db\] → rolled back at close$/);
  assert.equal(lost.attention, true);
  const fixtureInsert = at('tests/test_jobs.py', 'session.flush()');
  assert.ok(fixtureInsert);
  assert.match(fixtureInsert.text, /^S\d+ tx\d+ INSERT jobs \[test\.db\] → rolled back at close$/);
  const committed = at('app/jobs.py', 'session.commit()');
  assert.ok(committed);
  assert.match(committed.text, /^S\d+ tx\d+ INSERT jobs \[test\.db\] → committed \(ran in 3 transactions\)$/, 'three tests call create_job');
  assert.equal(committed.attention, false);
  const devRead = at('app/worker.py', 'session.get(Job, job_id)');
  assert.ok(devRead);
  assert.match(devRead.text, /^S\d+ tx\d+ SELECT jobs \[quickstart-dev\.db\] → read only$/, 'the run reached two databases: the note names the one the line used');
  const lines = notes.map((n) => `${n.file}:${n.line}`);
  assert.equal(new Set(lines).size, lines.length, 'one note per line');
});

test('the hover on a lost write tells the session story and that nobody saw the write', () => {
  const line = q.lineOf('app/worker.py', 'session.flush()');
  const md = hoverMarkdown(q.model, q.path('app/worker.py'), line);
  assert.ok(md, 'hover on the flush line');
  assert.match(md, /UPDATE jobs/);
  assert.match(md, /in `test_failed_job_is_reported`/);
  assert.match(md, /Session S\d+ \(Session\) opened at \[app\/worker\.py:18\]\(file:\/\/.*worker\.py#L18\)/);
  assert.match(md, /Ended: rolled back: session closed without commit at \[app\/worker\.py:22\]/);
  assert.match(md, /never committed: no other session ever saw them/);
  const statusRead = q.lineOf('app/jobs.py', 'session.get(Job, job_id).status');
  assert.match(md, new RegExp(`S\\d+ tx\\d+ read jobs at \\[app/jobs\\.py:${statusRead}\\][^\\n]*\\*\\*could not see\\*\\* them`), 'the later status read is named');
});

test('the hover on the uncommitted fixture row names the read that could not see it, and the read names the row', () => {
  const insert = hoverMarkdown(q.model, q.path('tests/test_jobs.py'), q.lineOf('tests/test_jobs.py', 'session.flush()'));
  assert.ok(insert);
  assert.match(insert, /S\d+ tx\d+ read jobs at \[app\/jobs\.py:17\][^\n]*\*\*could not see\*\* them/);
  const read = hoverMarkdown(q.model, q.path('app/jobs.py'), q.lineOf('app/jobs.py', 'session.scalars'));
  assert.ok(read);
  assert.match(read, /Other sessions held uncommitted writes to what this read:/);
  // The fixture's add() (line 24) made the INSERT; its flush() (line 25) sent it.
  assert.match(read, /S\d+ tx\d+ INSERT jobs at \[tests\/test_jobs\.py:24\][^\n]*\(flushed at \[tests\/test_jobs\.py:25\][^\n]*never committed: this read \*\*could not see it\*\*/);
});

test('a committed write tells when it became visible', () => {
  const md = hoverMarkdown(q.model, q.path('app/jobs.py'), q.lineOf('app/jobs.py', 'session.commit()'));
  assert.ok(md);
  assert.match(md, /3 transactions ran SQL on this line/);
  assert.match(md, /became visible to other sessions at the commit \(\+[\d.]+ ms\)/);
  const statusRead = q.lineOf('app/jobs.py', 'session.get(Job, job_id).status');
  assert.match(md, new RegExp(`S\\d+ tx\\d+ read jobs at \\[app/jobs\\.py:${statusRead}\\][^\\n]*: could see them`), 'a later session read it');
  assert.doesNotMatch(md, /S1 tx\d+ read jobs at \[app\/jobs\.py:12\]/, 'the writing session re-reading its own row is not news');
});

test('no hover where nothing ran', () => {
  assert.equal(hoverMarkdown(q.model, q.path('app/worker.py'), 1), undefined);
  assert.equal(hoverMarkdown(q.model, q.path('nowhere.py'), 3), undefined);
});

test('every finding becomes a diagnostic with the rule as code, its docs as target, and related places', () => {
  const read = (file: string, line: number) => readFileSync(file, 'utf8').split('\n')[line - 1];
  const diags = diagnosticsFor(q.findings, (rule) => `file:///ext/dist/docs/rules/${rule}.md`, read);
  assert.equal(diags.length, q.findings.length);
  const mc = diags.find((d) => d.code.value === 'missing-commit');
  assert.ok(mc);
  assert.equal(mc.code.target, 'file:///ext/dist/docs/rules/missing-commit.md');
  assert.equal(mc.file, q.path('app/worker.py'));
  assert.equal(mc.severity, 'error');
  assert.equal(mc.source, 'txlens');
  const text = read(mc.file, mc.range.startLine + 1);
  assert.equal(text.slice(mc.range.startCharacter, mc.range.endCharacter), 'session.close()', 'the range covers the code, not the indentation');
  assert.match(mc.message, /\(test test_failed_job_is_reported\)$/);
  assert.deepEqual(
    mc.related.map((r) => [r.file.slice(q.work.length), r.range.startLine + 1]),
    q.findings.find((f) => f.rule === 'missing-commit')!.related.map((r) => [r.file.slice(q.work.length), r.line]),
  );
  const keys = diags.map(diagnosticKey);
  assert.equal(new Set(keys).size, keys.length, 'each diagnostic has its own key for its code actions');
});

test('fixes become code actions with exactly one preferred', () => {
  const base = q.findings.find((f) => f.rule === 'missing-commit')!;
  const file = base.location.file;
  const edit = { file, startLine: 22, startColumn: 5, endLine: 22, endColumn: 5, newText: 'session.commit()\n    ' };
  const withFixes: Finding[] = [
    { ...base, fixes: [{ title: 'Commit before closing', edits: [edit] }, { title: 'Use a session.begin() block', edits: [edit] }] },
    { ...base, message: `${base.message} (2)`, fixes: [{ title: 'a', edits: [edit] }, { title: 'b', edits: [edit], preferred: true }] },
  ];
  const [first, second] = diagnosticsFor(withFixes, (r) => r);
  assert.deepEqual(first.fixes.map((f) => f.preferred), [true, false], 'the first fix when none is marked');
  assert.deepEqual(second.fixes.map((f) => f.preferred), [false, true], 'the engine’s preferred fix');
  assert.deepEqual(first.fixes[0].edits[0].range, { startLine: 21, startCharacter: 4, endLine: 21, endCharacter: 4 }, '0-based');
});
