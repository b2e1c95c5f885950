/**
 * What stale-import-patch needs from one file: the module bindings at the top
 * of the file, the values it captured from other modules while loading
 * (destructured requires, `const q = db.query`), and, in tests, the module
 * attributes a test replaces (jest/vi.spyOn, node:test mock.method, sinon,
 * plain assignment).
 *
 * Why a capture escapes a patch: `const { query } = require('./db')` copies the
 * function into a local const when the module loads; a test that later
 * replaces `db.query` on the exports object changes the object, not the copy.
 * `import { query } from './db'` compiled to CommonJS is different: TypeScript
 * and Babel emit `db_1.query(...)`, a property read at call time, which sees
 * the patch, so it is not a capture.
 */
import type { TextEdit } from '../../analysis/findings';
import type { Resolver } from './resolve';
import { bindingNameFor, edit, identifiersIn, type Reference, referencesOf, removeStatement, requireSpecifier, startOf, stringValue, unwrap } from './syntax';
import type { TS, ts } from './ts';

export type BindingKind = 'cjs-module' | 'namespace' | 'default' | 'named';

export interface ModuleBinding {
  local: string;
  specifier: string;
  kind: BindingKind;
  /** For 'named': the exported name. */
  imported?: string;
  node: ts.Node;
  statement: ts.Statement;
  typeOnly: boolean;
}

export interface Capture {
  /** Resolved module identity (absolute path or pkg:name). */
  module: string;
  specifier: string;
  /** Exported name captured. */
  name: string;
  /** Local binding holding the copy. */
  local: string;
  how: 'destructured require' | 'require().name' | 'destructured module' | 'alias at load';
  line: number;
  column: number;
  /** Readings of the copy at call time (inside functions). */
  uses: number;
  /** The module assigns its copy again itself (`Client = require('./native')`): it keeps the copy, not the load. */
  reassigned?: boolean;
  /** Fix (b): look the name up at call time; absent when no safe mechanical rewrite exists. */
  lookupFix?: { title: string; edits: TextEdit[] };
  noFixReason?: string;
}

export type PatchApi = 'jest.spyOn' | 'vi.spyOn' | 'mock.method' | 'sinon' | 'assignment' | 'spyOn';

export interface Patch {
  module: string;
  specifier: string;
  name: string;
  api: PatchApi;
  /** How the test reached the module object. */
  via: BindingKind | 'inline require';
  line: number;
  column: number;
  /** Text of the call/assignment, for messages. */
  text: string;
  /** Line of the import that produced the module binding (for related locations). */
  bindingLine?: number;
}

export interface ImportFacts {
  bindings: ModuleBinding[];
  captures: Capture[];
  /** Every value taken at load, used at call time or not (placeholder-session wants them all). */
  loadCaptures: Capture[];
  patches: Patch[];
  hasEsmSyntax: boolean;
  hasDefaultExport: boolean;
  /** Specifiers of every import/require (resolved), for test-framework detection and placeholder uses. */
  specifiers: string[];
  /** Whether the file was judged test code (patches are only looked for there). */
  test: boolean;
  /** Set when looking for patches failed (the other facts stand). */
  patchError?: string;
}

