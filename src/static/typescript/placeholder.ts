/**
 * placeholder-session: a fake, mock or stub database session/connection/client
 * (a class or object that stands in for one and answers with canned rows)
 * living in application code or used by it. In a test it is a tool; in a
 * service it is the reason every record says created_by 0.
 *
 * A candidate must look like a database handle (a db-ish name, or db-ish
 * methods: query, execute, commit, transaction, …) AND be fake (a fake-ish
 * name: Fake/Mock/Stub/Dummy/Placeholder/Noop, or db methods that only return
 * literals with at least one returning rows). A real repository that calls a
 * driver never qualifies: its methods return what another call produced.
 */
import { startOf } from './syntax';
import type { TS, ts } from './ts';

const DB_NOUN = /(session|connection|conn\b|conn[A-Z_]|client|pool|(^|[^a-z])db|Db|DB|database|datasource|dataSource|queryrunner|queryRunner|knex|prisma|sequelize|entitymanager|entityManager|cursor)/i;
const FAKE_WORD = /(fake|mock|stub|dummy|placeholder|noop)/i;
const DB_METHODS = new Set([
  'query', 'execute', 'exec', 'raw', 'transaction', 'begin', 'beginTransaction', 'commit', 'rollback', 'connect', 'release',
  'startTransaction', 'commitTransaction', 'rollbackTransaction', 'createQueryRunner', 'getRepository', 'prepare', 'acquire',
  '$queryRaw', '$executeRaw', '$transaction',
]);

export interface PlaceholderDef {
  /** Local name of the class or object. */
  name: string;
  kind: 'class' | 'object';
  line: number;
  column: number;
  /** Names other modules import it by: export names, 'default', '*' for `module.exports =`. */
  exportedAs: string[];
  /** Lines in this file where non-declaration code uses it. */
  usedAt: number[];
  why: string;
}

export function dbishName(name: string): boolean {
  return DB_NOUN.test(name) || FAKE_WORD.test(name);
}

interface Member {
  name: string;
  body: ts.Node | undefined;
}

function membersOfClass(t: TS, c: ts.ClassLikeDeclaration): Member[] {
  const out: Member[] = [];
  for (const m of c.members) {
    if (t.isMethodDeclaration(m) && m.name && t.isIdentifier(m.name)) out.push({ name: m.name.text, body: m.body });
    else if (t.isPropertyDeclaration(m) && t.isIdentifier(m.name) && m.initializer && (t.isArrowFunction(m.initializer) || t.isFunctionExpression(m.initializer))) out.push({ name: m.name.text, body: m.initializer.body });
  }
  return out;
}

function membersOfObject(t: TS, o: ts.ObjectLiteralExpression): Member[] {
  const out: Member[] = [];
  for (const p of o.properties) {
    const name = p.name && (t.isIdentifier(p.name) || t.isStringLiteral(p.name)) ? p.name.text : undefined;
    if (!name) continue;
    if (t.isMethodDeclaration(p)) out.push({ name, body: p.body });
    else if (t.isPropertyAssignment(p) && (t.isArrowFunction(p.initializer) || t.isFunctionExpression(p.initializer))) out.push({ name, body: p.initializer.body });
  }
  return out;
}

/** 'rows' when the body only ever answers with literal rows, 'literal' for other literals/no-ops, undefined when it computes. */
function canned(t: TS, body: ts.Node | undefined): 'rows' | 'literal' | undefined {
  if (!body) return 'literal';
  const values: ts.Expression[] = [];
  let computes = false;
  if (!t.isBlock(body)) values.push(body as ts.Expression);
  else {
    const visit = (n: ts.Node): void => {
      if (t.isFunctionLike(n)) return;
      if (t.isReturnStatement(n)) {
        if (n.expression) values.push(n.expression);
        return;
      }
      if (t.isCallExpression(n) && !isHarmlessCall(t, n)) computes = true;
      if (t.isAwaitExpression(n)) computes = true;
      t.forEachChild(n, visit);
    };
    t.forEachChild(body, visit);
  }
  if (computes) return undefined;
  let rows = false;
  for (const v of values) {
    const lit = literalValue(t, v);
    if (!lit) return undefined;
    if (lit === 'rows') rows = true;
  }
  return rows ? 'rows' : 'literal';
}

function isHarmlessCall(t: TS, n: ts.CallExpression): boolean {
  const text = n.expression.getText();
  return /^(Promise\.resolve|console\.\w+|JSON\.\w+|Object\.\w+|Array\.\w+|String|Number|Boolean|Date\.now)$/.test(text);
}

