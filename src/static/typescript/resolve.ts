/**
 * Module resolution the way the project itself resolves: relative paths with
 * the extensions TypeScript and Node try (and TypeScript's `./db.js` → `db.ts`
 * mapping), folder index files and package.json `main`, tsconfig/jsconfig
 * `paths` and `baseUrl` (following `extends`), and packages of the same
 * workspace (npm/yarn/pnpm workspaces: a bare name resolves to the package's
 * folder, its entry mapped from an unbuilt dist/ back to src/).
 *
 * A specifier that leaves the workspace (node_modules, Node built-ins) gets a
 * stable `pkg:` identity instead of a path, so a patch on `fs.readFileSync`
 * still meets the `const { readFileSync } = require('fs')` it misses.
 *
 * Config files are read from disk (they are not source files the checker
 * walks) and cached, re-validated by mtime on each use.
 */
import { readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { WorkspaceView } from '../types';
import type { TS } from './ts';

const SOURCE_EXTENSIONS = ['.ts', '.tsx', '.mts', '.cts', '.js', '.jsx', '.mjs', '.cjs'];
/** TypeScript lets source import its compiled name: './db.js' means './db.ts'. */
const JS_TO_TS: Record<string, string[]> = {
  '.js': ['.ts', '.tsx'],
  '.jsx': ['.tsx'],
  '.mjs': ['.mts'],
  '.cjs': ['.cts'],
};
const BUILTINS = new Set(builtinModules);

export interface TsConfigInfo {
  /** Folder of the tsconfig that defined `paths` (or baseUrl when paths is absent). */
  pathsBase?: string;
  paths?: Record<string, string[]>;
  baseUrl?: string;
  /** compilerOptions.module, lower-case. */
  module?: string;
  /** compilerOptions.allowJs/checkJs do not matter here; verbatimModuleSyntax does not either. */
  file: string;
}

interface Cached<T> {
  mtimeMs: number;
  value: T;
}

export interface PackageInfo {
  dir: string;
  name?: string;
  type?: string;
  main?: string;
  module?: string;
  source?: string;
  exports?: unknown;
  /** Present when the package declares workspaces (the monorepo root). */
  workspaces?: string[];
}

export class Resolver {
  private readonly configCache = new Map<string, Cached<TsConfigInfo | undefined>>();
  private readonly packageCache = new Map<string, Cached<PackageInfo | undefined>>();
  /** folder → nearest config file path (or '' for none); cleared by `forget`. */
  private readonly nearestConfig = new Map<string, string>();
  private readonly nearestPackage = new Map<string, string>();
  /** Config and package file mtimes seen in this pass (see newPass): one stat per file per check, not per import. */
  private readonly mtimes = new Map<string, number | undefined>();
  private workspacePackages?: Map<string, string>;

  constructor(
    private readonly t: TS,
    private readonly ws: WorkspaceView,
  ) {}

  /** Forgets the mtimes seen so far: the checker calls this when a check or update begins. */
  newPass(): void {
    this.mtimes.clear();
  }

  private mtimeOf(path: string): number | undefined {
    if (this.mtimes.has(path)) return this.mtimes.get(path);
    const m = fileMtime(path);
    this.mtimes.set(path, m);
    return m;
  }

  /** Resolution depends on the workspace's files; the checker's view answers that, configs are re-read by mtime. */
  resolve(specifier: string, fromFile: string): string | undefined {
    if (!specifier) return undefined;
    if (specifier.startsWith('node:')) return 'pkg:' + specifier.slice(5);
    const fromDir = dirname(fromFile);
    if (specifier.startsWith('.') || isAbsolute(specifier)) {
      return this.resolvePath(resolve(fromDir, specifier));
    }
    const config = this.tsconfigFor(fromFile);
    if (config) {
      const viaPaths = this.resolveWithPaths(specifier, config);
      if (viaPaths) return viaPaths;
    }
    const pkg = this.resolveWorkspacePackage(specifier);
    if (pkg) return pkg;
    if (config?.baseUrl) {
      const viaBase = this.resolvePath(resolve(config.baseUrl, specifier));
      if (viaBase) return viaBase;
    }
    return 'pkg:' + packageSpecifier(specifier);
  }

  /** The file as a module: 'esm' or 'cjs', from its extension, package.json type and tsconfig module. */
  moduleFormat(file: string, hasEsmSyntax: boolean): 'esm' | 'cjs' {
    const lower = file.toLowerCase();
    if (lower.endsWith('.mjs') || lower.endsWith('.mts')) return 'esm';
    if (lower.endsWith('.cjs') || lower.endsWith('.cts')) return 'cjs';
    const pkgType = this.packageFor(file)?.type;
    const isTs = /\.tsx?$/.test(lower);
    if (isTs) {
      const mod = this.tsconfigFor(file)?.module;
      // TypeScript emits require() for these; an `import { x }` becomes a live `db_1.x`.
      if (mod === undefined || mod === 'commonjs' || mod === 'umd' || mod === 'amd') return mod === undefined && pkgType === 'module' ? 'esm' : 'cjs';
      if (mod === 'node16' || mod === 'node18' || mod === 'node20' || mod === 'nodenext') return pkgType === 'module' ? 'esm' : 'cjs';
      return 'esm';
    }
    if (pkgType === 'module') return 'esm';
    // A .js file with import syntax in a CommonJS package is compiled by Babel or
    // a bundler, which turn named imports into live property reads, like CommonJS.
    void hasEsmSyntax;
    return 'cjs';
  }

  packageFor(file: string): PackageInfo | undefined {
    const path = this.nearestFile(dirname(file), ['package.json'], this.nearestPackage);
    return path ? this.readPackage(path) : undefined;
  }

  tsconfigFor(file: string): TsConfigInfo | undefined {
    const path = this.nearestFile(dirname(file), ['tsconfig.json', 'jsconfig.json'], this.nearestConfig);
    return path ? this.readConfig(path, 0) : undefined;
  }

  private resolvePath(abs: string): string | undefined {
    if (this.ws.isFile(abs)) return abs;
    const ext = extOf(abs);
    for (const alt of JS_TO_TS[ext] ?? []) {
      const candidate = abs.slice(0, -ext.length) + alt;
      if (this.ws.isFile(candidate)) return candidate;
    }
    for (const e of SOURCE_EXTENSIONS) if (this.ws.isFile(abs + e)) return abs + e;
    if (this.ws.isDir(abs)) {
      const pkg = this.readPackage(join(abs, 'package.json'));
      if (pkg) {
        const entry = this.packageEntry(pkg, '.');
        if (entry) return entry;
      }
      for (const e of SOURCE_EXTENSIONS) if (this.ws.isFile(join(abs, 'index' + e))) return join(abs, 'index' + e);
    }
    return undefined;
  }

  private resolveWithPaths(specifier: string, config: TsConfigInfo): string | undefined {
    if (!config.paths) return undefined;
    const base = config.baseUrl ?? config.pathsBase ?? dirname(config.file);
    let best: { prefixLen: number; star: string; targets: string[] } | undefined;
    for (const [pattern, targets] of Object.entries(config.paths)) {
      if (!Array.isArray(targets)) continue;
      const star = pattern.indexOf('*');
      if (star < 0) {
        if (pattern === specifier && (!best || pattern.length > best.prefixLen)) best = { prefixLen: pattern.length, star: '', targets };
        continue;
      }
      const prefix = pattern.slice(0, star);
      const suffix = pattern.slice(star + 1);
      if (specifier.length >= prefix.length + suffix.length && specifier.startsWith(prefix) && specifier.endsWith(suffix)) {
        if (!best || prefix.length > best.prefixLen) {
          best = { prefixLen: prefix.length, star: specifier.slice(prefix.length, specifier.length - suffix.length), targets };
        }
      }
    }
    if (!best) return undefined;
    for (const target of best.targets) {
      if (typeof target !== 'string') continue;
      const hit = this.resolvePath(resolve(base, target.replace('*', best.star)));
      if (hit) return hit;
    }
    return undefined;
  }

  private resolveWorkspacePackage(specifier: string): string | undefined {
    const name = packageSpecifier(specifier);
    const dir = this.packagesByName().get(name);
    if (!dir) return undefined;
    const pkg = this.readPackage(join(dir, 'package.json'));
    const sub = specifier.slice(name.length);
    if (pkg) {
      const entry = this.packageEntry(pkg, sub ? '.' + sub : '.');
      if (entry) return entry;
    }
    if (sub) return this.resolvePath(join(dir, sub)) ?? this.resolvePath(join(dir, 'src', sub));
    return this.resolvePath(join(dir, 'src', 'index')) ?? this.resolvePath(join(dir, 'index'));
  }

  /** The source file behind a package entry; an unbuilt `dist/x.js` maps back to `src/x.ts`. */
  private packageEntry(pkg: PackageInfo, subpath: string): string | undefined {
    const candidates: string[] = [];
    const fromExports = exportTarget(pkg.exports, subpath);
    if (fromExports) candidates.push(fromExports);
    if (subpath === '.') for (const f of [pkg.source, pkg.module, pkg.main]) if (typeof f === 'string') candidates.push(f);
    for (const c of candidates) {
      const abs = resolve(pkg.dir, c);
      const hit = this.resolvePath(abs) ?? this.resolvePath(stripDeclaration(abs));
      if (hit) return hit;
      const rel = c.replace(/^\.\//, '');
      const m = /^(dist|lib|build|out|esm|cjs)\/(.*)$/.exec(rel);
      if (m) {
        const inner = m[2].replace(/^(esm|cjs)\//, '');
        const srcHit = this.resolvePath(stripDeclaration(resolve(pkg.dir, 'src', inner)));
        if (srcHit) return srcHit;
      }
    }
    return undefined;
  }

  private packagesByName(): Map<string, string> {
    if (this.workspacePackages) return this.workspacePackages;
    const map = new Map<string, string>();
    // Every walked folder is a candidate package root; only those with a package.json and a name count.
    const seen = new Set<string>();
    const visit = (dir: string) => {
      if (seen.has(dir)) return;
      seen.add(dir);
      const pkg = this.readPackage(join(dir, 'package.json'));
      if (pkg?.name && !map.has(pkg.name)) map.set(pkg.name, dir);
    };
    visit(this.ws.root);
    const rootPkg = this.readPackage(join(this.ws.root, 'package.json'));
    for (const pattern of rootPkg?.workspaces ?? []) {
      if (typeof pattern !== 'string') continue;
      // 'packages/*' and 'apps/api' are what people write; deeper globs are rare.
      if (pattern.endsWith('/*')) {
        const parent = resolve(this.ws.root, pattern.slice(0, -2));
        for (const child of listDirs(parent)) visit(join(parent, child));
      } else if (!pattern.includes('*')) {
        visit(resolve(this.ws.root, pattern));
      }
    }
    for (const parent of ['packages', 'apps', 'libs', 'services', 'modules']) {
      const abs = join(this.ws.root, parent);
      if (!this.ws.isDir(abs)) continue;
      for (const child of listDirs(abs)) visit(join(abs, child));
    }
    this.workspacePackages = map;
    return map;
  }

  private nearestFile(dir: string, names: string[], memo: Map<string, string>): string | undefined {
    const chain: string[] = [];
    let cur = dir;
    let found: string | undefined;
    for (;;) {
      const known = memo.get(cur);
      if (known !== undefined) {
        found = known || undefined;
        break;
      }
      chain.push(cur);
      const hit = names.map((n) => join(cur, n)).find((p) => this.mtimeOf(p) !== undefined);
      if (hit) {
        found = hit;
        break;
      }
      const parent = dirname(cur);
      if (parent === cur || !isInside(this.ws.root, cur)) break;
      cur = parent;
    }
    for (const c of chain) memo.set(c, found ?? '');
    return found;
  }

  private readPackage(path: string): PackageInfo | undefined {
    return this.cachedRead(this.packageCache, path, (text) => {
      const json = JSON.parse(text) as Record<string, unknown>;
      const workspaces = Array.isArray(json.workspaces)
        ? (json.workspaces as string[])
        : Array.isArray((json.workspaces as { packages?: unknown })?.packages)
          ? ((json.workspaces as { packages: string[] }).packages)
          : undefined;
      return {
        dir: dirname(path),
        name: typeof json.name === 'string' ? json.name : undefined,
        type: typeof json.type === 'string' ? json.type : undefined,
        main: typeof json.main === 'string' ? json.main : undefined,
        module: typeof json.module === 'string' ? json.module : undefined,
        source: typeof json.source === 'string' ? json.source : undefined,
        exports: json.exports,
        workspaces,
      };
    });
  }

  private readConfig(path: string, depth: number): TsConfigInfo | undefined {
    return this.cachedRead(this.configCache, path, (text) => {
      const parsed = this.t.parseConfigFileTextToJson(path, text);
      const json = (parsed.config ?? {}) as { extends?: string | string[]; compilerOptions?: Record<string, unknown> };
      let info: TsConfigInfo = { file: path };
      const parents = typeof json.extends === 'string' ? [json.extends] : Array.isArray(json.extends) ? json.extends : [];
      if (depth < 8) {
        for (const ext of parents) {
          const parentPath = this.configPath(ext, dirname(path));
          const parent = parentPath ? this.readConfig(parentPath, depth + 1) : undefined;
          if (parent) info = { ...info, ...parent, file: path };
        }
      }
      const co = json.compilerOptions ?? {};
      if (typeof co.baseUrl === 'string') info.baseUrl = resolve(dirname(path), co.baseUrl);
      if (co.paths && typeof co.paths === 'object') {
        info.paths = co.paths as Record<string, string[]>;
        info.pathsBase = dirname(path);
      }
      if (typeof co.module === 'string') info.module = co.module.toLowerCase();
      return info;
    });
  }

  private configPath(spec: string, fromDir: string): string | undefined {
    const candidates = spec.startsWith('.') || isAbsolute(spec)
      ? [resolve(fromDir, spec), resolve(fromDir, spec) + '.json']
      : [join(this.ws.root, 'node_modules', spec), join(this.ws.root, 'node_modules', spec) + '.json', join(this.ws.root, 'node_modules', spec, 'tsconfig.json')];
    return candidates.find((c) => this.mtimeOf(c) !== undefined && !c.endsWith('node_modules'));
  }

  private cachedRead<T>(cache: Map<string, Cached<T | undefined>>, path: string, parse: (text: string) => T): T | undefined {
    const mtimeMs = this.mtimeOf(path);
    if (mtimeMs === undefined) {
      cache.delete(path);
      return undefined;
    }
    const hit = cache.get(path);
    if (hit && hit.mtimeMs === mtimeMs) return hit.value;
    let value: T | undefined;
    try {
      value = parse(readFileSync(path, 'utf8'));
    } catch {
      value = undefined;
    }
    cache.set(path, { mtimeMs, value });
    return value;
  }
}

function fileMtime(path: string): number | undefined {
  try {
    const st = statSync(path);
    return st.isFile() ? st.mtimeMs : undefined;
  } catch {
    return undefined;
  }
}

function listDirs(dir: string): string[] {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const fs = require('node:fs') as typeof import('node:fs');
    return fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory() && d.name !== 'node_modules' && !d.name.startsWith('.'))
      .map((d) => d.name);
  } catch {
    return [];
  }
}

function isInside(root: string, dir: string): boolean {
  return dir === root || dir.startsWith(root.endsWith('/') ? root : root + '/');
}

function extOf(path: string): string {
  const m = /\.[^./\\]+$/.exec(path);
  return m ? m[0].toLowerCase() : '';
}

function stripDeclaration(path: string): string {
  return path.replace(/\.d\.(m|c)?ts$/, '').replace(/\.(m|c)?js$/, '');
}

/** 'lodash/fp' → 'lodash', '@scope/pkg/sub' → '@scope/pkg', 'node:fs' and 'fs' → 'fs'. */
export function packageSpecifier(specifier: string): string {
  const s = specifier.startsWith('node:') ? specifier.slice(5) : specifier;
  const parts = s.split('/');
  const name = s.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
  return BUILTINS.has(s) ? s : name;
}

/** `exports` as people write it: a string, a subpath map, or condition objects (source/types/import/require/default). */
function exportTarget(exportsField: unknown, subpath: string): string | undefined {
  if (exportsField === undefined || exportsField === null) return undefined;
  if (typeof exportsField === 'string') return subpath === '.' ? exportsField : undefined;
  if (Array.isArray(exportsField)) {
    for (const e of exportsField) {
      const t = exportTarget(e, subpath);
      if (t) return t;
    }
    return undefined;
  }
  if (typeof exportsField !== 'object') return undefined;
  const obj = exportsField as Record<string, unknown>;
  const keys = Object.keys(obj);
  if (keys.some((k) => k.startsWith('.'))) {
    if (obj[subpath] !== undefined) return conditionTarget(obj[subpath]);
    for (const k of keys) {
      const star = k.indexOf('*');
      if (star < 0) continue;
      const prefix = k.slice(0, star);
      const suffix = k.slice(star + 1);
      if (subpath.startsWith(prefix) && subpath.endsWith(suffix)) {
        const target = conditionTarget(obj[k]);
        return target?.replace('*', subpath.slice(prefix.length, subpath.length - suffix.length));
      }
    }
    return undefined;
  }
  return subpath === '.' ? conditionTarget(obj) : undefined;
}

function conditionTarget(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(conditionTarget).find((v) => v !== undefined);
  if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    for (const cond of ['source', 'development', 'types', 'require', 'node', 'import', 'default']) {
      if (obj[cond] !== undefined) {
        const t = conditionTarget(obj[cond]);
        if (t) return t;
      }
    }
  }
  return undefined;
}
