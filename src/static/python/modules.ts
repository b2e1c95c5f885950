/**
 * Module names as Python sees them: packages are folders with __init__.py
 * (src/ layouts and flat layouts alike); a file outside any package is a
 * top-level module of its folder. Relative imports resolve against the
 * importing module's package.
 */
import { basename, dirname, join, relative, sep } from 'node:path';
import type { WorkspaceView } from '../types';
import { dottedName, field, named, type Node } from './syntax';

export interface ModuleInfo {
  /** Dotted name, e.g. app.worker.main (app for app/__init__.py). */
  name: string;
  isPackage: boolean;
  /** The folder on sys.path this module is found from (parent of its top package). */
  sourceRoot: string;
}

export function moduleInfo(path: string, ws: WorkspaceView): ModuleInfo {
  const base = basename(path).replace(/\.py$/, '');
  const isPackage = base === '__init__';
  const parts = isPackage ? [] : [base];
  let dir = dirname(path);
  let climbed = false;
  while (ws.isFile(join(dir, '__init__.py'))) {
    parts.unshift(basename(dir));
    climbed = true;
    const up = dirname(dir);
    if (up === dir || !(up + sep).startsWith(ws.root + sep)) {
      dir = up;
      break;
    }
    dir = up;
  }
  if (!climbed && !isPackage) {
    // Namespace packages (no __init__.py): name the file from src/ or the root, as an installed or rootdir import would.
    const src = join(ws.root, 'src');
    const from = (path + sep).startsWith(src + sep) ? src : ws.root;
    const rel = relative(from, path).replace(/\.py$/, '').split(sep);
    return { name: rel.join('.'), isPackage: false, sourceRoot: from };
  }
  return { name: parts.join('.'), isPackage, sourceRoot: dir };
}

/** The absolute module of `from <prefix> import`, given the importing module. */
export function resolveRelative(mod: ModuleInfo, level: number, rest: string): string | undefined {
  const pkgParts = mod.name.split('.');
  if (!mod.isPackage) pkgParts.pop();
  for (let i = 1; i < level; i++) {
    if (pkgParts.length === 0) return undefined;
    pkgParts.pop();
  }
  const all = [...pkgParts, ...(rest ? rest.split('.') : [])].filter((p) => p !== '');
  return all.length ? all.join('.') : undefined;
}

/** `module_name` of an import-from statement: absolute dotted name, level and the text after the dots. */
export function fromModule(stmt: Node, mod: ModuleInfo): { module?: string; level: number; rest: string } {
  const m = field(stmt, 'module_name');
  if (!m) return { level: 0, rest: '' };
  if (m.type === 'relative_import') {
    const prefix = named(m).find((c) => c.type === 'import_prefix');
    const level = prefix ? prefix.text.length : 0;
    const rest = named(m).find((c) => c.type === 'dotted_name')?.text ?? '';
    return { module: resolveRelative(mod, level, rest), level, rest };
  }
  return { module: m.text, level: 0, rest: m.text };
}

/** Whether a dotted module exists as a file in the workspace (from the usual source roots). */
export function moduleExists(name: string, roots: string[], ws: WorkspaceView): boolean {
  const rel = name.split('.').join(sep);
  return roots.some((r) => ws.isFile(join(r, `${rel}.py`)) || ws.isFile(join(r, rel, '__init__.py')));
}

/** Names bound at module level by import statements: local name → dotted module or module.attr. */
export function importTable(root: Node, mod: ModuleInfo): Map<string, string> {
  const table = new Map<string, string>();
  for (const stmt of topLevelStatements(root)) {
    if (stmt.type === 'import_statement') {
      for (const n of named(stmt)) {
        if (n.type === 'dotted_name') table.set(n.text.split('.')[0], n.text.split('.')[0]);
        else if (n.type === 'aliased_import') {
          const name = field(n, 'name')?.text;
          const alias = field(n, 'alias')?.text;
          if (name && alias) table.set(alias, name);
        }
      }
    } else if (stmt.type === 'import_from_statement') {
      const { module } = fromModule(stmt, mod);
      if (!module) continue;
      for (const n of stmt.childrenForFieldName('name')) {
        if (!n) continue;
        if (n.type === 'dotted_name') table.set(n.text, `${module}.${n.text}`);
        else if (n.type === 'aliased_import') {
          const name = field(n, 'name')?.text;
          const alias = field(n, 'alias')?.text;
          if (name && alias) table.set(alias, `${module}.${name}`);
        }
      }
    }
  }
  return table;
}

/** The dotted thing an expression names through the import table: `db.session` with `from app import db` → app.db.session. */
export function resolveExpr(n: Node | undefined, table: Map<string, string>): string | undefined {
  const d = dottedName(n);
  if (!d) return undefined;
  const [head, ...rest] = d.split('.');
  const base = table.get(head);
  if (!base) return undefined;
  return [base, ...rest].join('.');
}

/** Statements that run when the module is imported: module level, inside if/try/with blocks, not in functions or classes. */
export function* topLevelStatements(root: Node): Generator<Node> {
  const stack = named(root).reverse();
  while (stack.length) {
    const s = stack.pop()!;
    yield s;
    if (['if_statement', 'try_statement', 'with_statement', 'elif_clause', 'else_clause', 'except_clause', 'finally_clause', 'block'].includes(s.type)) {
      const inner = named(s).filter((c) => c.type !== 'function_definition' && c.type !== 'class_definition' && c.type !== 'decorated_definition');
      stack.push(...inner.reverse());
    }
  }
}
