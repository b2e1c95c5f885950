// The Debian packages the browser-driven tests need (Chromium for the timeline
// page and the in-editor suite; the Kerberos headers and ripgrep to build
// code-server; ripgrep for an editor test too), installed with one
// `apt-get update` when they are missing.
// Shared by scripts/test.mjs, which makes sure Chromium is there before any
// suite that drives it starts, and scripts/vscode-e2e.mjs.
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';

export const CHROMIUM_CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

/** Exit status of a script that cannot run on this machine at all (scripts/test.mjs reports it as skipped). */
export const EXIT_CANNOT_RUN = 77;

export class OsPackagesMissing extends Error {
  constructor(message) {
    super(message);
    this.code = EXIT_CANNOT_RUN;
  }
}

export function onPath(name) {
  return spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).status === 0;
}

/** Debian's Chromium, or the one TXLENS_CHROMIUM names; null when there is none. */
export function findChromium() {
  const fromEnv = process.env.TXLENS_CHROMIUM;
  if (fromEnv) return existsSync(fromEnv) ? fromEnv : null;
  return CHROMIUM_CANDIDATES.find((p) => existsSync(p)) ?? null;
}

/** Packages a headless browser needs beyond itself: without any font pages render boxes. */
export function fontPackagesWanted() {
  const fonts = spawnSync('fc-list', [], { encoding: 'utf8' });
  return fonts.status === 0 && fonts.stdout.trim() === '' ? ['fonts-dejavu-core'] : [];
}

/**
 * Installs `wanted` with apt-get (through passwordless sudo when not root),
 * logging to `logFile`. Throws OsPackagesMissing when this machine cannot
 * install packages, and an Error naming the failed step otherwise.
 */
export function installOsPackages(wanted, { logFile, say = () => {} } = {}) {
  if (wanted.length === 0) return;
  const cannot = (why) => {
    throw new OsPackagesMissing(`needs the OS packages ${wanted.join(', ')} and ${why}; install them and run again`);
  };
  if (!onPath('apt-get')) cannot('this system has no apt-get');
  const sudo = process.getuid?.() === 0 ? [] : ['sudo', '-n'];
  if (sudo.length && (!onPath('sudo') || spawnSync('sudo', ['-n', 'true']).status !== 0)) {
    cannot('this user is not root and has no passwordless sudo');
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (logFile) writeFileSync(logFile, '');
  const aptGet = (what, args) => {
    const [cmd, ...rest] = [...sudo, 'apt-get', ...args];
    const r = spawnSync(cmd, rest, { env, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    if (logFile) writeFileSync(logFile, `$ ${[cmd, ...rest].join(' ')}\n${r.stdout ?? ''}${r.stderr ?? ''}\n`, { flag: 'a' });
    if (r.status !== 0) {
      const last = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').filter(Boolean).pop() ?? r.error?.message ?? '';
      throw new Error(`${what} failed (exit ${r.status ?? r.signal}): ${last.slice(0, 300)}${logFile ? ` (log: ${logFile})` : ''}`);
    }
  };
  say(`installing OS packages: ${wanted.join(' ')} (apt-get)…`);
  const t0 = Date.now();
  aptGet('apt-get update', ['update', '-q']);
  aptGet(`apt-get install ${wanted.join(' ')}`, ['install', '-y', '-q', '--no-install-recommends', ...wanted]);
  say(`OS packages installed in ${((Date.now() - t0) / 1000).toFixed(0)}s`);
}

/** ripgrep, when `rg` is not on PATH: VS Code finds files through it, and a test runs the Testing view's glob through it too. */
export function ripgrepWanted() {
  return onPath('rg') ? [] : ['ripgrep'];
}

/** Makes sure Chromium (and a font, and any packages in `also`, in the same apt-get run) is installed; returns its path. */
export function ensureChromium({ logFile, say, also = [] } = {}) {
  const wanted = [...(findChromium() ? [] : ['chromium']), ...fontPackagesWanted(), ...also];
  installOsPackages(wanted, { logFile, say });
  const path = findChromium();
  if (!path) throw new Error(`chromium installed but not found at ${CHROMIUM_CANDIDATES.join(' or ')}`);
  return path;
}
