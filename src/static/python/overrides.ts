/**
 * FastAPI dependency overrides, the facts a file holds for the override check
 * (linked in plugin.ts, reported as stale-import-patch: the test replaces one
 * callable, the code calls another):
 * - overrides: `app.dependency_overrides[KEY] = ...` and
 *   `app.dependency_overrides.update({KEY: ...})`, with KEY resolved through
 *   the file's imports (FastAPI looks overrides up by the function object, so
 *   only the very function a route depends on counts);
 * - dependency uses: `Depends(X)` / `Security(X)` in application code, X
 *   resolved the same way;
 * - what a module binds at top level (functions it defines, names it imports or
 *   assigns), so link() can follow a key or a dependency through re-exports to
 *   the function it really is, across modules.
 */
import type { Finding, TextEdit } from '../../analysis/findings';
import { fromModule, resolveExpr, topLevelStatements, type ModuleInfo } from './modules';
import { callParts, dottedName, edit, enclosingFunction, field, insertAt, named, walkTypes, type Node } from './syntax';

/**
 * Findings about an override that misses its dependency, with the files whose code runs
 * with the real dependency (the routes, the dependency itself) and the file that defines
 * it: a run's non-test-database finding in a test the override covers, located in one of
 * the first or whose database engine was made in the second, confirms the finding.
 */
export const dependencyOverrides = new WeakMap<Finding, { routeFiles: string[]; dependencyFile: string }>();

export interface DependencyOverride {
  /** The key resolved through this file's imports and definitions: app.api.deps.get_db. */
  key: string;
  /** The key as written. */
  keyText: string;
  line: number;
  column: number;
  /** 0-based range of the key expression, for the fix. */
  keyRange: { start: { row: number; column: number }; end: { row: number; column: number } };
  /** When the key is a name bound by `from M import name` (that name alone): M's range, for a fix that imports it from elsewhere. */
  importedFrom?: { start: { row: number; column: number }; end: { row: number; column: number } };
  /** The enclosing test function, when there is one. */
  testName?: string;
}

export interface DependencyUse {
  target: string;
  line: number;
  column: number;
}

/** A top-level function: where it is, and the dotted names it calls (resolved), to tell a wrapper. */
export interface FunctionDef {
  name: string;
  line: number;
  calls: string[];
}

export interface OverrideFacts {
  overrides: DependencyOverride[];
  depends: DependencyUse[];
  functions: FunctionDef[];
  /** Top-level bindings by import or plain assignment: local name → dotted name. */
  aliases: Array<[string, string]>;
  /** 0-based end of the last top-level import statement (where a fix adds one), if any. */
  lastImportEnd?: { row: number; column: number };
}

const CALL = new Set(['call']);
const ASSIGN_OR_CALL = new Set(['assignment', 'call']);
const NESTED = new Set(['function_definition', 'class_definition', 'lambda']);
const DEPENDS = /^(?:fastapi\.|params\.)?(Depends|Security)$/;

/** Resolves a name or attribute chain as this module sees it: imported, or defined here. */
function resolveHere(n: Node | undefined, table: Map<string, string>, mod: ModuleInfo, defined: Set<string>): string | undefined {
  const viaImport = resolveExpr(n, table);
  if (viaImport) return viaImport;
  const d = dottedName(n);
  if (!d) return undefined;
  const head = d.split('.')[0];
  return defined.has(head) ? `${mod.name}.${d}` : undefined;
}

function topLevelFunctions(root: Node): Node[] {
  const out: Node[] = [];
  for (const stmt of named(root)) {
    const fn = stmt.type === 'decorated_definition' ? field(stmt, 'definition') : stmt;
    if (fn?.type === 'function_definition') out.push(fn);
  }
  return out;
}

