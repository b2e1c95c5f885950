/**
 * Findings as plain diagnostic records: 0-based ranges, the rule id as
 * `code` with its documentation as `target`, related locations, and the
 * fixes as code actions (exactly one preferred per finding). The VS Code
 * layer turns these into Diagnostic and CodeAction objects one to one.
 */
import type { Finding, Severity } from '../../analysis/findings';
import { testLabel } from '../../present/wording';

export interface PlainRange {
  startLine: number;
  startCharacter: number;
  endLine: number;
  endCharacter: number;
}

export interface PlainFix {
  title: string;
  preferred: boolean;
  edits: { file: string; range: PlainRange; newText: string }[];
}

export interface PlainDiagnostic {
  file: string;
  range: PlainRange;
  severity: Severity;
  message: string;
  source: 'txlens';
  code: { value: string; target: string };
  related: { file: string; range: PlainRange; message: string }[];
  fixes: PlainFix[];
  test?: string;
}

/** Reads line `line` (1-based) of `file`, for ranges that cover the code but not the indentation. */
export type LineReader = (file: string, line: number) => string | undefined;

function lineRange(file: string, line: number, column: number | undefined, read: LineReader | undefined): PlainRange {
  const l = Math.max(0, line - 1);
  const text = read?.(file, line);
  if (text === undefined) return { startLine: l, startCharacter: Math.max(0, (column ?? 1) - 1), endLine: l, endCharacter: Number.MAX_SAFE_INTEGER };
  const first = text.length - text.trimStart().length;
  const start = column !== undefined ? Math.min(column - 1, text.length) : first;
  return { startLine: l, startCharacter: start, endLine: l, endCharacter: Math.max(start, text.trimEnd().length) };
}

/** One identity for a finding across the diagnostic and its code actions. */
export function diagnosticKey(d: { file: string; range: { startLine: number }; code: { value: string }; message: string }): string {
  return `${d.file}\u0000${d.range.startLine}\u0000${d.code.value}\u0000${d.message}`;
}

export function diagnosticsFor(findings: Finding[], docsFor: (rule: string) => string, read?: LineReader): PlainDiagnostic[] {
  return findings.map((f) => {
    const preferredIndex = Math.max(0, f.fixes.findIndex((x) => x.preferred));
    return {
      file: f.location.file,
      range: lineRange(f.location.file, f.location.line, f.location.column, read),
      severity: f.severity,
      message: f.test ? `${f.message} (test ${testLabel(f.test)})` : f.message,
      source: 'txlens',
      code: { value: f.rule, target: docsFor(f.rule) },
      related: f.related.map((r) => ({ file: r.file, range: lineRange(r.file, r.line, undefined, read), message: r.message })),
      fixes: f.fixes.map((fix, i) => ({
        title: fix.title,
        preferred: i === preferredIndex,
        edits: fix.edits.map((e) => ({
          file: e.file,
          range: { startLine: e.startLine - 1, startCharacter: e.startColumn - 1, endLine: e.endLine - 1, endCharacter: e.endColumn - 1 },
          newText: e.newText,
        })),
      })),
      test: f.test,
    };
  });
}

/** Diagnostics grouped by file, every file once (the Problems panel is set per file). */
export function byFile(diagnostics: PlainDiagnostic[]): Map<string, PlainDiagnostic[]> {
  const out = new Map<string, PlainDiagnostic[]>();
  for (const d of diagnostics) {
    const list = out.get(d.file);
    if (list) list.push(d);
    else out.set(d.file, [d]);
  }
  return out;
}
