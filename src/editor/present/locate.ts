/**
 * Finds test functions in source text, without running anything: pytest
 * (`def test_*` at module level or in `class Test*`), and the call-style
 * frameworks (node:test, jest, vitest, mocha: `describe`/`suite` blocks and
 * `it`/`test`/`specify` calls with a literal title).
 */

export type Framework = 'pytest' | 'node:test' | 'jest' | 'vitest' | 'mocha';

export interface LocatedTest {
  /** The function or title: 'test_create_job', 'creates a job'. */
  name: string;
  /** Enclosing classes or describe titles, outermost first, then the name. */
  path: string[];
  kind: 'test' | 'suite';
  /** 1-based line of the `def` or of the call. */
  line: number;
  /** 1-based last line of the body (inclusive). */
  endLine: number;
}

export type SourceLanguage = 'python' | 'js';

export function languageOf(fileOrLanguageId: string): SourceLanguage | undefined {
  if (fileOrLanguageId === 'python' || /\.py$/.test(fileOrLanguageId)) return 'python';
  if (/^(javascript|typescript|javascriptreact|typescriptreact)$/.test(fileOrLanguageId) || /\.[cm]?[jt]sx?$/.test(fileOrLanguageId)) return 'js';
  return undefined;
}

const JS_EXTENSIONS = ['js', 'mjs', 'cjs', 'ts', 'mts', 'cts', 'jsx', 'tsx'];

/**
 * The test files the Testing view looks for in the workspace, as a glob for
 * `workspace.findFiles`: pytest's file names, and `*.test.*` / `*.spec.*` in
 * every JavaScript and TypeScript extension. One level of braces only: the
 * search behind findFiles (ripgrep) refuses nested alternates, and the whole
 * search fails with them.
 */
export const TEST_FILE_GLOB = `**/{test_*.py,*_test.py,${['test', 'spec'].flatMap((kind) => JS_EXTENSIONS.map((ext) => `*.${kind}.${ext}`)).join(',')}}`;

/** Whether a file name looks like a test file the locator should read. */
export function isTestFileName(file: string): boolean {
  const base = file.split(/[\\/]/).pop() ?? file;
  if (/^test_.*\.py$|_test\.py$/.test(base)) return true;
  if (/\.(test|spec)\.[cm]?[jt]sx?$/.test(base)) return true;
  return /(^|[\\/])(__tests__|tests?)[\\/][^\\/]+\.[cm]?[jt]sx?$/.test(file);
}

export function locateTests(text: string, language: SourceLanguage): LocatedTest[] {
  return language === 'python' ? locatePython(text) : locateCalls(text);
}

