// What every benchmark that runs a real suite sets up the same way: the build, a
// Python environment, a scratch folder removed at exit (and on Ctrl-C), a
// throwaway PostgreSQL with an empty database, and an environment with nothing
// of an outer traced run in it.
//
//   import { build, benchPostgres, cleanEnv, pythonEnv, say, scratchFolder } from './setup.mjs';
//   build();                                   // node esbuild.mjs (exits 2 when it fails)
//   const python = pythonEnv('sa20');          // the venv's python
//   const work = scratchFolder('txlens-bench-');
//   const url = await benchPostgres('postgresql+psycopg2'); // postgresql+psycopg2://…/txlens_bench
//   spawn(cmd, args, { env: { ...cleanEnv(), … } });
//
// Everything started here is stopped at exit; stopBenchPostgres() stops the server sooner.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startPostgres } from '../scripts/pg-server.mjs';
import { ensurePythonEnv } from '../scripts/python-env.mjs';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** The pytest suite the capture benchmarks run. */
export const captureSuite = join(root, 'bench', 'capture');
export const resultsDir = join(root, 'bench', 'results');

export function say(message) {
  process.stderr.write(`txlens bench: ${message}\n`);
}

/** Builds dist/ (extra arguments go to esbuild.mjs, e.g. '--tests'); exits 2 when the build fails. */
export function build(...args) {
  say('building…');
  if (spawnSync(process.execPath, ['esbuild.mjs', ...args], { cwd: root, stdio: 'inherit' }).status !== 0) {
    say('build failed');
    process.exit(2);
  }
}

/** The python of a test environment (sa14 or sa20), made when missing. */
export function pythonEnv(name) {
  return ensurePythonEnv(name);
}

const cleanUps = [];
let exitHooked = false;

function onExit(fn) {
  cleanUps.push(fn);
  if (exitHooked) return;
  exitHooked = true;
  const runAll = () => {
    for (const f of cleanUps.splice(0).reverse()) {
      try {
        f();
      } catch {
        // best effort: what is left behind lies in the system's temp folder
      }
    }
  };
  process.on('exit', runAll);
  for (const [signal, number] of [['SIGHUP', 1], ['SIGINT', 2], ['SIGTERM', 15]]) {
    process.on(signal, () => {
      runAll();
      process.exit(128 + number);
    });
  }
}

/** A new folder in the system's temp folder, removed at exit. */
export function scratchFolder(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onExit(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

let server;

/**
 * Starts a throwaway PostgreSQL (one at a time) with an empty database `txlens_bench` and
 * returns its URL with `scheme` (SQLAlchemy names the driver there: 'postgresql+psycopg2';
 * 'postgres' for node-postgres). Stopped at exit, or by stopBenchPostgres().
 */
export async function benchPostgres(scheme = 'postgres') {
  if (server) throw new Error('a benchmark Postgres is already running');
  say('starting Postgres…');
  server = await startPostgres({ log: say });
  onExit(stopBenchPostgres);
  const client = new pg.Client({ connectionString: server.url });
  await client.connect();
  try {
    await client.query('CREATE DATABASE txlens_bench');
  } finally {
    await client.end();
  }
  const url = new URL(server.url);
  url.pathname = '/txlens_bench';
  return url.href.replace(/^postgres(ql)?:/, `${scheme}:`);
}

export function stopBenchPostgres() {
  const s = server;
  server = undefined;
  s?.stopSync();
}

/**
 * The caller's environment without what would leak an outer traced run (or the
 * caller's shell set-up) into a measured one: TXLENS_*, PYTEST_PLUGINS, PYTHONPATH,
 * PYTHONDONTWRITEBYTECODE, NODE_OPTIONS, and any names given.
 */
export function cleanEnv(alsoDrop = []) {
  const drop = new Set(['PYTEST_PLUGINS', 'PYTHONPATH', 'PYTHONDONTWRITEBYTECODE', 'NODE_OPTIONS', ...alsoDrop]);
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TXLENS_') && !drop.has(k)));
}
