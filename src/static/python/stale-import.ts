/**
 * stale-import-patch, the two halves a file can hold:
 * - value imports: `from pkg.mod import NAME [as A]` run at import time, so
 *   the module keeps the object NAME had then, whatever a test patches later;
 * - patches: monkeypatch.setattr / mock.patch / patch.object / mocker.patch
 *   of `pkg.mod.NAME`, as decorator, context manager or call.
 * Both are keyed by the patched dotted name; link() (in rules.ts) pairs them.
 * Fixes are prepared here, per file, as text templates that link() fills with
 * the importing modules' names.
 */
import type { TextEdit } from '../../analysis/findings';
import type { WorkspaceView } from '../types';
import { fromModule, moduleExists, resolveExpr, topLevelStatements, type ModuleInfo } from './modules';
import { callParts, dottedName, edit, enclosingFunction, field, hasIdentifier, identifiersNamed, indentOf, insertAt, named, statementOf, stringValue, type Node } from './syntax';

export interface ValueImport {
  /** Absolute module the name comes from. */
  module: string;
  name: string;
  /** The name bound in this module. */
  alias: string;
  line: number;
  column: number;
  /** Where the name is read in this module (1-based lines), for messages. */
  useLines: number[];
  /** Fix (b): edits to this file that make it look the name up at call time; undefined when the module rebinds the name. */
  lookupFix?: TextEdit[];
  lookupFixWhy?: string;
}

/** `template` with TARGET_MARK replaced by a dotted target (module.alias) and VALUE_MARK by the fallback value. */
export const TARGET_MARK = '\u0000T\u0000';

export interface Patch {
  /** Dotted target: pkg.mod.NAME. */
  target: string;
  module: string;
  name: string;
  style: string;
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  /** Enclosing test function (or module): patches in one scope apply together. */
  scope: string;
  /** `Class::test_name` of the test function holding the patch (pytest's node id without the file). */
  testName?: string;
  /** Fix (a): insert one `piece` per target (TARGET_MARK → module.alias) at `at`, plus `once` edits. */
  addPatch?: { at: { row: number; column: number }; piece: string; once: TextEdit[] };
  addPatchWhy?: string;
}

const SIMPLE_VALUE = new Set(['identifier', 'attribute', 'none', 'true', 'false', 'integer', 'float', 'string']);

function isSimpleValue(n: Node | undefined): boolean {
  if (!n) return false;
  if (n.type === 'string') return stringValue(n) !== undefined;
  return SIMPLE_VALUE.has(n.type) && (n.type !== 'attribute' || dottedName(n) !== undefined);
}

/** The object the original patch installed, read back at run time (after the patch is in place). */
function readBack(module: string, name: string): string {
  return `__import__("importlib").import_module(${JSON.stringify(module)}).${name}`;
}

export function valueImports(root: Node, file: string, text: string, mod: ModuleInfo, ws: WorkspaceView, table: Map<string, string>): ValueImport[] {
  const out: ValueImport[] = [];
  const roots = [...new Set([mod.sourceRoot, ws.root, `${ws.root}/src`])];
  let lines: string[] | undefined;
  for (const stmt of topLevelStatements(root)) {
    if (stmt.type !== 'import_from_statement') continue;
    const from = fromModule(stmt, mod);
    if (!from.module) continue;
    const items = stmt.childrenForFieldName('name').filter((n): n is Node => n !== null);
    for (const item of items) {
      const nameNode = item.type === 'aliased_import' ? field(item, 'name') : item;
      const aliasNode = item.type === 'aliased_import' ? field(item, 'alias') : item;
      if (!nameNode || !aliasNode || nameNode.text.includes('.')) continue;
      const name = nameNode.text;
      // A submodule import is a module object: attribute look-ups on it happen at call time.
      if (moduleExists(`${from.module}.${name}`, roots, ws)) continue;
      const alias = aliasNode.text;
      const scan = scanUses(root, text, alias, stmt);
      if (scan.uses.length === 0) continue;
      const vi: ValueImport = {
        module: from.module,
        name,
        alias,
        line: item.startPosition.row + 1,
        column: item.startPosition.column + 1,
        useLines: [...new Set(scan.uses.map((u) => u.startPosition.row + 1))],
      };
      if (scan.rebinds) vi.lookupFixWhy = `${alias} is assigned in this module too`;
      else vi.lookupFix = lookupFix(file, stmt, items, item, from, name, scan.uses, table, root, text, (lines ??= text.split('\n')));
      out.push(vi);
    }
  }
  return out;
}

