/** Shared by the ts-*.test.ts files: check a fixture copy with the TS plugin, apply a fix's edits. */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import type { Finding, TextEdit } from '../../src/analysis/findings';
import { StaticChecker } from '../../src/static/checker';
import { typescriptPlugin } from '../../src/static/typescript/plugin';

export const FIXTURES = resolve(__dirname, '../../../test/fixtures/static/ts');

export function copyFixture(rule: string, variant: string): { dir: string; dispose(): void } {
  const dir = mkdtempSync(join(tmpdir(), `txlens-ts-${rule}-${variant}-`));
  cpSync(join(FIXTURES, rule, variant), dir, { recursive: true });
  return { dir, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function checkDir(dir: string): Promise<{ findings: Finding[]; notes: string[]; checker: StaticChecker }> {
  const checker = new StaticChecker(dir, { plugins: [typescriptPlugin()] });
  const r = await checker.check();
  return { ...r, checker };
}

/** "rule file:line" per finding, paths relative to the fixture, for exact comparisons. */
export function summary(findings: Finding[], dir: string): string[] {
  return findings.map((f) => `${f.severity} ${f.rule} ${relative(dir, f.location.file)}:${f.location.line}`).sort();
}

/** Applies edits (1-based lines and columns), last first so earlier offsets stay valid. */
export function applyEdits(edits: TextEdit[]): void {
  const byFile = new Map<string, TextEdit[]>();
  for (const e of edits) byFile.set(e.file, [...(byFile.get(e.file) ?? []), e]);
  for (const [file, list] of byFile) {
    let text = readFileSync(file, 'utf8');
    const lineStarts = [0];
    for (let i = 0; i < text.length; i++) if (text[i] === '\n') lineStarts.push(i + 1);
    const offset = (line: number, col: number) => lineStarts[line - 1] + col - 1;
    const sorted = list
      .map((e) => ({ start: offset(e.startLine, e.startColumn), end: offset(e.endLine, e.endColumn), text: e.newText }))
      .sort((a, b) => b.start - a.start || b.end - a.end);
    for (const e of sorted) text = text.slice(0, e.start) + e.text + text.slice(e.end);
    writeFileSync(file, text);
  }
}

export function preferredFix(f: Finding) {
  return f.fixes.find((x) => x.preferred) ?? f.fixes[0];
}
