// The session timeline's view model and its standalone HTML, on real runs: the
// bundled quickstart example traced through the CLI, a script whose SQL and file
// name are hostile to HTML, and a large generated trace.
import assert from 'node:assert/strict';
import { cpSync, readFileSync, realpathSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { timelineView, TimelineView } from '../../src/report/timeline';
import { escapeHtml, scriptJson, timelineHtml, webviewCsp, webviewHtml } from '../../src/report/timeline-html';
import { QuickstartRun, quickstartRun } from '../editor/quickstart-run';
import { analyse } from '../../src/analysis/analyse';
import { statementIndex } from '../../src/analysis/statement-index';
import { loadModel } from '../../src/model/model';
import { repoRoot, runCli, tempDir } from '../support/env';
import { HOSTILE_INSERT, HOSTILE_SCRIPT, HOSTILE_SELECT, hostileRun, largeRun, suiteRun } from './timeline-runs';

let q: QuickstartRun;
let view: TimelineView;
before(async () => {
  q = await quickstartRun();
  view = timelineView(q.model, q.findings, { cwd: q.work });
});

test('one lane per session, and a connection lane only for work outside any session', () => {
  const sessions = view.lanes.filter((l) => l.kind === 'session');
  assert.equal(sessions.length, q.model.sessions.length);
  assert.deepEqual(sessions.map((l) => l.id).sort(), q.model.sessions.map((s) => s.label).sort());
  const sessionless = new Set(q.model.transactions.filter((tx) => !tx.session).map((tx) => tx.connection.label));
  for (const st of q.model.statements) if (!st.session && !st.transaction?.session) sessionless.add(st.connection.label);
  assert.deepEqual(view.lanes.filter((l) => l.kind === 'connection').map((l) => l.id).sort(), [...sessionless].sort());
  assert.equal(new Set(view.lanes.map((l) => l.id)).size, view.lanes.length, 'lane ids are unique');
  // Grouped by process, then in order of first activity.
  for (let i = 1; i < view.lanes.length; i++) {
    const [a, b] = [view.lanes[i - 1], view.lanes[i]];
    assert.ok(a.process < b.process || (a.process === b.process && a.x0 <= b.x0), `${a.id} before ${b.id}`);
  }
  assert.equal(view.processes.length, 1);
  assert.equal(view.processes[0].lanes, view.lanes.length);
});

test('a bar per transaction, with its outcome and cause', () => {
  assert.equal(view.bars.length, q.model.transactions.length);
  for (const tx of q.model.transactions) {
    const bar = view.bars.find((b) => b.id === tx.label);
    assert.ok(bar, `bar for ${tx.label}`);
    assert.equal(bar.outcome, tx.outcome, tx.label);
    assert.equal(bar.cause, tx.cause, tx.label);
    assert.equal(view.lanes[bar.lane].id, (tx.session ?? tx.connection).label);
    assert.ok(0 <= bar.x0 && bar.x0 <= bar.x1 && bar.x1 <= 1, `${tx.label} inside the axis`);
  }
  // The worker's lost UPDATE is a rollback that lost a write; a read-only session's end is quiet.
  const worker = q.model.transactions.find((tx) => tx.writes.some((w) => w.verb === 'UPDATE') && tx.outcome === 'rollback');
  assert.ok(worker);
  const lost = view.bars.find((b) => b.id === worker.label)!;
  assert.equal(lost.quiet, false);
  assert.equal(lost.outcomeText, 'rolled back: session closed without commit');
  const readOnly = view.bars.find((b) => b.outcome === 'rollback' && b.writes === 0);
  assert.ok(readOnly?.quiet, 'a rollback with nothing written is drawn quietly');
});

test('a tick per statement, in its transaction, at its source line', () => {
  const drawn = view.ticks.reduce((n, t) => n + t.count, 0);
  assert.equal(drawn, q.model.statements.length + q.model.identityHits.length);
  const update = view.ticks.find((t) => t.verb === 'UPDATE');
  assert.ok(update?.at, 'the UPDATE tick has a place');
  assert.equal(update.at.file, q.path('app/worker.py'));
  assert.equal(update.at.path, 'app/worker.py');
  assert.ok(update.bar !== undefined && view.bars[update.bar].outcome === 'rollback');
  assert.equal(update.kind, 'write');
});

test('an arrow from the fixture INSERT to the read that could not see it, tied to the uncommitted-read finding', () => {
  const fi = view.findings.findIndex((f) => f.rule === 'uncommitted-read');
  assert.ok(fi >= 0, 'the quickstart run has an uncommitted-read finding');
  const arrows = view.arrows.filter((a) => a.kind === 'uncommitted' && a.finding === fi);
  assert.equal(arrows.length, 1, JSON.stringify(view.arrows));
  const [a] = arrows;
  const write = view.ticks[a.from];
  const read = view.ticks[a.to];
  assert.equal(write.verb, 'INSERT');
  assert.deepEqual(write.tables, ['jobs']);
  assert.equal(write.at?.file, q.path('tests/test_jobs.py'));
  // The INSERT is drawn at the add() that made it; the flush() that sent it is the next line.
  assert.equal(write.at?.line, q.lineOf('tests/test_jobs.py', 'session.add(Job(name="backfill"))'));
  assert.equal(read.verb, 'SELECT');
  assert.equal(read.at?.file, q.path('app/jobs.py'));
  assert.notEqual(write.lane, read.lane, 'between two sessions');
  assert.ok(write.x < read.x, 'the write comes first on the axis');
  assert.match(a.text, /could not see/);
});

test('the arrows come from the reads the rules index: the same whether the rules ran on the model first or not', () => {
  // `view` was built after analyse() indexed the run's statements; this model has not been analysed,
  // so the timeline makes that index itself, and the rules asking afterwards get the same one.
  const fresh = loadModel(q.trace);
  const first = timelineView(fresh, q.findings, { cwd: q.work });
  assert.ok(first.arrows.some((a) => a.kind === 'uncommitted'));
  assert.deepEqual(first.arrows, view.arrows);
  const reads = statementIndex(fresh).reads;
  assert.deepEqual(analyse(fresh).findings, q.findings);
  assert.equal(statementIndex(fresh).reads, reads);
});

test('every finding has a marker on a lane, at its statement or transaction end', () => {
  assert.equal(view.findings.length, q.findings.length);
  for (const [i, f] of view.findings.entries()) {
    assert.ok(f.lane !== undefined && f.x !== undefined, `${f.rule} placed`);
    assert.ok(view.lanes[f.lane].findings.includes(i));
  }
  const missing = view.findings.find((f) => f.rule === 'missing-commit')!;
  const tick = missing.tick !== undefined ? view.ticks[missing.tick] : undefined;
  const bar = missing.bar !== undefined ? view.bars[missing.bar] : undefined;
  assert.ok(tick || bar, 'missing-commit sits on a statement or a transaction end');
});

test('the axis is labelled with real times and test windows are in order', () => {
  assert.equal(view.axis[0].x, 0);
  assert.equal(view.axis[view.axis.length - 1].x, 1);
  for (let i = 1; i < view.axis.length; i++) assert.ok(view.axis[i].time >= view.axis[i - 1].time);
  assert.deepEqual(
    view.tests.map((t) => t.name),
    ['test_create_job', 'test_worker_runs_job', 'test_failed_job_is_reported', 'test_listed_jobs_include_new_one'],
  );
  for (let i = 1; i < view.tests.length; i++) assert.ok(view.tests[i].x0 >= view.tests[i - 1].x1);
});

test('standalone HTML: a strict CSP with a nonce, nothing remote, the view in an inert data block', () => {
  const html = timelineHtml(view);
  const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(html)?.[1].replace(/&#39;/g, "'");
  assert.ok(csp, 'CSP meta');
  const nonce = /script-src 'nonce-([A-Za-z0-9]+)'/.exec(csp)?.[1];
  assert.ok(nonce && nonce.length >= 16, csp);
  assert.match(csp, /^default-src 'none'; /);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:|\*/);
  const scripts = [...html.matchAll(/<script\b([^>]*)>/g)].map((m) => m[1]);
  assert.deepEqual(scripts, [' type="application/json" id="txlens-timeline-data"', ` nonce="${nonce}"`]);
  assert.match(html, new RegExp(`<style nonce="${nonce}">`));
  assert.doesNotMatch(html, /<link\b|\bsrc=|@import|url\(\s*['"]?(https?:)?\/\//i, 'no external resources');
  assert.doesNotMatch(html, /https?:\/\/(?!www\.w3\.org\/2000\/svg)/, 'no URL but the SVG namespace');
  const data = /<script type="application\/json" id="txlens-timeline-data">([\s\S]*?)<\/script>/.exec(html)?.[1];
  assert.ok(data);
  assert.deepEqual(JSON.parse(data), JSON.parse(JSON.stringify(view)), 'the data block round-trips');
  assert.notEqual(timelineHtml(view), html, 'a new nonce for every file');
});

test('the webview page loads only its own script and style, under a nonce CSP', () => {
  const page = { cspSource: 'https://file+.vscode-resource.vscode-cdn.net', nonce: 'abcDEF1234567890xyz', scriptUri: 'https://x/media/timeline.js', styleUri: 'https://x/media/timeline.css' };
  const csp = webviewCsp(page);
  assert.equal(
    csp,
    "default-src 'none'; style-src https://file+.vscode-resource.vscode-cdn.net; script-src 'nonce-abcDEF1234567890xyz'; img-src https://file+.vscode-resource.vscode-cdn.net data:; font-src https://file+.vscode-resource.vscode-cdn.net",
  );
  const html = webviewHtml(page);
  assert.match(html, /<script nonce="abcDEF1234567890xyz" src="https:\/\/x\/media\/timeline.js"><\/script>/);
  assert.match(html, /<link rel="stylesheet" href="https:\/\/x\/media\/timeline.css">/);
  assert.equal([...html.matchAll(/<script\b/g)].length, 1);
});

test('the page script builds its DOM without markup strings or eval', () => {
  const js = readFileSync(join(repoRoot, 'media', 'timeline.js'), 'utf8');
  assert.doesNotMatch(js, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setAttribute\(\s*'style'|\bon[a-z]+\s*=/);
  const css = readFileSync(join(repoRoot, 'media', 'timeline.css'), 'utf8');
  assert.doesNotMatch(css, /url\(|@import|https?:/);
});

test('escaping helpers', () => {
  assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  const json = scriptJson({ s: '</script><!-- \u2028 & >' });
  assert.doesNotMatch(json, /[<>&\u2028]/);
  assert.deepEqual(JSON.parse(json), { s: '</script><!-- \u2028 & >' });
});

test('txlens run --html: hostile SQL and file names stay text', async () => {
  const h = await hostileRun();
  assert.match(h.stderr, /session timeline written to/);
  const html = readFileSync(h.html, 'utf8');
  // The statements were captured as they were written...
  assert.ok(h.model.statements.some((s) => s.sql === HOSTILE_INSERT));
  assert.ok(h.model.statements.some((s) => s.sql === HOSTILE_SELECT));
  // ...and nothing of them reaches the page as markup.
  for (const bad of ['<img', '<b onmouseover', '</style><script>', "q'&<b>", '<b>"x.py']) assert.ok(!html.includes(bad), `raw ${bad} in the file`);
  assert.equal([...html.matchAll(/<script\b/g)].length, 2, 'only the data block and the page script');
  assert.equal([...html.matchAll(/<\/script>/g)].length, 2);
  assert.equal([...html.matchAll(/<\/style>/g)].length, 1);
  const data = /<script type="application\/json" id="txlens-timeline-data">([\s\S]*?)<\/script>/.exec(html)![1];
  const parsed = JSON.parse(data) as TimelineView;
  assert.ok(parsed.ticks.some((t) => t.sql === HOSTILE_INSERT), 'the SQL is kept exactly, as data');
  const lost = parsed.findings.find((f) => f.rule === 'missing-commit');
  assert.ok(lost, `the uncommitted INSERT is a finding: ${JSON.stringify(parsed.findings.map((f) => f.rule))}`);
  assert.equal(lost.at.path, HOSTILE_SCRIPT);
  // The no-script summary carries the finding, escaped.
  assert.ok(html.includes(escapeHtml(HOSTILE_SCRIPT)), 'escaped path in the summary');
});

test('a large run stays bounded: merged ticks, capped lanes and arrows, with notes', async () => {
  const big = await largeRun();
  assert.ok(big.model.statements.length > 50_000, `${big.model.statements.length} statements`);
  const v = timelineView(big.model, big.findings, { cwd: '/proj' });
  assert.ok(v.lanes.length <= 250, `${v.lanes.length} lanes`);
  assert.ok(v.ticks.length <= 12_000, `${v.ticks.length} ticks`);
  assert.ok(v.bars.length <= 12_000, `${v.bars.length} bars`);
  assert.ok(v.arrows.length <= 400 + v.findings.length);
  assert.ok(v.notes.some((n) => /lanes not shown/.test(n)), v.notes.join('\n'));
  assert.ok(v.ticks.some((t) => t.count > 1), 'dense statements merged');
  for (const t of v.ticks) if (t.items) assert.ok(t.items.length <= 8);
  const html = timelineHtml(v);
  assert.ok(html.length < 12 * 1024 * 1024, `${(html.length / 1048576).toFixed(1)} MB`);
  // Lanes with findings are kept even when most lanes are cut.
  for (const f of v.findings) if (f.lane !== undefined) assert.ok(v.lanes[f.lane]);
});

test('tests carry a readable label and their file; a run short enough to read whole opens on the whole run', () => {
  const failing = ['test_failed_job_is_reported', 'test_listed_jobs_include_new_one', 'test_worker_runs_job'];
  assert.deepEqual(view.focus.map((id) => id.replace('tests/test_jobs.py::', '')).sort(), failing, 'the failing tests, each with its findings');
  for (const t of view.tests) {
    assert.equal(t.label, t.id.replace('tests/test_jobs.py::', ''));
    assert.equal(t.path, 'tests/test_jobs.py');
    assert.equal(t.attention, failing.includes(t.label), t.id);
  }
  assert.equal(view.tests.find((t) => t.label === 'test_create_job')?.findings, 0);
  assert.equal(view.opensOn, 'run', 'four tests side by side are readable');
});

test('a suite too long to read whole opens on the failing test, by its full name', async () => {
  const s = await suiteRun();
  const v = timelineView(s.model, s.findings, { cwd: s.work });
  assert.equal(v.tests.length, 121);
  assert.deepEqual(v.focus, ['tests/test_lost.py::test_a_saved_note_is_listed']);
  assert.equal(v.opensOn, 'focus', 'a hundred and twenty tests squeeze each band below a readable name');
  const lost = v.tests.find((t) => t.id === v.focus[0])!;
  assert.deepEqual([lost.label, lost.path, lost.outcome, lost.attention], ['test_a_saved_note_is_listed', 'tests/test_lost.py', 'failed', true]);
  assert.ok(lost.findings >= 1);
  const many = v.tests.find((t) => t.id.endsWith('[7]'))!;
  assert.equal(many.label, 'test_the_seeded_note_reads_the_same_every_time[7]');
  assert.equal(many.attention, false);
});

test('a finding at the open of a connection without ORM session (better-sqlite3 under node:test) has its marker on that connection', async () => {
  // The TypeScript notes project: sqlite-memory-isolation names the line that opened the second :memory: handle.
  const work = realpathSync(tempDir('timeline-node'));
  const fixture = join(repoRoot, 'test', 'fixtures', 'node', 'sqlite-ts', 'buggy');
  for (const dir of ['app', 'test']) cpSync(join(fixture, dir), join(work, dir), { recursive: true });
  symlinkSync(join(repoRoot, 'node_modules'), join(work, 'node_modules'), 'dir');
  const trace = join(work, '.txlens', 'runs', 'notes');
  const r = await runCli(['run', '--json', '--trace', trace, '--', process.execPath, '--import', 'tsx', '--test', 'test/notes.test.ts'], {
    cwd: work,
    // This file runs under node --test itself: the project's own run must not report to it as its child.
    env: { NODE_TEST_CONTEXT: undefined },
  });
  assert.notEqual(r.code, 2, r.stderr);
  const model = loadModel(trace);
  const findings = analyse(model).findings;
  const node = timelineView(model, findings, { cwd: work });
  const memory = node.findings.find((f) => f.rule === 'sqlite-memory-isolation');
  assert.ok(memory, `the run has its sqlite-memory-isolation finding: ${findings.map((f) => f.rule)}`);
  assert.equal(memory.at.path, 'app/notes.ts');
  assert.ok(memory.lane !== undefined && memory.x !== undefined, 'placed on a lane');
  const lane = node.lanes[memory.lane];
  assert.equal(lane.kind, 'connection', `on the connection's lane: ${JSON.stringify(lane)}`);
  assert.equal(lane.at?.line, memory.at.line, 'the connection opened at the finding\'s line');
  assert.ok(lane.findings.includes(node.findings.indexOf(memory)));
  for (const f of node.findings) assert.ok(f.lane !== undefined, `${f.rule} at ${f.at.path}:${f.at.line} is drawn`);
});