function literalValue(t: TS, e: ts.Expression): 'rows' | 'literal' | undefined {
  let v: ts.Expression = e;
  while (t.isParenthesizedExpression(v) || t.isAsExpression(v) || t.isAwaitExpression(v) || t.isSatisfiesExpression(v)) v = v.expression;
  if (t.isCallExpression(v) && v.expression.getText() === 'Promise.resolve') return v.arguments[0] ? literalValue(t, v.arguments[0]) : 'literal';
  if (t.isArrayLiteralExpression(v)) return v.elements.every((el) => literalValue(t, el as ts.Expression)) ? (v.elements.length ? 'rows' : 'rows') : undefined;
  if (t.isObjectLiteralExpression(v)) {
    const hasRows = v.properties.some((p) => p.name && /^(rows|rowCount|records|recordset|affectedRows|insertId|changes|lastID)$/.test(p.name.getText()));
    const ok = v.properties.every((p) => (t.isPropertyAssignment(p) ? literalValue(t, p.initializer) !== undefined : t.isShorthandPropertyAssignment(p) ? false : t.isSpreadAssignment(p) ? false : !t.isMethodDeclaration(p)));
    return ok ? (hasRows ? 'rows' : 'literal') : undefined;
  }
  if (t.isStringLiteral(v) || t.isNumericLiteral(v) || t.isNoSubstitutionTemplateLiteral(v) || v.kind === t.SyntaxKind.TrueKeyword || v.kind === t.SyntaxKind.FalseKeyword || v.kind === t.SyntaxKind.NullKeyword) return 'literal';
  if (t.isIdentifier(v) && v.text === 'undefined') return 'literal';
  if (t.isPrefixUnaryExpression(v) && t.isNumericLiteral(v.operand)) return 'literal';
  if (t.isNewExpression(v) && v.expression.getText() === 'Date') return 'literal';
  if (t.isCallExpression(v) && /^(crypto\.)?randomUUID$/.test(v.expression.getText())) return 'literal';
  return undefined;
}

function judge(name: string, members: Member[]): string | undefined {
  const dbMembers = members.filter((m) => DB_METHODS.has(m.name));
  const dbLike = DB_NOUN.test(name) || dbMembers.length >= 2 || dbMembers.some((m) => m.name === 'query' || m.name === 'execute');
  if (!dbLike || dbMembers.length === 0) return undefined;
  const verdicts = dbMembers.map((m) => canned(globalTs!, m.body));
  const allCanned = verdicts.every((v) => v !== undefined);
  const rows = verdicts.includes('rows');
  if (FAKE_WORD.test(name) && (DB_NOUN.test(name) || allCanned)) return `named like a stand-in (\`${name}\`) with database methods (${dbMembers.map((m) => m.name).join(', ')})`;
  if (allCanned && rows) return `its ${dbMembers.map((m) => m.name).join(', ')} answer with canned rows instead of asking a database`;
  return undefined;
}

let globalTs: TS | undefined;

