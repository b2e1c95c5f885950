/**
 * Renders a model and its findings for people (text) and for machines (the
 * versioned JSON document of `txlens run --json` / `txlens report --json`).
 */
import { isAbsolute, relative } from 'node:path';
import type { Finding } from '../analysis/findings';
import { describeSkipped } from '../trace/reader';
import type { RollbackCause, SourceFrame } from '../trace/schema';
import { Counts, ModelRun, ModelTest, ModelTransaction, runCounts, testSummaries } from '../model/model';

export const REPORT_VERSION = 1;

export interface ReportDocument {
  version: number;
  findings: Finding[];
  summary: Counts;
  trace: string;
  skippedLines?: number;
  notes?: string[];
}

export function relPath(file: string, cwd: string): string {
  if (!isAbsolute(file)) return file;
  const r = relative(cwd, file);
  return r.startsWith('..') ? file : r;
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

export function reportDocument(model: ModelRun, findings: Finding[], cwd: string): ReportDocument {
  const doc: ReportDocument = {
    version: REPORT_VERSION,
    findings: findings.map((f) => relFinding(f, cwd)),
    summary: runCounts(model),
    trace: relPath(model.dir, cwd),
  };
  if (model.skipped.total > 0) doc.skippedLines = model.skipped.total;
  const notes = [...model.notes];
  if (model.skipped.total > 0) notes.unshift(describeSkipped(model.skipped));
  if (notes.length > 0) doc.notes = notes;
  return doc;
}

export const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

const CAUSE_TEXT: Record<RollbackCause, string> = {
  explicit: 'rollback() called',
  error: 'rolled back by an error',
  close: 'connection closed without commit',
  'session-close': 'session closed without commit',
  'pool-reset': "pool's reset-on-return at check-in",
  exit: 'process ended before commit',
  gc: 'garbage collected without commit',
};

function where(at: SourceFrame | undefined, cwd: string): string {
  return at ? `${relPath(at[0], cwd)}:${at[1]}` : '(no user frame)';
}

function countsLine(c: Omit<Counts, 'tests'>): string {
  return [
    plural(c.sessions, 'session'),
    `${plural(c.transactions, 'transaction')} (${plural(c.commits, 'commit')}, ${plural(c.rollbacks, 'rollback')})`,
    plural(c.statements, 'statement'),
  ].join(' · ');
}

const STORY_LIMIT = 15;

function ms(ns: number): string {
  const v = ns / 1e6;
  return `+${v < 10 ? v.toFixed(1) : v.toFixed(0)} ms`;
}

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

function outcomeText(tx: ModelTransaction, cwd: string): string {
  const at = tx.endAt ? ` at ${where(tx.endAt, cwd)}` : '';
  if (tx.outcome === 'commit') return `committed${at}`;
  if (tx.outcome === 'open') return 'never ended';
  // Ending a read-only transaction without COMMIT loses nothing: say so rather than alarm.
  if (tx.writes.length === 0) return `ended${at}, nothing to commit`;
  return tx.cause ? `rolled back: ${CAUSE_TEXT[tx.cause]}${at}` : 'ended without a recorded commit or rollback';
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
    const db = databases.size > 1 ? ` [${databaseName(tx)}]` : '';
    entries.push({ time: tx.start, text: `${owner.label}${opened}${proc} ${tx.label}${db}: ${statementsText(tx)} → ${outcomeText(tx, cwd)}` });
  }
  for (const hit of model.identityHits) {
    if (hit.test !== test.id) continue;
    entries.push({
      time: hit.time,
      text: `${hit.session.label} read ${hit.entity} ${hit.key.join(', ')} from its identity map, no SQL, at ${where(hit.at, cwd)}`,
    });
  }
  entries.sort((a, b) => a.time - b.time);
  const lines = entries.slice(0, STORY_LIMIT).map((e) => `${ms(Math.max(0, e.time - test.start)).padStart(10)}  ${e.text}`);
  if (entries.length > STORY_LIMIT) lines.push(`${''.padStart(10)}  … ${entries.length - STORY_LIMIT} more (txlens report --json has them all)`);
  return lines;
}

function databaseName(tx: ModelTransaction): string {
  const db = tx.connection.db;
  if (!db) return 'unknown database';
  if (db.memory) return ':memory:';
  const name = db.file ?? db.name ?? db.system;
  return name.split(/[\\/]/).pop() ?? name;
}

function findingLines(f: Finding, cwd: string, indent: string): string[] {
  const lines = [`${indent}${f.severity} ${f.rule}  ${relPath(f.location.file, cwd)}:${f.location.line}`, `${indent}  ${f.message}`];
  for (const r of f.related) lines.push(`${indent}  - ${relPath(r.file, cwd)}:${r.line} ${r.message}`);
  for (const fix of f.fixes) lines.push(`${indent}  fix: ${fix.title}`);
  return lines;
}

export function textReport(model: ModelRun, findings: Finding[], cwd: string): string {
  const lines: string[] = [];
  const c = runCounts(model);
  lines.push(`txlens: ${plural(c.tests, 'test')} · ${plural(c.processes, 'process', 'processes')} · ${countsLine(c)}`);
  const byTest = new Map<string, Finding[]>();
  const unattributed: Finding[] = [];
  for (const f of findings) {
    const list = f.test ? byTest.get(f.test) : undefined;
    if (list) list.push(f);
    else if (f.test) byTest.set(f.test, [f]);
    else unattributed.push(f);
  }
  const summaries = testSummaries(model);
  if (summaries.length > 0) {
    lines.push('');
    const width = Math.min(70, Math.max(...summaries.map((s) => s.test.id.length)));
    for (const s of summaries) {
      const k = s.counts;
      const procs = k.processes > 1 ? ` in ${k.processes} processes` : '';
      lines.push(`${s.test.id.padEnd(width)}  ${(s.test.outcome ?? 'unfinished').padEnd(7)}  ${countsLine(k)}${procs}`);
      const failed = s.test.outcome === 'failed' || s.test.outcome === 'error';
      if (s.test.message && failed) lines.push(`    ✗ ${s.test.message}`);
      const own = byTest.get(s.test.id) ?? [];
      byTest.delete(s.test.id);
      for (const f of own) lines.push(...findingLines(f, cwd, '    '));
      // The story is what explains a failure or a finding; passing, quiet tests stay one line.
      if (failed || own.length > 0) {
        const story = sessionStory(model, s.test, cwd);
        if (story.length > 0) lines.push('    sessions:', ...story.map((l) => `    ${l}`));
      }
    }
  }
  // Findings for tests the trace has no window for, and findings outside any test.
  for (const list of byTest.values()) unattributed.push(...list);
  if (unattributed.length > 0) {
    lines.push('', 'Outside any test:');
    for (const f of unattributed) lines.push(...findingLines(f, cwd, '  '));
  }
  lines.push('');
  const errors = findings.filter((f) => f.severity === 'error').length;
  const warnings = findings.filter((f) => f.severity === 'warning').length;
  lines.push(findings.length === 0 ? 'No findings.' : `${plural(findings.length, 'finding')} (${plural(errors, 'error')}, ${plural(warnings, 'warning')}).`);
  if (model.skipped.total > 0) lines.push(`Note: ${describeSkipped(model.skipped)}.`);
  for (const n of model.notes) lines.push(`Note: ${n}.`);
  lines.push(`Trace: ${relPath(model.dir, cwd)}`);
  return lines.join('\n') + '\n';
}
