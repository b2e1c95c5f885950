/**
 * Python: one tree-sitter parse per file (wasm grammar), the rules that need
 * only that file (missing-commit, placeholder-session classes and mocks), and
 * the facts the cross-file rules link: value imports and patches
 * (stale-import-patch), placeholder classes and their uses.
 */
import type { Finding, TextEdit } from '../../analysis/findings';
import type { LanguagePlugin, LinkContext, LinkedFile, SourceFile, WorkspaceView } from '../types';
import type { Parser as TreeSitterParser } from 'web-tree-sitter';
import { loadLanguage, newParser } from '../wasm';
import { committingProviders, missingCommit } from './missing-commit';
import { resolveExprName } from './plugin-util';
import { importTable, moduleInfo } from './modules';
import { placeholderFacts, type PlaceholderClass, type PlaceholderUse } from './placeholder';
import { isTestPath, type Node } from './syntax';
import { dependencyOverrides, overrideFacts, rekeyEdits, type DependencyOverride, type FunctionDef, type OverrideFacts } from './overrides';
import { patches, TARGET_MARK, valueImports, type Patch, type ValueImport } from './stale-import';

export interface PythonFacts {
  module: string;
  /** The folder on sys.path the module is imported from. */
  sourceRoot: string;
  isTest: boolean;
  imports: ValueImport[];
  patches: Patch[];
  placeholders: PlaceholderClass[];
  placeholderUses: PlaceholderUse[];
  /** Functions here that yield a session and commit it (dependencies like get_db). */
  committingProviders: string[];
  /** missing-commit infos about injected sessions: dropped at link time when the provider commits. */
  injected: Array<{ finding: Finding; provider: string }>;
  /** FastAPI: dependency overrides, `Depends(...)` targets, and the module's top-level bindings. */
  fastapi: OverrideFacts;
}

/** Files holding `Depends(...)` in application code share this key; files that override dependencies link it. */
const DEPENDS_KEY = 'fastapi:depends';

const MAX_SYNTAX_ERRORS_SHOWN = 3;
const MAX_NAMED = 3;
const MAX_RELATED = 20;
const MAX_FIX_IMPORTERS = 25;

