/**
 * The heavy half of the extension, bundled apart (dist/engine.js) and loaded
 * on first use, so activation only pays for the thin VS Code layer. It holds
 * the engine (capture, model, rules, static checker) and the pure texts the
 * editor shows. No `vscode` here: this runs and is tested in plain Node.
 */
import { analyse } from '../analysis/analyse';
import type { Finding } from '../analysis/findings';
import { newRunDir, runTraced, TracedRun } from '../capture/launch';
import { loadModel, ModelRun } from '../model/model';
import { StaticChecker } from '../static/checker';
import type { ParamsMode } from '../trace/schema';

export { byFile, diagnosticKey, diagnosticsFor } from './present/diagnostics';
export type { PlainDiagnostic, PlainFix, PlainRange } from './present/diagnostics';
export { hoverMarkdown } from './present/hover';
export { fileLensText, testLens } from './present/lens';
export { lineNotes } from './present/lines';
export type { LineNote } from './present/lines';
export { timelineView } from '../report/timeline';
// The CLI's half (dist/cli.js loads this bundle rather than carrying a second copy).
export { cmdCheck, followRun, present, TraceError } from '../cli/analysis';
export type { TimelineView } from '../report/timeline';

export interface Analysed {
  dir: string;
  model: ModelRun;
  findings: Finding[];
  ruleErrors: string[];
}

export interface TracedTests extends Analysed {
  run: TracedRun;
  cancelled: boolean;
}

export interface TraceTestsOptions {
  command: string[];
  cwd: string;
  agentDir: string;
  params: ParamsMode;
  keepRuns: number;
  signal?: AbortSignal;
  /** Receives the test command's output as it comes. */
  output(text: string): void;
}

export function analyseTrace(dir: string): Analysed {
  const model = loadModel(dir);
  const { findings, ruleErrors } = analyse(model);
  return { dir, model, findings, ruleErrors };
}

export async function traceTests(opts: TraceTestsOptions): Promise<TracedTests> {
  const traceDir = newRunDir(opts.cwd, opts.keepRuns);
  const sink = { write: (d: Buffer | string) => (opts.output(typeof d === 'string' ? d : d.toString('utf8')), true) } as unknown as NodeJS.WritableStream;
  const run = await runTraced({
    command: opts.command,
    cwd: opts.cwd,
    traceDir,
    agentDir: opts.agentDir,
    params: opts.params,
    stdout: sink,
    stderr: sink,
    signal: opts.signal,
    stdin: 'ignore',
  });
  return { ...analyseTrace(traceDir), run, cancelled: opts.signal?.aborted ?? false };
}

export function createStaticChecker(root: string): StaticChecker {
  return new StaticChecker(root);
}
export type { StaticChecker };