function locatePython(text: string): LocatedTest[] {
  const lines = text.split(/\r?\n/);
  const out: LocatedTest[] = [];
  // Open blocks (classes and tests) by indentation; a line at or left of a block's indent closes it.
  const open: { indent: number; item?: LocatedTest; isTestClass: boolean }[] = [];
  let lastCode = 0;
  const close = (indent: number, lineNo: number) => {
    while (open.length && open[open.length - 1].indent >= indent) {
      const b = open.pop()!;
      if (b.item) b.item.endLine = Math.max(b.item.line, lastCode || lineNo);
    }
  };
  let inString: string | undefined;
  let brackets = 0;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    const lineNo = i + 1;
    if (inString) {
      if (raw.includes(inString)) inString = undefined;
      continue;
    }
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    // Inside brackets a line continues the statement before it, whatever its indentation.
    const continued = brackets > 0;
    brackets = Math.max(0, brackets + bracketBalance(trimmed));
    if (continued) {
      lastCode = lineNo;
      continue;
    }
    const indent = raw.length - raw.trimStart().length;
    // Decorators and continuation lines belong to what follows; only statements open or close blocks.
    if (!trimmed.startsWith('@') && !trimmed.startsWith(')')) close(indent, lineNo);
    const triple = trimmed.match(/("""|''')/);
    if (triple && trimmed.split(triple[1]).length === 2) inString = triple[1];
    const cls = trimmed.match(/^class\s+([A-Za-z_]\w*)/);
    const fn = trimmed.match(/^(?:async\s+)?def\s+([A-Za-z_]\w*)\s*\(/);
    const parentsOk = open.every((b) => b.isTestClass);
    if (cls) {
      const isTestClass = parentsOk && /^Test/.test(cls[1]);
      const item: LocatedTest | undefined = isTestClass
        ? { name: cls[1], path: [...open.filter((b) => b.item).map((b) => b.item!.name), cls[1]], kind: 'suite', line: lineNo, endLine: lineNo }
        : undefined;
      if (item) out.push(item);
      open.push({ indent, item, isTestClass });
    } else if (fn) {
      const isTest = parentsOk && /^test/.test(fn[1]);
      const item: LocatedTest | undefined = isTest
        ? { name: fn[1], path: [...open.filter((b) => b.item).map((b) => b.item!.name), fn[1]], kind: 'test', line: lineNo, endLine: lineNo }
        : undefined;
      if (item) out.push(item);
      open.push({ indent, item, isTestClass: false });
    }
    lastCode = lineNo;
  }
  close(-1, lines.length);
  return out;
}

/** Opened minus closed brackets on one line of Python, outside strings and comments. */
function bracketBalance(line: string): number {
  let n = 0;
  let q: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (q) {
      if (c === '\\') i++;
      else if (c === q) q = undefined;
    } else if (c === '#') break;
    else if (c === '"' || c === "'") q = c;
    else if (c === '(' || c === '[' || c === '{') n++;
    else if (c === ')' || c === ']' || c === '}') n--;
  }
  return n;
}

const SUITE_CALLS = new Set(['describe', 'suite', 'context']);
const TEST_CALLS = new Set(['it', 'test', 'specify']);

interface Call {
  name: string;
  kind: 'test' | 'suite';
  start: number;
  end: number;
}

/**
 * Scans JS/TS once, skipping strings, comments and template text, and
 * records `describe('title', …)`-style calls with the offset of their
 * closing parenthesis, so nesting follows the code rather than indentation.
 */
function locateCalls(text: string): LocatedTest[] {
  const calls: Call[] = [];
  const parens: { call?: Call }[] = [];
  const n = text.length;
  let i = 0;
  const readString = (quote: string, from: number): { value: string; end: number } => {
    let j = from + 1;
    let value = '';
    while (j < n && text[j] !== quote) {
      if (text[j] === '\\') {
        value += text[j + 1] ?? '';
        j += 2;
        continue;
      }
      if (quote === '`' && text[j] === '$' && text[j + 1] === '{') {
        // A template title with an expression: keep the text around it, skip the expression.
        let depth = 1;
        j += 2;
        while (j < n && depth > 0) {
          if (text[j] === '{') depth++;
          else if (text[j] === '}') depth--;
          j++;
        }
        value += '…';
        continue;
      }
      value += text[j];
      j++;
    }
    return { value, end: j + 1 };
  };
  while (i < n) {
    const c = text[i];
    if (c === '/' && text[i + 1] === '/') {
      const nl = text.indexOf('\n', i);
      i = nl < 0 ? n : nl + 1;
    } else if (c === '/' && text[i + 1] === '*') {
      const close = text.indexOf('*/', i + 2);
      i = close < 0 ? n : close + 2;
    } else if (c === '"' || c === "'" || c === '`') {
      i = readString(c, i).end;
    } else if (c === '(') {
      parens.push({});
      i++;
    } else if (c === ')') {
      const p = parens.pop();
      if (p?.call) p.call.end = i;
      i++;
    } else if (/[A-Za-z_$]/.test(c)) {
      let j = i;
      while (j < n && /[\w$]/.test(text[j])) j++;
      const word = text.slice(i, j);
      const prev = text.slice(0, i).trimEnd().slice(-1);
      if ((SUITE_CALLS.has(word) || TEST_CALLS.has(word)) && prev !== '.') {
        // Modifiers: describe.only, it.skip, test.concurrent, test.each`…`/(…) are left to the title that follows.
        let k = j;
        while (text[k] === '.') {
          let m = k + 1;
          while (m < n && /[\w$]/.test(text[m])) m++;
          k = m;
        }
        while (/\s/.test(text[k] ?? '')) k++;
        if (text[k] === '(') {
          let q = k + 1;
          while (/\s/.test(text[q] ?? '')) q++;
          const quote = text[q];
          if (quote === '"' || quote === "'" || quote === '`') {
            const title = readString(quote, q);
            const call: Call = { name: title.value, kind: SUITE_CALLS.has(word) ? 'suite' : 'test', start: i, end: n };
            calls.push(call);
            parens.push({ call });
            i = title.end;
            continue;
          }
        }
      }
      i = j;
    } else {
      i++;
    }
  }
  const lineStarts = [0];
  for (let k = 0; k < n; k++) if (text[k] === '\n') lineStarts.push(k + 1);
  const lineOf = (offset: number): number => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
  return calls.map((call) => {
    const path = calls.filter((o) => o !== call && o.kind === 'suite' && o.start < call.start && o.end > call.start).map((o) => o.name);
    return { name: call.name, path: [...path, call.name], kind: call.kind, line: lineOf(call.start), endLine: lineOf(call.end) };
  });
}
