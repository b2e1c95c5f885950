/**
 * The `txlens` command line: the engine, headless, for terminals and CI.
 * Exit status: the test command's when it failed; else 1 when a finding at
 * or above `--fail-on` exists (default: an error); else 0; 2 for usage errors
 * and internal failures (one line; a stack trace only with --debug).
 */
import { statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { constants as osConstants } from 'node:os';
import { LaunchError, newRunDir, prepareTraceDir, RunFolderError, runTraced } from '../capture/launch';
import { DEFAULT_FAIL_ON, FAIL_ON_EXPECTED, type FailOn, failOnValue } from '../analysis/findings';
import { forTerminalLine } from '../report/terminal';
import { redactArgv } from '../trace/redact';
import { CHECK_USAGE } from './check-usage';
import type { ParamsMode } from '../trace/schema';
import type * as Analysis from './analysis';
import { requireBundle } from '../cache/code-cache';

const VERSION = '0.1.0';

const USAGE = `txlens ${VERSION}: see database sessions and transactions in your test suites

Usage:
  txlens run [options] -- <test command> [args...]
      Run the test command with capture attached, then summarise what each test's
      sessions and transactions did. The command's own output goes to stderr.
  txlens report [--json] [--all] [--fail-on LEVEL] [--html FILE] [--require-trace] <trace folder>
      Analyse a kept trace again. Paths are shown relative to the folder the run ran in.
${CHECK_USAGE}

Options:
  --json              print exactly one JSON document on stdout
  --all               list every test, not only those that failed or have a finding
  --fail-on LEVEL     exit 1 on a finding of this severity or worse: error (default), warning, never
  --html FILE         also write the session timeline to FILE (one self-contained HTML file)
  --cwd DIR           run the command in DIR (default: the current directory)
  --trace DIR         write the trace to DIR (default: .txlens/runs/<time>)
  --params MODE       statement parameters in the trace: values (default), types, off
  --require-trace     exit 3 when the run was not fully traced (nothing traced, lines lost)
  --debug             print stack traces for internal errors
  -h, --help          this text
  --version           print the version

Exit status: the test command's when it fails; 1 when a finding at --fail-on's level exists
(an error, by default); 0 otherwise; 2 for a usage error or an internal failure; 3 with
--require-trace when the trace is incomplete. Severities: docs/rules/severity.md.
`;

export class UsageError extends Error {}

interface Options {
  json: boolean;
  debug: boolean;
  /** Text report: every test, not only those with a failure or a finding. */
  all: boolean;
  failOn: FailOn;
  cwd?: string;
  trace?: string;
  html?: string;
  params?: ParamsMode;
  requireTrace: boolean;
  rest: string[];
}

const PARAM_MODES: ParamsMode[] = ['values', 'types', 'off'];

function parseOptions(args: string[], allowCommand: boolean): Options {
  const opts: Options = { json: false, debug: false, requireTrace: false, all: false, failOn: DEFAULT_FAIL_ON, rest: [] };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const value = (): string => {
      const v = args[++i];
      if (v === undefined || v.startsWith('--')) throw new UsageError(`${a} needs a value`);
      return v;
    };
    if (a === '--') {
      opts.rest.push(...args.slice(i + 1));
      break;
    } else if (a === '--json') opts.json = true;
    else if (a === '--debug') opts.debug = true;
    else if (a === '--require-trace') opts.requireTrace = true;
    else if (a === '--all') opts.all = true;
    else if (a === '--fail-on') opts.failOn = parseFailOn(value());
    else if (a === '--cwd') opts.cwd = value();
    else if (a === '--trace') opts.trace = value();
    else if (a === '--html') opts.html = value();
    else if (a === '--params') {
      const v = value();
      if (!PARAM_MODES.includes(v as ParamsMode)) throw new UsageError(`--params takes one of: ${PARAM_MODES.join(', ')}`);
      opts.params = v as ParamsMode;
    } else if (a.startsWith('-') && a !== '-') throw new UsageError(`unknown option ${a}`);
    else if (allowCommand) {
      // `txlens run pytest -q` without `--`: the command starts at the first non-option.
      opts.rest.push(...args.slice(i));
      break;
    } else opts.rest.push(a);
  }
  return opts;
}