export function pythonPlugin(): LanguagePlugin<PythonFacts> {
  let parser: TreeSitterParser | undefined;
  return {
    id: 'python',
    extensions: ['.py'],
    async init() {
      const language = await loadLanguage('tree-sitter-python.wasm', 'tree-sitter-python');
      parser = newParser();
      parser.setLanguage(language);
    },
    analyze(file: SourceFile, ws: WorkspaceView) {
      const tree = parser!.parse(file.text);
      if (!tree) return { findings: [], keys: [], data: emptyFacts(), skipped: true, notes: ['skipped, the parser gave up'] };
      try {
        const root = tree.rootNode;
        if (root.hasError) {
          const where = syntaxErrorLines(root).map((l) => `line ${l}`);
          return { findings: [], keys: [], data: emptyFacts(), skipped: true, notes: [`skipped, syntax error (${where.join(', ') || 'unknown place'})`] };
        }
        const mod = moduleInfo(file.path, ws);
        const isTest = isTestPath(file.rel);
        const table = importTable(root, mod);
        const facts: PythonFacts = {
          module: mod.name,
          sourceRoot: mod.sourceRoot,
          isTest,
          imports: isTest ? [] : valueImports(root, file.path, file.text, mod, ws, table),
          patches: patches(root, file.path, file.text, table),
          placeholders: [],
          placeholderUses: [],
          committingProviders: isTest ? [] : committingProviders(root, file.text),
          injected: [],
          fastapi: overrideFacts(root, file.text, mod, table, isTest),
        };
        const injected: Array<{ finding: Finding; provider: string }> = [];
        const findings: Finding[] = [...missingCommit(root, file.path, file.text, isTest, injected)];
        for (const i of injected) {
          // The dependency as the module sees it: imported, or defined right here.
          const provider = resolveExprName(i.provider, table) ?? (i.provider.includes('.') ? undefined : `${mod.name}.${i.provider}`);
          if (provider) facts.injected.push({ finding: i.finding, provider });
          else findings.push(i.finding);
        }
        if (!isTest) {
          const ph = placeholderFacts(root, file.path, table);
          findings.push(...ph.findings);
          facts.placeholders = ph.classes;
          facts.placeholderUses = ph.uses;
        }
        // keys: what other files look this one up by; links: what this file's link() looks up.
        const keys = new Set<string>([`module:${mod.name}`]);
        const links = new Set<string>();
        for (const i of facts.imports) keys.add(`${i.module}.${i.name}`);
        for (const p of facts.patches) {
          links.add(p.target);
          links.add(`module:${p.module}`);
        }
        for (const c of facts.placeholders) keys.add(`placeholder:${mod.name}.${c.name}`);
        for (const u of facts.placeholderUses) links.add(`placeholder:${u.qualified}`);
        for (const i of facts.injected) links.add(`module:${i.provider.slice(0, i.provider.lastIndexOf('.'))}`);
        if (facts.fastapi.depends.length) keys.add(DEPENDS_KEY);
        for (const o of facts.fastapi.overrides) {
          links.add(DEPENDS_KEY);
          links.add(`module:${o.key.slice(0, o.key.lastIndexOf('.'))}`);
        }
        return { findings, keys: [...keys], links: [...links], data: facts };
      } finally {
        tree.delete();
      }
    },
    link(file, ctx) {
      return [...linkStaleImports(file, ctx), ...linkPlaceholders(file, ctx), ...linkInjectedSessions(file, ctx), ...linkOverrides(file, ctx)];
    },
    // Which files prove an override finding, kept beside it for the run to confirm it (run-static.ts).
    findingExtras: {
      get: (finding) => dependencyOverrides.get(finding),
      set: (finding, extra) => {
        const x = extra as { routeFiles?: unknown; dependencyFile?: unknown };
        if (Array.isArray(x?.routeFiles) && typeof x.dependencyFile === 'string') dependencyOverrides.set(finding, { routeFiles: x.routeFiles.map(String), dependencyFile: x.dependencyFile });
      },
    },
    syntaxErrorCount(_path: string, text: string) {
      const tree = parser!.parse(text);
      if (!tree) return Number.MAX_SAFE_INTEGER;
      try {
        return tree.rootNode.hasError ? syntaxErrorNodes(tree.rootNode, Number.MAX_SAFE_INTEGER).length : 0;
      } finally {
        tree.delete();
      }
    },
  };
}

/** Lines of the first few ERROR or MISSING nodes (anonymous ones included). */
function syntaxErrorLines(root: Node): number[] {
  return [...new Set(syntaxErrorNodes(root, MAX_SYNTAX_ERRORS_SHOWN))];
}

/** The lines of up to `max` ERROR or MISSING nodes, one entry per node. */
function syntaxErrorNodes(root: Node, max: number): number[] {
  const lines: number[] = [];
  const cursor = root.walk();
  try {
    for (let more = true; more && lines.length < max; ) {
      const n = cursor.currentNode;
      if (n.isError || n.isMissing) {
        lines.push(n.startPosition.row + 1);
        more = cursor.gotoNextSibling() || climb(cursor);
      } else if (n.hasError && cursor.gotoFirstChild()) continue;
      else more = cursor.gotoNextSibling() || climb(cursor);
    }
  } finally {
    cursor.delete();
  }
  return lines;
}

function climb(cursor: ReturnType<Node['walk']>): boolean {
  while (cursor.gotoParent()) if (cursor.gotoNextSibling()) return true;
  return false;
}

function emptyFacts(): PythonFacts {
  return {
    module: '',
    sourceRoot: '',
    isTest: false,
    imports: [],
    patches: [],
    placeholders: [],
    placeholderUses: [],
    committingProviders: [],
    injected: [],
    fastapi: { overrides: [], depends: [], functions: [], aliases: [] },
  };
}

interface Escape {
  file: LinkedFile<PythonFacts>;
  imp: ValueImport;
}

