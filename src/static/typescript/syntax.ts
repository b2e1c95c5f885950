/** Small helpers over the compiler's syntax tree: positions, edits, names, references. */
import type { TextEdit } from '../../analysis/findings';
import type { TS, ts } from './ts';
import { standaloneOffsets } from '../words';

export interface Pos {
  line: number;
  column: number;
}

export function posOf(sf: ts.SourceFile, offset: number): Pos {
  const lc = sf.getLineAndCharacterOfPosition(offset);
  return { line: lc.line + 1, column: lc.character + 1 };
}

export function startOf(sf: ts.SourceFile, node: ts.Node): Pos {
  return posOf(sf, node.getStart(sf));
}

export function edit(sf: ts.SourceFile, file: string, start: number, end: number, newText: string): TextEdit {
  const a = posOf(sf, start);
  const b = posOf(sf, end);
  return { file, startLine: a.line, startColumn: a.column, endLine: b.line, endColumn: b.column, newText };
}

/** Leading whitespace of the line holding `offset`. */
export function indentAt(sf: ts.SourceFile, offset: number): string {
  const text = sf.text;
  let start = offset;
  while (start > 0 && text[start - 1] !== '\n') start--;
  let end = start;
  while (end < text.length && (text[end] === ' ' || text[end] === '\t')) end++;
  return text.slice(start, end);
}

/** Removes a statement; when it owns its lines, the whole lines go. */
export function removeStatement(sf: ts.SourceFile, file: string, node: ts.Node): TextEdit {
  const text = sf.text;
  let start = node.getStart(sf);
  let end = node.getEnd();
  let lineStart = start;
  while (lineStart > 0 && (text[lineStart - 1] === ' ' || text[lineStart - 1] === '\t')) lineStart--;
  let lineEnd = end;
  while (lineEnd < text.length && (text[lineEnd] === ' ' || text[lineEnd] === '\t')) lineEnd++;
  if ((lineStart === 0 || text[lineStart - 1] === '\n') && (lineEnd === text.length || text[lineEnd] === '\n' || text[lineEnd] === '\r')) {
    start = lineStart;
    end = lineEnd;
    if (text[end] === '\r') end++;
    if (text[end] === '\n') end++;
  }
  return edit(sf, file, start, end, '');
}

export function stringValue(t: TS, node: ts.Node | undefined): string | undefined {
  if (!node) return undefined;
  if (t.isStringLiteral(node) || t.isNoSubstitutionTemplateLiteral(node)) return node.text;
  return undefined;
}

/** `require('x')` → 'x'. */
export function requireSpecifier(t: TS, node: ts.Node | undefined): string | undefined {
  if (!node || !t.isCallExpression(node)) return undefined;
  if (!t.isIdentifier(node.expression) || node.expression.text !== 'require' || node.arguments.length !== 1) return undefined;
  return stringValue(t, node.arguments[0]);
}

/** Strips `await`, parentheses, `as`, `!` and `satisfies` around an expression. */
export function unwrap(t: TS, node: ts.Expression): ts.Expression {
  let n = node;
  for (;;) {
    if (t.isParenthesizedExpression(n) || t.isAwaitExpression(n) || t.isAsExpression(n) || t.isNonNullExpression(n) || t.isSatisfiesExpression(n) || t.isTypeAssertionExpression(n)) {
      n = n.expression;
    } else {
      return n;
    }
  }
}

export function isFunctionLike(t: TS, node: ts.Node): node is ts.FunctionLikeDeclaration {
  return (
    t.isFunctionDeclaration(node) ||
    t.isFunctionExpression(node) ||
    t.isArrowFunction(node) ||
    t.isMethodDeclaration(node) ||
    t.isConstructorDeclaration(node) ||
    t.isGetAccessorDeclaration(node) ||
    t.isSetAccessorDeclaration(node)
  );
}

/** Names a binding pattern or identifier declares. */
export function boundNames(t: TS, name: ts.BindingName, out: string[] = []): string[] {
  if (t.isIdentifier(name)) out.push(name.text);
  else for (const el of name.elements) if (!t.isOmittedExpression(el)) boundNames(t, el.name, out);
  return out;
}

