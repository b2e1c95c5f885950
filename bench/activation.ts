// Activation cost of the extension's own code: loading dist/extension.js and
// running activate(), in a fresh Node process each time (a cold require, as
// in a real extension host), without VS Code.
//
// VS Code itself is not here, so `vscode` is a minimal stand-in injected
// through Module._resolveFilename: it answers the calls activate() makes and
// does no work. That is acceptable only because this measures our code's
// load and activate time; the extension's behaviour is tested in a real VS
// Code elsewhere. Also checks that activation did not load the engine bundle.
//
// Usage: node esbuild.mjs --tests && node out/bench/activation.js [runs=21]
// Prints the median over the runs against the 50 ms budget, the ratio and
// PASS/FAIL; exits 0 either way (a measurement, not a test).
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';

const BUDGET_MS = 50;

function findRoot(): string {
  for (let dir = __dirname; dirname(dir) !== dir; dir = dirname(dir)) if (existsSync(join(dir, 'dist', 'extension.js'))) return dir;
  throw new Error('dist/extension.js not found: run `node esbuild.mjs --tests` first');
}

/** Any property is a no-op function that returns another stand-in; `new` works too. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a stand-in that answers to every property of the vscode API
function anything(): any {
  const fn = function () {
    return anything();
  };
  return new Proxy(fn, {
    get: (target, key) => (key === Symbol.toPrimitive ? () => '' : key === 'then' ? undefined : anything()),
    construct: () => anything(),
  });
}

function standIn(workspace: string): unknown {
  const event = () => ({ dispose() {} });
  const disposable = { dispose() {} };
  return {
    EventEmitter: class {
      event = event;
      fire() {}
      dispose() {}
    },
    ThemeColor: class {
      constructor(readonly id: string) {}
    },
    Range: class {},
    Position: class {},
    CodeActionKind: { QuickFix: 'quickfix' },
    DecorationRangeBehavior: { ClosedClosed: 1 },
    StatusBarAlignment: { Left: 1, Right: 2 },
    DiagnosticSeverity: { Error: 0, Warning: 1, Information: 2, Hint: 3 },
    TestRunProfileKind: { Run: 1, Debug: 2, Coverage: 3 },
    ProgressLocation: { Notification: 15, Window: 10 },
    Uri: { file: (p: string) => ({ fsPath: p, scheme: 'file', toString: () => `file://${p}` }), parse: (s: string) => ({ toString: () => s }) },
    window: {
      createOutputChannel: () => ({ append() {}, appendLine() {}, show() {}, dispose() {} }),
      createStatusBarItem: () => ({ show() {}, hide() {}, dispose() {} }),
      createTextEditorDecorationType: () => disposable,
      onDidChangeVisibleTextEditors: event,
      visibleTextEditors: [],
      activeTextEditor: undefined,
    },
    workspace: {
      isTrusted: true,
      workspaceFolders: [{ uri: { fsPath: workspace, scheme: 'file' }, name: 'bench', index: 0 }],
      textDocuments: [],
      getConfiguration: () => ({ get: () => undefined }),
      getWorkspaceFolder: () => undefined,
      onDidCloseTextDocument: event,
      onDidOpenTextDocument: event,
      onDidSaveTextDocument: event,
      onDidChangeTextDocument: event,
      onDidGrantWorkspaceTrust: event,
      onDidChangeConfiguration: event,
    },
    languages: {
      createDiagnosticCollection: () => ({ set() {}, delete() {}, clear() {}, forEach() {}, dispose() {} }),
      registerCodeLensProvider: () => disposable,
      registerHoverProvider: () => disposable,
      registerCodeActionsProvider: () => disposable,
    },
    commands: { registerCommand: () => disposable, executeCommand: async () => undefined },
    tests: {
      createTestController: () => ({ items: anything(), createRunProfile: () => disposable, dispose() {} }),
    },
  };
}

function child(root: string, bundle: string): void {
  const workspace = mkdtempSync(join(tmpdir(), 'txlens-activation-'));
  const vscode = standIn(workspace);
  const M = Module as unknown as { _resolveFilename: (req: string, ...rest: unknown[]) => string; _cache: Record<string, unknown> };
  const original = M._resolveFilename;
  M._resolveFilename = function (req: string, ...rest: unknown[]) {
    return req === 'vscode' ? 'vscode' : original.call(this, req, ...rest);
  };
  require.cache.vscode = { id: 'vscode', filename: 'vscode', loaded: true, exports: vscode } as unknown as NodeJS.Module;
  const context = {
    subscriptions: [] as { dispose(): void }[],
    extensionPath: root,
    environmentVariableCollection: { clear() {}, replace() {}, prepend() {}, append() {}, description: '' },
  };
  // The extension host's module loader is warm when our turn comes: warm this one too, off the clock.
  const warm = join(workspace, 'warm.js');
  writeFileSync(warm, 'module.exports = 1;\n');
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the benchmark measures require() itself
  require(warm);
  const t0 = performance.now();
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the benchmark measures require() itself
  const ext = require(bundle) as { activate(c: unknown): unknown };
  const t1 = performance.now();
  ext.activate(context);
  const t2 = performance.now();
  const engineLoaded = Object.keys(require.cache).some((k) => k.endsWith(join('dist', 'engine.js')));
  for (const d of context.subscriptions) d.dispose();
  rmSync(workspace, { recursive: true, force: true });
  process.stdout.write(JSON.stringify({ load: t1 - t0, activate: t2 - t1, engineLoaded }) + '\n');
  process.exit(0);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function main(): void {
  const root = findRoot();
  if (process.argv[2] === '--child') return child(root, process.argv[3]);
  const runs = Math.max(1, Number.parseInt(process.argv[2] ?? '21', 10) || 21);
  const samples: { load: number; activate: number; engineLoaded: boolean }[] = [];
  // A private copy: a rebuild of dist/ during the runs must not change what is measured.
  const snapshot = mkdtempSync(join(tmpdir(), 'txlens-activation-bundle-'));
  const bundle = join(snapshot, 'extension.js');
  copyFileSync(join(root, 'dist', 'extension.js'), bundle);
  for (let i = 0; i < runs; i++) {
    const r = spawnSync(process.execPath, [__filename, '--child', bundle], { encoding: 'utf8' });
    if (r.status !== 0) {
      process.stderr.write(`activation run failed:\n${r.stderr}\n`);
      process.exit(2);
    }
    samples.push(JSON.parse(r.stdout.trim().split('\n').pop()!));
  }
  const total = samples.map((s) => s.load + s.activate);
  const med = median(total);
  const kb = (f: string) => `${(statSync(join(root, 'dist', f)).size / 1024).toFixed(0)} KB`;
  const minified = readFileSync(bundle, 'utf8').split('\n').length < 50;
  const measuredKb = `${(statSync(bundle).size / 1024).toFixed(0)} KB`;
  const ratio = med / BUDGET_MS;
  const lines = [
    `activation (fresh process each, ${runs} runs, ${minified ? 'production' : 'development'} build): dist/extension.js ${measuredKb}, dist/engine.js ${kb('engine.js')} (not loaded at activation: ${samples.every((s) => !s.engineLoaded) ? 'yes' : 'NO'})`,
    `  load     median ${median(samples.map((s) => s.load)).toFixed(2)} ms`,
    `  activate median ${median(samples.map((s) => s.activate)).toFixed(2)} ms`,
    `  total    median ${med.toFixed(2)} ms, min ${Math.min(...total).toFixed(2)}, max ${Math.max(...total).toFixed(2)}`,
    `  budget ${BUDGET_MS} ms: ratio ${ratio.toFixed(3)} ${ratio <= 1 && samples.every((s) => !s.engineLoaded) ? 'PASS' : 'FAIL'}`,
  ];
  rmSync(snapshot, { recursive: true, force: true });
  process.stdout.write(lines.join('\n') + '\n');
}

main();
