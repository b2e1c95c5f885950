/**
 * Runs a test command with capture attached through the environment alone:
 * the Python agent rides on PYTHONPATH (its sitecustomize) and PYTEST_PLUGINS,
 * so every Python process the command starts, subprocesses included, writes
 * its own file into the run folder.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { traceEnv } from './env';
import { ParamsMode, RUN_FILE, RunInfo, TRACE_FORMAT_VERSION } from '../trace/schema';

export { PYTEST_PLUGIN, traceEnv } from './env';
export type { TraceEnvOptions } from './env';

/** A fresh run folder under `<cwd>/.txlens/runs`, keeping the most recent `keep` runs. */
export function newRunDir(cwd: string, keep = 10): string {
  const root = join(cwd, '.txlens');
  const runs = join(root, 'runs');
  mkdirSync(runs, { recursive: true });
  // Traces are local artefacts: keep them out of the user's commits without touching their .gitignore.
  const ignore = join(root, '.gitignore');
  if (!existsSync(ignore)) writeFileSync(ignore, '*\n');
  const old = readdirSync(runs).sort();
  for (const name of old.slice(0, Math.max(0, old.length - (keep - 1)))) {
    rmSync(join(runs, name), { recursive: true, force: true });
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const dir = join(runs, `${stamp}-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

export interface TracedRun {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  info: RunInfo;
}

export interface RunOptions {
  command: string[];
  cwd: string;
  traceDir: string;
  agentDir: string;
  params?: ParamsMode;
  env?: NodeJS.ProcessEnv;
  /** Where the command's stdout and stderr go; default: both to our stderr, keeping our stdout for results. */
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  /** Aborting stops the command (SIGTERM), e.g. a run cancelled in the editor; the run still resolves. */
  signal?: AbortSignal;
  /** The command's stdin; default inherit (a terminal), 'ignore' where there is none (the editor). */
  stdin?: 'inherit' | 'ignore';
}

export class LaunchError extends Error {}

export function runTraced(opts: RunOptions): Promise<TracedRun> {
  const info: RunInfo = {
    v: TRACE_FORMAT_VERSION,
    command: opts.command,
    cwd: resolve(opts.cwd),
    startedWall: Date.now(),
    params: opts.params ?? 'values',
  };
  mkdirSync(opts.traceDir, { recursive: true });
  const runFile = join(opts.traceDir, RUN_FILE);
  writeFileSync(runFile, JSON.stringify(info) + '\n');
  const env = traceEnv(opts.env ?? process.env, {
    traceDir: opts.traceDir,
    workspace: opts.cwd,
    agentDir: opts.agentDir,
    params: opts.params,
  });
  const out = opts.stdout ?? process.stderr;
  const err = opts.stderr ?? process.stderr;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(opts.command[0], opts.command.slice(1), {
      cwd: opts.cwd,
      env,
      stdio: [opts.stdin ?? 'inherit', 'pipe', 'pipe'],
      signal: opts.signal,
    });
    child.stdout.on('data', (d) => out.write(d));
    child.stderr.on('data', (d) => err.write(d));
    // Ctrl-C reaches the whole foreground group already; a TERM sent to txlens alone is passed on
    // so the test command can flush its own output (and our agents their traces) before exiting.
    const forward = (sig: NodeJS.Signals) => () => {
      if (child.exitCode === null) child.kill(sig);
    };
    const onTerm = forward('SIGTERM');
    const onInt = forward('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
    child.on('error', (e: NodeJS.ErrnoException) => {
      // An abort kills the child; 'close' follows and settles the run.
      if (e.name === 'AbortError') return;
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      reject(new LaunchError(e.code === 'ENOENT' ? `command not found: ${opts.command[0]}` : `could not start ${opts.command[0]}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      info.endedWall = Date.now();
      info.exitCode = code;
      info.signal = signal;
      writeFileSync(runFile, JSON.stringify(info) + '\n');
      resolvePromise({ exitCode: code, signal, info });
    });
  });
}