/** Whether `scope` (a function, block, catch, for or class) declares `name` itself. */
function declaresName(t: TS, scope: ts.Node, name: string): boolean {
  const declaredIn = (stmts: readonly ts.Statement[], includeVar: boolean): boolean => {
    for (const s of stmts) {
      if (t.isVariableStatement(s)) {
        const isVar = !(s.declarationList.flags & (t.NodeFlags.Let | t.NodeFlags.Const));
        if (isVar && !includeVar) continue;
        for (const d of s.declarationList.declarations) if (boundNames(t, d.name).includes(name)) return true;
      } else if ((t.isFunctionDeclaration(s) || t.isClassDeclaration(s) || t.isEnumDeclaration(s)) && s.name?.text === name) {
        return true;
      }
    }
    return false;
  };
  if (isFunctionLike(t, scope)) {
    if ((t.isFunctionExpression(scope) || t.isFunctionDeclaration(scope)) && scope.name?.text === name && t.isFunctionExpression(scope)) return true;
    for (const p of scope.parameters) if (boundNames(t, p.name).includes(name)) return true;
    if (scope.body && t.isBlock(scope.body)) {
      if (declaredIn(scope.body.statements, true)) return true;
      let found = false;
      const visitVars = (n: ts.Node): void => {
        if (found || isFunctionLike(t, n)) return;
        if (t.isVariableDeclarationList(n) && !(n.flags & (t.NodeFlags.Let | t.NodeFlags.Const))) {
          for (const d of n.declarations) if (boundNames(t, d.name).includes(name)) found = true;
        }
        t.forEachChild(n, visitVars);
      };
      t.forEachChild(scope.body, visitVars);
      return found;
    }
    return false;
  }
  if (t.isBlock(scope) || t.isModuleBlock(scope)) return declaredIn(scope.statements, false);
  if (t.isCaseBlock(scope)) return scope.clauses.some((c) => declaredIn(c.statements, false));
  if (t.isCatchClause(scope)) return !!scope.variableDeclaration && boundNames(t, scope.variableDeclaration.name).includes(name);
  if (t.isForStatement(scope) || t.isForInStatement(scope) || t.isForOfStatement(scope)) {
    const init = scope.initializer;
    return !!init && t.isVariableDeclarationList(init) && init.declarations.some((d) => boundNames(t, d.name).includes(name));
  }
  if (t.isClassExpression(scope)) return scope.name?.text === name;
  return false;
}

export interface Reference {
  node: ts.Identifier;
  /** `{ name }` in an object literal: the edit must keep the key. */
  shorthand: boolean;
  /** Assigned or updated: the binding is written, not only read. */
  written: boolean;
  /** Inside a function: evaluated when called, not when the module loads. */
  deferred: boolean;
  /** `export { name }`: a re-export of the binding. */
  exported: boolean;
}

/**
 * Every reading of a top-level binding `name` in the file, skipping scopes that
 * declare their own `name`. Property names, keys and the declaration are not references.
 */
export function referencesOf(t: TS, sf: ts.SourceFile, name: string, declaration: ts.Node): Reference[] {
  const refs: Reference[] = [];
  // Only subtrees whose text spells the name can hold a reference: the rest are not entered.
  const spots = wordOffsets(sf.text, name);
  if (spots.length === 0) return refs;
  const holdsSpot = (node: ts.Node): boolean => {
    let lo = 0;
    let hi = spots.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (spots[mid] < node.pos) lo = mid + 1;
      else hi = mid;
    }
    return lo < spots.length && spots[lo] < node.end;
  };
  const visit = (node: ts.Node, depth: number): void => {
    if (node !== sf && !holdsSpot(node)) return;
    if (node !== sf && declaresName(t, node, name)) return;
    if (t.isIdentifier(node) && node.text === name && !isWithin(node, declaration) && isReference(t, node)) {
      const p = node.parent;
      const written =
        (t.isBinaryExpression(p) && p.left === node && p.operatorToken.kind >= t.SyntaxKind.FirstAssignment && p.operatorToken.kind <= t.SyntaxKind.LastAssignment) ||
        ((t.isPrefixUnaryExpression(p) || t.isPostfixUnaryExpression(p)) && (p.operator === t.SyntaxKind.PlusPlusToken || p.operator === t.SyntaxKind.MinusMinusToken));
      refs.push({ node, shorthand: t.isShorthandPropertyAssignment(p), written, deferred: depth > 0, exported: t.isExportSpecifier(p) });
    }
    const inner = isFunctionLike(t, node) ? depth + 1 : depth;
    t.forEachChild(node, (c) => visit(c, inner));
  };
  visit(sf, 0);
  return refs;
}

