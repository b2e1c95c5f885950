// The CLI loads dist/engine.js through V8's code cache (src/cache/code-cache.ts). A cache
// must only ever save time: the same exports and the same output with it, without it,
// with a cache that is corrupt or of another build.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getHeapStatistics } from 'node:v8';
import ts from 'typescript';
import { requireBundle } from '../../src/cache/code-cache';
import { cacheDir } from '../../src/cache/folder';
import { cliPath, repoRoot, tempDir } from '../support/env';

const HASH = '0123456789abcdef0123456789abcdef';

function bundle(dir: string, name: string, answer: number): string {
  const file = join(dir, name);
  // A CommonJS bundle that uses its scope: module, exports, require (relative and built-in), __dirname.
  writeFileSync(join(dir, 'helper.js'), 'exports.twice = (n) => 2 * n;\n');
  writeFileSync(
    file,
    `const path = require('node:path');\nconst { twice } = require('./helper');\nmodule.exports = { answer: () => twice(${answer}), here: path.basename(__dirname), self: path.basename(__filename) };\n`,
  );
  return file;
}

test('a bundle loads the same with the cache, without it, and from the cache on the next load', () => {
  const dir = tempDir('code-cache');
  const cache = join(dir, 'cache');
  const file = bundle(dir, 'engine.js', 21);
  type B = { answer(): number; here: string; self: string };
  const first = requireBundle<B>(file, HASH, cache);
  assert.deepEqual([first.exports.answer(), first.exports.self, first.fromCache], [42, 'engine.js', false]);
  assert.equal(first.exports.here, dir.split('/').pop());
  first.saveCache();
  const written = readdirSync(cache);
  assert.equal(written.length, 1);
  assert.match(written[0], /^engine\.js-0123456789abcdef0123456789abcdef-\d+-\d+-/);
  const second = requireBundle<B>(file, HASH, cache);
  assert.equal(second.fromCache, true);
  assert.equal(second.exports.answer(), 42);
  second.saveCache(); // nothing to write
  assert.deepEqual(readdirSync(cache), written);

});

test('another build of the bundle never meets the old cache; old caches are pruned to a few', () => {
  const dir = tempDir('code-cache-builds');
  const cache = join(dir, 'cache');
  for (let build = 1; build <= 6; build++) {
    const file = bundle(dir, 'engine.js', 100 + build);
    const hash = `${String(build).repeat(16)}`;
    const loaded = requireBundle<{ answer(): number }>(file, hash, cache);
    assert.equal(loaded.fromCache, false, `build ${build}`);
    assert.equal(loaded.exports.answer(), 2 * (100 + build));
    loaded.saveCache();
  }
  assert.ok(readdirSync(cache).length <= 4, readdirSync(cache).join(', '));
});

test('no build hash, an unusable folder, or TXLENS_CACHE_DIR=off: a plain require', () => {
  const dir = tempDir('code-cache-plain');
  const file = bundle(dir, 'plain.js', 1);
  assert.equal(requireBundle<{ answer(): number }>(file, undefined, join(dir, 'c1')).exports.answer(), 2);
  writeFileSync(join(dir, 'a-file'), '');
  const inFile = requireBundle<{ answer(): number }>(file, HASH, join(dir, 'a-file', 'cache'));
  assert.deepEqual([inFile.exports.answer(), inFile.fromCache], [2, false]);
  inFile.saveCache();
  assert.equal(cacheDir({ TXLENS_CACHE_DIR: 'off' }), undefined);
  assert.equal(cacheDir({ TXLENS_CACHE_DIR: '/x/y' }), '/x/y');
  assert.equal(cacheDir({ XDG_CACHE_HOME: '/xdg' }), '/xdg/txlens');
});

test('txlens prints the same with a cold cache, a warm one, and none', () => {
  const cache = join(tempDir('code-cache-cli'), 'cache');
  const root = join(repoRoot, 'test', 'fixtures', 'static', 'python');
  const check = (dir: string) => {
    const r = spawnSync(process.execPath, [cliPath, 'check', '--json', '--fail-on', 'never', '--root', root], { encoding: 'utf8', cwd: root, env: { ...process.env, TXLENS_CACHE_DIR: dir } });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
  };
  const cold = check(cache);
  const written = readdirSync(cache).filter((n) => n.startsWith('engine.js-'));
  assert.equal(written.length, 1);
  // The Python rules ran (tree-sitter's wasm loads through a dynamic import inside the bundle).
  const doc = JSON.parse(cold);
  assert.ok(doc.findings.some((f: { rule: string }) => f.rule === 'stale-import-patch'), cold);
  assert.ok(!(doc.notes ?? []).some((n: string) => /skipped|failed/.test(n)), cold);
  // The next run takes the engine from that cache: a rejected cache (V8 flags set after the
  // bundle loads, say) would be written anew, as another file in the same place.
  const written0 = statSync(join(cache, written[0]));
  assert.equal(check(cache), cold);
  const again = statSync(join(cache, written[0]));
  assert.deepEqual([again.ino, again.mtimeMs], [written0.ino, written0.mtimeMs]);
  assert.equal(check('off'), cold);
  // A corrupt cache: V8 rejects it, the engine loads from source, the cache is written anew.
  writeFileSync(join(cache, written[0]), 'not a code cache');
  assert.equal(check(cache), cold);
  assert.notEqual(readFileSync(join(cache, written[0]), 'utf8'), 'not a code cache');
});

