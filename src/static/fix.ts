/**
 * Applying fixes to files: several edits per file, bottom-up, overlapping ones
 * refused, and, given a syntax check, no edit that would leave a file that does
 * not parse.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { TextEdit } from '../analysis/findings';

function offsetOf(lineStarts: number[], line: number, column: number): number {
  const start = lineStarts[Math.min(line - 1, lineStarts.length - 1)] ?? 0;
  return start + column - 1;
}

function lineStartsOf(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
  return starts;
}

interface PlannedEdit {
  edit: TextEdit;
  start: number;
  end: number;
  order: number;
}

function applyPlanned(text: string, edits: PlannedEdit[]): string {
  // Bottom-up keeps earlier offsets valid; at one offset, later-planned text goes after earlier-planned text.
  const sorted = [...edits].sort((a, b) => b.start - a.start || b.order - a.order);
  for (const e of sorted) text = text.slice(0, e.start) + e.edit.newText + text.slice(e.end);
  return text;
}

/** The text of one file after `edits` (all for that file, non-overlapping), applied in the order given. */
export function applyEditsToText(text: string, edits: TextEdit[]): string {
  const starts = lineStartsOf(text);
  return applyPlanned(
    text,
    edits.map((edit, order) => ({ edit, start: offsetOf(starts, edit.startLine, edit.startColumn), end: offsetOf(starts, edit.endLine, edit.endColumn), order })),
  );
}

/** Whether a file's text, once edited, still parses as well as `before` did. */
export type SyntaxCheck = (file: string, after: string, before: string) => boolean;

export type Refusal = 'overlaps' | 'breaks-syntax';

/** Ranges [start, end) already edited in a file, to refuse overlapping edits. */
export class EditPlan {
  private readonly byFile = new Map<string, PlannedEdit[]>();
  private readonly texts = new Map<string, string>();
  private order = 0;
  /** Why the last `add` said no. */
  refusal?: Refusal;

  /** `parses`: when given, a fix whose result (with everything planned before it) would not parse is refused, and `apply` writes no such file. */
  constructor(private readonly parses?: SyntaxCheck) {}

  private text(file: string): string {
    let t = this.texts.get(file);
    if (t === undefined) this.texts.set(file, (t = readFileSync(file, 'utf8')));
    return t;
  }

  /** Adds all edits of one fix, or none when one overlaps an edit already planned or the result would not parse. */
  add(edits: TextEdit[]): boolean {
    this.refusal = undefined;
    const planned = edits.map((edit) => {
      const starts = lineStartsOf(this.text(edit.file));
      return { edit, start: offsetOf(starts, edit.startLine, edit.startColumn), end: offsetOf(starts, edit.endLine, edit.endColumn), order: 0 };
    });
    for (const p of planned) {
      const others = this.byFile.get(p.edit.file) ?? [];
      // Two insertions at one point are fine; a replacement must not touch another edit's range.
      if (others.some((o) => p.start < o.end && o.start < p.end) || others.some((o) => o.start === o.end && p.start < o.start && o.start < p.end)) {
        this.refusal = 'overlaps';
        return false;
      }
    }
    planned.forEach((p, i) => (p.order = this.order + i));
    if (this.parses) {
      for (const file of new Set(planned.map((p) => p.edit.file))) {
        const all = [...(this.byFile.get(file) ?? []), ...planned.filter((p) => p.edit.file === file)];
        if (!this.parses(file, applyPlanned(this.text(file), all), this.text(file))) {
          this.refusal = 'breaks-syntax';
          return false;
        }
      }
    }
    this.order += planned.length;
    for (const p of planned) (this.byFile.get(p.edit.file) ?? this.byFile.set(p.edit.file, []).get(p.edit.file)!).push(p);
    return true;
  }

  /** Writes every planned edit (never a file that would not parse, given a syntax check); returns the files changed. */
  apply(): string[] {
    const changed: string[] = [];
    for (const [file, edits] of this.byFile) {
      const before = this.text(file);
      const text = applyPlanned(before, edits);
      if (this.parses && !this.parses(file, text, before)) continue;
      writeFileSync(file, text);
      changed.push(file);
    }
    return changed;
  }
}