function linkStaleImports(file: LinkedFile<PythonFacts>, ctx: LinkContext<PythonFacts>): Finding[] {
  const findings: Finding[] = [];
  const patched = new Map<string, Set<string>>();
  for (const p of file.data.patches) (patched.get(p.scope) ?? patched.set(p.scope, new Set()).get(p.scope)!).add(p.target);
  const reported = new Set<string>();
  for (const p of file.data.patches) {
    const scopeTargets = patched.get(p.scope)!;
    const escapes: Escape[] = [];
    const root = sourceRootOf(p.module, file.path, ctx);
    for (const other of ctx.filesWithKey(p.target)) {
      if (other.data.isTest) continue;
      // Several projects in one workspace can each have an app.db: only the test's own project counts.
      if (root !== undefined && other.data.sourceRoot !== root) continue;
      for (const imp of other.data.imports) {
        if (imp.module !== p.module || imp.name !== p.name) continue;
        // Already patched where the name was copied to (the test patches both).
        if (scopeTargets.has(`${other.data.module}.${imp.alias}`) || patched.get('module')?.has(`${other.data.module}.${imp.alias}`)) continue;
        escapes.push({ file: other, imp });
      }
    }
    if (escapes.length === 0) continue;
    const dedupe = `${p.line}:${p.column}:${p.target}`;
    if (reported.has(dedupe)) continue;
    reported.add(dedupe);
    findings.push(staleImportFinding(file, p, escapes));
  }
  return findings;
}

/**
 * The source root of the module a test patches: the workspace file with that
 * module name nearest to the test (undefined when the module is not in the
 * workspace, e.g. a third-party one).
 */
function sourceRootOf(module: string, testPath: string, ctx: LinkContext<PythonFacts>): string | undefined {
  let best: { root: string; shared: number } | undefined;
  for (const def of ctx.filesWithKey(`module:${module}`)) {
    let shared = 0;
    while (shared < def.path.length && def.path[shared] === testPath[shared]) shared++;
    if (!best || shared > best.shared) best = { root: def.data.sourceRoot, shared };
  }
  return best?.root;
}

function staleImportFinding(file: LinkedFile<PythonFacts>, p: Patch, escapes: Escape[]): Finding {
  const names = escapes.map((e) => `${e.file.data.module}.${e.imp.alias}`);
  // Messages and related places name a few importers; the fixes still cover all of them.
  const shown = (list: string[]) => (list.length > MAX_NAMED ? [...list.slice(0, MAX_NAMED), `${list.length - MAX_NAMED} more`] : list);
  const where = shown(escapes.map((e) => `${e.file.rel}:${e.imp.line}`));
  const message =
    `The test patches ${p.target}, but ${escapes.length === 1 ? `${escapes[0].file.data.module} imported` : `${names.length} modules imported`} ` +
    `${p.name} by value (${where.join(', ')}) before the patch, so ${escapes.length === 1 ? 'it keeps' : 'they keep'} the original: ` +
    `code there still uses the real ${p.name}. Patch ${shown(names).join(' and ')} too, or make ${escapes.length === 1 ? 'that module' : 'those modules'} look ${p.name} up at call time.`;
  const related = escapes.slice(0, MAX_RELATED).map((e) => ({
    file: e.file.path,
    line: e.imp.line,
    message: `${e.file.data.module} imports ${p.name}${e.imp.alias !== p.name ? ` as ${e.imp.alias}` : ''} by value here${e.imp.useLines.length ? ` (used on line ${e.imp.useLines.slice(0, 5).join(', ')})` : ''}`,
  }));
  const fixes: Finding['fixes'] = [];
  // A name copied into dozens of modules is a refactoring, not a quick fix (and the edits would swamp the report).
  if (escapes.length > MAX_FIX_IMPORTERS) {
    const finding: Finding = { rule: 'stale-import-patch', severity: 'warning', message, location: { file: file.path, line: p.line, column: p.column }, related, fixes };
    if (p.testName) finding.test = `${file.rel}::${p.testName}`;
    return finding;
  }
  if (p.addPatch) {
    const pieces = names.map((n) => p.addPatch!.piece.split(TARGET_MARK).join(JSON.stringify(n))).join('');
    const at = p.addPatch.at;
    const edits: TextEdit[] = [
      { file: file.path, startLine: at.row + 1, startColumn: at.column + 1, endLine: at.row + 1, endColumn: at.column + 1, newText: pieces },
      ...p.addPatch.once,
    ];
    fixes.push({ title: `Also patch ${shown(names).join(' and ')} with the same value`, edits });
  }
  const lookups = escapes.filter((e) => e.imp.lookupFix);
  if (lookups.length === escapes.length) {
    fixes.push({
      title: `Look ${p.name} up at call time in ${shown(escapes.map((e) => e.file.rel)).join(', ')} (import the module, use ${p.module.split('.').pop()}.${p.name})`,
      edits: lookups.flatMap((e) => e.imp.lookupFix!),
    });
  }
  // Looking the name up at call time fixes every test that patches it, present and future; patching the copy fixes this test only.
  const preferred = fixes.find((f) => f.title.startsWith('Look')) ?? fixes[0];
  if (preferred) preferred.preferred = true;
  const finding: Finding = { rule: 'stale-import-patch', severity: 'warning', message, location: { file: file.path, line: p.line, column: p.column }, related, fixes };
  if (p.testName) finding.test = `${file.rel}::${p.testName}`;
  return finding;
}

