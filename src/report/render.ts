/**
 * Renders a model and its findings for people (text) and for machines (the
 * versioned JSON document of `txlens run --json` / `txlens report --json`).
 */
import { type Finding, severityCounts } from '../analysis/findings';
import { relPath } from '../present/paths';
import { databaseShortName, offset, plural, transactionOutcome } from '../present/wording';
import { describeSkipped } from '../trace/reader';
import type { SourceFrame } from '../trace/schema';
import { Counts, ModelRun, ModelTest, ModelTransaction, runCounts, TestSummary, testSummaries } from '../model/model';

export const REPORT_VERSION = 1;

export interface ReportDocument {
  version: number;
  findings: Finding[];
  summary: Counts;
  trace: string;
  skippedLines?: number;
  notes?: string[];
}

/**
 * The folder the run ran in, which every path of a report is relative to
 * wherever the report is printed from: run.json's `cwd`, else the working
 * directory in the header of the run's first process (a trace taken without
 * `txlens run`). Undefined for a trace that records neither.
 */
export function projectRoot(model: ModelRun): string | undefined {
  if (model.run?.cwd) return model.run.cwd;
  let first: ModelRun['processes'][number] | undefined;
  for (const p of model.processes) if (!p.parent && p.header.cwd && (!first || p.start < first.start)) first = p;
  return first?.header.cwd;
}

/** A finding with every path relative to `cwd`, as the JSON documents print them. */
export function relFinding(f: Finding, cwd: string): Finding {
  return {
    ...f,
    location: { ...f.location, file: relPath(f.location.file, cwd) },
    related: f.related.map((r) => ({ ...r, file: relPath(r.file, cwd) })),
    fixes: f.fixes.map((fix) => ({ ...fix, edits: fix.edits.map((e) => ({ ...e, file: relPath(e.file, cwd) })) })),
  };
}

/** Paths of findings relative to `cwd` (the project root); the trace's relative to `traceFrom` (default `cwd`). */
export function reportDocument(model: ModelRun, findings: Finding[], cwd: string, traceFrom = cwd): ReportDocument {
  const doc: ReportDocument = {
    version: REPORT_VERSION,
    findings: findings.map((f) => relFinding(f, cwd)),
    summary: runCounts(model),
    trace: relPath(model.dir, traceFrom),
  };
  if (model.skipped.total > 0) doc.skippedLines = model.skipped.total;
  const notes = [...model.notes];
  if (model.skipped.total > 0) notes.unshift(describeSkipped(model.skipped));
  if (notes.length > 0) doc.notes = notes;
  return doc;
}

function where(at: SourceFrame | undefined, cwd: string): string {
  return at ? `${relPath(at[0], cwd)}:${at[1]}` : '(no user frame)';
}

/**
 * '2 sessions', '1 shared session' (opened before the test by a session-, module- or
 * class-scoped fixture), '1 session + 1 shared'.
 */
export function sessionsText(own: number, shared = 0): string {
  if (shared === 0) return plural(own, 'session');
  if (own === 0) return plural(shared, 'shared session');
  return `${plural(own, 'session')} + ${shared} shared`;
}

/**
 * Whether counts name their sessions. Work with no session at all is a driver used directly (pg,
 * better-sqlite3, a bare SQLAlchemy connection): there '0 sessions' would read as if nothing ran, so
 * the sessions are left out. Shared by the CLI's lines and the editor's lens.
 */
export function namesSessions(c: { sessions: number; sharedSessions?: number; transactions: number; statements?: number }): boolean {
  return c.sessions > 0 || !!c.sharedSessions || (c.transactions === 0 && !c.statements);
}

function countsLine(c: Omit<Counts, 'tests'> & { sharedSessions?: number }): string {
  const counts = [`${plural(c.transactions, 'transaction')} (${plural(c.commits, 'commit')}, ${plural(c.rollbacks, 'rollback')})`, plural(c.statements, 'statement')];
  return (namesSessions(c) ? [sessionsText(c.sessions, c.sharedSessions), ...counts] : counts).join(' · ');
}

