/**
 * TypeScript/JavaScript plugin of the static checker: one parse per file with
 * the compiler's parser (no program, no type checker: a 2,000-file workspace
 * must re-check one saved file in milliseconds), per-file rules in `analyze`,
 * cross-file rules in `link` through the keys below.
 *
 * Keys (see ../types.ts):
 *   value:<module>#<name>  a capture of an export (consumer) or a patch of it (test)
 *   ph:<module>#<name>     a placeholder session exported under <name> (definer),
 *                          or a db-ish name imported from <module> (importer)
 * <module> is an absolute path inside the workspace or `pkg:<name>` outside it.
 */
import { basename } from 'node:path';
import type { Finding, Fix } from '../../analysis/findings';
import { byCodePoint } from '../../present/paths';
import type { FileAnalysis, LanguagePlugin, LinkContext, LinkedFile, SourceFile, WorkspaceView } from '../types';
import { type Capture, extractImportFacts, type Patch } from './imports';
import { missingCommitFindings } from './missing-commit';
import { dbishName, findPlaceholders, type PlaceholderDef } from './placeholder';
import { Resolver } from './resolve';
import { parse, syntaxErrors, type TS, typescript } from './ts';

export interface PatchInfo extends Patch {
  /** Set when the patch cannot work at all (reported by analyze); link then says nothing more. */
  broken?: boolean;
}

export interface PlaceholderImport {
  module: string;
  /** Export name, or '*' / 'default' for a module object or default import. */
  name: string;
  local: string;
  line: number;
  column: number;
}

export interface TsFileData {
  test: boolean;
  format: 'esm' | 'cjs';
  hasDefaultExport: boolean;
  captures: Capture[];
  patches: PatchInfo[];
  placeholders: PlaceholderDef[];
  placeholderImports: PlaceholderImport[];
}

const TEST_PATH = /(^|\/)(test|tests|__tests__|__mocks__|spec|specs|e2e|__fixtures__|testing|test-utils|test-helpers|testutils)\//;
const TEST_NAME = /(\.|_|-)(test|spec|e2e|stories)\.[cm]?[jt]sx?$|(^|\/)(test|spec|setup-?tests?|jest\.setup|vitest\.setup)\.[cm]?[jt]sx?$|(^|\/)(jest|vitest|playwright|cypress)\.config\.[cm]?[jt]s$/;
const TEST_PACKAGES = new Set(['vitest', '@jest/globals', 'node:test', 'test', 'mocha', 'chai', 'sinon', 'ava', 'tap', 'uvu', 'supertest', 'jest', 'jest-mock', 'testdouble', '@playwright/test']);

export function isTestPath(rel: string): boolean {
  return TEST_PATH.test(rel) || TEST_NAME.test(rel);
}

const MAX_TEXT = 1024 * 1024;

