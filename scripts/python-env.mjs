// Creates (once) the Python virtual environments the tests, the demo and the
// benchmarks run in: one per SQLAlchemy line we support. Each is keyed by a
// hash of its requirement files, so changing a pin rebuilds it and an
// unchanged one costs a stat. Usable as a module or as
// `node scripts/python-env.mjs [sa14|sa20|sa21 ...]` (prints name=python lines).
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const reqDir = join(root, 'test', 'python');
export const ENV_NAMES = ['sa14', 'sa20', 'sa21'];

function run(cmd, args, what) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) {
    const tail = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n');
    throw new Error(`${what} failed (${cmd} ${args.join(' ')}):\n${tail || r.error}`);
  }
}

function systemPython() {
  for (const candidate of [process.env.TXLENS_PYTHON, 'python3', 'python'].filter(Boolean)) {
    const r = spawnSync(candidate, ['-c', 'import sys; print(sys.version_info >= (3, 11))'], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim() === 'True') return candidate;
  }
  // The pins need it: FastAPI 0.165 and SQLAlchemy 2.1 require 3.11 (the agent itself runs on 3.8 and later).
  throw new Error('txlens needs Python 3.11 or newer on PATH (python3, or TXLENS_PYTHON) to set up its test environments');
}

/** Returns the path of the interpreter of environment `name`, creating it when missing or stale. */
export function ensurePythonEnv(name, { quiet = false } = {}) {
  // The test environments share the common pins; a tool environment (lint) has only its own.
  const files = [...(name.startsWith('sa') ? ['requirements-common.txt'] : []), `requirements-${name}.txt`].map((f) => join(reqDir, f));
  const text = files.map((f) => readFileSync(f, 'utf8')).join('\n');
  const key = createHash('sha256').update(text).digest('hex').slice(0, 16);
  const dir = join(root, '.txlens-dev', `venv-${name}`);
  const python = join(dir, 'bin', 'python');
  const stamp = join(dir, '.txlens-requirements');
  if (existsSync(python) && existsSync(stamp) && readFileSync(stamp, 'utf8') === key) return python;

  if (!quiet) process.stderr.write(`txlens: setting up Python environment ${name} (once, about a minute)...\n`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dirname(dir), { recursive: true });
  run(systemPython(), ['-m', 'venv', dir], `creating ${name} venv`);
  run(python, ['-m', 'pip', 'install', '--disable-pip-version-check', '-q', ...files.flatMap((f) => ['-r', f])], `installing ${name} packages`);
  writeFileSync(stamp, key);
  return python;
}

export function ensurePythonEnvs(names = ENV_NAMES, opts) {
  return Object.fromEntries(names.map((n) => [n, ensurePythonEnv(n, opts)]));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const names = process.argv.slice(2);
  try {
    for (const [n, p] of Object.entries(ensurePythonEnvs(names.length ? names : ENV_NAMES))) console.log(`${n}=${p}`);
  } catch (e) {
    console.error(`txlens: ${e.message}`);
    process.exit(2);
  }
}