function parseFailOn(v: string): FailOn {
  const level = failOnValue(v);
  if (!level) throw new UsageError(FAIL_ON_EXPECTED);
  return level;
}

function exitForSignal(signal: NodeJS.Signals | null): number {
  const n = signal ? (osConstants.signals as Record<string, number>)[signal] : undefined;
  return n ? 128 + n : 1;
}

function agentDir(): string {
  // dist/cli.js sits beside dist/agents/.
  return join(__dirname, 'agents');
}

let analysisModule: typeof Analysis | undefined;

/**
 * When `run` reads what the test command's processes appended to the trace: soon after
 * the start, then ever less often, down to once every four seconds. A poll costs about
 * the same whatever it finds (a timer, a listing of the folder, a read of each file),
 * while what it reads is work the report would do anyway; so a long run polls seldom,
 * and a short one is still read as it goes. Around a slow run (4,100 statements under
 * valgrind, minutes long) polls once a second cost the CLI 0.04-0.1 G instructions, the
 * more the longer the run took (bench/README.md); what is left unread at the end is at
 * most the last four seconds of the run.
 */
const TAIL_POLL_FIRST_MS = 200;
const TAIL_POLL_MAX_MS = 4000;

/**
 * V8 optimizes a function (TurboFan) once it has run a budget of byte-code, a budget made
 * for pages that live for hours. A `txlens` process lives for one report: around a short
 * suite (4,100 statements) it optimized some twenty functions of the trace reader and the
 * model for 0.2 G instructions, and the run ended before that paid off. Four
 * times Node 20's default budget leaves those in the baseline tier, while a long trace
 * still gets its hot loops optimized, a little later (bench/README.md has the figures).
 * Set before the engine loads (src/cache/code-cache.ts says why); the test command never sees it.
 * V8 12 (Node 22 on) has no such flag (it counts invocations instead) and would print
 * "unrecognized flag" on every run, so there the engine loads under V8's defaults.
 */
const ENGINE_V8_FLAGS = Number.parseInt(process.versions.v8, 10) < 12 ? '--interrupt-budget=270336' : undefined;

/**
 * The model, rules, static checker and reports (src/cli/analysis.ts), which live in
 * dist/engine.js beside this file, shared with the extension. This entry stays small
 * so `txlens run` starts the test command at once.
 */
function analysis(): typeof Analysis {
  if (!analysisModule) {
    const engine = requireBundle<typeof Analysis>(join(__dirname, 'engine.js'), engineBuildHash(), undefined, ENGINE_V8_FLAGS);
    analysisModule = engine.exports;
    saveEngineCache = engine.saveCache;
  }
  return analysisModule;
}

/** dist/engine.js's content hash, written into this bundle when both are built (esbuild.mjs). */
declare const ENGINE_BUNDLE_HASH: string | undefined;

function engineBuildHash(): string | undefined {
  return typeof ENGINE_BUNDLE_HASH === 'string' ? ENGINE_BUNDLE_HASH : undefined;
}

/** Writes the engine's code cache once the command has run what it needed (src/cache/code-cache.ts). */
let saveEngineCache: (() => void) | undefined;

