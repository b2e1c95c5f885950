/**
 * The heavy half of the CLI (model, rules, static checker, reports). It is
 * bundled into dist/engine.js (re-exported by src/editor/engine.ts), not into
 * dist/cli.js: `txlens run` starts the test command first and loads it while
 * the command runs, so the wait after the tests is the analysis alone.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { analyse } from '../analysis/analyse';
import { DEFAULT_FAIL_ON, type FailOn, failsOn } from '../analysis/findings';
import { buildModelFrom, loadModel } from '../model/model';
import { projectRoot, reportDocument, textReport } from '../report/render';
import { timelineView } from '../report/timeline';
import { timelineHtml } from '../report/timeline-html';
import { StaticChecker } from '../static/checker';
import { cmdCheck, staticFindingsForRun } from '../static/cli';
import { EventSource, TraceError } from '../trace/reader';
import { TraceTail } from '../trace/tail';

export { cmdCheck, TraceError };

export interface PresentOptions {
  json: boolean;
  html?: string;
  /** Text: every test, not only those that failed or have a finding. */
  all?: boolean;
  /** Which findings make `fails` true (default: an error). */
  failOn?: FailOn;
}

export interface Presented {
  hasErrors: boolean;
  /** A finding at or above `failOn`: the command exits 1 (unless the test command failed first). */
  fails: boolean;
}

/**
 * Analyse a trace folder and print the report (text, or one JSON document) on stdout.
 * `cwd`: where txlens was started; source paths are shown relative to the run's project
 * root (projectRoot) wherever that is, the trace's own path relative to `cwd`.
 * `source`: the folder already read (a TraceTail that followed the run); `checker`: a
 * static checker that already read the run's folder.
 */
export async function present(
  opts: PresentOptions,
  traceDir: string,
  cwd: string,
  source?: EventSource,
  checker?: StaticChecker,
): Promise<Presented> {
  const model = source ? buildModelFrom(source) : loadModel(traceDir);
  const root = projectRoot(model) ?? cwd;
  const { findings, ruleErrors } = analyse(model);
  model.notes.push(...ruleErrors);
  {
    // The static rules over the files the run touched, read where the run ran (a kept trace
    // knows its folder); a trace that confirms one raises it to error.
    const st = await staticFindingsForRun(model, findings, model.run?.cwd && existsSync(model.run.cwd) ? model.run.cwd : cwd, checker);
    findings.push(...st.findings);
    model.notes.push(...st.notes);
  }
  if (opts.html) {
    const file = resolve(opts.html);
    writeFileSync(file, timelineHtml(timelineView(model, findings, { cwd: root })));
    // stderr: stdout stays the report (or the one JSON document).
    process.stderr.write(`txlens: session timeline written to ${file}\n`);
  }
  if (opts.json) process.stdout.write(JSON.stringify(reportDocument(model, findings, root, cwd)) + '\n');
  else process.stdout.write(textReport(model, findings, root, { all: opts.all, traceFrom: cwd }));
  return { hasErrors: findings.some((f) => f.severity === 'error'), fails: failsOn(findings, opts.failOn ?? DEFAULT_FAIL_ON) };
}

/**
 * The report's work that can be done while the test command runs: the trace is
 * read as it is written, and the static checker reads the run's folder (its
 * rules span files, so it reads the whole folder whatever the run touched; the
 * report then re-reads only files that changed). What is left after the run is
 * the model, the rules and the report.
 */
export class RunFollower {
  private readonly tail: TraceTail;
  private readonly checker: StaticChecker;
  private readonly checked: Promise<unknown>;

  constructor(
    private readonly traceDir: string,
    root: string,
  ) {
    this.tail = new TraceTail(traceDir);
    this.checker = new StaticChecker(root);
    // A failure here shows again, with its reason, in the report's own check.
    this.checked = this.checker.check().catch(() => undefined);
  }

  /** Reads what the run appended to the trace since the last call. */
  poll(): void {
    this.tail.poll();
  }

  async present(opts: PresentOptions, cwd: string): Promise<Presented> {
    await this.checked;
    return present(opts, this.traceDir, cwd, this.tail.finish(), this.checker);
  }
}

export function followRun(traceDir: string, root: string): RunFollower {
  return new RunFollower(traceDir, root);
}
