// A Node script or test command run with the txlens Node agent preloaded (or without it), and
// what its process files hold: the one harness the agent's tests spawn Node through.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { traceEnv } from '../../src/capture/env';
import { repoRoot, tempDir } from '../support/env';
import { processFileNames, readProcessFiles, type RecordedLine } from '../support/trace-files';

/** The built agents (`node esbuild.mjs --tests` puts them in dist/). */
export const agentDir = join(repoRoot, 'dist', 'agents');

export interface NodeRun<L> {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The process files written, by name. */
  files: string[];
  /** Every line of them, file by file in name order, headers included. */
  lines: L[];
  traceDir: string;
}

/**
 * This process's environment for a child Node run: without the test runner's own context
 * (NODE_TEST_CONTEXT would make a `node --test` child report to this one) or NODE_OPTIONS.
 */
export function plainNodeEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, NODE_TEST_CONTEXT: undefined, NODE_OPTIONS: undefined, ...extra };
}

/** A fresh trace folder and the environment that has the agent write there, for `cwd` as the workspace. */
export function agentEnv(cwd: string, base: NodeJS.ProcessEnv = plainNodeEnv()): { env: NodeJS.ProcessEnv; traceDir: string } {
  const traceDir = join(tempDir('node-agent-trace'), 'run');
  return { env: traceEnv(base, { traceDir, workspace: cwd, agentDir }), traceDir };
}

/**
 * `node <args>` in `cwd` with `env`; once it exits, the process files in `traceDir` (none
 * without one). `onStdout` sees the output so far as it comes, with a way to stop the process.
 */
export function runNode<L = RecordedLine>(
  cwd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  traceDir?: string,
  onStdout?: (text: string, kill: () => void) => void,
): Promise<NodeRun<L>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      onStdout?.(stdout, () => child.kill('SIGTERM'));
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const written = traceDir !== undefined && existsSync(traceDir);
      const files = written ? processFileNames(traceDir) : [];
      const lines = written ? readProcessFiles<L>(traceDir).flat() : [];
      resolve({ code, signal, stdout, stderr, files, lines, traceDir: traceDir ?? '' });
    });
  });
}

/** `node <args>` in `cwd` with the agent preloaded (`extra` added to the environment), writing to a trace folder of its own. */
export function runTraced<L = RecordedLine>(
  cwd: string,
  args: string[],
  extra: NodeJS.ProcessEnv = {},
  onStdout?: (text: string, kill: () => void) => void,
): Promise<NodeRun<L>> {
  const { env, traceDir } = agentEnv(cwd, plainNodeEnv(extra));
  return runNode<L>(cwd, args, env, traceDir, onStdout);
}
