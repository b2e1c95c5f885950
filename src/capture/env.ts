/**
 * The environment a traced command runs with. Apart from launch.ts so that
 * code which only needs the variables (the editor's terminal tracing) does
 * not load child_process.
 */
import { delimiter, join, resolve } from 'node:path';
import { ENV, ParamsMode } from '../trace/schema';

export interface TraceEnvOptions {
  traceDir: string;
  workspace: string;
  agentDir: string;
  params?: ParamsMode;
}

/** The environment a traced command runs with; `base` is left untouched. */
export function traceEnv(base: NodeJS.ProcessEnv, opts: TraceEnvOptions): NodeJS.ProcessEnv {
  const env = { ...base };
  const pythonDir = join(opts.agentDir, 'python');
  env.PYTHONPATH = base.PYTHONPATH ? `${pythonDir}${delimiter}${base.PYTHONPATH}` : pythonDir;
  // The pytest plugin is not named in PYTEST_PLUGINS: pytest finds it through the
  // agent's entry point (a dist-info beside sitecustomize), so an interpreter that
  // ignores PYTHONPATH (`python -I`, `-E`) runs untraced instead of failing to
  // import a plugin it was told to load. sitecustomize names it in PYTEST_PLUGINS
  // itself when entry points are turned off (PYTEST_DISABLE_PLUGIN_AUTOLOAD).
  env[ENV.traceDir] = resolve(opts.traceDir);
  env[ENV.workspace] = resolve(opts.workspace);
  env[ENV.params] = opts.params ?? 'values';
  // A test id from an outer traced run must not leak into this one.
  delete env[ENV.parentTest];
  env.NODE_OPTIONS = withNodeAgent(base.NODE_OPTIONS, opts.agentDir);
  return env;
}

/** The Node agent's preload, as esbuild.mjs builds it under the agents folder. */
export function nodePreload(agentDir: string): string {
  return join(agentDir, 'node', 'preload.js');
}

/**
 * NODE_OPTIONS with the Node agent preloaded (`--require`), appended to the
 * user's own options, which are kept as they are. Every Node process and worker
 * thread the command starts reads it. Quoted when the path needs it (NODE_OPTIONS
 * is split on spaces; Node reads double quotes and backslash escapes).
 */
export function withNodeAgent(nodeOptions: string | undefined, agentDir: string): string {
  const current = (nodeOptions ?? '').trim();
  const option = nodeAgentOption(agentDir);
  if (current.includes(option)) return current;
  return current ? `${current} ${option}` : option;
}

/** The NODE_OPTIONS entry that preloads the Node agent: `--require <preload>`, quoted when the path needs it. */
export function nodeAgentOption(agentDir: string): string {
  const preload = nodePreload(agentDir);
  const arg = /[\s"\\]/.test(preload) ? `"${preload.replace(/[\\"]/g, (c) => `\\${c}`)}"` : preload;
  return `--require ${arg}`;
}
