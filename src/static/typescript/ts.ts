/**
 * The TypeScript compiler API, loaded on first use. ts-morph carries its own
 * copy of the compiler; taking `ts` from it keeps one compiler in the bundle,
 * and loading it lazily keeps `txlens` start-up free of a 9 MB parse for
 * commands that never look at JavaScript.
 */
import type { ts as TsNamespace } from 'ts-morph';

export type TS = typeof TsNamespace;
export type { TsNamespace as ts };

let loaded: TS | undefined;

export function typescript(): TS {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  loaded ??= (require('ts-morph') as { ts: TS }).ts;
  return loaded;
}

export function scriptKindOf(t: TS, path: string): TsNamespace.ScriptKind {
  const lower = path.toLowerCase();
  if (lower.endsWith('.tsx')) return t.ScriptKind.TSX;
  if (lower.endsWith('.jsx')) return t.ScriptKind.JSX;
  if (lower.endsWith('.ts') || lower.endsWith('.mts') || lower.endsWith('.cts')) return t.ScriptKind.TS;
  return t.ScriptKind.JS;
}

/** Parses one file with parent pointers; never type-checks. */
export function parse(t: TS, path: string, text: string): TsNamespace.SourceFile {
  return t.createSourceFile(path, text, t.ScriptTarget.Latest, true, scriptKindOf(t, path));
}

/** Parse errors the compiler found (syntax only). */
export function syntaxErrors(sf: TsNamespace.SourceFile): { line: number; message: string }[] {
  const diags = (sf as unknown as { parseDiagnostics?: TsNamespace.DiagnosticWithLocation[] }).parseDiagnostics ?? [];
  return diags.map((d) => ({
    line: sf.getLineAndCharacterOfPosition(d.start).line + 1,
    message: typeof d.messageText === 'string' ? d.messageText : d.messageText.messageText,
  }));
}
