/**
 * The heavy half of the CLI (model, rules, static checker, reports). It is
 * bundled into dist/engine.js (re-exported by src/engine/index.ts), not into
 * dist/cli.js: `txlens run` starts the test command first and loads it while
 * the command runs, so the wait after the tests is the analysis alone.
 */
import { existsSync, writeFileSync } from 'node:fs';
import type { RunInfo } from '../trace/schema';
import { resolve } from 'node:path';
import { analyse } from '../analysis/analyse';
import { DEFAULT_FAIL_ON, type FailOn, failsOn } from '../analysis/findings';
import { buildModelFrom } from '../model/model';
import { projectRoot, reportDocument, textReport } from '../report/render';
import { forTerminal } from '../report/terminal';
import { timelineView } from '../report/timeline';
import { timelineHtml } from '../report/timeline-html';
import type { StaticChecker } from '../static/checker';
import { cmdCheck } from './check';
import { runChecker, staticFindingsForRun } from './run-static';
import { EventSource, openTrace, TraceError } from '../trace/reader';
import { TraceTail } from '../trace/tail';

export { cmdCheck, TraceError };

export interface PresentOptions {
  json: boolean;
  html?: string;
  /** Text: every test, not only those that failed or have a finding. */
  all?: boolean;
  /** Which findings make `fails` true (default: an error). */
  failOn?: FailOn;
  /** The engine's build hash: static results are kept between runs of one build (run-static.ts). */
  buildHash?: string;
}


/** What the CLI knows about a run beyond its folder (the folder may be gone). */
export interface RunKnowledge {
  /** The run as started, for when run.json is gone. */
  run?: RunInfo;
  /** Gaps the CLI saw itself, e.g. the run folder removed while the command ran. */
  gaps?: string[];
}

export interface Presented {
  hasErrors: boolean;
  /** A finding at or above `failOn`: the command exits 1 (unless the test command failed first). */
  fails: boolean;
  /** The trace is known to lack something: nothing traced, lines skipped, capture stopped or lost events. */
  incomplete: boolean;
}

function emptySource(dir: string, run: RunInfo | undefined): EventSource {
  return { dir, run, processes: [], events: () => undefined, skipped: { total: 0, byReason: {}, examples: [] }, gaps: [] };
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
  known: RunKnowledge = {},
): Promise<Presented> {
  let src = source;
  if (!src) {
    try {
      src = openTrace(traceDir);
    } catch (e) {
      // A run whose folder vanished still reports what is known of it.
      if (!(e instanceof TraceError) || !known.run) throw e;
      src = emptySource(traceDir, known.run);
    }
  }
  if (!src.run && known.run) src.run = known.run;
  if (known.gaps?.length) (src.gaps ??= []).push(...known.gaps);
  const model = buildModelFrom(src);
  const root = projectRoot(model) ?? cwd;
  const { findings, ruleErrors } = analyse(model);
  model.notes.push(...ruleErrors);
  {
    // The static rules over the files the run touched, read where the run ran (a kept trace
    // knows its folder); a trace that confirms one raises it to error.
    const st = await staticFindingsForRun(model, findings, model.run?.cwd && existsSync(model.run.cwd) ? model.run.cwd : cwd, checker, opts.buildHash);
    // Symptoms a confirmed static finding now tells as its own story (related places there).
    const folded = new Set(st.folded);
    if (folded.size) findings.splice(0, findings.length, ...findings.filter((f) => !folded.has(f)));
    findings.push(...st.findings);
    model.notes.push(...st.notes);
  }
  if (opts.html) {
    const file = resolve(opts.html);
    try {
      writeFileSync(file, timelineHtml(timelineView(model, findings, { cwd: root })));
    } catch (e) {
      throw new TraceError(`cannot write --html ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    // stderr: stdout stays the report (or the one JSON document).
    process.stderr.write(`txlens: session timeline written to ${file}\n`);
  }
  if (opts.json) process.stdout.write(JSON.stringify(reportDocument(model, findings, root, cwd)) + '\n');
  else process.stdout.write(forTerminal(textReport(model, findings, root, { all: opts.all, traceFrom: cwd })));
  const incomplete = (src.gaps?.length ?? 0) > 0 || model.skipped.total > 0 || model.processes.some((p) => p.agentErrors.length > 0);
  return { hasErrors: findings.some((f) => f.severity === 'error'), fails: failsOn(findings, opts.failOn ?? DEFAULT_FAIL_ON), incomplete };
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
    buildHash?: string,
  ) {
    this.tail = new TraceTail(traceDir);
    this.checker = runChecker(root, buildHash);
    // A failure here shows again, with its reason, in the report's own check.
    this.checked = this.checker.check().catch(() => undefined);
  }

  /** Reads what the run appended to the trace since the last call. */
  poll(): void {
    this.tail.poll();
  }

  async present(opts: PresentOptions, cwd: string, known: RunKnowledge = {}): Promise<Presented> {
    await this.checked;
    let source: EventSource;
    try {
      source = this.tail.finish();
    } catch (e) {
      // The folder went away after the tail had let go of what it read.
      if (!(e instanceof TraceError)) throw e;
      source = emptySource(this.traceDir, known.run);
    }
    return present(opts, this.traceDir, cwd, source, this.checker, known);
  }
}

/** `buildHash`: the engine's, so that the static results of unchanged sources come from the last run of this build. */
export function followRun(traceDir: string, root: string, buildHash?: string): RunFollower {
  return new RunFollower(traceDir, root, buildHash);
}
