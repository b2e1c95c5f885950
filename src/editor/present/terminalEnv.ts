/**
 * What tracing in the integrated terminal changes in a new terminal's
 * environment: the same variables `txlens run` gives a test command, as
 * mutations VS Code can apply (it can prepend, append or replace, and it
 * applies them to the shell's own environment, not to ours).
 */
import { delimiter, join } from 'node:path';
import { traceEnv } from '../../capture/env';
import type { ParamsMode } from '../../trace/schema';

export interface EnvMutation {
  name: string;
  op: 'replace' | 'prepend';
  value: string;
}

export function terminalEnvMutations(
  hostEnv: NodeJS.ProcessEnv,
  opts: { traceDir: string; workspace: string; agentDir: string; params?: ParamsMode },
): EnvMutation[] {
  const env = traceEnv(hostEnv, opts);
  const out: EnvMutation[] = [];
  const pythonDir = join(opts.agentDir, 'python');
  // Prepend keeps whatever PYTHONPATH the shell sets; with none, an empty trailing entry would add the cwd.
  out.push(hostEnv.PYTHONPATH ? { name: 'PYTHONPATH', op: 'prepend', value: `${pythonDir}${delimiter}` } : { name: 'PYTHONPATH', op: 'replace', value: pythonDir });
  for (const name of Object.keys(env)) {
    if (name.startsWith('TXLENS_') && env[name] !== undefined && env[name] !== hostEnv[name]) out.push({ name, op: 'replace', value: env[name]! });
  }
  return out;
}

/** Applies mutations the way VS Code does to a terminal's environment (for tests and previews). */
export function applyEnvMutations(env: NodeJS.ProcessEnv, mutations: EnvMutation[]): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const m of mutations) out[m.name] = m.op === 'replace' ? m.value : `${m.value}${out[m.name] ?? ''}`;
  return out;
}
