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
  return env;
}