async function cmdRun(args: string[]): Promise<number> {
  const opts = parseOptions(args, true);
  if (opts.rest.length === 0) throw new UsageError('run needs a test command, e.g. txlens run -- pytest -q');
  const cwd = resolve(opts.cwd ?? process.cwd());
  let cwdIsDir: boolean;
  try {
    cwdIsDir = statSync(cwd).isDirectory();
  } catch {
    throw new UsageError(`--cwd folder not found: ${cwd}`);
  }
  if (!cwdIsDir) throw new UsageError(`--cwd is not a folder: ${cwd}`);
  const traceDir = opts.trace ? prepareTraceDir(resolve(opts.trace)) : newRunDir(cwd);
  if (!opts.json) process.stderr.write(`txlens: tracing ${forTerminalLine(redactArgv(opts.rest).join(' '))}\n`);
  const running = runTraced({ command: opts.rest, cwd, traceDir, agentDir: agentDir(), params: opts.params });
  running.catch(() => undefined); // a failed start is reported where it is awaited, below
  // The command is started. While it runs, load the analysis and let it read the trace as it
  // is written and the static checker read the folder, so that afterwards only the model, the
  // rules and the report are left. A turn of the event loop first: the command's output is
  // then already being forwarded.
  await new Promise((r) => setImmediate(r));
  let follower: ReturnType<typeof Analysis.followRun> | undefined;
  try {
    follower = analysis().followRun(traceDir, cwd, engineBuildHash());
  } catch {
    // Loading fails again, with its reason, when the report needs it.
  }
  let timer: NodeJS.Timeout | undefined;
  const pollAfter = (ms: number): void => {
    timer = setTimeout(() => {
      follower?.poll();
      pollAfter(Math.min(ms * 2, TAIL_POLL_MAX_MS));
    }, ms);
  };
  if (follower) pollAfter(TAIL_POLL_FIRST_MS);
  let result;
  try {
    result = await running;
  } finally {
    clearTimeout(timer);
  }
  const gaps: string[] = [];
  if (result.traceDirLost) gaps.push(`the trace folder was removed while the command ran; this report holds what was read of it (${traceDir})`);
  if (result.uncaptured) {
    const n = result.uncaptured;
    gaps.push(`${n} process${n === 1 ? '' : 'es'} of the command ran without capture: the agent could not start there (see its message above)`);
  }
  const known = { run: result.info, gaps };
  const presentOpts = { ...opts, buildHash: engineBuildHash() };
  const { fails, incomplete } = follower
    ? await follower.present(presentOpts, cwd, known)
    : await analysis().present(presentOpts, traceDir, cwd, undefined, undefined, known);
  if (result.signal) return exitForSignal(result.signal);
  // The test command's own failure comes first: --fail-on never hides it.
  if (result.exitCode !== 0) return result.exitCode ?? 1;
  if (opts.requireTrace && incomplete) return EXIT_NOT_FULLY_TRACED;
  return fails ? 1 : 0;
}

/** `--require-trace`: the run passed, but the trace is known to lack part of it. */
const EXIT_NOT_FULLY_TRACED = 3;

async function cmdReport(args: string[]): Promise<number> {
  const opts = parseOptions(args, false);
  if (opts.rest.length !== 1) throw new UsageError('report needs exactly one trace folder');
  const { fails, incomplete } = await analysis().present({ ...opts, buildHash: engineBuildHash() }, resolve(opts.rest[0]), process.cwd());
  if (opts.requireTrace && incomplete) return EXIT_NOT_FULLY_TRACED;
  return fails ? 1 : 0;
}

export async function main(argv: string[]): Promise<number> {
  try {
    return await runCommand(argv);
  } finally {
    saveEngineCache?.();
  }
}

async function runCommand(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const debug = argv.includes('--debug');
  try {
    switch (command) {
      case 'run':
        return await cmdRun(rest);
      case 'report':
        return await cmdReport(rest);
      case 'check':
        return await analysis().cmdCheck(rest);
      case undefined:
      case 'help':
      case '-h':
      case '--help':
        process.stdout.write(USAGE);
        return command === undefined ? 2 : 0;
      case '--version':
        process.stdout.write(`${VERSION}\n`);
        return 0;
      default:
        throw new UsageError(`unknown command '${command}' (commands: run, report, check; see txlens --help)`);
    }
  } catch (e) {
    const err = e as Error;
    // One line each: a message can quote a path or a trace, which must not steer the terminal.
    const line = (text: string) => process.stderr.write(`txlens: ${forTerminalLine(text)}\n`);
    if (
      err instanceof UsageError ||
      err instanceof LaunchError ||
      err instanceof RunFolderError ||
      (analysisModule && err instanceof analysisModule.TraceError)
    ) {
      line(err.message);
    } else {
      line(`internal error: ${err?.message ?? String(e)}${debug ? '' : ' (run with --debug for details)'}`);
    }
    if (debug && err?.stack) process.stderr.write(`${err.stack}\n`);
    return 2;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(`txlens: internal error: ${(e as Error).message}\n`);
      process.exitCode = 2;
    },
  );
}