/** Top-level module bindings: require, import * as, import default, named imports. */
export function moduleBindings(t: TS, sf: ts.SourceFile): { bindings: ModuleBinding[]; hasEsmSyntax: boolean; hasDefaultExport: boolean; specifiers: string[] } {
  const bindings: ModuleBinding[] = [];
  const specifiers: string[] = [];
  let hasEsmSyntax = false;
  let hasDefaultExport = false;
  for (const st of sf.statements) {
    if (t.isImportDeclaration(st)) {
      hasEsmSyntax = true;
      const spec = stringValue(t, st.moduleSpecifier);
      if (spec === undefined) continue;
      specifiers.push(spec);
      const clause = st.importClause;
      if (!clause) continue;
      const typeOnly = !!clause.isTypeOnly;
      if (clause.name) bindings.push({ local: clause.name.text, specifier: spec, kind: 'default', node: clause.name, statement: st, typeOnly });
      const nb = clause.namedBindings;
      if (nb && t.isNamespaceImport(nb)) bindings.push({ local: nb.name.text, specifier: spec, kind: 'namespace', node: nb, statement: st, typeOnly });
      if (nb && t.isNamedImports(nb)) {
        for (const el of nb.elements) {
          bindings.push({ local: el.name.text, imported: (el.propertyName ?? el.name).text, specifier: spec, kind: 'named', node: el, statement: st, typeOnly: typeOnly || el.isTypeOnly });
        }
      }
    } else if (t.isImportEqualsDeclaration(st)) {
      const ref = st.moduleReference;
      if (t.isExternalModuleReference(ref)) {
        const spec = stringValue(t, ref.expression);
        if (spec !== undefined) {
          specifiers.push(spec);
          bindings.push({ local: st.name.text, specifier: spec, kind: 'cjs-module', node: st, statement: st, typeOnly: st.isTypeOnly });
        }
      }
    } else if (t.isExportDeclaration(st) || t.isExportAssignment(st)) {
      hasEsmSyntax = true;
      if (t.isExportAssignment(st) && !st.isExportEquals) hasDefaultExport = true;
      if (t.isExportDeclaration(st) && st.moduleSpecifier) {
        const spec = stringValue(t, st.moduleSpecifier);
        if (spec) specifiers.push(spec);
      }
    } else if (t.isVariableStatement(st)) {
      if (st.modifiers?.some((m) => m.kind === t.SyntaxKind.ExportKeyword)) hasEsmSyntax = true;
      for (const d of st.declarationList.declarations) {
        if (!d.initializer || !t.isIdentifier(d.name)) continue;
        const init = unwrap(t, d.initializer);
        const spec = requireSpecifier(t, init);
        if (spec !== undefined) {
          bindings.push({ local: d.name.text, specifier: spec, kind: 'cjs-module', node: d, statement: st, typeOnly: false });
        } else if (t.isCallExpression(init) && init.expression.kind === t.SyntaxKind.ImportKeyword) {
          const dyn = stringValue(t, init.arguments[0]);
          if (dyn !== undefined) bindings.push({ local: d.name.text, specifier: dyn, kind: 'namespace', node: d, statement: st, typeOnly: false });
        }
      }
    } else if ((t.isFunctionDeclaration(st) || t.isClassDeclaration(st)) && st.modifiers?.some((m) => m.kind === t.SyntaxKind.ExportKeyword)) {
      hasEsmSyntax = true;
      if (st.modifiers.some((m) => m.kind === t.SyntaxKind.DefaultKeyword)) hasDefaultExport = true;
    }
  }
  // Requires anywhere (lazy requires inside functions count as dependencies too).
  const visit = (n: ts.Node): void => {
    const spec = requireSpecifier(t, n);
    if (spec !== undefined) specifiers.push(spec);
    t.forEachChild(n, visit);
  };
  visit(sf);
  return { bindings, hasEsmSyntax, hasDefaultExport, specifiers: [...new Set(specifiers)] };
}