/** Places that bind a name rather than read it. */
function bindingKind(id: Node): 'read' | 'bind' | 'skip' {
  let n = id;
  let p = n.parent;
  while (p && ['pattern_list', 'tuple_pattern', 'list_pattern', 'list_splat_pattern'].includes(p.type)) {
    n = p;
    p = p.parent;
  }
  if (!p) return 'read';
  const is = (f: string) => field(p!, f)?.id === n.id;
  switch (p.type) {
    case 'attribute':
      return is('attribute') ? 'skip' : 'read';
    case 'keyword_argument':
      return is('name') ? 'skip' : 'read';
    case 'assignment':
    case 'augmented_assignment':
      return is('left') ? 'bind' : 'read';
    case 'for_statement':
    case 'for_in_clause':
      return is('left') ? 'bind' : 'read';
    case 'named_expression':
      return is('name') ? 'bind' : 'read';
    case 'as_pattern_target':
    case 'global_statement':
    case 'nonlocal_statement':
    case 'parameters':
    case 'lambda_parameters':
    case 'delete_statement':
      return 'bind';
    case 'default_parameter':
    case 'typed_parameter':
    case 'typed_default_parameter':
      return is('name') || p.type === 'typed_parameter' ? (p.type === 'typed_parameter' && n.id !== named(p)[0]?.id ? 'read' : 'bind') : 'read';
    case 'function_definition':
    case 'class_definition':
      return is('name') ? 'bind' : 'read';
    case 'aliased_import':
    case 'dotted_name':
    case 'import_from_statement':
    case 'import_statement':
      return 'skip';
    default:
      return 'read';
  }
}

function scopeOf(n: Node): Node | undefined {
  for (let p = n.parent; p; p = p.parent) if (p.type === 'function_definition' || p.type === 'lambda') return p;
  return undefined;
}

/** Reads of `alias` in the module's own scope (functions that bind it locally keep their own). */
function scanUses(root: Node, text: string, alias: string, importStmt: Node): { uses: Node[]; rebinds: boolean } {
  const reads: Node[] = [];
  const localScopes = new Set<number>();
  const globalIn = new Set<number>();
  let rebinds = false;
  for (const n of identifiersNamed(root, text, alias)) {
    if (n.startIndex >= importStmt.startIndex && n.endIndex <= importStmt.endIndex) continue;
    const kind = bindingKind(n);
    if (kind === 'skip') continue;
    if (kind === 'bind') {
      const scope = scopeOf(n);
      if (n.parent?.type === 'global_statement') {
        if (scope) globalIn.add(scope.id);
        continue;
      }
      const owner = n.parent?.type === 'function_definition' || n.parent?.type === 'class_definition' ? scopeOf(n.parent) : scope;
      if (owner) localScopes.add(owner.id);
      else rebinds = true;
    } else reads.push(n);
  }
  for (const id of globalIn) if (localScopes.has(id)) rebinds = true;
  // Without a local binding every read is the module's name: no scope chains to climb.
  if (localScopes.size === 0) return { uses: reads, rebinds };
  const uses = reads.filter((r) => {
    for (let s = scopeOf(r); s; s = scopeOf(s)) if (localScopes.has(s.id) && !globalIn.has(s.id)) return false;
    return true;
  });
  return { uses, rebinds };
}

function freeName(root: Node, text: string, wanted: string): string {
  if (!hasIdentifier(root, text, wanted)) return wanted;
  for (let i = 2; ; i++) if (!hasIdentifier(root, text, `${wanted}${i}`)) return `${wanted}${i}`;
}

function lookupFix(
  file: string,
  stmt: Node,
  items: Node[],
  item: Node,
  from: { module?: string; level: number; rest: string },
  name: string,
  uses: Node[],
  table: Map<string, string>,
  root: Node,
  text: string,
  lines: string[],
): TextEdit[] {
  const module = from.module!;
  const edits: TextEdit[] = [];
  // Reuse a module-level alias of the module when the file already has one.
  let alias = [...table].find(([, target]) => target === module)?.[0];
  let newImport = '';
  if (!alias) {
    const last = module.split('.').pop()!;
    alias = freeName(root, text, `${last}_module`);
    if (from.level > 0) {
      const parts = from.rest.split('.').filter(Boolean);
      const leaf = parts.pop();
      newImport = leaf
        ? `from ${'.'.repeat(from.level)}${parts.join('.')} import ${leaf} as ${alias}`
        : `import ${module} as ${alias}`;
    } else {
      const dot = module.lastIndexOf('.');
      newImport = dot > 0 ? `from ${module.slice(0, dot)} import ${module.slice(dot + 1)} as ${alias}` : `import ${module} as ${alias}`;
    }
  }
  const others = items.filter((i) => i.id !== item.id);
  const indent = indentOf(stmt, lines);
  if (others.length === 0) {
    edits.push(edit(file, stmt, stmt, newImport || 'pass'));
    if (!newImport) {
      // The module is already imported under an alias: drop the statement's line entirely.
      const start = { row: stmt.startPosition.row, column: 0 };
      const end = { row: stmt.endPosition.row + 1, column: 0 };
      edits[0] = edit(file, start, end, '');
    }
  } else {
    const moduleText = field(stmt, 'module_name')!.text;
    const rewritten = `from ${moduleText} import ${others.map((o) => o.text).join(', ')}`;
    edits.push(edit(file, stmt, stmt, newImport ? `${rewritten}\n${indent}${newImport}` : rewritten));
  }
  for (const u of uses) edits.push(edit(file, u, u, `${alias}.${name}`));
  return edits;
}

