/**
 * Runs a test command with capture attached through the environment alone:
 * the Python agent rides on PYTHONPATH (its sitecustomize and its pytest plugin's entry point),
 * so every Python process the command starts, subprocesses included, writes
 * its own file into the run folder.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { traceEnv } from './env';
import { claimRunDir, makeFolder, releaseRunDir, RunFolderError } from './runs';
import { redactArgv } from '../trace/redact';
import { AGENT_DISABLED_LINE, ParamsMode, RUN_FILE, RunInfo, TRACE_FORMAT_VERSION } from '../trace/schema';

export { traceEnv } from './env';
export type { TraceEnvOptions } from './env';
export { newRunDir, prepareTraceDir, RunFolderError } from './runs';

export interface TracedRun {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  info: RunInfo;
  /** The run folder disappeared while the command ran (removed by hand or by another tool): the trace read so far is all there is. */
  traceDirLost?: boolean;
  /** Processes whose agent said on stderr that it could not capture at all (they left no trace file). */
  uncaptured?: number;
}

/** Counts AGENT_DISABLED_LINE lines in a stream seen in chunks, holding at most one partial line. */
class DisabledAgentCounter {
  count = 0;
  private carry = '';

  see(chunk: Buffer | string): void {
    const text = this.carry + chunk.toString();
    const lines = text.split('\n');
    // Only the start of a line can match: a long partial line need not be kept whole.
    this.carry = lines.pop()!.slice(0, AGENT_DISABLED_LINE.length);
    for (const line of lines) if (line.startsWith(AGENT_DISABLED_LINE)) this.count++;
  }
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

/**
 * Whether a SIGINT that reached txlens reached the test command too: Ctrl-C in
 * a terminal signals the whole foreground process group, which the command
 * shares with txlens. Passing that one on would interrupt the command twice
 * (pytest then dies in its own interrupt handling, with a status of its own).
 * A SIGINT sent to txlens alone (no terminal, or txlens not in its foreground)
 * is passed on.
 */
function sigintReachedGroup(): boolean {
  try {
    // /proc/self/stat: "pid (comm) state ppid pgrp session tty_nr tpgid ..."
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const pgrp = Number(f[2]);
    const ttyNr = Number(f[4]);
    const tpgid = Number(f[5]);
    return ttyNr !== 0 && tpgid === pgrp;
  } catch {
    // No procfs: a terminal on stdin is the best sign there is of Ctrl-C.
    return process.stdin.isTTY === true;
  }
}

export function runTraced(opts: RunOptions): Promise<TracedRun> {
  const info: RunInfo = {
    v: TRACE_FORMAT_VERSION,
    // A password on the command line (--dsn=postgresql://u:PW@…) stays out of the trace.
    command: redactArgv(opts.command),
    cwd: resolve(opts.cwd),
    startedWall: Date.now(),
    params: opts.params ?? 'values',
  };
  const runFile = join(opts.traceDir, RUN_FILE);
  try {
    makeFolder(opts.traceDir);
    writeFileSync(runFile, JSON.stringify(info) + '\n');
  } catch (e) {
    throw new RunFolderError(`cannot write to the trace folder ${opts.traceDir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  // Claimed for as long as the command runs: another run's rotation leaves it alone.
  claimRunDir(opts.traceDir);
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
    const disabled = new DisabledAgentCounter();
    child.stdout.on('data', (d) => out.write(d));
    child.stderr.on('data', (d) => {
      err.write(d);
      disabled.see(d);
    });
    // txlens stays up until the command has ended, so the report still shows what was traced.
    // Ctrl-C reaches the whole foreground group already; a signal sent to txlens alone is passed
    // on, once, so the test command can flush its own output (and our agents their traces).
    const forwarded = new Set<NodeJS.Signals>();
    const forward = (sig: NodeJS.Signals, reachedGroup: () => boolean) => () => {
      if (child.exitCode !== null || child.signalCode !== null || forwarded.has(sig) || reachedGroup()) return;
      forwarded.add(sig);
      child.kill(sig);
    };
    const onTerm = forward('SIGTERM', () => false);
    const onInt = forward('SIGINT', sigintReachedGroup);
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
    child.on('error', (e: NodeJS.ErrnoException) => {
      // An abort kills the child; 'close' follows and settles the run.
      if (e.name === 'AbortError') return;
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      releaseRunDir(opts.traceDir);
      reject(new LaunchError(e.code === 'ENOENT' ? `command not found: ${opts.command[0]}` : `could not start ${opts.command[0]}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      info.endedWall = Date.now();
      info.exitCode = code;
      info.signal = signal;
      let traceDirLost = false;
      try {
        writeFileSync(runFile, JSON.stringify(info) + '\n');
      } catch {
        // run.json is gone: its folder was removed under the run. The report says so.
        traceDirLost = true;
      }
      releaseRunDir(opts.traceDir);
      resolvePromise({ exitCode: code, signal, info, traceDirLost, uncaptured: disabled.count });
    });
  });
}
