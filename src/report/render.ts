/**
 * Renders a model and its findings for people (text) and for machines (the
 * versioned JSON document of `txlens run --json` / `txlens report --json`).
 */
import { isAbsolute, relative } from 'node:path';
import type { Finding } from '../analysis/findings';
import { describeSkipped } from '../trace/reader';
import type { RollbackCause, SourceFrame } from '../trace/schema';
import { Counts, ModelRun, ModelTransaction, runCounts, testSummaries } from '../model/model';

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

function relFinding(f: Finding, cwd: string): Finding {
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

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

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

function txOwner(tx: ModelTransaction): string {
  const who = tx.session ? `session ${tx.session.label}` : `connection ${tx.connection.label}`;
  return tx.process.tests.length === 0 ? `${who} (pid ${tx.process.pid})` : who;
}

function discardedWrites(tx: ModelTransaction, cwd: string): string {
  const verbs = new Map<string, number>();
  for (const w of tx.writes) {
    const key = `${w.verb}${w.writes.length ? ` ${w.writes.join(', ')}` : ''}`;
    verbs.set(key, (verbs.get(key) ?? 0) + 1);
  }
  const what = [...verbs].map(([k, n]) => (n > 1 ? `${k} ×${n}` : k)).join('; ');
  return `${txOwner(tx)} ${tx.label}: ${what} discarded — ${CAUSE_TEXT[tx.cause!]} at ${where(tx.endAt ?? tx.writes[tx.writes.length - 1]?.at, cwd)}`;
}

function countsLine(c: Omit<Counts, 'tests'>): string {
  return [
    plural(c.sessions, 'session'),
    `${plural(c.transactions, 'transaction')} (${plural(c.commits, 'commit')}, ${plural(c.rollbacks, 'rollback')})`,
    plural(c.statements, 'statement'),
  ].join(' · ');
}

export function textReport(model: ModelRun, findings: Finding[], cwd: string): string {
  const lines: string[] = [];
  const c = runCounts(model);
  lines.push(`txlens: ${plural(c.tests, 'test')} · ${plural(c.processes, 'process', 'processes')} · ${countsLine(c)}`);
  const summaries = testSummaries(model);
  if (summaries.length > 0) {
    lines.push('');
    const width = Math.min(70, Math.max(...summaries.map((s) => s.test.id.length)));
    const rolledBack = new Map<string, ModelTransaction[]>();
    for (const tx of model.transactions) {
      if (tx.outcome === 'rollback' && tx.cause && tx.writes.length > 0 && tx.test) {
        const list = rolledBack.get(tx.test) ?? [];
        list.push(tx);
        rolledBack.set(tx.test, list);
      }
    }
    for (const s of summaries) {
      const k = s.counts;
      const procs = k.processes > 1 ? ` in ${k.processes} processes` : '';
      lines.push(`  ${s.test.id.padEnd(width)}  ${(s.test.outcome ?? 'unfinished').padEnd(7)}  ${countsLine(k)}${procs}`);
      if (s.test.message && (s.test.outcome === 'failed' || s.test.outcome === 'error')) lines.push(`      ✗ ${s.test.message}`);
      for (const tx of rolledBack.get(s.test.id) ?? []) lines.push(`      ${discardedWrites(tx, cwd)}`);
    }
  }
  lines.push('');
  if (findings.length === 0) {
    lines.push('No findings.');
  } else {
    lines.push(`${plural(findings.length, 'finding')}:`);
    for (const f of findings) {
      lines.push(`  ${f.severity} ${f.rule} ${relPath(f.location.file, cwd)}:${f.location.line}${f.test ? ` [${f.test}]` : ''}`);
      lines.push(`    ${f.message}`);
      for (const r of f.related) lines.push(`    - ${relPath(r.file, cwd)}:${r.line} ${r.message}`);
    }
  }
  if (model.skipped.total > 0) lines.push(`Note: ${describeSkipped(model.skipped)}.`);
  for (const n of model.notes) lines.push(`Note: ${n}.`);
  lines.push(`Trace: ${relPath(model.dir, cwd)}`);
  return lines.join('\n') + '\n';
}