export function typescriptPlugin(): LanguagePlugin<TsFileData> {
  let t: TS | undefined;
  let resolver: Resolver | undefined;
  let resolverFor: WorkspaceView | undefined;

  const resolverOf = (ws: WorkspaceView): Resolver => {
    if (!resolver || resolverFor !== ws) {
      resolver = new Resolver(t!, ws);
      resolverFor = ws;
    }
    return resolver;
  };

  return {
    id: 'typescript',
    extensions: ['.ts', '.tsx', '.mts', '.cts', '.js', '.jsx', '.mjs', '.cjs'],
    async init() {
      t = typescript();
    },
    beginPass() {
      resolver?.newPass();
    },
    // The resolver reads these beside the sources (module format, paths, baseUrl); a lock file
    // stands for the packages in node_modules, which the walk does not enter.
    configFiles: /^(package\.json|[tj]sconfig(\..+)?\.json|package-lock\.json|yarn\.lock|pnpm-lock\.yaml)$/,
    analyze(file: SourceFile, ws: WorkspaceView): FileAnalysis<TsFileData> {
      t ??= typescript();
      const empty: TsFileData = { test: false, format: 'cjs', hasDefaultExport: false, captures: [], patches: [], placeholders: [], placeholderImports: [] };
      if (/\.d\.[cm]?ts$/i.test(file.path)) return { findings: [], keys: [], data: empty };
      if (file.text.length > MAX_TEXT) return { findings: [], keys: [], data: empty, skipped: true, notes: ['skipped, too large to parse'] };
      // Minified bundles are generated code: one enormous line says so.
      if (file.text.length > 20000 && file.text.split('\n', 50).some((l) => l.length > 5000)) {
        return { findings: [], keys: [], data: empty, skipped: true, notes: ['skipped, looks minified (lines over 5,000 characters)'] };
      }
      const sf = parse(t, file.path, file.text);
      const errors = syntaxErrors(sf);
      if (errors.length) {
        return { findings: [], keys: [], data: empty, skipped: true, notes: [`skipped, syntax error at line ${errors[0].line}: ${errors[0].message}`] };
      }
      const res = resolverOf(ws);
      const notes: string[] = [];
      const findings: Finding[] = [];
      const guard = <T>(what: string, fallback: T, run: () => T): T => {
        try {
          return run();
        } catch (e) {
          notes.push(`${what} skipped: ${(e as Error).message}`);
          return fallback;
        }
      };
      const testByPath = isTestPath(file.rel);
      const facts = guard('imports', undefined, () =>
        extractImportFacts(t!, sf, file.path, res, (specs) => testByPath || specs.some((s) => s.startsWith('pkg:') && TEST_PACKAGES.has(s.slice(4)))),
      );
      const test = facts?.test ?? testByPath;
      if (facts?.patchError) notes.push(`imports skipped: ${facts.patchError}`);
      const format = res.moduleFormat(file.path, facts?.hasEsmSyntax ?? false);
      const vitest = !!facts?.specifiers.includes('pkg:vitest');

      const patches: PatchInfo[] = (facts?.patches ?? []).map((p) => ({ ...p }));
      for (const p of patches) {
        const ns = namespacePatchFinding(file.path, p, vitest, format);
        if (ns) {
          findings.push(ns.finding);
          if (ns.throws) p.broken = true;
        }
      }
      findings.push(...guard('missing-commit', [] as Finding[], () => missingCommitFindings(t!, sf, file.path)));
      const placeholders = guard('placeholder-session', [] as PlaceholderDef[], () => findPlaceholders(t!, sf));

      const placeholderImports: PlaceholderImport[] = [];
      for (const b of facts?.bindings ?? []) {
        if (b.typeOnly) continue;
        const module = res.resolve(b.specifier, file.path) ?? 'pkg:' + b.specifier;
        if (module.startsWith('pkg:')) continue;
        const pos = sf.getLineAndCharacterOfPosition(b.node.getStart(sf));
        const at = { line: pos.line + 1, column: pos.character + 1 };
        if (b.kind === 'named' && b.imported && dbishName(b.imported)) placeholderImports.push({ module, name: b.imported, local: b.local, ...at });
        else if (b.kind !== 'named' && (dbishName(b.local) || dbishName(basename(b.specifier)))) {
          placeholderImports.push({ module, name: '*', local: b.local, ...at }, { module, name: 'default', local: b.local, ...at });
        }
      }
      for (const c of facts?.loadCaptures ?? []) {
        if (!c.module.startsWith('pkg:') && dbishName(c.name)) placeholderImports.push({ module: c.module, name: c.name, local: c.local, line: c.line, column: c.column });
      }

      const data: TsFileData = {
        test,
        format,
        hasDefaultExport: facts?.hasDefaultExport ?? false,
        captures: facts?.captures ?? [],
        patches,
        placeholders,
        placeholderImports,
      };
      const keys = new Set<string>();
      for (const c of data.captures) keys.add(`value:${c.module}#${c.name}`);
      for (const p of patches) keys.add(`value:${p.module}#${p.name}`);
      for (const d of placeholders) for (const name of d.exportedAs) keys.add(`ph:${file.path}#${name}`);
      for (const i of placeholderImports) keys.add(`ph:${i.module}#${i.name}`);
      return { findings, keys: [...keys], data, notes: notes.length ? notes : undefined };
    },
    syntaxErrorCount(path: string, text: string): number {
      t ??= typescript();
      return syntaxErrors(parse(t, path, text)).length;
    },
    link(file: LinkedFile<TsFileData>, ctx: LinkContext<TsFileData>): Finding[] {
      const out: Finding[] = [];
      if (!file.data) return out;
      for (const p of file.data.patches) {
        if (p.broken) continue;
        const f = stalePatchFinding(file, p, ctx);
        if (f) out.push(f);
      }
      out.push(...placeholderFindings(file, ctx));
      return out;
    },
  };
}

const API_TEXT: Record<string, string> = {
  'jest.spyOn': 'jest.spyOn',
  'vi.spyOn': 'vi.spyOn',
  'mock.method': 'mock.method',
  sinon: 'the stub',
  assignment: 'the assignment',
  spyOn: 'spyOn',
};

/**
 * A patch through an ES module namespace: the namespace's properties cannot be redefined.
 * `throws`: the patch itself raises a TypeError (the test's own patch marks nothing else broken).
 * A warning even then: from the source alone, static findings are at most warnings.
 */
