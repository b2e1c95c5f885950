/**
 * Python: one tree-sitter parse per file (wasm grammar), the rules that need
 * only that file (missing-commit, placeholder-session classes and mocks), and
 * the facts the cross-file rules link: value imports and patches
 * (stale-import-patch), placeholder classes and their uses.
 */
import type { Finding, TextEdit } from '../../analysis/findings';
import type { LanguagePlugin, LinkContext, LinkedFile, SourceFile, WorkspaceView } from '../types';
import type { Parser as TreeSitterParser } from 'web-tree-sitter';
import { loadLanguage, Parser } from '../wasm';
import { committingProviders, missingCommit } from './missing-commit';
import { resolveExprName } from './plugin-util';
import { importTable, moduleInfo } from './modules';
import { placeholderFacts, type PlaceholderClass, type PlaceholderUse } from './placeholder';
import { isTestPath, type Node } from './syntax';
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
}

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
      parser = new Parser();
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
        return { findings, keys: [...keys], links: [...links], data: facts };
      } finally {
        tree.delete();
      }
    },
    link(file, ctx) {
      return [...linkStaleImports(file, ctx), ...linkPlaceholders(file, ctx), ...linkInjectedSessions(file, ctx)];
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
  return { module: '', sourceRoot: '', isTest: false, imports: [], patches: [], placeholders: [], placeholderUses: [], committingProviders: [], injected: [] };
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
      severity: 'error',
      message: `${c.name}() is ${u.how}: the application gets a stand-in instead of a database session, so nothing is stored and reads return canned values.`,
      location: { file: file.path, line: u.line, column: u.column },
      related: [{ file: def.path, line: c.line, message: `${c.name} defined here (${c.why})` }],
      fixes: [],
    });
  }
  return findings;
}
