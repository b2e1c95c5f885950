/** Applying fixes to files: several edits per file, bottom-up, overlapping ones refused. */
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

/** Ranges [start, end) already edited in a file, to refuse overlapping edits. */
export class EditPlan {
  private readonly byFile = new Map<string, Array<{ edit: TextEdit; start: number; end: number; order: number }>>();
  private readonly texts = new Map<string, string>();
  private order = 0;

  private text(file: string): string {
    let t = this.texts.get(file);
    if (t === undefined) this.texts.set(file, (t = readFileSync(file, 'utf8')));
    return t;
  }

  /** Adds all edits of one fix, or none when one overlaps an edit already planned. */
  add(edits: TextEdit[]): boolean {
    const planned = edits.map((edit) => {
      const starts = lineStartsOf(this.text(edit.file));
      return { edit, start: offsetOf(starts, edit.startLine, edit.startColumn), end: offsetOf(starts, edit.endLine, edit.endColumn), order: 0 };
    });
    for (const p of planned) {
      const others = this.byFile.get(p.edit.file) ?? [];
      // Two insertions at one point are fine; a replacement must not touch another edit's range.
      if (others.some((o) => p.start < o.end && o.start < p.end)) return false;
      if (others.some((o) => o.start === o.end && p.start < o.start && o.start < p.end)) return false;
    }
    for (const p of planned) {
      p.order = this.order++;
      (this.byFile.get(p.edit.file) ?? this.byFile.set(p.edit.file, []).get(p.edit.file)!).push(p);
    }
    return true;
  }

  /** Writes every planned edit; returns the files changed. */
  apply(): string[] {
    const changed: string[] = [];
    for (const [file, edits] of this.byFile) {
      let text = this.text(file);
      // Bottom-up keeps earlier offsets valid; at one offset, later-planned text goes after earlier-planned text.
      edits.sort((a, b) => b.start - a.start || b.order - a.order);
      for (const e of edits) text = text.slice(0, e.start) + e.edit.newText + text.slice(e.end);
      writeFileSync(file, text);
      changed.push(file);
    }
    return changed;
  }
}