interface PatchCall {
  call: Node;
  style: string;
  target?: string;
  /** Callee text for a new patch of the same kind (string target form). */
  base: string;
  value?: Node;
  kind: 'setattr' | 'patch';
}

function classifyPatchCall(call: Node, table: Map<string, string>): PatchCall | undefined {
  const parts = callParts(call);
  const callee = parts.callee;
  if (!callee) return undefined;
  const segs = callee.split('.');
  const last = segs[segs.length - 1];
  if (last === 'setattr' && segs.length > 1) {
    const first = parts.positional[0];
    const s = stringValue(first);
    if (s !== undefined && s.includes('.') && parts.positional.length >= 2) {
      return { call, style: `${callee}("…")`, target: s, base: callee, value: parts.positional[1], kind: 'setattr' };
    }
    const attr = stringValue(parts.positional[1]);
    const obj = resolveExpr(first, table);
    if (obj && attr && parts.positional.length >= 3) {
      return { call, style: `${callee}(module, "…")`, target: `${obj}.${attr}`, base: callee, value: parts.positional[2], kind: 'setattr' };
    }
    return undefined;
  }
  const isPatch = (s: string[]) => s[s.length - 1] === 'patch' && (s.length === 1 || ['mock', 'mocker', 'unittest'].some((w) => s.includes(w)) || table.get(s[0])?.includes('mock') === true);
  if (last === 'patch' && isPatch(segs)) {
    const target = stringValue(parts.positional[0] ?? parts.keywords.get('target'));
    if (!target || !target.includes('.')) return undefined;
    return { call, style: `${callee}(…)`, target, base: callee, value: parts.positional[1] ?? parts.keywords.get('new'), kind: 'patch' };
  }
  if (last === 'object' && isPatch(segs.slice(0, -1))) {
    const obj = resolveExpr(parts.positional[0], table);
    const attr = stringValue(parts.positional[1] ?? parts.keywords.get('attribute'));
    if (!obj || !attr) return undefined;
    return { call, style: `${callee}(…)`, target: `${obj}.${attr}`, base: segs.slice(0, -1).join('.'), value: parts.positional[2] ?? parts.keywords.get('new'), kind: 'patch' };
  }
  return undefined;
}

/** Cheap test on the text: every patch call names one of these. */
const PATCH_WORD = /setattr|patch/;

export function patches(root: Node, file: string, text: string, table: Map<string, string>): Patch[] {
  const out: Patch[] = [];
  if (!PATCH_WORD.test(text)) return out;
  const lines = text.split('\n');
  for (const n of root.descendantsOfType('call')) {
    if (!n) continue;
    const pc = classifyPatchCall(n, table);
    if (!pc?.target) continue;
    const dot = pc.target.lastIndexOf('.');
    const module = pc.target.slice(0, dot);
    const name = pc.target.slice(dot + 1);
    const fn = scopeFunction(n);
    const p: Patch = {
      target: pc.target,
      module,
      name,
      style: '',
      line: n.startPosition.row + 1,
      column: n.startPosition.column + 1,
      endLine: n.endPosition.row + 1,
      endColumn: n.endPosition.column + 1,
      scope: fn ? `fn@${fn.startIndex}` : 'module',
      testName: fn ? testNameOf(fn) : undefined,
    };
    placeFix(p, pc, file, lines, module, name, fn, table);
    out.push(p);
  }
  return out;
}

function testNameOf(fn: Node): string | undefined {
  const name = field(fn, 'name')?.text;
  if (!name?.startsWith('test')) return undefined;
  const cls = fn.parent?.type === 'block' && fn.parent.parent?.type === 'class_definition' ? field(fn.parent.parent, 'name')?.text : undefined;
  return cls ? `${cls}::${name}` : name;
}