/** Start offsets of `word` standing alone (not inside a longer identifier). */
function wordOffsets(text: string, word: string): number[] {
  nameChars ??= { after: /^[\p{L}\p{N}_$]$/u, before: /^[\p{L}\p{N}_$\\]$/u };
  return standaloneOffsets(text, word, nameChars.before, nameChars.after);
}

/**
 * A character of a JavaScript identifier (one code point); before a word, a backslash too
 * (a `\u` escape). Made on first use: V8 parses a regular expression when its literal is
 * evaluated, and a \p{…} class costs millions of instructions at every load of this module.
 */
let nameChars: { after: RegExp; before: RegExp } | undefined;

function isWithin(node: ts.Node, container: ts.Node): boolean {
  for (let n: ts.Node | undefined = node; n; n = n.parent) if (n === container) return true;
  return false;
}

function isReference(t: TS, id: ts.Identifier): boolean {
  const p = id.parent;
  if (!p) return false;
  if (t.isPropertyAccessExpression(p) && p.name === id) return false;
  if (t.isQualifiedName(p) && p.right === id) return false;
  if ((t.isPropertyAssignment(p) || t.isPropertyDeclaration(p) || t.isPropertySignature(p) || t.isMethodDeclaration(p) || t.isMethodSignature(p) || t.isGetAccessorDeclaration(p) || t.isSetAccessorDeclaration(p) || t.isEnumMember(p)) && p.name === id) return false;
  if (t.isBindingElement(p) && (p.propertyName === id || p.name === id)) return false;
  if ((t.isImportSpecifier(p) || t.isExportSpecifier(p)) && p.propertyName === id) return false;
  if (t.isImportSpecifier(p) || t.isImportClause(p) || t.isNamespaceImport(p) || t.isImportEqualsDeclaration(p)) return false;
  if ((t.isFunctionDeclaration(p) || t.isClassDeclaration(p) || t.isFunctionExpression(p) || t.isClassExpression(p) || t.isVariableDeclaration(p) || t.isParameter(p)) && p.name === id) return false;
  if (t.isLabeledStatement(p) || t.isBreakStatement(p) || t.isContinueStatement(p)) return false;
  if (t.isJsxAttribute(p)) return false;
  if (t.isTypeReferenceNode(p)) return false;
  return true;
}

/** Every identifier text in the file (to choose a name nobody uses). */
export function identifiersIn(t: TS, sf: ts.SourceFile): Set<string> {
  const names = new Set<string>();
  const visit = (n: ts.Node): void => {
    if (t.isIdentifier(n)) names.add(n.text);
    t.forEachChild(n, visit);
  };
  visit(sf);
  return names;
}

/** './lib/pg-pool' → 'pgPool'; './db/index' → 'db'. */
export function bindingNameFor(specifier: string, taken: Set<string>): string {
  const parts = specifier.replace(/\.[cm]?[jt]sx?$/, '').split('/').filter((p) => p && p !== '.' && p !== '..');
  let base = parts.pop() ?? 'mod';
  if (base === 'index' && parts.length) base = parts.pop()!;
  base = base.replace(/^@/, '').replace(/[^A-Za-z0-9_$]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''));
  if (!/^[A-Za-z_$]/.test(base)) base = 'mod' + base;
  let name = base;
  for (let i = 2; taken.has(name) || RESERVED.has(name); i++) name = base === 'mod' ? `mod${i}` : i === 2 ? `${base}Module` : `${base}Module${i}`;
  return name;
}

const RESERVED = new Set(['default', 'delete', 'new', 'class', 'function', 'import', 'export', 'require', 'module', 'exports', 'this', 'var', 'let', 'const', 'in', 'do', 'if', 'for', 'case', 'switch', 'return', 'throw', 'try', 'catch', 'with', 'yield', 'await', 'enum', 'void', 'typeof', 'instanceof', 'null', 'true', 'false', 'super', 'while', 'else', 'break', 'continue', 'debugger', 'finally', 'static', 'package', 'interface', 'private', 'protected', 'public', 'implements']);