function namespacePatchFinding(file: string, p: Patch, vitest: boolean, format: 'esm' | 'cjs'): { finding: Finding; throws: boolean } | undefined {
  if (p.via !== 'namespace') return undefined;
  const base = { rule: 'stale-import-patch', location: { file, line: p.line, column: p.column }, related: p.bindingLine ? [{ file, line: p.bindingLine, message: `\`import * as\` namespace of '${p.specifier}'` }] : [], fixes: [] as Fix[] };
  if (p.api === 'vi.spyOn' || (vitest && p.api !== 'assignment')) {
    if (p.module.startsWith('pkg:')) {
      return {
        throws: true,
        finding: {
          ...base,
          severity: 'warning',
          message: `${API_TEXT[p.api]} on the namespace of '${p.specifier}' cannot work: Vitest loads that package as a native ES module, whose exports cannot be redefined (TypeError: Cannot redefine property: ${p.name}). Mock the module instead: vi.mock('${p.specifier}', async (importOriginal) => ({ ...(await importOriginal()), ${p.name}: vi.fn() })).`,
        },
      };
    }
    return {
      throws: false,
      finding: {
        ...base,
        severity: 'warning',
        message: `${API_TEXT[p.api]} on an ES module namespace ('${p.specifier}') replaces \`${p.name}\` only while Vitest transforms that module in Node: it throws in browser mode and when the module is externalized, and calls to \`${p.name}\` from inside '${p.specifier}' itself never see it. vi.mock('${p.specifier}', …) replaces the export for every importer.`,
      },
    };
  }
  if (format === 'esm') {
    return {
      throws: true,
      finding: {
        ...base,
        severity: 'warning',
        message: `This test runs as a native ES module, and ${API_TEXT[p.api]} cannot replace \`${p.name}\` on the namespace of '${p.specifier}': namespace exports are read-only (TypeError). Mock the module (jest.unstable_mockModule, mock.module in node:test) before importing the code under test.`,
      },
    };
  }
  return undefined;
}

function stalePatchFinding(file: LinkedFile<TsFileData>, p: PatchInfo, ctx: LinkContext<TsFileData>): Finding | undefined {
  if (p.via === 'default' && !p.module.startsWith('pkg:')) {
    // `import db from './db'` is module.exports only for a CommonJS module without its own default export.
    const target = ctx.file(p.module);
    if (target?.data.hasDefaultExport) return undefined;
  }
  const escaped: Array<{ file: LinkedFile<TsFileData>; capture: Capture }> = [];
  for (const other of ctx.filesWithKey(`value:${p.module}#${p.name}`)) {
    for (const c of other.data.captures) {
      if (c.module !== p.module || c.name !== p.name) continue;
      // The patching module's own copy, which it assigns again itself (node-postgres's test helper:
      // `Client = require('./native'); helper.Client = Client`): what it holds is its own choice.
      if (other.path === file.path && c.reassigned) continue;
      escaped.push({ file: other, capture: c });
    }
  }
  if (escaped.length === 0) return undefined;
  escaped.sort((a, b) => Number(a.file.data.test) - Number(b.file.data.test) || byCodePoint(a.file.rel, b.file.rel) || a.capture.line - b.capture.line);
  const related = escaped.map(({ file: f, capture: c }) => ({
    file: f.path,
    line: c.line,
    message: `${describeCapture(c)}: ${c.uses === 1 ? 'its call-time use' : `its ${c.uses} call-time uses`} of \`${c.local}\` still ${c.uses === 1 ? 'reaches' : 'reach'} the original ${p.name}`,
  }));
  const fixable = escaped.filter((e) => e.capture.lookupFix);
  const fixes: Fix[] = [];
  // One fix per importing statement (several captured names can share one).
  const unique = new Map<string, { file: LinkedFile<TsFileData>; capture: Capture }>();
  for (const e of fixable) unique.set(`${e.file.path}:${e.capture.lookupFix!.title}:${e.capture.lookupFix!.edits[0].startLine}`, e);
  const list = [...unique.values()];
  if (list.length > 1) {
    fixes.push({ title: `Look \`${p.name}\` up at call time in all ${list.length} importing modules`, edits: list.flatMap((e) => e.capture.lookupFix!.edits), preferred: true });
  }
  list.forEach((e, i) => fixes.push({ title: `${e.capture.lookupFix!.title} in ${e.file.rel}`, edits: e.capture.lookupFix!.edits, preferred: list.length === 1 && i === 0 ? true : undefined }));
  const unfixable = escaped.filter((e) => !e.capture.lookupFix);
  const where = escaped.map((e) => `${e.file.rel}:${e.capture.line}`).join(', ');
  let message =
    `${API_TEXT[p.api]} replaces \`${p.name}\` on the module object of '${p.specifier}', but ${escaped.length === 1 ? 'a module' : `${escaped.length} modules`} copied \`${p.name}\` when ${escaped.length === 1 ? 'it' : 'they'} loaded (${where}) and keep calling the original: the patch misses them. ` +
    'JavaScript cannot patch another module\'s local binding, so the fix is in the importing module: keep the module object and call `' +
    `${escaped[0].capture.specifier === p.specifier ? 'mod' : 'mod'}.${p.name}(…)\` at call time.`;
  message = message.replace('`mod.', '`<module>.');
  if (unfixable.length) message += ` No automatic edit for ${unfixable.map((e) => `${e.file.rel}:${e.capture.line} (${e.capture.noFixReason})`).join(', ')}.`;
  return { rule: 'stale-import-patch', severity: 'warning', message, location: { file: file.path, line: p.line, column: p.column }, related, fixes };
}