/** An injected session's info stands unless its dependency (found by module) commits for the endpoint. */
function linkInjectedSessions(file: LinkedFile<PythonFacts>, ctx: LinkContext<PythonFacts>): Finding[] {
  const out: Finding[] = [];
  for (const i of file.data.injected) {
    const dot = i.provider.lastIndexOf('.');
    const module = i.provider.slice(0, dot);
    const name = i.provider.slice(dot + 1);
    const commits = ctx.filesWithKey(`module:${module}`).some((d) => d.data.module === module && d.data.committingProviders.includes(name));
    if (!commits) out.push(i.finding);
  }
  return out;
}

function linkPlaceholders(file: LinkedFile<PythonFacts>, ctx: LinkContext<PythonFacts>): Finding[] {
  const findings: Finding[] = [];
  for (const u of file.data.placeholderUses) {
    const key = `placeholder:${u.qualified}`;
    const def = ctx.filesWithKey(key).find((f) => f.data.placeholders.some((c) => `${f.data.module}.${c.name}` === u.qualified));
    if (!def) continue;
    const c = def.data.placeholders.find((x) => `${def.data.module}.${x.name}` === u.qualified)!;
    findings.push({
      rule: 'placeholder-session',
      severity: 'warning',
      message: `${c.name}() is ${u.how}: the application gets a stand-in instead of a database session, so nothing is stored and reads return canned values.`,
      location: { file: file.path, line: u.line, column: u.column },
      related: [{ file: def.path, line: c.line, message: `${c.name} defined here (${c.why})` }],
      fixes: [],
    });
  }
  return findings;
}

interface Definition {
  /** module.name where the function is defined. */
  qualified: string;
  file: LinkedFile<PythonFacts>;
  fn: FunctionDef;
}

const MAX_ALIAS_HOPS = 8;

/** The function a dotted name really is, followed through imports and re-exports across modules (undefined outside the workspace). */
function definitionOf(dotted: string, ctx: LinkContext<PythonFacts>, hops = 0): Definition | undefined {
  const dot = dotted.lastIndexOf('.');
  if (dot <= 0 || hops > MAX_ALIAS_HOPS) return undefined;
  const module = dotted.slice(0, dot);
  const name = dotted.slice(dot + 1);
  for (const f of ctx.filesWithKey(`module:${module}`)) {
    if (f.data.module !== module) continue;
    const fns = f.data.fastapi.functions.filter((x) => x.name === name);
    // The last definition is the one the module ends up with.
    if (fns.length) return { qualified: dotted, file: f, fn: fns[fns.length - 1] };
    const alias = f.data.fastapi.aliases.find(([local]) => local === name)?.[1];
    if (alias && alias !== dotted) return definitionOf(alias, ctx, hops + 1);
  }
  return undefined;
}

const lastName = (dotted: string) => dotted.slice(dotted.lastIndexOf('.') + 1);

