// `npm test`: everything the test suite needs, from a fresh clone.
// Installs node packages when missing, builds and type-checks, prepares both
// Python environments, starts one throwaway PostgreSQL for the whole run, runs
// `node --test` over out/test (or over the paths given: `npm test -- out/test/agent`),
// then stops PostgreSQL whatever happened and exits with the test run's code.
// The shared pieces reach the test processes through the environment
// (TXLENS_TEST_PG_URL, TXLENS_TEST_PY_SA14, TXLENS_TEST_PY_SA20), see test/support/env.ts.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureEmbeddedSymlinks, startPostgres } from './pg-server.mjs';
import { ensurePythonEnvs } from './python-env.mjs';
import { lint } from './lint.mjs';
import { npmCi, RUNNER_PACKAGES } from './npm-ci.mjs';
import { OsPackagesMissing, ensureChromium, installOsPackages, ripgrepWanted } from './os-packages.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';

function say(message) {
  process.stderr.write(`txlens test: ${message}\n`);
}

function step(what, cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    say(`${what} failed (${[cmd, ...args].join(' ')})`);
    process.exit(r.status ?? 1);
  }
}

if (!existsSync(resolve(root, 'node_modules'))) {
  say('installing node packages (npm ci)…');
  if (npmCi() !== 0) {
    say('npm ci failed');
    process.exit(1);
  }
}

for (const dir of RUNNER_PACKAGES) {
  if (existsSync(resolve(dir, 'node_modules'))) continue;
  say(`installing the test runner in ${relative(root, dir)} (npm ci)…`);
  if (npmCi(dir) !== 0) {
    say('npm ci failed');
    process.exit(1);
  }
}

say('building…');
step('build', process.execPath, ['esbuild.mjs', '--tests']);
say('type-checking…');
step('type-check', npx, ['tsc', '--noEmit', '-p', '.']);
// The timeline page is its own program (browser types): src/report/page/tsconfig.json.
step('type-check of the timeline page', npx, ['tsc', '--noEmit', '-p', 'src/report/page']);
say('linting…');
if (!lint({ say })) {
  say('lint failed (npm run lint shows it again)');
  process.exit(1);
}

say('preparing Python environments…');
let pythons;
try {
  pythons = ensurePythonEnvs(['sa14', 'sa20', 'sa21']);
} catch (e) {
  say(e.message);
  process.exit(2);
}

say('starting Postgres…');
ensureEmbeddedSymlinks({ log: say });
let server;
try {
  server = await startPostgres({ log: say });
} catch (e) {
  say(e.message);
  process.exit(2);
}

let stopped = false;
function stopPostgres() {
  if (stopped) return;
  stopped = true;
  say('stopping Postgres…');
  server.stopSync();
}
process.on('exit', stopPostgres);

let child;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    // The test runner gets the signal too when it came from the terminal; make sure it ends before Postgres does.
    if (child && child.exitCode === null) child.kill(signal);
    stopPostgres();
    process.exit(128 + ({ SIGHUP: 1, SIGINT: 2, SIGTERM: 15 })[signal]);
  });
}

// node 20 runs every .js file under a directory it is given (helpers and
// fixtures included), so directories are expanded to their *.test.js files here.
// Options (e.g. --test-name-pattern=...) pass through.
function testFiles(path) {
  const full = resolve(root, path);
  if (!statSync(full).isDirectory()) return [path];
  return readdirSync(full, { recursive: true })
    .filter((f) => /\.test\.[cm]?js$/.test(f))
    .sort()
    .map((f) => join(path, f));
}
const given = process.argv.slice(2);
const options = given.filter((a) => a.startsWith('-'));
const paths = given.filter((a) => !a.startsWith('-'));
let files;
try {
  files = (paths.length ? paths : ['out/test']).flatMap(testFiles);
} catch (e) {
  say(e.message);
  process.exit(2);
}
if (files.length === 0) {
  say(`no *.test.js files under ${paths.join(' ') || 'out/test'}`);
  process.exit(2);
}
// The timeline's browser tests drive Chromium, and an editor test runs the
// Testing view's glob through ripgrep: install them before they start, so a
// fresh machine runs those tests instead of skipping them. Where they cannot be
// installed the tests say so and skip, except under CI, where that fails.
const needChromium = files.some((f) => /timeline-browser\.test\.js$/.test(f));
const needRipgrep = files.some((f) => /editor[\\/]locate\.test\.js$/.test(f));
if (needChromium || needRipgrep) {
  try {
    const also = needRipgrep ? ripgrepWanted() : [];
    if (needChromium) process.env.TXLENS_CHROMIUM ??= ensureChromium({ say, also });
    else installOsPackages(also, { say });
  } catch (e) {
    say(`${e.message}${e instanceof OsPackagesMissing ? '' : ' (the tests that need them will report it)'}`);
  }
}
const testArgs = ['--test', '--test-concurrency=2', ...options, ...files];
say(`running ${files.length} test file(s)…`);
const code = await new Promise((resolveCode) => {
  child = spawn(process.execPath, testArgs, {
    cwd: root,
    stdio: 'inherit',
    env: {
      ...process.env,
      TXLENS_TEST_PG_URL: server.url,
      TXLENS_TEST_PY_SA14: pythons.sa14,
      TXLENS_TEST_PY_SA20: pythons.sa20,
      TXLENS_TEST_PY_SA21: pythons.sa21,
    },
  });
  child.on('error', (e) => {
    say(`could not start node --test: ${e.message}`);
    resolveCode(1);
  });
  child.on('close', (status, signal) => resolveCode(status ?? (signal ? 1 : 0)));
});

stopPostgres();

// The in-editor suite: the extension in a real VS Code (code-server in headless
// Chromium, installed on demand by the script). Full runs only: `npm test --
// <paths or options>` asks for a subset. Exit 77 means this machine cannot run
// a browser at all (no Chromium and no way to install it).
let editorCode = 0;
if (given.length === 0) {
  say('running the in-editor suite (scripts/vscode-e2e.mjs)…');
  editorCode = await new Promise((resolveCode) => {
    child = spawn(process.execPath, ['scripts/vscode-e2e.mjs', '--no-build'], { cwd: root, stdio: 'inherit' });
    child.on('error', (e) => {
      say(`could not start scripts/vscode-e2e.mjs: ${e.message}`);
      resolveCode(1);
    });
    child.on('close', (status, signal) => resolveCode(status ?? (signal ? 1 : 0)));
  });
  if (editorCode === 77) {
    say('in-editor suite SKIPPED: this machine cannot run Chromium (see the reason above)');
    editorCode = 0;
  } else if (editorCode !== 0) {
    say(`in-editor suite failed (exit ${editorCode}); screenshots and logs in test-artifacts/vscode/`);
  }
}

const failed = code !== 0 ? code : editorCode;
say(failed === 0 ? 'all tests passed' : `tests failed (exit ${failed})`);
process.exit(failed);
