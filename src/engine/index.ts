/**
 * The entry of dist/engine.js: the heavy half of txlens (model, rules, static
 * checker, capture), bundled apart and loaded on first use by its two hosts.
 * The extension loads it so activation pays only for the thin VS Code layer:
 * it gets the engine calls below and the pure texts it shows
 * (src/editor/present). `txlens` loads it while a test command runs and gets
 * the CLI's half (src/cli/analysis.ts), so the package carries one copy.
 * Nothing imports this module's code: the hosts require() the bundle and
 * import its types only. No `vscode` here: this runs and is tested in plain Node.
 */
import { analyse } from '../analysis/analyse';
import type { Finding } from '../analysis/findings';
import { newRunDir, runTraced, TracedRun } from '../capture/launch';
import { loadModel, ModelRun } from '../model/model';
import { StaticChecker } from '../static/checker';
import type { ParamsMode } from '../trace/schema';

export { byFile, diagnosticKey, diagnosticsFor } from '../editor/present/diagnostics';
export type { PlainDiagnostic, PlainFix, PlainRange } from '../editor/present/diagnostics';
export { hoverMarkdown } from '../editor/present/hover';
export { fileLensText, testLens } from '../editor/present/lens';
export { lineNotes } from '../editor/present/lines';
export type { LineNote } from '../editor/present/lines';
export { timelineView } from '../report/timeline';
// The CLI's half.
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