/**
 * FastAPI looks `app.dependency_overrides` up by the function object a route depends on.
 * An override keyed on another function (a same-named wrapper, an old copy, a stale import)
 * replaces nothing: the routes keep the real dependency and its database. Reported at the
 * override, naming the dependency the routes use, with a fix that keys the override on it.
 */
function linkOverrides(file: LinkedFile<PythonFacts>, ctx: LinkContext<PythonFacts>): Finding[] {
  const findings: Finding[] = [];
  for (const o of file.data.fastapi.overrides) {
    const overridden = definitionOf(o.key, ctx);
    if (!overridden) continue;
    const used = new Map<string, { def: Definition; uses: Array<{ file: string; rel: string; line: number }> }>();
    for (const f of ctx.filesWithKey(DEPENDS_KEY)) {
      // Several projects in one workspace: only the overridden function's own project counts.
      if (f.data.isTest || f.data.sourceRoot !== overridden.file.data.sourceRoot) continue;
      for (const u of f.data.fastapi.depends) {
        const def = definitionOf(u.target, ctx);
        if (!def) continue;
        let entry = used.get(def.qualified);
        if (!entry) used.set(def.qualified, (entry = { def, uses: [] }));
        entry.uses.push({ file: f.path, rel: f.rel, line: u.line });
      }
    }
    if (used.size === 0 || used.has(overridden.qualified)) continue;
    // The dependency the override was meant for: the same name, or one the overridden function wraps (or is wrapped by).
    const calls = (d: Definition, other: Definition) => d.fn.calls.some((c) => definitionOf(c, ctx)?.qualified === other.qualified);
    let candidates = [...used.values()].filter((u) => lastName(u.def.qualified) === lastName(overridden.qualified));
    if (candidates.length === 0) candidates = [...used.values()].filter((u) => calls(overridden, u.def) || calls(u.def, overridden));
    if (candidates.length !== 1) continue;
    findings.push(overrideFinding(file, o, overridden, candidates[0].def, candidates[0].uses, calls(overridden, candidates[0].def)));
  }
  return findings;
}

function overrideFinding(
  file: LinkedFile<PythonFacts>,
  o: DependencyOverride,
  overridden: Definition,
  real: Definition,
  uses: Array<{ file: string; rel: string; line: number }>,
  wraps: boolean,
): Finding {
  const name = lastName(real.qualified);
  const where = uses.slice(0, MAX_NAMED).map((u) => `${u.rel}:${u.line}`);
  if (uses.length > MAX_NAMED) where.push(`${uses.length - MAX_NAMED} more`);
  const message =
    `The test overrides ${overridden.qualified}, but the routes depend on ${real.qualified} (Depends(${name}) at ${where.join(', ')}). ` +
    `FastAPI looks overrides up by the function itself, so this override replaces nothing: requests still get ` +
    `${real.qualified} and the database it opens. Key the override on ${real.qualified}.`;
  const related = [
    ...uses.slice(0, MAX_RELATED).map((u) => ({ file: u.file, line: u.line, message: `the route depends on ${real.qualified} here` })),
    { file: real.file.path, line: real.fn.line, message: `${real.qualified}, the dependency the routes use, is defined here` },
    {
      file: overridden.file.path,
      line: overridden.fn.line,
      message: `${overridden.qualified}, the function the test overrides, is defined here${wraps ? ` (it calls ${real.qualified}; overriding a wrapper does not replace what it wraps)` : ''}`,
    },
  ];
  const fix = rekeyEdits(file.path, o, real.qualified, file.data.fastapi);
  const finding: Finding = {
    rule: 'stale-import-patch',
    severity: 'warning',
    message,
    location: { file: file.path, line: o.line, column: o.column },
    related,
    fixes: [{ title: `Key the override on ${real.qualified}, the dependency the routes use (${fix.how})`, edits: fix.edits, preferred: true }],
  };
  if (o.testName) finding.test = `${file.rel}::${o.testName}`;
  dependencyOverrides.set(finding, { routeFiles: [...new Set([...uses.map((u) => u.file), real.file.path])], dependencyFile: real.file.path });
  return finding;
}
