/**
 * Finds and loads the tree-sitter wasm files. The CLI and extension bundles
 * load them from beside themselves (esbuild.mjs copies them into dist/); tests
 * bundled into out/ and code run from src/ find them in dist/ or node_modules
 * further up. web-tree-sitter is pure JS + wasm, so it loads in the extension host.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type * as TreeSitter from 'web-tree-sitter';

export type Language = TreeSitter.Language;

let treeSitter: typeof TreeSitter | undefined;

/**
 * web-tree-sitter, loaded on first use: a run whose static results all come from the
 * cache (src/static/persist.ts) never evaluates it. require(), not import: bundlers then
 * pick the package's CommonJS build, which locates itself through __dirname; the ES
 * build needs import.meta.url, which a CommonJS bundle does not have.
 */
function webTreeSitter(): typeof TreeSitter {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  treeSitter ??= require('web-tree-sitter') as typeof TreeSitter;
  return treeSitter;
}

/** A new parser; call after the grammar it will use is loaded (loadLanguage). */
export function newParser(): TreeSitter.Parser {
  return new (webTreeSitter().Parser)();
}

/** dist/<name>, then node_modules/<pkg>/<name>, from the bundle's folder upwards. */
export function findWasm(name: string, pkg: string): string {
  const tried: string[] = [];
  for (let dir = __dirname; ; dir = dirname(dir)) {
    for (const candidate of [join(dir, name), join(dir, 'dist', name), join(dir, 'node_modules', pkg, name)]) {
      if (existsSync(candidate)) return candidate;
      tried.push(candidate);
    }
    if (dirname(dir) === dir) break;
  }
  throw new Error(`${name} not found (looked beside the program, in dist/ and node_modules/${pkg})`);
}

let runtime: Promise<void> | undefined;
const languages = new Map<string, Promise<Language>>();

/** The web-tree-sitter runtime, initialised once per process. */
export function treeSitterRuntime(): Promise<void> {
  runtime ??= webTreeSitter().Parser.init({
    locateFile: (file: string) => (file.endsWith('.wasm') ? findWasm('tree-sitter.wasm', 'web-tree-sitter') : file),
  });
  return runtime;
}

/** A grammar's Language, loaded once per process. */
export function loadLanguage(wasmName: string, pkg: string): Promise<Language> {
  let lang = languages.get(wasmName);
  if (!lang) {
    // The bytes, not the path: given a path, web-tree-sitter reads it through a dynamic import(),
    // which a bundle loaded from V8's code cache cannot make (src/cache/code-cache.ts).
    lang = treeSitterRuntime().then(() => webTreeSitter().Language.load(readFileSync(findWasm(wasmName, pkg))));
    languages.set(wasmName, lang);
  }
  return lang;
}
