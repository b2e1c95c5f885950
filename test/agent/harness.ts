// Runs Python the way `txlens run` would (agent on PYTHONPATH, pytest plugin,
// trace folder) and reads back what the agent wrote. The CLI is not involved:
// these tests pin down the agent's own behaviour.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HeaderEvent } from '../../src/trace/schema';
import { distAgentDir, pythonTraceEnv, repoRoot, tempDir } from '../support/env';
import type { RecordedEvent } from '../support/trace-files';

export interface ProcessTrace {
  file: string;
  header: HeaderEvent;
  events: RecordedEvent[];
}

export interface PythonRun {
  code: number | null;
  stdout: string;
  stderr: string;
  traceDir: string;
  processes: ProcessTrace[];
  /** Events of every process, header excluded, in file order. */
  events: RecordedEvent[];
}

/** Copies test/fixtures/<name> into a fresh temp dir (the run's workspace) and returns its path. */
export function copyFixture(name: string): string {
  const dir = tempDir(`agent-${name}`);
  cpSync(join(repoRoot, 'test', 'fixtures', name), dir, { recursive: true });
  return dir;
}

/** 1-based line of `file` that carries the marker comment `# @<name>`. */
export function markerLine(file: string, name: string): number {
  const lines = readFileSync(file, 'utf8').split('\n');
  const found = lines.findIndex((l) => new RegExp(`#\\s*@${name}(\\s|$)`).test(l));
  if (found < 0) throw new Error(`marker @${name} not in ${file}`);
  return found + 1;
}

/** 1-based line of `def <name>` (or `async def <name>`) in `file`. */
export function defLine(file: string, name: string): number {
  const lines = readFileSync(file, 'utf8').split('\n');
  const found = lines.findIndex((l) => new RegExp(`^\\s*(async\\s+)?def ${name}\\(`).test(l));
  if (found < 0) throw new Error(`def ${name} not in ${file}`);
  return found + 1;
}

export function readTrace(dir: string): ProcessTrace[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.ndjson'))
    .sort()
    .map((f) => {
      const lines = readFileSync(join(dir, f), 'utf8').split('\n').filter((l) => l.trim() !== '');
      const [header, ...events] = lines.map((l) => JSON.parse(l) as unknown);
      return { file: join(dir, f), header: header as HeaderEvent, events: events as RecordedEvent[] };
    });
}

/** The environment minus anything that would make the child traced by accident. */
function cleanBase(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PYTHONDONTWRITEBYTECODE: '1' };
  for (const key of Object.keys(env)) {
    if (key.startsWith('TXLENS_') && !key.startsWith('TXLENS_TEST_')) delete env[key];
  }
  delete env.PYTEST_PLUGINS;
  delete env.PYTHONPATH;
  return env;
}

export interface RunOptions {
  cwd: string;
  /** 'traced' = as under `txlens run`; 'attached' = agent on the path but no trace folder; 'plain' = no agent. */
  mode?: 'traced' | 'attached' | 'plain';
  env?: NodeJS.ProcessEnv;
  params?: 'off' | 'types' | 'values';
}

export function runPython(python: string, args: string[], opts: RunOptions): PythonRun {
  if (!existsSync(join(distAgentDir, 'sitecustomize.py'))) {
    throw new Error('dist/agents/python is missing: run `node esbuild.mjs` first');
  }
  const mode = opts.mode ?? 'traced';
  const traceDir = join(tempDir('trace'), 'run');
  let env = cleanBase();
  if (mode !== 'plain') {
    env = pythonTraceEnv(traceDir, opts.cwd, { base: env, params: opts.params });
    if (mode === 'attached') {
      delete env.TXLENS_TRACE_DIR;
      delete env.TXLENS_WORKSPACE;
      delete env.TXLENS_PARAMS;
    }
  }
  env = { ...env, ...opts.env };
  const r = spawnSync(python, args, { cwd: opts.cwd, env, encoding: 'utf8', timeout: 300_000 });
  if (r.error) throw r.error;
  const processes = readTrace(traceDir);
  return {
    code: r.status,
    stdout: r.stdout,
    stderr: r.stderr,
    traceDir,
    processes,
    events: processes.flatMap((p) => p.events),
  };
}

/** pytest's final summary line without its timing ("1 failed, 4 passed, 1 skipped, 2 errors"). */
export function pytestSummary(stdout: string): string {
  const lines = stdout.split('\n').filter((l) => /\bin [\d.]+s\b/.test(l));
  const last = lines[lines.length - 1] ?? '';
  return last.replace(/=/g, '').replace(/\s+in [\d.]+s.*$/, '').trim();
}

/** Lines the agent wrote on stderr. */
export function agentLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('txlens:'));
}