export function overrideFacts(root: Node, text: string, mod: ModuleInfo, table: Map<string, string>, isTest: boolean): OverrideFacts {
  const facts: OverrideFacts = { overrides: [], depends: [], functions: [], aliases: [] };
  const hasOverrides = text.includes('dependency_overrides');
  const hasDepends = !isTest && /\b(Depends|Security)\s*\(/.test(text);
  // Modules that may hold a dependency (a generator, or one that depends on others) or re-export one.
  const mayDefineDependency = !isTest && (hasDepends || /\byield\b/.test(text));
  if (!hasOverrides && !hasDepends && !mayDefineDependency && !/^\s*from\s/m.test(text)) return facts;
  const fns = topLevelFunctions(root);
  const defined = new Set(fns.map((f) => field(f, 'name')?.text ?? '').filter((n) => n !== ''));
  for (const [local, dotted] of table) facts.aliases.push([local, dotted]);
  for (const stmt of topLevelStatements(root)) {
    if (stmt.type === 'import_statement' || stmt.type === 'import_from_statement' || stmt.type === 'future_import_statement') facts.lastImportEnd = stmt.endPosition;
    const a = stmt.type === 'expression_statement' ? named(stmt)[0] : undefined;
    if (a?.type === 'assignment' && field(a, 'left')?.type === 'identifier') {
      const target = resolveHere(field(a, 'right'), table, mod, defined);
      if (target) facts.aliases.push([field(a, 'left')!.text, target]);
    }
  }
  if (mayDefineDependency) {
    for (const fn of fns) {
      const name = field(fn, 'name')?.text;
      const body = field(fn, 'body');
      if (!name || !body) continue;
      const calls = new Set<string>();
      for (const c of walkTypes(body, CALL, NESTED)) {
        const callee = resolveHere(field(c, 'function'), table, mod, defined);
        if (callee) calls.add(callee);
      }
      facts.functions.push({ name, line: fn.startPosition.row + 1, calls: [...calls] });
    }
  } else {
    for (const fn of fns) {
      const name = field(fn, 'name')?.text;
      if (name) facts.functions.push({ name, line: fn.startPosition.row + 1, calls: [] });
    }
  }
  if (hasDepends) {
    for (const c of walkTypes(root, CALL)) {
      const parts = callParts(c);
      if (!parts.callee || !DEPENDS.test(parts.callee)) continue;
      const arg = parts.positional[0] ?? parts.keywords.get('dependency');
      const target = resolveHere(arg, table, mod, defined);
      if (target) facts.depends.push({ target, line: c.startPosition.row + 1, column: c.startPosition.column + 1 });
    }
  }
  if (hasOverrides) {
    for (const n of walkTypes(root, ASSIGN_OR_CALL)) {
      if (n.type === 'assignment') {
        const left = field(n, 'left');
        if (left?.type !== 'subscript' || !isOverridesMap(field(left, 'value'))) continue;
        const key = field(left, 'subscript');
        if (key) addOverride(facts, key, n, root, table, mod, defined);
      } else {
        const fn = field(n, 'function');
        if (fn?.type !== 'attribute' || field(fn, 'attribute')?.text !== 'update' || !isOverridesMap(field(fn, 'object'))) continue;
        const dict = callParts(n).positional[0];
        if (dict?.type !== 'dictionary') continue;
        for (const pair of named(dict)) if (pair.type === 'pair' && field(pair, 'key')) addOverride(facts, field(pair, 'key')!, pair, root, table, mod, defined);
      }
    }
  }
  return facts;
}

function isOverridesMap(n: Node | undefined): boolean {
  return n?.type === 'attribute' && field(n, 'attribute')?.text === 'dependency_overrides';
}

function addOverride(facts: OverrideFacts, key: Node, at: Node, root: Node, table: Map<string, string>, mod: ModuleInfo, defined: Set<string>): void {
  const resolved = resolveHere(key, table, mod, defined);
  if (!resolved) return;
  const o: DependencyOverride = {
    key: resolved,
    keyText: key.text,
    line: at.startPosition.row + 1,
    column: at.startPosition.column + 1,
    keyRange: { start: key.startPosition, end: key.endPosition },
  };
  const test = enclosingFunction(at);
  const testName = test ? field(test, 'name')?.text : undefined;
  if (testName?.startsWith('test')) o.testName = testName;
  if (key.type === 'identifier') {
    // `from M import get_db` binding the key alone: the fix can import it from the right module instead.
    for (const stmt of topLevelStatements(root)) {
      if (stmt.type !== 'import_from_statement') continue;
      const names = stmt.childrenForFieldName('name').filter((x): x is Node => x !== null);
      const m = field(stmt, 'module_name');
      if (names.length === 1 && names[0].type === 'dotted_name' && names[0].text === key.text && m && fromModule(stmt, mod).module) {
        o.importedFrom = { start: m.startPosition, end: m.endPosition };
      }
    }
  }
  facts.overrides.push(o);
}

/**
 * Edits that key an override on `target` (module.name) instead: import it from its module in
 * place of the import that bound the key, or else import it (under a free name) and use that.
 */
export function rekeyEdits(file: string, o: DependencyOverride, target: string, facts: OverrideFacts): { edits: TextEdit[]; how: string } {
  const dot = target.lastIndexOf('.');
  const module = target.slice(0, dot);
  const name = target.slice(dot + 1);
  if (o.importedFrom && o.keyText === name) {
    return { edits: [edit(file, o.importedFrom.start, o.importedFrom.end, module)], how: `import ${name} from ${module}` };
  }
  const bound = new Map(facts.aliases);
  for (const f of facts.functions) bound.set(f.name, '');
  let local = name;
  if (bound.has(local) && bound.get(local) !== target) local = `${module.split('.').pop()}_${name}`;
  const edits: TextEdit[] = [edit(file, o.keyRange.start, o.keyRange.end, local)];
  if (bound.get(local) !== target) {
    const line = `from ${module} import ${name}${local !== name ? ` as ${local}` : ''}`;
    edits.push(facts.lastImportEnd ? insertAt(file, facts.lastImportEnd, `\n${line}`) : insertAt(file, { row: 0, column: 0 }, `${line}\n`));
  }
  return { edits, how: `key it on ${module}.${name}` };
}