const STORY_LIMIT = 15;

/** "INSERT jobs ×2, SELECT jobs" for what a transaction ran. */
function statementsText(tx: ModelTransaction): string {
  const counts = new Map<string, number>();
  for (const st of tx.statements) {
    if (st.op === 'tx') continue;
    const tables = st.writes.length ? st.writes : st.reads;
    const key = `${st.verb || st.op}${tables.length ? ` ${tables.join(', ')}` : ''}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([k, n]) => (n > 1 ? `${k} ×${n}` : k)).join(', ') || '(no statements)';
}

/**
 * The test's sessions in the order they acted: who wrote and read what, and
 * when each transaction committed or rolled back. Empty transactions (a
 * session that only began and closed) are left out.
 */
function sessionStory(model: ModelRun, test: ModelTest, cwd: string): string[] {
  type Line = { time: number; text: string };
  const entries: Line[] = [];
  const txs = model.transactions.filter((tx) => tx.test === test.id && tx.statements.some((st) => st.op !== 'tx'));
  // Name the database on each line only when the test used more than one: that is then the story.
  const databases = new Set(txs.map((tx) => tx.connection.dbKey));
  for (const tx of txs) {
    const owner = tx.session ?? tx.connection;
    const opened = owner.at ? ` (${where(owner.at, cwd)})` : '';
    const proc = tx.process.tests.length === 0 && model.processes.length > 1 ? ` pid ${tx.process.pid}` : '';
    const db = databases.size > 1 ? ` [${databaseShortName(tx.connection.db) ?? 'unknown database'}]` : '';
    entries.push({ time: tx.start, text: `${owner.label}${opened}${proc} ${tx.label}${db}: ${statementsText(tx)} → ${transactionOutcome(tx, tx.endAt && where(tx.endAt, cwd))}` });
  }
  for (const hit of model.identityHits) {
    if (hit.test !== test.id) continue;
    entries.push({
      time: hit.time,
      text: `${hit.session.label} read ${hit.entity} ${hit.key.join(', ')} from its identity map, no SQL, at ${where(hit.at, cwd)}`,
    });
  }
  entries.sort((a, b) => a.time - b.time);
  const lines = entries.slice(0, STORY_LIMIT).map((e) => `${offset(e.time - test.start).padStart(10)}  ${e.text}`);
  if (entries.length > STORY_LIMIT) lines.push(`${''.padStart(10)}  … ${entries.length - STORY_LIMIT} more (txlens report --json has them all)`);
  return lines;
}

function findingLines(f: Finding, cwd: string, indent: string): string[] {
  const lines = [`${indent}${f.severity} ${f.rule}  ${relPath(f.location.file, cwd)}:${f.location.line}`, `${indent}  ${f.message}`];
  for (const r of f.related) lines.push(`${indent}  - ${relPath(r.file, cwd)}:${r.line} ${r.message}`);
  for (const fix of f.fixes) lines.push(`${indent}  fix: ${fix.title}`);
  return lines;
}

export interface TextReportOptions {
  /** Every test gets its line, not only those that failed or have a finding. */
  all?: boolean;
  /** Where the trace's own path is shown relative to (the caller's working directory); default `cwd`. */
  traceFrom?: string;
}

const isFailure = (t: ModelTest) => t.outcome === 'failed' || t.outcome === 'error';
/** A test that started and never ended (interrupted, or its process died): listed like a failure, never passed. */
const isUnfinished = (t: ModelTest) => t.outcome === undefined;

/** One test's block: its line, its failure, its findings and, when it failed or has findings, its session story. */
function testBlock(model: ModelRun, s: TestSummary, own: Finding[], cwd: string, width: number): string[] {
  const lines: string[] = [];
  const k = s.counts;
  const procs = k.processes > 1 ? ` in ${k.processes} processes` : '';
  lines.push(`${s.test.id.padEnd(width)}  ${(s.test.outcome ?? 'unfinished').padEnd(7)}  ${countsLine(k)}${procs}`);
  const failed = isFailure(s.test);
  if (s.test.message && failed) lines.push(`    ✗ ${s.test.message}`);
  for (const f of own) lines.push(...findingLines(f, cwd, '    '));
  // The story is what explains a failure or a finding; passing, quiet tests stay one line.
  if (failed || own.length > 0) {
    const story = sessionStory(model, s.test, cwd);
    if (story.length > 0) lines.push('    sessions:', ...story.map((l) => `    ${l}`));
  }
  return lines;
}

/**
 * 'txlens: 241 tests (2 failed) · 1 finding (…) · 1 process · 250 sessions · …'. Where no sessions are
 * named (namesSessions: a driver used directly) the connections are, since those are what the code opened.
 */
export function summaryLine(model: ModelRun, findings: Finding[]): string {
  const c = runCounts(model);
  const failed = new Set(model.tests.filter(isFailure).map((t) => t.id)).size;
  const unfinished = new Set(model.tests.filter(isUnfinished).map((t) => t.id)).size;
  const bySeverity = severityCounts(findings);
  const found =
    findings.length === 0
      ? 'no findings'
      : `${plural(findings.length, 'finding')} (${plural(bySeverity.error, 'error')}, ${plural(bySeverity.warning, 'warning')}, ${bySeverity.info} info)`;
  const outcomes = `${failed} failed${unfinished ? `, ${unfinished} unfinished` : ''}`;
  const connections = namesSessions(c) ? '' : ` · ${plural(model.connections.length, 'connection')}`;
  return `txlens: ${plural(c.tests, 'test')} (${outcomes}) · ${found} · ${plural(c.processes, 'process', 'processes')}${connections} · ${countsLine(c)}`;
}

/**
 * The text report: the tests that failed or have a finding (every test with `all`),
 * findings outside any test, notes, then one summary line and the trace's place.
 * Paths are relative to `cwd`, the run's project root.
 */
export function textReport(model: ModelRun, findings: Finding[], cwd: string, opts: TextReportOptions = {}): string {
  const lines: string[] = [];
  const byTest = new Map<string, Finding[]>();
  const unattributed: Finding[] = [];
  for (const f of findings) {
    const list = f.test ? byTest.get(f.test) : undefined;
    if (list) list.push(f);
    else if (f.test) byTest.set(f.test, [f]);
    else unattributed.push(f);
  }
  const summaries = testSummaries(model);
  const shown = summaries.filter((s) => opts.all || isFailure(s.test) || isUnfinished(s.test) || byTest.has(s.test.id));
  if (shown.length > 0) {
    const width = Math.min(70, Math.max(...shown.map((s) => s.test.id.length)));
    for (const s of shown) {
      const own = byTest.get(s.test.id) ?? [];
      byTest.delete(s.test.id);
      lines.push(...testBlock(model, s, own, cwd, width));
    }
  }
  // Findings for tests the trace has no window for, and findings outside any test.
  for (const list of byTest.values()) unattributed.push(...list);
  if (unattributed.length > 0) {
    if (lines.length > 0) lines.push('');
    lines.push('Outside any test:');
    for (const f of unattributed) lines.push(...findingLines(f, cwd, '  '));
  }
  if (lines.length > 0) lines.push('');
  if (model.skipped.total > 0) lines.push(`Note: ${describeSkipped(model.skipped)}.`);
  for (const n of model.notes) lines.push(`Note: ${n}.`);
  lines.push(summaryLine(model, findings));
  lines.push(`Trace: ${relPath(model.dir, opts.traceFrom ?? cwd)}`);
  return lines.join('\n') + '\n';
}