/** `isTest` may decide from the file's resolved specifiers (a test framework imported), so one pass serves both. */
export function extractImportFacts(t: TS, sf: ts.SourceFile, file: string, resolver: Resolver, isTest: boolean | ((resolvedSpecifiers: string[]) => boolean)): ImportFacts {
  const { bindings, hasEsmSyntax, hasDefaultExport, specifiers } = moduleBindings(t, sf);
  const byLocal = new Map(bindings.filter((b) => !b.typeOnly).map((b) => [b.local, b]));
  const resolved = new Map<string, string>();
  const resolveSpec = (spec: string): string => {
    let r = resolved.get(spec);
    if (r === undefined) resolved.set(spec, (r = resolver.resolve(spec, file) ?? 'pkg:' + spec));
    return r;
  };
  let taken: Set<string> | undefined;
  const takenNames = () => (taken ??= identifiersIn(t, sf));
  const captures: Capture[] = [];

  for (const st of sf.statements) {
    if (!t.isVariableStatement(st)) continue;
    for (const d of st.declarationList.declarations) {
      if (!d.initializer) continue;
      const init = unwrap(t, d.initializer);
      const wholeStatement = st.declarationList.declarations.length === 1;
      // const { a, b: c } = require('x')   /   const { a } = db
      if (t.isObjectBindingPattern(d.name)) {
        const spec = requireSpecifier(t, init);
        const fromBinding = t.isIdentifier(init) ? byLocal.get(init.text) : undefined;
        const source = spec ?? (fromBinding && fromBinding.kind !== 'named' ? fromBinding.specifier : undefined);
        if (source === undefined) continue;
        const simple = d.name.elements.every((el) => !el.dotDotDotToken && !el.initializer && t.isIdentifier(el.name) && (!el.propertyName || t.isIdentifier(el.propertyName) || t.isStringLiteral(el.propertyName)));
        const names = d.name.elements
          .filter((el) => !el.dotDotDotToken && t.isIdentifier(el.name))
          .map((el) => ({ el, local: (el.name as ts.Identifier).text, name: el.propertyName ? (el.propertyName as ts.Identifier | ts.StringLiteral).text : (el.name as ts.Identifier).text }));
        const refsByLocal = new Map(names.map((n) => [n.local, referencesOf(t, sf, n.local, d)]));
        let lookupFix: Capture['lookupFix'];
        let noFixReason: string | undefined;
        if (!simple) noFixReason = 'the destructuring has defaults, nesting or a rest element';
        else if (!wholeStatement) noFixReason = 'the declaration shares its statement with others';
        else {
          const bad = [...refsByLocal.entries()].find(([, refs]) => refs.some((r) => r.written || r.exported));
          if (bad) noFixReason = `\`${bad[0]}\` is reassigned or re-exported`;
        }
        if (!noFixReason) {
          const existing = spec !== undefined ? bindings.find((b) => b.kind === 'cjs-module' && b.specifier === spec && b.statement !== st) : fromBinding;
          const ns = existing?.local ?? bindingNameFor(source, takenNames());
          const edits: TextEdit[] = [];
          if (existing) edits.push(removeStatement(sf, file, st));
          else edits.push(edit(sf, file, d.name.getStart(sf), d.name.getEnd(), ns));
          for (const n of names) edits.push(...rewriteUses(t, sf, file, refsByLocal.get(n.local)!, `${ns}.${n.name}`, n.local));
          const which = names.map((n) => n.local).join(', ');
          lookupFix = {
            title: existing
              ? `Use \`${ns}.<name>\` at call time instead of the destructured ${which} (reads the patched attribute)`
              : `Keep the module object: \`const ${ns} = require('${source}')\` and call \`${ns}.<name>\` (reads the patched attribute at call time)`,
            edits,
          };
        }
        for (const n of names) {
          const refs = refsByLocal.get(n.local)!;
          captures.push({
            module: resolveSpec(source),
            specifier: source,
            name: n.name,
            local: n.local,
            how: spec !== undefined ? 'destructured require' : 'destructured module',
            ...startOf(sf, n.el),
            uses: refs.filter((r) => r.deferred).length,
            reassigned: refs.some((r) => r.written) || undefined,
            lookupFix,
            noFixReason,
          });
        }
        continue;
      }
      if (!t.isIdentifier(d.name)) continue;
      const local = d.name.text;
      // const q = require('x').query  /  const q = db.query  /  const q = db.query.bind(db)  /  const q = query (named import)
      let target = init;
      if (t.isCallExpression(target) && t.isPropertyAccessExpression(target.expression) && target.expression.name.text === 'bind') target = target.expression.expression;
      let source: string | undefined;
      let name: string | undefined;
      let how: Capture['how'] | undefined;
      let nsExisting: ModuleBinding | undefined;
      if (t.isPropertyAccessExpression(target) || t.isElementAccessExpression(target)) {
        const obj = unwrap(t, target.expression);
        const prop = t.isPropertyAccessExpression(target) ? target.name.text : stringValue(t, target.argumentExpression);
        if (prop === undefined) continue;
        const spec = requireSpecifier(t, obj);
        if (spec !== undefined) {
          source = spec;
          name = prop;
          how = 'require().name';
        } else if (t.isIdentifier(obj)) {
          const b = byLocal.get(obj.text);
          if (b && b.kind !== 'named') {
            source = b.specifier;
            name = prop;
            how = 'alias at load';
            nsExisting = b;
          }
        }
      } else if (t.isIdentifier(target)) {
        const b = byLocal.get(target.text);
        if (b && b.kind === 'named') {
          source = b.specifier;
          name = b.imported;
          how = 'alias at load';
        }
      }
      if (source === undefined || name === undefined || !how) continue;
      const refs = referencesOf(t, sf, local, d);
      let lookupFix: Capture['lookupFix'];
      let noFixReason: string | undefined;
      if (!wholeStatement) noFixReason = 'the declaration shares its statement with others';
      else if (refs.some((r) => r.written || r.exported)) noFixReason = `\`${local}\` is reassigned or re-exported`;
      else if (how === 'require().name') {
        const existing = bindings.find((b) => b.kind === 'cjs-module' && b.specifier === source && b.statement !== st);
        const ns = existing?.local ?? bindingNameFor(source, takenNames());
        const edits: TextEdit[] = [existing ? removeStatement(sf, file, st) : edit(sf, file, d.getStart(sf), d.getEnd(), `${ns} = require('${source}')`)];
        edits.push(...rewriteUses(t, sf, file, refs, `${ns}.${name}`, local));
        lookupFix = { title: `Keep the module object \`${ns}\` and call \`${ns}.${name}\` (reads the patched attribute at call time)`, edits };
      } else {
        const live = nsExisting ? `${nsExisting.local}.${name}` : byLocalName(bindings, source, name) ?? name;
        lookupFix = {
          title: `Read \`${live}\` at call time instead of the copy \`${local}\` taken at load`,
          edits: [removeStatement(sf, file, st), ...rewriteUses(t, sf, file, refs, live, local)],
        };
      }
      captures.push({
        module: resolveSpec(source),
        specifier: source,
        name,
        local,
        how,
        ...startOf(sf, d),
        uses: refs.filter((r) => r.deferred).length,
        reassigned: refs.some((r) => r.written) || undefined,
        lookupFix,
        noFixReason,
      });
    }
  }

  const resolvedSpecifiers = specifiers.map(resolveSpec);
  const test = typeof isTest === 'function' ? isTest(resolvedSpecifiers) : isTest;
  let patches: Patch[] = [];
  let patchError: string | undefined;
  if (test) {
    try {
      patches = findPatches(t, sf, byLocal, resolveSpec);
    } catch (e) {
      patchError = (e as Error).message;
    }
  }
  return { bindings, captures: captures.filter((c) => c.uses > 0), loadCaptures: captures, patches, hasEsmSyntax, hasDefaultExport, specifiers: resolvedSpecifiers, test, patchError };
}