export function findPlaceholders(t: TS, sf: ts.SourceFile): PlaceholderDef[] {
  globalTs = t;
  const defs: PlaceholderDef[] = [];
  const declared = new Map<string, PlaceholderDef>();
  const isExported = (n: ts.Node) => !!(n as ts.HasModifiers).modifiers?.some((m) => m.kind === t.SyntaxKind.ExportKeyword);
  const isDefault = (n: ts.Node) => !!(n as ts.HasModifiers).modifiers?.some((m) => m.kind === t.SyntaxKind.DefaultKeyword);
  const fakeClasses = new Set<string>();
  for (const st of sf.statements) {
    if (t.isClassDeclaration(st) && st.name) {
      const why = judge(st.name.text, membersOfClass(t, st));
      if (why) {
        fakeClasses.add(st.name.text);
        const d: PlaceholderDef = { name: st.name.text, kind: 'class', ...startOf(sf, st.name), exportedAs: [], usedAt: [], why };
        if (isExported(st)) d.exportedAs.push(isDefault(st) ? 'default' : st.name.text);
        defs.push(d);
        declared.set(d.name, d);
      }
    }
  }
  for (const st of sf.statements) {
    if (!t.isVariableStatement(st)) continue;
    for (const decl of st.declarationList.declarations) {
      if (!t.isIdentifier(decl.name) || !decl.initializer) continue;
      let init: ts.Expression = decl.initializer;
      while (t.isAsExpression(init) || t.isSatisfiesExpression(init) || t.isParenthesizedExpression(init)) init = init.expression;
      let why: string | undefined;
      if (t.isObjectLiteralExpression(init)) why = judge(decl.name.text, membersOfObject(t, init));
      else if (t.isClassExpression(init)) why = judge(decl.name.text, membersOfClass(t, init));
      else if (t.isNewExpression(init) && t.isIdentifier(init.expression) && fakeClasses.has(init.expression.text)) why = `an instance of ${init.expression.text}`;
      if (!why) continue;
      const d: PlaceholderDef = { name: decl.name.text, kind: t.isObjectLiteralExpression(init) ? 'object' : 'class', ...startOf(sf, decl.name), exportedAs: [], usedAt: [], why };
      if (isExported(st)) d.exportedAs.push(d.name);
      defs.push(d);
      declared.set(d.name, d);
    }
  }
  if (defs.length === 0) return defs;
  // CommonJS exports and ESM export lists; uses anywhere else in the file.
  const visit = (n: ts.Node): void => {
    if (t.isBinaryExpression(n) && n.operatorToken.kind === t.SyntaxKind.EqualsToken) {
      const left = n.left.getText(sf);
      const right = n.right;
      if (left === 'module.exports' && t.isIdentifier(right) && declared.has(right.text)) declared.get(right.text)!.exportedAs.push('*', 'default');
      else if (left === 'module.exports' && t.isNewExpression(right) && t.isIdentifier(right.expression) && declared.has(right.expression.text)) declared.get(right.expression.text)!.exportedAs.push('*', 'default');
      else if (left === 'module.exports' && t.isObjectLiteralExpression(right)) {
        for (const p of right.properties) {
          if (t.isShorthandPropertyAssignment(p) && declared.has(p.name.text)) declared.get(p.name.text)!.exportedAs.push(p.name.text);
          else if (t.isPropertyAssignment(p) && t.isIdentifier(p.initializer) && declared.has(p.initializer.text)) declared.get(p.initializer.text)!.exportedAs.push(p.name.getText(sf));
          else if (t.isPropertyAssignment(p) && t.isNewExpression(p.initializer) && t.isIdentifier(p.initializer.expression) && declared.has(p.initializer.expression.text)) declared.get(p.initializer.expression.text)!.exportedAs.push(p.name.getText(sf));
        }
      } else {
        const m = /^(?:module\.)?exports\.([A-Za-z_$][\w$]*)$/.exec(left);
        if (m && t.isIdentifier(right) && declared.has(right.text)) declared.get(right.text)!.exportedAs.push(m[1]);
      }
    }
    if (t.isExportSpecifier(n)) {
      const local = (n.propertyName ?? n.name).getText(sf);
      if (declared.has(local)) declared.get(local)!.exportedAs.push(n.name.getText(sf));
    }
    if (t.isExportAssignment(n) && t.isIdentifier(n.expression) && declared.has(n.expression.text)) declared.get(n.expression.text)!.exportedAs.push('default');
    if (t.isIdentifier(n) && declared.has(n.text)) {
      const p = n.parent;
      const isDecl = (t.isClassDeclaration(p) || t.isVariableDeclaration(p)) && p.name === n;
      const isExport = t.isExportSpecifier(p) || t.isExportAssignment(p) || t.isShorthandPropertyAssignment(p) || (t.isBinaryExpression(p) && /exports/.test(p.left.getText(sf))) || (t.isPropertyAssignment(p) && /exports/.test(p.parent.parent.getText(sf).slice(0, 20)));
      const isNewForExport = t.isNewExpression(p) && isDeclInit(t, p, declared);
      const isProp = t.isPropertyAccessExpression(p) && p.name === n;
      if (!isDecl && !isExport && !isProp && !isNewForExport) declared.get(n.text)!.usedAt.push(startOf(sf, n).line);
    }
    t.forEachChild(n, visit);
  };
  visit(sf);
  for (const d of defs) d.exportedAs = [...new Set(d.exportedAs)];
  return defs;
}

/** `const db = new FakeDb()` where `db` is itself a placeholder: the instance, not a separate use. */
function isDeclInit(t: TS, n: ts.NewExpression, declared: Map<string, PlaceholderDef>): boolean {
  const p = n.parent;
  return t.isVariableDeclaration(p) && t.isIdentifier(p.name) && declared.has(p.name.text);
}