function describeCapture(c: Capture): string {
  switch (c.how) {
    case 'destructured require':
      return `\`const { ${c.name === c.local ? c.name : `${c.name}: ${c.local}`} } = require('${c.specifier}')\` copied ${c.name} at load`;
    case 'require().name':
      return `\`const ${c.local} = require('${c.specifier}').${c.name}\` copied ${c.name} at load`;
    case 'destructured module':
      return `destructuring ${c.name} from the '${c.specifier}' module object copied it at load`;
    default:
      return `\`${c.local}\` took the value of ${c.name} from '${c.specifier}' at load`;
  }
}

function placeholderFindings(file: LinkedFile<TsFileData>, ctx: LinkContext<TsFileData>): Finding[] {
  const out: Finding[] = [];
  // Definitions in this file: who outside tests uses them?
  for (const d of file.data.placeholders) {
    // A fake class whose instance is exported here is reported once, at the instance.
    if (file.data.placeholders.some((o) => o !== d && o.why === `an instance of ${d.name}`)) continue;
    const users: Array<{ file: string; rel: string; line: number }> = [];
    for (const name of d.exportedAs) {
      for (const other of ctx.filesWithKey(`ph:${file.path}#${name}`)) {
        if (other.data.test || other.path === file.path) continue;
        for (const i of other.data.placeholderImports) if (i.module === file.path && i.name === name) users.push({ file: other.path, rel: other.rel, line: i.line });
      }
    }
    const localUses = file.data.test ? [] : d.usedAt;
    if (file.data.test && users.length === 0) continue;
    const usedByApp = users.length > 0 || localUses.length > 0;
    if (file.data.test) continue; // a test-side definition is reported where application code imports it
    const related = [
      ...dedupeBy(users, (u) => `${u.file}:${u.line}`).map((u) => ({ file: u.file, line: u.line, message: `application code uses ${d.name} here` })),
      ...[...new Set(localUses)].map((line) => ({ file: file.path, line, message: `used here` })),
    ];
    out.push({
      rule: 'placeholder-session',
      severity: 'warning',
      message: usedByApp
        ? `${d.name} stands in for a database session (${d.why}) and application code uses it: whatever runs through it never reaches the database. Use the real session/client here and keep the fake under test/.`
        : `${d.name} stands in for a database session (${d.why}) but lives in application code: move it next to the tests so nothing ships with it.`,
      location: { file: file.path, line: d.line, column: d.column },
      related,
      fixes: [],
    });
  }
  // Imports of a test-side placeholder from application code.
  if (!file.data.test) {
    for (const i of file.data.placeholderImports) {
      // The definer is the imported module itself: one lookup, not a scan of every importer sharing the key.
      const other = ctx.file(i.module);
      if (other?.data.test && other.data.placeholders.length) {
        const def = other.data.placeholders.find((d) => d.exportedAs.includes(i.name));
        if (!def) continue;
        out.push({
          rule: 'placeholder-session',
          severity: 'warning',
          message: `Application code imports ${def.name}, a stand-in for a database session defined in test code (${other.rel}: ${def.why}): in production this module talks to no database.`,
          location: { file: file.path, line: i.line, column: i.column },
          related: [{ file: other.path, line: def.line, message: `${def.name} is defined here` }],
          fixes: [],
        });
      }
    }
  }
  return out;
}

function dedupeBy<T>(xs: T[], key: (x: T) => string): T[] {
  const m = new Map<string, T>();
  for (const x of xs) if (!m.has(key(x))) m.set(key(x), x);
  return [...m.values()];
}
