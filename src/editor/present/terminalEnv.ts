/**
 * What tracing in the integrated terminal changes in a new terminal's
 * environment: the same variables `txlens run` gives a test command (the
 * Python agent's path, the Node agent's preload, the TXLENS_ settings), as
 * mutations VS Code can apply (it can prepend, append or replace, and it
 * applies them to the shell's own environment, not to ours).
 */
import { delimiter, join } from 'node:path';
import { nodeAgentOption, traceEnv } from '../../capture/env';
import type { ParamsMode } from '../../trace/schema';

export interface EnvMutation {
  name: string;
  op: 'replace' | 'prepend' | 'append';
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
  // Appended, so the shell's own NODE_OPTIONS (whatever its profile sets) stay in front of the agent's preload.
  out.push({ name: 'NODE_OPTIONS', op: 'append', value: ` ${nodeAgentOption(opts.agentDir)}` });
  for (const name of Object.keys(env)) {
    if (name.startsWith('TXLENS_') && env[name] !== undefined && env[name] !== hostEnv[name]) out.push({ name, op: 'replace', value: env[name]! });
  }
  return out;
}

/** Applies mutations the way VS Code does to a terminal's environment (for tests and previews). */
export function applyEnvMutations(env: NodeJS.ProcessEnv, mutations: EnvMutation[]): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const m of mutations) {
    if (m.op === 'replace') out[m.name] = m.value;
    else if (m.op === 'prepend') out[m.name] = `${m.value}${out[m.name] ?? ''}`;
    else out[m.name] = `${out[m.name] ?? ''}${m.value}`;
  }
  return out;
}
