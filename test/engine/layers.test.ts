// The pure core: only the editor layer (src/editor) may import `vscode`;
// everything else runs and is tested in plain Node. This fails on the first
// module outside src/editor that imports it, statically or dynamically.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import ts from 'typescript';
import { repoRoot } from '../support/env';

const SOURCE = /\.(?:[cm]?ts|tsx|[cm]?js)$/;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => SOURCE.test(f) && !f.endsWith('.d.ts'))
    .map((f) => join(dir, f));
}

function importsOf(file: string): string[] {
  const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  return info.importedFiles.map((i) => i.fileName);
}

test('nothing outside src/editor imports vscode', () => {
  const src = join(repoRoot, 'src');
  const files = sourceFiles(src);
  assert.ok(files.length > 50, `expected the sources under ${src}`);
  const offenders = files
    .filter((f) => !relative(src, f).startsWith(`editor${sep}`))
    .filter((f) => importsOf(f).some((name) => name === 'vscode' || name.startsWith('vscode/')))
    .map((f) => relative(repoRoot, f));
  assert.deepEqual(offenders, []);
});

test('the check sees a vscode import where there is one', () => {
  // Guards the guard: the editor layer does import vscode, so the same reading must find it there.
  const editor = sourceFiles(join(repoRoot, 'src', 'editor'));
  assert.ok(editor.some((f) => importsOf(f).includes('vscode')));
});

/** Every module a file imports or re-exports, with whether only types come through. */
function importDeclarations(file: string): { name: string; typeOnly: boolean }[] {
  const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, false);
  const out: { name: string; typeOnly: boolean }[] = [];
  for (const st of sf.statements) {
    if ((ts.isImportDeclaration(st) || ts.isExportDeclaration(st)) && st.moduleSpecifier && ts.isStringLiteral(st.moduleSpecifier)) {
      const clause = ts.isImportDeclaration(st) ? st.importClause : st;
      const typeOnly = ts.isImportDeclaration(st)
        ? !!clause && (clause.isTypeOnly || (!clause.name && !!st.importClause?.namedBindings && ts.isNamedImports(st.importClause.namedBindings) && st.importClause.namedBindings.elements.every((e) => e.isTypeOnly)))
        : st.isTypeOnly;
      out.push({ name: st.moduleSpecifier.text, typeOnly });
    }
  }
  return out;
}

test('the editor reaches the engine bundle through its types only, and never imports the CLI', () => {
  // dist/engine.js is required at run time (src/editor/engineLoader.ts); a value import would
  // bundle the engine into the extension, and the CLI is a host of its own, not a layer below.
  const src = join(repoRoot, 'src');
  const editor = sourceFiles(join(src, 'editor'));
  const offenders: string[] = [];
  let engineImports = 0;
  for (const file of editor) {
    for (const { name, typeOnly } of importDeclarations(file)) {
      if (!name.startsWith('.')) continue;
      const target = relative(src, join(file, '..', name));
      const where = `${relative(repoRoot, file)} → ${name}`;
      if (target === 'cli' || target.startsWith(`cli${sep}`)) offenders.push(where);
      if (target === 'engine' || target.startsWith(`engine${sep}`)) {
        engineImports++;
        if (!typeOnly) offenders.push(`${where} (not type-only)`);
      }
    }
  }
  assert.deepEqual(offenders, []);
  // Guards the guard: the editor does use the engine's types.
  assert.ok(engineImports > 0);
});

/** The source file a relative import names, or undefined when none is found. */
function resolveSource(from: string, name: string): string | undefined {
  const base = join(from, '..', name);
  for (const candidate of [`${base}.ts`, join(base, 'index.ts'), base]) {
    try {
      if (readFileSync(candidate)) return candidate;
    } catch {
      // not this one
    }
  }
  return undefined;
}

/** Every source file `entry` reaches through relative imports (require() included), and the other modules they name. */
function reachedFrom(entry: string): { files: Set<string>; modules: Set<string> } {
  const files = new Set<string>([entry]);
  const modules = new Set<string>();
  for (const file of files) {
    for (const name of importsOf(file)) {
      if (!name.startsWith('.')) {
        modules.add(name);
        continue;
      }
      const target = resolveSource(file, name);
      assert.ok(target, `${relative(repoRoot, file)} imports ${name}, which was not found`);
      files.add(target);
    }
  }
  return { files, modules };
}

test("the Node agent's preload reaches only the cache folder's code and the trace's names, and only Node's built-ins", () => {
  // The preload is bundled on its own and loaded into every process of a traced test command,
  // most of which load no database driver: what it bundles, every one of them compiles. The code
  // cache it loads the agent through lives in src/cache, not in the CLI, for that reason.
  const src = join(repoRoot, 'src');
  const { files, modules } = reachedFrom(join(src, 'agents', 'node', 'preload.ts'));
  const allowed = (f: string) => f === join(src, 'agents', 'node', 'preload.ts') || f === join(src, 'trace', 'schema.ts') || relative(src, f).startsWith(`cache${sep}`);
  assert.deepEqual([...files].filter((f) => !allowed(f)).map((f) => relative(repoRoot, f)), []);
  assert.deepEqual([...modules].filter((m) => !m.startsWith('node:')), []);
  // Guards the guard: the code cache is reached, through the preload's require().
  assert.ok(files.has(join(src, 'cache', 'code-cache.ts')) && files.has(join(src, 'cache', 'folder.ts')));
});