/** The function a patch belongs to: the decorated one for a decorator, else the enclosing one. */
function scopeFunction(call: Node): Node | undefined {
  const dec = call.parent?.type === 'decorator' ? call.parent : undefined;
  if (dec) return field(dec.parent!, 'definition');
  return enclosingFunction(call);
}

function placeFix(p: Patch, pc: PatchCall, file: string, lines: string[], module: string, name: string, fn: Node | undefined, table: Map<string, string>): void {
  const call = pc.call;
  const parent = call.parent!;
  const simple = isSimpleValue(pc.value) ? pc.value!.text : undefined;
  const make = (value: string) => `${pc.base}(${TARGET_MARK}, ${value})`;
  if (parent.type === 'decorator') {
    p.style = `@${pc.style} decorator`;
    const indent = indentOf(parent, lines);
    if (pc.value) {
      p.addPatch = { at: parent.endPosition, piece: `\n${indent}@${make(pc.value.text)}`, once: [] };
      return;
    }
    // The mock arrives as an argument: patch the importing module with it once the test runs.
    const decorated = parent.parent!;
    const decorators = named(decorated).filter((d) => d.type === 'decorator');
    const mine = decorators.findIndex((d) => d.id === parent.id);
    const below = decorators.slice(mine + 1).filter((d) => {
      const c = named(d)[0];
      if (c?.type !== 'call') return false;
      const other = classifyPatchCall(c, table);
      return other?.kind === 'patch' && !other.value;
    }).length;
    const params = fn ? named(field(fn, 'parameters')!).filter((x) => x.type !== 'comment') : [];
    const inClass = fn?.parent?.type === 'block' && fn.parent.parent?.type === 'class_definition';
    const args = inClass ? params.slice(1) : params;
    const arg = args[below];
    const body = fn ? field(fn, 'body') : undefined;
    if (!fn || !arg || arg.type !== 'identifier' || !body) {
      p.addPatchWhy = 'the mock argument could not be found';
      return;
    }
    if (inClass) {
      p.addPatchWhy = 'a test method may not take pytest fixtures (unittest.TestCase)';
      return;
    }
    const first = named(body)[0];
    const bodyIndent = indentOf(first, lines);
    const once: TextEdit[] = [];
    const hasMonkeypatch = params.some((x) => x.text === 'monkeypatch');
    if (!hasMonkeypatch) {
      const paramsNode = field(fn, 'parameters')!;
      const close = { row: paramsNode.endPosition.row, column: paramsNode.endPosition.column - 1 };
      once.push(insertAt(file, close, params.length ? ', monkeypatch' : 'monkeypatch'));
    }
    p.addPatch = { at: first.startPosition, piece: `monkeypatch.setattr(${TARGET_MARK}, ${arg.text})\n${bodyIndent}`, once };
    return;
  }
  const item = withItemOf(call);
  if (item) {
    p.style = `with ${pc.style}`;
    const asName = item.value.type === 'as_pattern' ? named(field(item.value, 'alias') ?? item.value).find((x) => x.type === 'identifier')?.text : undefined;
    const value = asName ?? simple ?? readBack(module, name);
    p.addPatch = { at: item.item.endPosition, piece: `, ${make(value)}`, once: [] };
    return;
  }
  const stmt = statementOf(call);
  const indent = indentOf(stmt, lines);
  p.style = `${pc.style} call`;
  if (pc.kind === 'setattr') {
    p.addPatch = { at: stmt.endPosition, piece: `\n${indent}${make(simple ?? readBack(module, name))}`, once: [] };
    return;
  }
  const chainedStart = parent.type === 'attribute' && field(parent, 'attribute')?.text === 'start';
  const isMocker = pc.base.split('.').includes('mocker');
  if (!isMocker && !chainedStart) {
    p.addPatchWhy = 'the patcher is started elsewhere';
    return;
  }
  let assigned: string | undefined;
  const holder = chainedStart ? parent.parent?.parent : parent;
  if (holder?.type === 'assignment' && field(holder, 'left')?.type === 'identifier') assigned = field(holder, 'left')!.text;
  const value = assigned ?? simple ?? readBack(module, name);
  p.addPatch = { at: stmt.endPosition, piece: `\n${indent}${make(value)}${chainedStart ? '.start()' : ''}`, once: [] };
}

function withItemOf(call: Node): { item: Node; value: Node } | undefined {
  let n = call;
  if (n.parent?.type === 'as_pattern') n = n.parent;
  if (n.parent?.type === 'with_item') return { item: n.parent, value: n };
  return undefined;
}