function byLocalName(bindings: ModuleBinding[], specifier: string, name: string): string | undefined {
  return bindings.find((b) => b.kind === 'named' && b.specifier === specifier && b.imported === name && !b.typeOnly)?.local;
}

function rewriteUses(t: TS, sf: ts.SourceFile, file: string, refs: Reference[], replacement: string, local: string): TextEdit[] {
  void t;
  return refs.map((r) =>
    r.shorthand ? edit(sf, file, r.node.getStart(sf), r.node.getEnd(), `${local}: ${replacement}`) : edit(sf, file, r.node.getStart(sf), r.node.getEnd(), replacement),
  );
}

const SPY_METHODS = new Set(['spyOn', 'stub', 'spy', 'replace', 'replaceGetter', 'method']);

/** Calls and assignments in a test that replace an attribute of a module object. */
function findPatches(t: TS, sf: ts.SourceFile, byLocal: Map<string, ModuleBinding>, resolveSpec: (s: string) => string): Patch[] {
  const patches: Patch[] = [];
  const moduleOf = (expr: ts.Expression): { spec: string; via: Patch['via']; binding?: ModuleBinding } | undefined => {
    const e = unwrap(t, expr);
    const spec = requireSpecifier(t, e);
    if (spec !== undefined) return { spec, via: 'inline require' };
    if (t.isIdentifier(e)) {
      const b = byLocal.get(e.text);
      if (b && b.kind !== 'named') return { spec: b.specifier, via: b.kind, binding: b };
    }
    return undefined;
  };
  const push = (target: ts.Expression, name: string | undefined, api: PatchApi, node: ts.Node) => {
    if (name === undefined) return;
    const m = moduleOf(target);
    if (!m) return;
    patches.push({
      module: resolveSpec(m.spec),
      specifier: m.spec,
      name,
      api,
      via: m.via,
      ...startOf(sf, node),
      text: node.getText(sf).split('\n')[0].slice(0, 120),
      bindingLine: m.binding ? startOf(sf, m.binding.statement).line : undefined,
    });
  };
  const visit = (n: ts.Node): void => {
    if (t.isCallExpression(n) && n.arguments.length >= 2 && t.isPropertyAccessExpression(n.expression) && SPY_METHODS.has(n.expression.name.text)) {
      const method = n.expression.name.text;
      const recv = n.expression.expression;
      const recvText = recv.getText(sf);
      let api: PatchApi | undefined;
      if (method === 'method') api = /(^|\.)mock$/.test(recvText) ? 'mock.method' : undefined;
      else if (method === 'spyOn') api = recvText === 'jest' ? 'jest.spyOn' : recvText === 'vi' ? 'vi.spyOn' : 'spyOn';
      else api = 'sinon';
      if (api) push(n.arguments[0], stringValue(t, n.arguments[1]), api, n);
    } else if (t.isBinaryExpression(n) && n.operatorToken.kind === t.SyntaxKind.EqualsToken) {
      const left = n.left;
      if (t.isPropertyAccessExpression(left)) push(left.expression, left.name.text, 'assignment', n);
      else if (t.isElementAccessExpression(left)) push(left.expression, stringValue(t, left.argumentExpression), 'assignment', n);
    }
    t.forEachChild(n, visit);
  };
  visit(sf);
  return patches;
}