/** The source text of every `import(` call in a script, found with the TypeScript scanner (strings and comments skipped). */
function dynamicImports(text: string): string[] {
  const K = ts.SyntaxKind;
  const scanner = ts.createScanner(ts.ScriptTarget.Latest, true, ts.LanguageVariant.Standard, text);
  // After these a slash divides; elsewhere it starts a regular expression.
  const operand = new Set([K.Identifier, K.CloseParenToken, K.CloseBracketToken, K.NumericLiteral, K.StringLiteral, K.ThisKeyword]);
  const templateBraces: number[] = [];
  const out: string[] = [];
  let prev: ts.SyntaxKind | undefined;
  let prevPos = 0;
  for (let k = scanner.scan(); k !== K.EndOfFileToken; k = scanner.scan()) {
    if (k === K.TemplateHead) templateBraces.push(0);
    else if (k === K.OpenBraceToken && templateBraces.length) templateBraces[templateBraces.length - 1]++;
    else if (k === K.CloseBraceToken && templateBraces.length) {
      if (templateBraces[templateBraces.length - 1] === 0) {
        k = scanner.reScanTemplateToken(false);
        if (k === K.TemplateTail) templateBraces.pop();
      } else templateBraces[templateBraces.length - 1]--;
    } else if ((k === K.SlashToken || k === K.SlashEqualsToken) && (prev === undefined || !operand.has(prev))) k = scanner.reScanSlashToken();
    if (k === K.OpenParenToken && prev === K.ImportKeyword) out.push(text.slice(prevPos, text.indexOf(')', prevPos) + 1));
    prev = k;
    prevPos = scanner.getTokenPos();
  }
  return out;
}

test('the engine bundle makes no import() the engine reaches (a code-cached bundle could not)', () => {
  const engine = readFileSync(join(repoRoot, 'dist', 'engine.js'), 'utf8');
  // web-tree-sitter's Language.load reads a path with one; src/static/wasm.ts hands it the bytes instead.
  assert.deepEqual(dynamicImports(engine), ['import("fs/promises")']);
  assert.deepEqual(dynamicImports('const a = "import(x)"; // import(y)\nconst b = /import(z)/; f(`${import("t")}`);'), ['import("t")']);
});

test("a long ASCII bundle is compiled where Node keeps its text, outside V8's heap; a UTF-8 one loads as text", () => {
  const dir = tempDir('code-cache-heap');
  const cache = join(dir, 'cache');
  // 4 MB of comment: the text is what counts, not what it runs.
  const big = join(dir, 'big.js');
  writeFileSync(big, `/* ${'x'.repeat(4 * 1024 * 1024)} */\nmodule.exports = { answer: () => 42 };\n`);
  const heapUsed = () => getHeapStatistics().used_heap_size;
  const before = heapUsed();
  const loaded = requireBundle<{ answer(): number }>(big, HASH, cache);
  const grown = heapUsed() - before;
  assert.equal(loaded.exports.answer(), 42);
  assert.ok(grown < 1024 * 1024, `the heap grew by ${grown} bytes for a 4 MB bundle`);
  const utf8 = join(dir, 'utf8.js');
  writeFileSync(utf8, "module.exports = { word: () => 'caf\u00e9 \u2014 \u{1F600}', self: __filename };\n");
  for (const fromCache of [false, true]) {
    const b = requireBundle<{ word(): string; self: string }>(utf8, HASH, cache);
    assert.deepEqual([b.exports.word(), b.exports.self, b.fromCache], ['caf\u00e9 \u2014 \u{1F600}', utf8, fromCache]);
    b.saveCache();
  }
});

// Last in this file: V8 flags, once set, stay set for the rest of the process.
test('V8 flags given to the loader are set before the bundle compiles and name its cache', () => {
  const dir = tempDir('code-cache-flags');
  const cache = join(dir, 'cache');
  const file = bundle(dir, 'engine.js', 8);
  const flags = '--interrupt-budget=270336';
  const first = requireBundle<{ answer(): number }>(file, HASH, cache, flags);
  assert.deepEqual([first.exports.answer(), first.fromCache], [16, false]);
  first.saveCache();
  assert.deepEqual(
    readdirSync(cache).map((n) => n.endsWith('-interrupt-budget=270336.cache')),
    [true],
  );
  // Made and read under the same flags: V8 takes it.
  const second = requireBundle<{ answer(): number }>(file, HASH, cache, flags);
  assert.deepEqual([second.exports.answer(), second.fromCache], [16, true]);
});
