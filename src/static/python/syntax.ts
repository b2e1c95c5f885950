/** Small helpers over tree-sitter's Python syntax tree. */
import type { Node } from 'web-tree-sitter';
import type { TextEdit } from '../../analysis/findings';
import { standaloneOffsets } from '../words';

export type { Node };

export function kids(n: Node): Node[] {
  return n.children.filter((c): c is Node => c !== null);
}

export function named(n: Node): Node[] {
  return n.namedChildren.filter((c): c is Node => c !== null);
}

export function field(n: Node, name: string): Node | undefined {
  return n.childForFieldName(name) ?? undefined;
}

/** Every descendant (pre-order), not entering nodes for which `enter` says no (they are still visited). */
export function* walk(n: Node, enter: (n: Node) => boolean = () => true): Generator<Node> {
  const stack: Node[] = [n];
  while (stack.length) {
    const cur = stack.pop()!;
    yield cur;
    if (cur !== n && !enter(cur)) continue;
    const cs = named(cur);
    for (let i = cs.length - 1; i >= 0; i--) stack.push(cs[i]);
  }
}

/**
 * A character of a Python identifier (one code point). Made on first use: V8 parses a
 * regular expression when its literal is evaluated, and a \p{…} class costs millions of
 * instructions, which every process loading this module would pay at load.
 */
let pythonNameChar: RegExp | undefined;

/**
 * Identifiers spelled `name`, in document order. The text is searched for the
 * word and each hit confirmed in the tree (an identifier node with exactly that
 * span), so strings and comments never count and no walk over the whole tree
 * is needed: a name used a few times costs a few look-ups, not one visit per node.
 */
export function identifiersNamed(root: Node, text: string, name: string): Node[] {
  const out: Node[] = [];
  const nameChar = (pythonNameChar ??= /^[\p{L}\p{N}_]$/u);
  for (const start of standaloneOffsets(text, name, nameChar, nameChar)) {
    const end = start + name.length;
    const n = root.descendantForIndex(start, end);
    if (n && n.type === 'identifier' && n.startIndex === start && n.endIndex === end) out.push(n);
  }
  return out;
}

/** Whether `name` is spelled as an identifier anywhere in the file. */
export function hasIdentifier(root: Node, text: string, name: string): boolean {
  return identifiersNamed(root, text, name).length > 0;
}

/**
 * Descendants of `n` whose type is in `wanted` (pre-order), not entering nodes
 * whose type is in `stop` (they are still yielded when wanted). Types are read
 * from a tree cursor, so only the wanted nodes are turned into Node objects:
 * far cheaper than `walk` when few node kinds matter.
 */
export function* walkTypes(n: Node, wanted: ReadonlySet<string>, stop?: ReadonlySet<string>): Generator<Node> {
  const cursor = n.walk();
  try {
    if (wanted.has(n.type)) yield n;
    if (!cursor.gotoFirstChild()) return;
    for (;;) {
      let entered = false;
      if (cursor.nodeIsNamed) {
        const type = cursor.nodeType;
        if (wanted.has(type)) yield cursor.currentNode;
        if (!stop?.has(type)) entered = cursor.gotoFirstChild();
      }
      if (entered) continue;
      while (!cursor.gotoNextSibling()) {
        if (!cursor.gotoParent()) return;
        // Back at the start node: done.
        if (cursor.currentDepth === 0) return;
      }
    }
  } finally {
    cursor.delete();
  }
}

export const FUNCTION_TYPES = new Set(['function_definition', 'lambda']);

export function isAsyncDef(fn: Node): boolean {
  return kids(fn).some((c) => c.type === 'async');
}

/** The text of a string literal without quotes and prefixes, when it has no interpolation. */
export function stringValue(n: Node | undefined): string | undefined {
  if (!n) return undefined;
  if (n.type === 'concatenated_string') {
    const parts = named(n).map(stringValue);
    return parts.every((p) => p !== undefined) ? parts.join('') : undefined;
  }
  if (n.type !== 'string') return undefined;
  const parts = named(n);
  if (parts.some((p) => p.type === 'interpolation')) return undefined;
  return parts
    .filter((p) => p.type === 'string_content')
    .map((p) => p.text)
    .join('');
}

/** `a.b.c` for identifier/attribute chains, else undefined. */
export function dottedName(n: Node | undefined): string | undefined {
  if (!n) return undefined;
  if (n.type === 'identifier') return n.text;
  if (n.type === 'attribute') {
    const obj = dottedName(field(n, 'object'));
    const attr = field(n, 'attribute');
    return obj && attr ? `${obj}.${attr.text}` : undefined;
  }
  return undefined;
}

export interface CallParts {
  callee: string | undefined;
  positional: Node[];
  keywords: Map<string, Node>;
}

export function callParts(call: Node): CallParts {
  const args = field(call, 'arguments');
  const positional: Node[] = [];
  const keywords = new Map<string, Node>();
  if (args?.type === 'argument_list') {
    for (const a of named(args)) {
      if (a.type === 'keyword_argument') {
        const name = field(a, 'name');
        const value = field(a, 'value');
        if (name && value) keywords.set(name.text, value);
      } else if (a.type !== 'comment') positional.push(a);
    }
  }
  return { callee: dottedName(field(call, 'function')), positional, keywords };
}

/** 1-based line/column of a node's start. */
export function startOf(n: Node): { line: number; column: number } {
  return { line: n.startPosition.row + 1, column: n.startPosition.column + 1 };
}

export function edit(file: string, from: Node | { row: number; column: number }, to: Node | { row: number; column: number }, newText: string): TextEdit {
  const a = 'startPosition' in from ? from.startPosition : from;
  const b = 'endPosition' in to ? to.endPosition : to;
  return { file, startLine: a.row + 1, startColumn: a.column + 1, endLine: b.row + 1, endColumn: b.column + 1, newText };
}

/** An insertion at a 0-based position. */
export function insertAt(file: string, at: { row: number; column: number }, newText: string): TextEdit {
  return edit(file, at, at, newText);
}

/** Leading whitespace of the line a node starts on. */
export function indentOf(n: Node, lines: string[]): string {
  const line = lines[n.startPosition.row] ?? '';
  return /^[ \t]*/.exec(line)![0];
}

/** The statement (direct child of a block or module) that holds a node. */
export function statementOf(n: Node): Node {
  let cur: Node = n;
  while (cur.parent && cur.parent.type !== 'block' && cur.parent.type !== 'module') cur = cur.parent;
  return cur;
}

/** The nearest enclosing function definition. */
export function enclosingFunction(n: Node): Node | undefined {
  for (let p = n.parent; p; p = p.parent) if (p.type === 'function_definition') return p;
  return undefined;
}

/** Whether a file is test code by pytest's conventions (test_*.py, *_test.py, conftest.py, a tests/ folder). */
export function isTestPath(rel: string): boolean {
  const parts = rel.split('/');
  const base = parts[parts.length - 1];
  if (/^test_.*\.py$|_test\.py$|^conftest\.py$|^tests?\.py$/.test(base)) return true;
  return parts.slice(0, -1).some((d) => d === 'tests' || d === 'test' || d === 'testing');
}
