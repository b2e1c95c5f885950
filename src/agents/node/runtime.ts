/**
 * Core of the txlens Node agent: the trace writer, the clock, ids, user frames
 * and the failure switch every hook shares.
 *
 * It runs inside the user's process, inside every statement of their tests, so:
 * - events are buffered and written in batches (~64 KiB or ~50 ms, and at exit);
 * - call sites are captured as V8 CallSite objects, without formatting a stack
 *   string, and resolved to the first user frame only when the batch is written;
 * - nothing here may throw into user code: hooks call `fail`, which reports once
 *   on stderr, writes an `agent_error` event and stops capture in this thread.
 *
 * The trace file is created on the first event, so a process that never loads a
 * hooked driver or test runner leaves nothing behind.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDate } from 'node:util/types';
import type { ParamsMode, SourceFrame } from '../../trace/schema';
import { ENV, TRACE_FORMAT_VERSION } from '../../trace/schema';
import { detailWithoutValues, maskSqlLiterals, redactArgv, withoutQuotedValues } from '../../trace/redact';

export const AGENT = 'txlens-node/0.1.0';

const T0 = process.hrtime.bigint();
const hrtime = process.hrtime.bigint;
export const PID = process.pid;

/** What `node:worker_threads` says of this thread (the module itself where it is loaded, its fields read live). */
export interface ThreadInfo {
  readonly isMainThread: boolean;
  readonly threadId: number;
  readonly parentPort: unknown;
  readonly workerData: unknown;
  readonly MessagePort?: unknown;
}

/**
 * This thread, without loading `node:worker_threads` where nothing else did: a worker thread's
 * bootstrap loads that module before any preload runs, so where Node's list of loaded built-ins
 * lacks it, this is a main thread. Loading it in a main thread costs about 8 M instructions (a
 * tenth of a bare Node start), which every process of a traced command would pay for nothing.
 */
export const THREAD: ThreadInfo = (() => {
  const loaded: unknown = (process as { moduleLoadList?: unknown }).moduleLoadList;
  // Trusted only while the list still names built-ins the way Node 20 to 22 do (`NativeModule fs`):
  // a list in another form says nothing, and the module itself is asked.
  if (Array.isArray(loaded) && loaded.includes('NativeModule fs') && !loaded.includes('NativeModule worker_threads')) return { isMainThread: true, threadId: 0, parentPort: null, workerData: null };
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('node:worker_threads') as ThreadInfo;
})();
const isMainThread = THREAD.isMainThread;
const TH = THREAD.threadId;
const TRACE_DIR = process.env[ENV.traceDir] || undefined;
// The test running in the parent when this process started: read now, since the process's own tests set the
// variable for their children, and the header is written with the first event, maybe inside a test.
const INHERITED_TEST = process.env[ENV.parentTest] || undefined;
const FAULT = process.env[ENV.faultInject] || undefined;
const paramsEnv = (process.env[ENV.params] || 'values').trim().toLowerCase();
export const PARAMS_MODE: ParamsMode = paramsEnv === 'off' || paramsEnv === 'types' ? paramsEnv : 'values';

/** Capture is on in this thread: a trace folder is set and no internal error happened yet. */
export let ACTIVE = !!TRACE_DIR;

/** Monotonic nanoseconds since t0 (the clock of every event's `t`). */
export function now(): number {
  return Number(hrtime() - T0);
}

/** Monotonic nanoseconds, absolute, for durations. */
export function clock(): bigint {
  return hrtime();
}

// Worker threads share the process id, and the reader keys ids by pid: a
// worker's ids carry its thread id so they never collide with the main thread's.
const ID_PREFIX = isMainThread ? '' : `w${TH}.`;
const counters = new Map<string, number>();

/** Next id for `prefix` in this process: 'c1', 't1', ... ('w2.c1' in worker thread 2). */
export function nextId(prefix: string): string {
  const n = (counters.get(prefix) ?? 0) + 1;
  counters.set(prefix, n);
  return `${ID_PREFIX}${prefix}${n}`;
}

// ---------------------------------------------------------------------------
// Call sites and user frames

type CallSites = NodeJS.CallSite[];

/**
 * Where a call came from: its first user frame, found when the call is captured
 * (see `callSites`), or, for a stack an ORM captured and formatted itself, read
 * from that text (frameOfStackText). `frame` undefined: no user frame.
 */
export interface Stack {
  frame?: SourceFrame;
}

const returnCallSites = (_e: Error, cs: CallSites): CallSites => cs;
/**
 * How deep a capture looks for the app's line at most. An ORM's unit of work reaches the driver far
 * below the app's call, through awaits V8 keeps in the async stack: MikroORM's em.flush() some 28
 * frames down (UnitOfWork, ChangeSetPersister, its driver, Knex's runner). Each frame costs at
 * capture (about 0.2 µs, async frames too), but only where stacks are that deep: a hook captures as
 * deep as the deepest first user frame seen above it needs (depthAbove).
 */
const FRAME_LIMIT = 40;
/**
 * Frames to capture above each hook: the deepest first user frame seen above it so far,
 * from one on (a driver called straight from the app has its caller right above the hook;
 * every frame more costs at each capture). A stack that deep with no user frame in it is
 * captured again FRAME_LIMIT deep and the hook's depth grows to where the user frame was
 * (FRAME_LIMIT when none was in reach), so the deeper look is paid once per depth, not
 * at every call.
 */
const depthAbove = new Map<(...args: never[]) => unknown, number>();
const NO_FRAME: Stack = Object.freeze({});

/**
 * Where the statement a driver is about to run was asked for, when an ORM knows
 * better than the driver's own stack: ORMs that hand out thenable query builders
 * run them from a microtask, whose stack holds no frame of the code that built
 * them. Set only for the synchronous extent of the ORM's call into the driver.
 */
export let origin: Stack | undefined;

// The same, across an ORM's own awaits (Prisma's engine): made on first use, so apps without such an ORM pay nothing.
let asyncOrigin: AsyncLocalStorage<Stack> | undefined;

/** Where the statement starting now was asked for, if an ORM said so. */
export function currentOrigin(): Stack | undefined {
  return origin ?? asyncOrigin?.getStore();
}

/** Run `fn`, and every statement of its async chain, as asked for at `site`. */
export function withAsyncOrigin<T>(site: Stack, fn: () => T): T {
  asyncOrigin ??= new AsyncLocalStorage<Stack>();
  return asyncOrigin.run(site, fn);
}

export function withOrigin<T>(site: Stack | undefined, fn: () => T): T {
  const previous = origin;
  origin = site;
  try {
    return fn();
  } finally {
    origin = previous;
  }
}

/**
 * Where the current call came from: the first user frame above `above` (the
 * agent's wrapper). Resolved now rather than when the event is written: the work
 * is the same (one thread), and knowing whether the captured frames held a user
 * frame lets the capture stay shallow (`depthAbove`).
 */
export function callSites(above: (...args: never[]) => unknown): Stack {
  return capturedStack(above, captureStack(above));
}

/**
 * The one object every capture of this thread writes its call sites into, read right after:
 * a fresh object per capture would cost V8 a new dictionary-mode object each time (the
 * `stack` accessor it installs), at every statement.
 */
export const STACK_HOLDER: { stack?: unknown } = {};

/**
 * How many frames a hook captures above itself (see `depthAbove`). A hook on the hot path
 * captures by itself rather than through `callSites`:
 *
 *   const limit = captureDepth(hook);
 *   const prev = Error.stackTraceLimit;
 *   try { Error.stackTraceLimit = limit; Error.captureStackTrace(STACK_HOLDER, hook); } finally { Error.stackTraceLimit = prev; }
 *   const stack = capturedStack(hook, limit);
 *
 * since V8 works out the position of every frame between the capture and the hook before
 * skipping it: each helper frame in between costs about as much as the user frame itself.
 */
export function captureDepth(above: (...args: never[]) => unknown): number {
  return depthAbove.get(above) ?? 1;
}

/**
 * Capture the call sites above `above` (a hook's wrapper, this function's caller or its
 * caller's) into STACK_HOLDER, as deep as that hook needs (`captureDepth`) unless told; returns the limit
 * used, for `capturedStack`. One small frame between the capture and the hook, as when the
 * hook captures inline.
 */
export function captureStack(above: (...args: never[]) => unknown, limit = depthAbove.get(above) ?? 1): number {
  const prevLimit = Error.stackTraceLimit;
  try {
    Error.stackTraceLimit = limit;
    Error.captureStackTrace(STACK_HOLDER, above);
  } finally {
    Error.stackTraceLimit = prevLimit;
  }
  return limit;
}

/** The first user frame of what was just captured `limit` deep above `above` into STACK_HOLDER (see `captureDepth`). */
export function capturedStack(above: (...args: never[]) => unknown, limit: number): Stack {
  const frame = userFrameCaptured(limit);
  if (frame !== undefined && !capturedPublished) return { frame };
  if (!capturedFull || limit >= FRAME_LIMIT) return frame !== undefined ? { frame } : NO_FRAME;
  return deeperStack(above, limit);
}

/** The stack went on past the `limit` frames captured above `above` with no user frame in them: look as deep as the agent ever looks. */
function deeperStack(above: (...args: never[]) => unknown, limit: number): Stack {
  captureStack(above, FRAME_LIMIT);
  const deeper = userFrameCaptured(FRAME_LIMIT);
  depthAbove.set(above, deeper !== undefined && !capturedPublished ? Math.max(limit, capturedDepth) : FRAME_LIMIT);
  return deeper !== undefined ? { frame: deeper } : NO_FRAME;
}

/**
 * Stacks handed out by `laterCallSites` and not filled yet: while one is open, the
 * buffer is not written (an event holding it would lose its line).
 */
let unfilled = 0;

/**
 * A stack to fill with `fillCapturedStack` before the wrapper returns, for events the
 * wrapped call emits before then. A driver sends its statement inside the wrapped
 * call: capturing after the send does the capture while the server works on the
 * statement, instead of making the statement wait for it (a capture costs several
 * microseconds, a statement's round trip waits on each one).
 */
export function laterCallSites(): Stack {
  unfilled++;
  return {};
}

/**
 * Fill a stack from `laterCallSites` with what the hook `above` has just captured `limit` deep
 * into STACK_HOLDER (see `captureDepth`); still synchronous with the call it stands for.
 */
export function fillCapturedStack(stack: Stack, above: (...args: never[]) => unknown, limit: number): void {
  unfilled--;
  const captured = capturedStack(above, limit);
  if (captured.frame !== undefined) stack.frame = captured.frame;
  // Events that came while a stack was unfilled did not flush the buffer (see emit): now it may.
  if (unfilled === 0 && buffer.length + encodedEvents >= FLUSH_EVENTS) flush();
}

/** What userFrameCaptured found besides the frame: its depth (1-based), whether all `limit` frames were taken, whether the frame is published code. */
let capturedDepth = 0;
let capturedFull = false;
let capturedPublished = false;

/**
 * The call sites captured into STACK_HOLDER, as CallSites (no stack string is formatted), or what
 * else a stack there is. Error.prepareStackTrace is swapped only for the extent of the read, so
 * `--enable-source-maps` and the code's own override keep working for every other stack.
 */
function capturedSites(): unknown {
  const prevPrepare = Error.prepareStackTrace;
  try {
    Error.prepareStackTrace = returnCallSites;
    return STACK_HOLDER.stack;
  } finally {
    Error.prepareStackTrace = prevPrepare;
  }
}

/**
 * The first user frame of the call sites captured into STACK_HOLDER, as CallSites (no stack string
 * is formatted); the rest of what it found in capturedDepth, capturedFull and capturedPublished
 * (a frame in the workspace's published code, `publishedByWorkspace`, or a forwarding line,
 * `forwardingLines`, for want of any other), not in a list to take apart at every statement.
 */
function userFrameCaptured(limit: number): SourceFrame | undefined {
  const cs = capturedSites();
  capturedDepth = 0;
  capturedPublished = false;
  if (!Array.isArray(cs)) {
    capturedFull = false;
    return undefined;
  }
  const sites = cs as CallSites;
  capturedFull = sites.length >= limit;
  let own: SourceFrame | undefined;
  for (let i = 0; i < sites.length; i++) {
    const frame = frameOf(sites[i]);
    if (frame === undefined) continue;
    if ((publishedPaths().length === 0 || !publishedByWorkspace(frame[0])) && !forwarding(frame)) {
      capturedDepth = i + 1;
      capturedPublished = false;
      return frame;
    }
    if (own === undefined) {
      own = frame;
      capturedDepth = i + 1;
      capturedPublished = true;
    }
  }
  return own;
}

/** Told, once per file, of each file a stack names outside the user's code (see `watchLibraryFiles`). */
let libraryFileWatcher: ((path: string) => void) | undefined;

/** Have `watcher` told of every library file seen in a stack, once per file: how the agent notices code it did not hook. */
export function watchLibraryFiles(watcher: (path: string) => void): void {
  libraryFileWatcher = watcher;
}

const WORKSPACE = (() => {
  const w = resolve(process.env[ENV.workspace] || process.cwd());
  return w.endsWith(sep) ? w : w + sep;
})();
// The agent bundle itself: frames in it are never the user's.
const SELF = __filename;

/**
 * What the workspace publishes, when it is a package (its package.json's `files`) or a monorepo of published packages (publishedWorkspacePackages): absolute
 * paths of the folders and files named there, each up to its first glob character. A library
 * testing itself runs its tests against these (Kysely's test/node imports its dist/), which
 * its users get from node_modules: a statement's line is the innermost frame outside them
 * (the test's, or a test helper's), and a line of theirs only in a stack with no other. Read at
 * the first frame asked about, so a process that hooks nothing never reads package.json.
 */
let publishedFolders: readonly string[] | undefined;
function publishedPaths(): readonly string[] {
  return (publishedFolders ??= readPublished());
}

/** The folder or file a path pattern names before its first wildcard (`./src/**` names `src`), relative to the workspace. */
function literalPrefix(pattern: string): string {
  return pattern.replace(/^\.\//, '').split(/[*?[{]/)[0].replace(/[\\/]+$/, '');
}

function readPublished(): string[] {
  let pkg: { files?: unknown; main?: unknown; module?: unknown; types?: unknown; typings?: unknown; private?: unknown; workspaces?: unknown };
  try {
    pkg = JSON.parse(readFileSync(join(WORKSPACE, 'package.json'), 'utf8')) as typeof pkg;
  } catch {
    return [];
  }
  const out: string[] = [];
  const add = (entry: unknown, folderOf = false): void => {
    if (typeof entry !== 'string' || entry.startsWith('!')) return;
    let literal = literalPrefix(entry);
    // An entry point stands for the build it is in (dist/index.js: dist); one at the root, for itself.
    if (folderOf && /[\\/]/.test(literal)) literal = dirname(literal);
    if (literal && literal !== '.' && !literal.startsWith('..') && !isAbsolute(literal)) out.push(resolve(WORKSPACE, literal));
  };
  if (Array.isArray(pkg.files)) for (const entry of pkg.files) add(entry);
  // No 'files', but an .npmignore: published to npm, everything but what that file leaves out. Of that,
  // the build its entry points are in is the library its users get (typeorm-transactional ignores its
  // src/ and ships dist/); the rest (README, LICENSE) is no code. A private package (an app) is never
  // published, whatever files it keeps around.
  else if (pkg.private !== true && existsSync(join(WORKSPACE, '.npmignore'))) for (const entry of [pkg.main, pkg.module, pkg.types, pkg.typings]) add(entry, true);
  for (const dir of publishedWorkspacePackages(pkg.workspaces)) out.push(dir);
  if (out.length === 0) return out;
  // The sources that build is compiled from: a suite that runs them (ts-jest on src/, not dist/) runs the
  // library as its users get it, only before the compiler.
  for (const source of compiledSources(out)) if (!out.includes(source)) out.push(source);
  return out;
}

/**
 * The folders the workspace's tsconfig.json compiles into one of `built` (its outDir is, or holds,
 * a published path): its rootDir, else the folders its `include` patterns start with.
 */
function compiledSources(built: readonly string[]): string[] {
  let options: { compilerOptions?: { outDir?: unknown; rootDir?: unknown }; include?: unknown };
  try {
    // tsconfig.json is JSON with comments and trailing commas.
    const text = readFileSync(join(WORKSPACE, 'tsconfig.json'), 'utf8')
      .replace(/("(?:[^"\\]|\\.)*")|\/\/[^\n]*|\/\*[\s\S]*?\*\//g, (_m, str: string | undefined) => str ?? '')
      .replace(/,(\s*[\]}])/g, '$1');
    options = JSON.parse(text) as typeof options;
  } catch {
    return [];
  }
  const outDir = options.compilerOptions?.outDir;
  if (typeof outDir !== 'string') return [];
  const out = resolve(WORKSPACE, outDir);
  if (out === WORKSPACE.slice(0, -1) || !built.some((p) => p === out || p.startsWith(out + sep))) return [];
  const roots = typeof options.compilerOptions?.rootDir === 'string' ? [options.compilerOptions.rootDir] : Array.isArray(options.include) ? options.include : [];
  const sources: string[] = [];
  for (const root of roots) {
    if (typeof root !== 'string') continue;
    const literal = literalPrefix(root);
    // A root of the whole workspace (rootDir ".", include ["**/*"]) would make the tests' helpers the library's.
    if (!literal || literal === '.' || literal.startsWith('..') || isAbsolute(literal)) continue;
    const source = resolve(WORKSPACE, literal);
    if (source !== out) sources.push(source);
  }
  return sources;
}

/**
 * A monorepo testing its packages (MikroORM's root tests/ runs packages/core/src and the rest
 * through jest's moduleNameMapper): each workspace package published to npm is what its users
 * get from node_modules, so its folder is published code as a `files` entry is. Published means
 * not private and saying where it goes (`publishConfig`, `files` or a `repository`): an app's
 * own packages (packages/db), private or not, say none of that and stay the user's code.
 * Workspaces are package.json's `workspaces` (npm, yarn) or pnpm-workspace.yaml's `packages`,
 * as folders or `dir/*` patterns.
 */
function publishedWorkspacePackages(workspaces: unknown): string[] {
  let patterns: unknown = workspaces;
  if (patterns !== null && typeof patterns === 'object' && !Array.isArray(patterns)) patterns = (patterns as { packages?: unknown }).packages;
  if (!Array.isArray(patterns)) patterns = pnpmWorkspacePatterns();
  const out: string[] = [];
  for (const pattern of patterns as unknown[]) {
    if (typeof pattern !== 'string' || pattern.startsWith('!') || pattern.includes('**')) continue;
    for (const dir of expandFolders(WORKSPACE, pattern.replace(/^\.\//, '').replace(/[\\/]+$/, '').split(/[\\/]/))) {
      try {
        const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown; private?: unknown; publishConfig?: unknown; files?: unknown; repository?: unknown };
        const published = pkg.publishConfig !== undefined || Array.isArray(pkg.files) || pkg.repository !== undefined;
        if (typeof pkg.name === 'string' && pkg.private !== true && published) out.push(dir);
      } catch {
        // no package there
      }
    }
  }
  return out;
}

/** pnpm-workspace.yaml's `packages:` entries (a list of quoted or bare strings), [] when there is none. */
function pnpmWorkspacePatterns(): string[] {
  let text: string;
  try {
    text = readFileSync(join(WORKSPACE, 'pnpm-workspace.yaml'), 'utf8');
  } catch {
    return [];
  }
  const out: string[] = [];
  let inPackages = false;
  for (const line of text.split(/\r?\n/)) {
    if (/^\S/.test(line)) inPackages = /^packages\s*:/.test(line);
    else if (inPackages) {
      const m = /^\s+-\s*(['"]?)([^'"#]+?)\1\s*(#.*)?$/.exec(line);
      if (m) out.push(m[2]);
    }
  }
  return out;
}

/** The folders under `base` that `segments` (literal names, or `*` for any one folder) name. */
function expandFolders(base: string, segments: string[]): string[] {
  if (segments.length === 0) return [base];
  const [first, ...rest] = segments;
  if (first === '' || first === '.') return expandFolders(base, rest);
  if (first === '..' || isAbsolute(first)) return [];
  if (!/[*?[{]/.test(first)) return expandFolders(join(base, first), rest);
  if (first !== '*') return [];
  let names: string[];
  try {
    names = readdirSync(base, { withFileTypes: true })
      .filter((d) => d.isDirectory() && !d.name.startsWith('.') && d.name !== 'node_modules')
      .map((d) => d.name);
  } catch {
    return [];
  }
  return names.flatMap((name) => expandFolders(join(base, name), rest));
}
/** Test files stay the user's even where the package publishes them (`files: ["src"]` beside src/x.test.ts). */
const TEST_PATH = /(^|[\\/])(tests?|__tests__|spec)[\\/]|\.(test|spec)\.[cm]?[jt]sx?$/;
const published = new Map<string, boolean>();

/** Whether the user-code file `path` is one the workspace publishes (`publishedPaths`). */
function publishedByWorkspace(path: string): boolean {
  let known = published.get(path);
  if (known === undefined) {
    const rel = path.startsWith(WORKSPACE) ? path.slice(WORKSPACE.length) : path;
    known = !TEST_PATH.test(rel) && publishedPaths().some((p) => path === p || path.startsWith(p + sep));
    published.set(path, known);
  }
  return known;
}

/**
 * Whether `frame` is a line of the workspace's published code (`publishedPaths`), which a stack
 * gives only for want of any other line of the user's.
 */
export function inPublishedCode(frame: SourceFrame): boolean {
  return publishedPaths().length > 0 && publishedByWorkspace(frame[0]);
}

/**
 * file -> lines of the user's code that only hand a call on to the ORM's own method, which the
 * app put in that method's place (Outline's tests replace sequelize.query with a wrapper that logs
 * the error and rethrows it): every statement the ORM runs passes through that line, so it says
 * nothing of where the statement was asked for. Such a line stands for a statement only for want
 * of any other line of the user's, as published code does.
 */
const forwardingLines = new Map<string, Set<number>>();

function forwarding(frame: SourceFrame): boolean {
  return forwardingLines.size > 0 && forwardingLines.get(frame[0])?.has(frame[1]) === true;
}

/** Whether `frame` stands for an event only when its stack holds no other line of the user's. */
function onlyForWant(frame: SourceFrame): boolean {
  return inPublishedCode(frame) || forwarding(frame);
}

/**
 * Note that the caller of `above` (a hooked ORM method) is a replacement of that method the app
 * installed on its instance, which forwards to it: its line is a forwarding line. Returns whether
 * the caller was the user's code (a replacement in a library is the library's and never a line).
 */
export function noteForwardingCaller(above: (...args: never[]) => unknown): boolean {
  captureStack(above, 1);
  const cs = capturedSites();
  if (!Array.isArray(cs) || cs.length === 0) return false;
  const frame = frameOf(cs[0] as PositionedSite);
  if (frame === undefined) return false;
  let lines = forwardingLines.get(frame[0]);
  if (lines === undefined) forwardingLines.set(frame[0], (lines = new Set()));
  lines.add(frame[1]);
  return true;
}

/** file name as V8 reports it -> absolute path when it is user code, '' when not. */
const verdicts = new Map<string, string>();

function classify(name: string): string {
  let verdict = '';
  let path = name;
  if (path.startsWith('file://')) {
    try {
      path = fileURLToPath(path);
    } catch {
      path = '';
    }
  }
  if (path && isAbsolute(path) && path !== SELF && path.startsWith(WORKSPACE)) {
    const parts = path.slice(WORKSPACE.length).split(sep);
    if (!parts.includes('node_modules') && !parts.includes('.txlens')) verdict = path;
  }
  verdicts.set(name, verdict);
  if (!verdict && path && libraryFileWatcher !== undefined) libraryFileWatcher(path);
  return verdict;
}

type SourceMapLookup = (path: string) => { findEntry(line: number, column: number): Record<string, unknown> } | undefined;
let findSourceMap: SourceMapLookup | undefined;
type SourceMapClass = new (payload: unknown) => { findEntry(line: number, column: number): Record<string, unknown> };
let SourceMapOf: SourceMapClass | undefined;
try {
  /* eslint-disable @typescript-eslint/no-require-imports */
  findSourceMap = require('node:module').findSourceMap;
  SourceMapOf = require('node:module').SourceMap;
  /* eslint-enable @typescript-eslint/no-require-imports */
} catch {
  findSourceMap = undefined;
}

/** A source map (v3 JSON, parsed) a test runner holds for a file it compiled itself, outside Node's loader. */
export type SourceMapProvider = (file: string) => { sources?: unknown; sourceRoot?: unknown } | undefined;
const mapProviders: SourceMapProvider[] = [];

/**
 * Runners that compile the code they run (jest's transforms, vitest's vite-node)
 * keep the maps themselves, where Node's findSourceMap cannot see them: they
 * register a provider, asked for files Node has no map of.
 */
export function addSourceMapProvider(provider: SourceMapProvider): void {
  if (!mapProviders.includes(provider)) mapProviders.push(provider);
}

/** A map's payload with its sources made absolute against `base` (Node's SourceMap reports them as written). */
function absoluteMap(payload: { sources?: unknown; sourceRoot?: unknown }, base: string): ReturnType<SourceMapLookup> | null {
  if (SourceMapOf === undefined || !Array.isArray(payload.sources)) return null;
  const root = typeof payload.sourceRoot === 'string' ? payload.sourceRoot : '';
  const sources = payload.sources.map((source: unknown) => {
    const text = `${root}${typeof source === 'string' ? source : ''}`;
    if (text.startsWith('file://')) return text;
    return isAbsolute(text) ? text : resolve(base, text);
  });
  return new SourceMapOf({ ...payload, sourceRoot: '', sources });
}

/** `file`'s map from a runner. */
function providedMap(file: string): ReturnType<SourceMapLookup> | null {
  for (const provider of mapProviders) {
    const payload = provider(file);
    if (payload && Array.isArray(payload.sources)) return absoluteMap(payload, dirname(file));
  }
  return null;
}

const MAP_COMMENT = 'sourceMappingURL=';

/**
 * The URL of the `//# sourceMappingURL=` (or `//@`, or `/*# ... *\/`) comment `code` ends with, or
 * undefined: a comment that is not the code's last word is a string or a comment about maps, not the
 * code's own map.
 */
export function trailingMapUrl(code: string): string | undefined {
  const at = code.lastIndexOf(MAP_COMMENT);
  const lead = at < 4 ? '' : code.slice(at - 4, at);
  if (lead !== '//# ' && lead !== '//@ ' && lead !== '/*# ' && lead !== '/*@ ') return undefined;
  const url = /^\S+/.exec(code.slice(at + MAP_COMMENT.length))?.[0];
  if (url === undefined || code.slice(at + MAP_COMMENT.length + url.length).replace('*/', '').trim() !== '') return undefined;
  return url;
}

/** The map a `data:` URL holds (base64 or percent-encoded JSON), or undefined for another URL or a payload that is no JSON. */
export function dataUrlMap(url: string): { sources?: unknown; sourceRoot?: unknown } | undefined {
  const comma = url.indexOf(',');
  if (!url.startsWith('data:') || comma < 0) return undefined;
  const data = url.slice(comma + 1);
  try {
    return JSON.parse(url.slice(0, comma).endsWith(';base64') ? Buffer.from(data, 'base64').toString('utf8') : decodeURIComponent(data));
  } catch {
    return undefined;
  }
}

/**
 * The map `file` names in its trailing `//# sourceMappingURL=` comment (a file beside
 * it, as tsc's `sourceMap` writes, or an inline data: URL), for a file Node keeps no
 * map of: without --enable-source-maps Node records none, and a suite compiled by tsc
 * and run from its output (source-map-support maps its error stacks only) would be
 * cited at compiled lines its authors never wrote. Read once per file; only read, so
 * the code runs as it would untraced.
 */
function commentMap(file: string): ReturnType<SourceMapLookup> | null {
  if (SourceMapOf === undefined) return null;
  let url: string | undefined;
  try {
    url = trailingMapUrl(readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
  if (url === undefined) return null;
  try {
    if (url.startsWith('data:')) {
      const inline = dataUrlMap(url);
      return inline === undefined ? null : absoluteMap(inline, dirname(file));
    }
    // A map on a server (http:, webpack:) is not read.
    if (/^[a-z][a-z0-9+.-]+:/i.test(url) && !url.startsWith('file:')) return null;
    const mapFile = url.startsWith('file:') ? fileURLToPath(url) : resolve(dirname(file), decodeURIComponent(url));
    return absoluteMap(JSON.parse(readFileSync(mapFile, 'utf8')), dirname(mapFile));
  } catch {
    return null;
  }
}

/**
 * [file, line, function] through the file's source map: Node's (`--enable-source-maps`,
 * or a loader that registered maps), a runner's, or the one its sourceMappingURL
 * comment names; the generated position otherwise.
 */
// file -> its source map, or null: looked up once per file (a module's map is
// registered when it loads, before any of its code runs).
const sourceMaps = new Map<string, ReturnType<SourceMapLookup> | null>();

function mapped(file: string, line: number, column: number, fn: string): SourceFrame | undefined {
  if (findSourceMap !== undefined) {
    let map = sourceMaps.get(file);
    if (map === undefined) {
      try {
        map = findSourceMap(file) ?? (mapProviders.length > 0 ? providedMap(file) : null) ?? commentMap(file);
      } catch {
        map = null;
      }
      sourceMaps.set(file, map);
    }
    if (map) {
      const entry = map.findEntry(line - 1, column - 1) as { originalSource?: string; originalLine?: number };
      if (entry && typeof entry.originalSource === 'string' && typeof entry.originalLine === 'number') {
        const original = verdicts.get(entry.originalSource) ?? classify(entry.originalSource);
        // A map that points into node_modules or outside the workspace: not the user's line.
        if (!original) return undefined;
        // The sources of a published build (Sequelize's lib/ maps to src/) are published code too.
        if (publishedPaths().length > 0 && !published.has(original) && publishedByWorkspace(file)) published.set(original, !TEST_PATH.test(original.slice(WORKSPACE.length)));
        return [original, entry.originalLine + 1, fn];
      }
    }
  }
  return [file, line, fn];
}

/**
 * A position a runner reported itself (node:test's location of a test) read
 * through the file's source map when there is one: [file, line]. A position
 * outside the workspace's own code stays as it was given.
 */
export function sourcePosition(file: string, line: number, column: number): [string, number] {
  let path = file;
  if (path.startsWith('file://')) {
    try {
      path = fileURLToPath(path);
    } catch {
      return [file, line];
    }
  }
  const user = verdicts.get(path) ?? classify(path);
  if (!user) return [path, line];
  const frame = mapped(user, line, column, '');
  return frame ? [frame[0], frame[1]] : [path, line];
}

/** The first frame in user code: [absolute file, 1-based line, function], or undefined. */
export function userFrame(stack: Stack | undefined): SourceFrame | undefined {
  return stack?.frame;
}

/**
 * file -> position in it -> the user frame a call site there stands for, or null when it is
 * not the user's (a map into node_modules): a statement run from the same line again and
 * again is looked up, not mapped again. The key is the call site's character offset in the
 * script (getPosition), which V8 gives without working out a line and a column (positions
 * are the same for every load of one file's text); without getPosition, line and column.
 * A site in an anonymous function is named by its receiver (getMethodName), which may change
 * from call to call: those are kept by position and method name (`anonymousFrames`).
 */
const siteFrames = new Map<string, Map<number, SourceFrame | null>>();
/** file -> position -> method name ('' for none) -> user frame, or null: sites in anonymous functions. */
const anonymousFrames = new Map<string, Map<number, Map<string, SourceFrame | null>>>();

type PositionedSite = NodeJS.CallSite & { getPosition?: () => number };

function siteKey(site: PositionedSite): number {
  if (typeof site.getPosition === 'function') return site.getPosition();
  // Negative: never equal to a position.
  return -((site.getLineNumber() ?? 0) * 0x4000000 + (site.getColumnNumber() ?? 0)) - 1;
}

function frameOf(site: PositionedSite): SourceFrame | undefined {
  const name = site.getFileName();
  if (!name) return undefined;
  const file = verdicts.get(name) ?? classify(name);
  if (!file) return undefined;
  const key = siteKey(site);
  const known = siteFrames.get(file)?.get(key);
  if (known !== undefined) return known ?? undefined;
  const byMethod = anonymousFrames.get(file)?.get(key);
  if (byMethod !== undefined) {
    const method = site.getMethodName() || '';
    const anonymous = byMethod.get(method);
    if (anonymous !== undefined) return anonymous ?? undefined;
  }
  const named = site.getFunctionName();
  const method = named ? '' : site.getMethodName() || '';
  const frame = mapped(file, site.getLineNumber() ?? 0, site.getColumnNumber() ?? 0, named || method || '<anonymous>');
  if (named) {
    let frames = siteFrames.get(file);
    if (frames === undefined) siteFrames.set(file, (frames = new Map()));
    frames.set(key, frame ?? null);
  } else {
    let positions = anonymousFrames.get(file);
    if (positions === undefined) anonymousFrames.set(file, (positions = new Map()));
    let methods = positions.get(key);
    if (methods === undefined) positions.set(key, (methods = new Map()));
    methods.set(method, frame ?? null);
  }
  return frame;
}

const STACK_LINE = /^\s*at (?:(.*?) \()?(.+?):(\d+):\d+\)?$/;

/**
 * The first user frame of a stack as Node formatted it (source maps applied
 * already when they are on): for stacks an ORM captured as an Error of its own,
 * whose CallSites the agent must not take (reading them would turn the Error's
 * `stack` into an array under the ORM's feet).
 */
export function frameOfStackText(text: unknown): Stack | undefined {
  if (typeof text !== 'string') return undefined;
  let own: Stack | undefined;
  for (const l of text.split('\n')) {
    const m = STACK_LINE.exec(l);
    if (!m) continue;
    const file = verdicts.get(m[2]) ?? classify(m[2]);
    if (!file) continue;
    const found: Stack = { frame: [file, Number(m[3]), (m[1] ?? '<anonymous>').replace(/^async /, '')] };
    if ((publishedPaths().length === 0 || !publishedByWorkspace(file)) && !forwarding(found.frame!)) return found;
    own ??= found;
  }
  return own;
}

// ---------------------------------------------------------------------------
// Events and the writer

/**
 * An event before it is written. Its time, pid, thread and `at` (from the stack it was
 * emitted with) are added to its line when the line is made, not to the object: adding
 * fields to objects of a dozen shapes at every statement is what V8 does slowest.
 */
export interface PendingEvent {
  k: string;
  at?: SourceFrame;
  /** Where to place the event when the stack it was emitted with holds no user frame. */
  _alt?: Stack;
  [field: string]: unknown;
}

const FLUSH_EVENTS = 1024;
const FLUSH_MS = 50;
/** Events emitted and not serialized yet, with their times and their stacks at the same index. */
let buffer: PendingEvent[] = [];
let bufferTimes: number[] = [];
let bufferStacks: (Stack | undefined)[] = [];
/**
 * Whether each buffered event is a statement (emitStmt): its line is written by a path that sees no
 * other event (stmtLine), so the shapes of the rest (begins, test events, check-outs) never reach
 * the code compiled for statements' (each new one deoptimized it, then it was compiled again).
 */
let bufferStmts: boolean[] = [];
/**
 * Each buffered event's `_alt`, taken off it when it is buffered: the writer then reads nothing of an
 * event that is not a statement (JSON.stringify writes it whole), whatever its shape.
 */
let bufferAlts: (Stack | undefined)[] = [];
/** What every line of this thread ends with before its `at`: pid and thread never change. */
const PID_TH = `,"pid":${PID},"th":${TH}`;
let fd: number | undefined;
let fileFailed = false;
let timer: NodeJS.Timeout | undefined;
const libs: Record<string, string> = {};

/** Remember a hooked library's version; the header lists those known when the file is created. */
export function noteLib(name: string, version: string): void {
  libs[name] = version;
}

function header(): Record<string, unknown> {
  const h: Record<string, unknown> = {
    k: 'header',
    v: TRACE_FORMAT_VERSION,
    pid: PID,
    ppid: process.ppid,
    t0: T0.toString(),
    wall: Math.round(Date.now() - now() / 1e6),
    // A password on the command line (`--dsn=postgresql://u:PW@…`, `password=…`) is never written.
    argv: redactArgv([process.argv[0], ...process.execArgv, ...process.argv.slice(1)]),
    cwd: process.cwd(),
    lang: 'node',
    runtime: `Node.js ${process.versions.node}`,
    agent: AGENT,
  };
  if (Object.keys(libs).length > 0) h.libs = { ...libs };
  if (INHERITED_TEST) h.test = INHERITED_TEST;
  if (!isMainThread) h.thread = TH;
  return h;
}

/**
 * Six hex digits against a pid reused in the same trace folder, from the clock's nanoseconds: not
 * `node:crypto`, which costs about 13 M instructions to load in a process that has not loaded it,
 * nor Math.random, whose sequence belongs to the code under test (a run under V8's `--random-seed`
 * must see the same numbers traced as untraced).
 */
function uniqueHex6(): string {
  return Number(process.hrtime.bigint() & 0xffffffn)
    .toString(16)
    .padStart(6, '0');
}

function openFile(): boolean {
  if (fd !== undefined) return true;
  if (fileFailed || !TRACE_DIR) return false;
  try {
    mkdirSync(TRACE_DIR, { recursive: true });
    const name = `node-${PID}${isMainThread ? '' : `-w${TH}`}-${uniqueHex6()}.ndjson`;
    fd = openSync(join(TRACE_DIR, name), 'a', 0o644);
    writeSync(fd, JSON.stringify(header()) + '\n');
    return true;
  } catch (e) {
    fileFailed = true;
    ACTIVE = false;
    warn(`txlens: capture disabled in this process: cannot write trace (${(e as Error).message})\n`);
    return false;
  }
}

/** Buffer `event`, stamped with time, pid and thread. `cs`: where it was called from, written as its `at`. */
export function emit(event: PendingEvent, cs?: Stack): void {
  if (!ACTIVE) return;
  buffer.push(event);
  bufferTimes.push(now());
  bufferStacks.push(cs !== undefined && event.at === undefined ? cs : undefined);
  bufferStmts.push(false);
  const alt = event._alt;
  if (alt !== undefined) event._alt = undefined;
  bufferAlts.push(alt);
  buffered();
}

/**
 * Buffer a statement's event (`k: 'stmt'`, every field of stmtFields set, undefined where it has
 * none, no `at` of its own), as emit does: written by stmtLine.
 */
export function emitStmt(event: PendingEvent, cs: Stack | undefined): void {
  if (!ACTIVE) return;
  buffer.push(event);
  bufferTimes.push(now());
  bufferStacks.push(cs);
  bufferStmts.push(true);
  const alt = event._alt;
  if (alt !== undefined) event._alt = undefined;
  bufferAlts.push(alt);
  buffered();
}

/** An event was buffered: flush when enough are, else make sure the timer will. */
function buffered(): void {
  if (buffer.length + encodedEvents >= FLUSH_EVENTS && unfilled === 0) flush();
  else if (timer === undefined) {
    timer = setTimeout(flushTimer, FLUSH_MS);
    // The flush timer must never keep the user's process alive.
    timer.unref();
  }
}

function flushTimer(): void {
  timer = undefined;
  flush();
}

/** A user frame's JSON, made once per frame: frames are shared by every call from the same site (see `frameOf`). */
const frameJson = new WeakMap<SourceFrame, string>();

/** A statement's line has been made in this thread (see `recordedStatements`). */
let statementsRecorded = false;

/**
 * Whether this thread has recorded a statement: the preload then writes the agent's code cache
 * for such processes, which holds the hooks' code that a process hooking nothing never compiles.
 */
export function recordedStatements(): boolean {
  return statementsRecorded;
}

/** A number as JSON.stringify writes it (not finite: null). */
function numJson(v: unknown): string {
  return typeof v === 'number' ? (Number.isFinite(v) ? `${v}` : 'null') : (JSON.stringify(v) ?? 'null');
}

/** What JSON.stringify escapes in a string: quote, backslash, control characters, lone surrogates (pairs too, here). */
// eslint-disable-next-line no-control-regex -- control characters are what JSON escapes
const ESCAPED = /["\\\u0000-\u001f\ud800-\udfff]/;

/**
 * A string as JSON.stringify writes it: between quotes as it is when nothing in it needs
 * escaping (ids, nearly every statement's text), which skips JSON.stringify's own entry
 * (a call into the runtime) for each of the strings every statement writes.
 */
function strJson(v: unknown): string {
  return typeof v === 'string' && !ESCAPED.test(v) ? `"${v}"` : (JSON.stringify(v) ?? 'null');
}

/** A plain value (see safeValue) as JSON.stringify writes it inside an array. */
function valueJson(v: unknown): string {
  switch (typeof v) {
    case 'string':
      return strJson(v);
    case 'number':
      return Number.isFinite(v) ? `${v}` : 'null';
    case 'boolean':
      return v ? 'true' : 'false';
    default:
      return JSON.stringify(v) ?? 'null';
  }
}

/** A statement's parameters as JSON.stringify writes them: a list (paramsRepr's usual form) value by value. */
function paramsJson(v: unknown): string {
  if (!Array.isArray(v)) return JSON.stringify(v) ?? 'null';
  let s = '[';
  for (let i = 0; i < v.length; i++) s += i === 0 ? valueJson(v[i]) : `,${valueJson(v[i])}`;
  return `${s}]`;
}

/**
 * A statement event's fields, unclosed, written one by one: what JSON.stringify of the object
 * writes (the fields the drivers set, undefined ones left out), for a fraction of its work, at
 * every statement. A field a driver adds to its `stmt` events must be added here
 * (test/node-agent/agent.test.ts holds this to JSON.stringify's line).
 */
function stmtFields(e: PendingEvent): string {
  // Connection, session, transaction and pool ids are the agent's own (nextId: letters, digits, a
  // dot), which JSON never escapes: written between quotes with no test of each.
  let s = `{"k":"stmt","conn":"${e.conn as string}","sql":${strJson(e.sql)}`;
  if (e.dur !== undefined) s += `,"dur":${numJson(e.dur)}`;
  if (e.sess !== undefined) s += `,"sess":"${e.sess as string}"`;
  if (e.tx !== undefined) s += `,"tx":"${e.tx as string}"`;
  if (e.pool !== undefined) s += `,"pool":"${e.pool as string}"`;
  if (e.task !== undefined) s += `,"task":${numJson(e.task)}`;
  if (e.params !== undefined) s += `,"params":${paramsJson(e.params)}`;
  if (e.rows !== undefined) s += `,"rows":${numJson(e.rows)}`;
  if (e.err !== undefined) s += `,"err":${JSON.stringify(e.err)}`;
  if (e.at !== undefined) s += `,"at":${JSON.stringify(e.at)}`;
  return s;
}

/** The frame an event is written at: its stack's, else its session's (see `line`). */
function atOf(alt: Stack | undefined, cs: Stack | undefined): SourceFrame | undefined {
  if (cs === undefined) return undefined;
  // No user frame (an ORM ran it from its own callbacks): the line that opened the session running it.
  // So too when the only one is in the workspace's published code (the BEGIN of MikroORM's em.begin()
  // in its own suite, sent from packages/knex/src), or a line that only forwards to the ORM
  // (`forwardingLines`), and the session's line is neither.
  const at = cs.frame ?? alt?.frame;
  if (alt?.frame !== undefined && at !== alt.frame && onlyForWant(at!) && !onlyForWant(alt.frame)) return alt.frame;
  return at;
}

/** `fields` closed with t, pid, th and the frame `at`. */
function closeLine(fields: string, t: number, at: SourceFrame | undefined): string {
  if (at === undefined) return `${fields},"t":${t}${PID_TH}}`;
  let atJson = frameJson.get(at);
  if (atJson === undefined) frameJson.set(at, (atJson = JSON.stringify(at)));
  return `${fields},"t":${t}${PID_TH},"at":${atJson}}`;
}

/** A statement's line (an event emitStmt buffered, its `_alt` taken off it), as `line` writes it. */
function stmtLine(e: PendingEvent, t: number, cs: Stack | undefined, alt: Stack | undefined): string {
  statementsRecorded = true;
  // With no session's line to weigh it against, the stack's frame is the line (see atOf).
  return closeLine(stmtFields(e), t, cs !== undefined && alt === undefined ? cs.frame : atOf(alt, cs));
}

/**
 * Any other event's line (its `_alt` taken off it), written whole by JSON.stringify: nothing of the
 * event is read here, so the shapes of a dozen kinds of events (begins, check-outs, test events), of
 * which a rare one may come late, never deoptimize the writer compiled on the common ones.
 */
function otherLine(e: PendingEvent, t: number, cs: Stack | undefined, alt: Stack | undefined): string {
  return closeLine(JSON.stringify(e).slice(0, -1), t, atOf(alt, cs));
}

/**
 * The event's line: its own fields, then t, pid, th and at, in that order. Values are
 * plain (see paramsRepr), and JSON leaves undefined fields out. Exported for the test
 * that holds the statements' writer (stmtFields) to JSON.stringify's output.
 */
export function line(e: PendingEvent, t: number, cs: Stack | undefined): string {
  const alt = e._alt;
  if (alt !== undefined) e._alt = undefined;
  return e.k === 'stmt' ? stmtLine(e, t, cs, alt) : otherLine(e, t, cs, alt);
}

/** Serialize every buffered event onto `data`, emptying the buffer. */
function encodeInto(data: string): string {
  const events = buffer;
  const times = bufferTimes;
  const stacks = bufferStacks;
  const stmts = bufferStmts;
  const alts = bufferAlts;
  buffer = [];
  bufferTimes = [];
  bufferStacks = [];
  bufferStmts = [];
  bufferAlts = [];
  for (let i = 0; i < events.length; i++) {
    try {
      data += (stmts[i] ? stmtLine(events[i], times[i], stacks[i], alts[i]) : otherLine(events[i], times[i], stacks[i], alts[i])) + '\n';
    } catch {
      // one unserialisable event is dropped, not the batch
    }
  }
  return data;
}

/** Lines of events serialized ahead of the flush (see `encodeBuffered`), waiting for it, and how many. */
let encoded = '';
let encodedEvents = 0;

/**
 * Serialize the events buffered so far, now: drivers call it right after sending a
 * statement, so the work is done while the server runs it. Left to the flush, it
 * runs in a timer that a statement's response can arrive during, and then waits for.
 * Events are complete once emitted; only a stack still to be filled
 * (`laterCallSites`) holds them back.
 */
export function encodeBuffered(): void {
  if (unfilled !== 0 || buffer.length === 0) return;
  encodedEvents += buffer.length;
  encoded = encodeInto(encoded);
}

/** Write out everything buffered. Never throws. */
export function flush(): void {
  if (buffer.length === 0 && encodedEvents === 0) return;
  const pending = encoded;
  encoded = '';
  encodedEvents = 0;
  if (!openFile() || fd === undefined) {
    buffer = [];
    bufferTimes = [];
    bufferStacks = [];
    bufferStmts = [];
    bufferAlts = [];
    return;
  }
  const data = encodeInto(pending);
  try {
    writeSync(fd, data);
  } catch {
    // a full disk loses trace lines, never the user's test
  }
}

// ---------------------------------------------------------------------------
// Failure handling

let failed = false;

function warn(text: string): void {
  try {
    writeSync(2, text);
  } catch {
    // nowhere left to say it
  }
}

/** Stop capture in this thread after an internal error: one stderr line, one agent_error event. */
export function fail(err: unknown): void {
  if (failed) {
    ACTIVE = false;
    return;
  }
  failed = true;
  let message: string;
  try {
    const e = err as Error;
    message = `${e?.name ?? 'Error'}: ${String(e?.message ?? err).split('\n')[0]}`;
  } catch {
    message = 'unknown error';
  }
  warn(`txlens: capture stopped in this process: ${message}\n`);
  try {
    emit({ k: 'agent_error', message });
    flush();
  } catch {
    // reported on stderr already
  }
  ACTIVE = false;
}

/** Report, once per library, a version the agent does not hook; it runs untraced. */
const reported = new Set<string>();
export function unsupported(lib: string, version: string, supported: string): void {
  noteOnce(lib, `${lib} ${version} is not supported (supported: ${supported}); its use is not traced`);
}

/** Say `text` on stderr, once per `key` in this process: a setup the agent traces only in part. */
export function noteOnce(key: string, text: string): void {
  if (reported.has(key)) return;
  reported.add(key);
  warn(`txlens: ${text}\n`);
}

/** Test-only: throw inside the agent at hook `name` when TXLENS_FAULT_INJECT names it. */
export function faultPoint(name: string): void {
  if (FAULT !== undefined && FAULT === name) throw new Error(`fault injected at ${name}`);
}

// ---------------------------------------------------------------------------
// Parameters

const PARAM_LIMIT = 50;
const VALUE_CHARS = 200;

function safeValue(v: unknown): unknown {
  switch (typeof v) {
    case 'number':
      return Number.isFinite(v) ? v : String(v);
    case 'boolean':
      return v;
    case 'string':
      return v.length <= VALUE_CHARS ? v : v.slice(0, VALUE_CHARS) + '...';
    case 'bigint':
      return v.toString();
    case 'undefined':
      return null;
    case 'object': {
      if (v === null) return null;
      // By its brand, not instanceof: a Date made in a test runner's realm (jest's test context) is no instance of this one's.
      if (isDate(v)) return Number.isNaN(v.getTime()) ? 'Invalid Date' : v.toISOString();
      if (Buffer.isBuffer(v)) return `<Buffer ${v.length} bytes>`;
      let text: string;
      try {
        text = JSON.stringify(v) ?? String(v);
      } catch {
        text = Object.prototype.toString.call(v);
      }
      return text.length <= VALUE_CHARS ? text : text.slice(0, VALUE_CHARS) + '...';
    }
    default:
      return `<${typeof v}>`;
  }
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  // Most parameters are strings and numbers: only an object is worth asking what kind it is.
  if (typeof v !== 'object') return typeof v;
  if (isDate(v)) return 'Date';
  if (Buffer.isBuffer(v)) return 'Buffer';
  return v.constructor?.name ?? 'object';
}

/** Statement parameters per TXLENS_PARAMS; undefined means: leave the field out. */
export function paramsRepr(params: unknown): unknown {
  if (PARAMS_MODE === 'off' || params === undefined || params === null) return undefined;
  const conv = PARAMS_MODE === 'values' ? safeValue : typeName;
  if (Array.isArray(params)) {
    if (params.length === 0) return undefined;
    // One array, not a slice and its map: this runs at every statement.
    const n = Math.min(params.length, PARAM_LIMIT);
    const out: unknown[] = [];
    for (let i = 0; i < n; i++) out.push(conv(params[i]));
    if (params.length > PARAM_LIMIT) out.push('...');
    return out;
  }
  if (typeof params === 'object' && !Buffer.isBuffer(params) && !isDate(params)) {
    const out: Record<string, unknown> = {};
    let n = 0;
    for (const key of Object.keys(params as object)) {
      if (n++ >= PARAM_LIMIT) {
        out['...'] = 'truncated';
        break;
      }
      out[key] = conv((params as Record<string, unknown>)[key]);
    }
    return n === 0 ? undefined : out;
  }
  return [conv(params)];
}

// ---------------------------------------------------------------------------
// Values outside 'values' mode: nothing a row holds reaches the trace through
// the SQL text, a driver's error or a test's failure message.

const ERROR_MESSAGE_CHARS = 1000;
const FAILURE_CHARS = 300;

/** A statement's `sql` field: as sent in 'values' mode, else with its literals masked. */
export function recordedSql(sql: string): string {
  return PARAMS_MODE === 'values' ? sql : maskSqlLiterals(sql);
}

/** A driver error's message for `err.message`: cut to size; outside 'values' mode without the values it quotes. */
export function errorMessage(err: unknown): string {
  let message = String((err as { message?: unknown } | null)?.message ?? err).trim();
  if (PARAMS_MODE !== 'values') message = withoutQuotedValues(message);
  return message.length > ERROR_MESSAGE_CHARS ? message.slice(0, ERROR_MESSAGE_CHARS) + '...' : message;
}

/** A driver error's DETAIL for `err.detail`: as the server wrote it in 'values' mode, else only a key's columns. */
export function errorDetail(err: unknown): string | undefined {
  const detail = (err as { detail?: unknown } | null)?.detail;
  if (typeof detail !== 'string' || !detail) return undefined;
  return PARAMS_MODE === 'values' ? detail : detailWithoutValues(detail);
}

/** An error's name as code sees it (`AssertionError`), from the error or from the first line of its text. */
function errorName(err: unknown, line: string): string | undefined {
  const name = (err as { name?: unknown } | null)?.name;
  if (typeof name === 'string' && /^[A-Za-z_$][\w$.]*$/.test(name)) return name;
  return /^([A-Za-z_$][\w$.]*)(?:\s*\[\w+\])?(?::|$)/.exec(line)?.[1];
}

/**
 * A failed test's `test_end.message`, for every runner: the failure's line (`failureLine`) in 'values' mode;
 * else the error's name alone, since assertion messages quote the values they compared.
 */
export function failureMessage(err: unknown): string | undefined {
  const text = String((err as { message?: unknown } | null)?.message ?? err ?? '').trim();
  if (PARAMS_MODE !== 'values') return errorName(err, text.split('\n')[0] ?? '');
  const line = failureLine(text);
  return line.length > FAILURE_CHARS ? line.slice(0, FAILURE_CHARS) + '...' : line;
}

// node:assert's diff starts with this line, then one line per value, '+' for actual and '-' for expected.
const ASSERT_DIFF_LEGEND = '+ actual - expected';
// Terminal colours: jest's matcher messages carry them when its workers write to a terminal.
// eslint-disable-next-line no-control-regex -- the escape character is what a colour code starts with
const ANSI_COLOUR = /\u001b\[[0-9;]*m/g;

/**
 * A failure's message as one line: its first line, and the values below it where that line only
 * announces them. node:assert ends its first line with a colon and puts the compared values under it
 * ("Expected values to be strictly equal:", then "'PENDING' !== 'FAILED'"); jest's matchers start
 * with a hint ("expect(received).toBe(expected) // Object.is equality") and put the values on
 * "Expected:" and "Received:" lines. Either way the first line alone says nothing of what failed.
 */
export function failureLine(text: string): string {
  const lines = text
    .replace(ANSI_COLOUR, '')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const first = lines[0] ?? '';
  if (lines.length < 2) return first;
  if (first.endsWith(':')) {
    // Without the diff's legend; a diff of one value each way as words.
    const rest = lines.slice(1).filter((l) => l !== ASSERT_DIFF_LEGEND);
    if (rest.length === 2 && rest[0].startsWith('+ ') && rest[1].startsWith('- ')) return `${first} actual ${rest[0].slice(2)}, expected ${rest[1].slice(2)}`;
    return [first, ...rest].join(' ');
  }
  const expected = lines.find((l) => l.startsWith('Expected:'));
  const received = lines.find((l) => l.startsWith('Received:'));
  if (first.startsWith('expect(') && expected !== undefined && received !== undefined) return `${first}: ${expected}, ${received}`;
  return first;
}

// ---------------------------------------------------------------------------
// Connections and transactions, shared by the drivers' hooks

export interface ConnState {
  id: string;
  /** Id of the open transaction, if any. */
  tx?: string;
  /** Id of the ORM session (a Knex or Drizzle transaction, a TypeORM QueryRunner...) using the connection, if any. */
  sess?: string;
  /** Where that session was opened. */
  sessAt?: Stack;
  /** Where the connection was checked out of its pool, while it is out. */
  outAt?: Stack;
  closed?: boolean;
}

const open = new Set<ConnState>();
/** The driver's connection object (a pg Client, a better-sqlite3 Database) -> its state, for the ORM hooks. */
const owners = new WeakMap<object, ConnState>();

export function newConn(owner?: object): ConnState {
  const state: ConnState = { id: nextId('c') };
  open.add(state);
  if (owner !== undefined) owners.set(owner, state);
  return state;
}

/** The state of a driver connection object the agent has seen open, if any. */
export function connOf(owner: unknown): ConnState | undefined {
  if (owner === null || (typeof owner !== 'object' && typeof owner !== 'function')) return undefined;
  const state = owners.get(owner as object);
  return state === undefined || state.closed ? undefined : state;
}

/**
 * Stamp an event on a connection with the session using it. An event with no user frame of its
 * own stands at the line that opened that session or, with none, at the line that checked the
 * connection out: a client that checks out, runs the caller's statement from its own callback
 * and releases (pg-promise's every query, its task and tx) has that line as its only user frame.
 */
export function withSession<E extends PendingEvent>(state: ConnState, event: E): E {
  if (state.sess !== undefined) {
    (event as PendingEvent).sess = state.sess;
    (event as PendingEvent)._alt = state.sessAt;
  } else if (state.outAt !== undefined) (event as PendingEvent)._alt = state.outAt;
  return event;
}

export function forgetConn(state: ConnState): void {
  state.closed = true;
  open.delete(state);
}

export function txBegin(state: ConnState, implicit: boolean, cs?: Stack): void {
  if (state.tx !== undefined) return;
  state.tx = nextId('t');
  const e: PendingEvent = withSession(state, { k: 'begin', conn: state.id, tx: state.tx });
  if (implicit) e.implicit = true;
  emit(e, cs);
}

export function txCommit(state: ConnState, cs?: Stack): void {
  if (state.tx === undefined) return;
  emit(withSession(state, { k: 'commit', conn: state.id, tx: state.tx }), cs);
  state.tx = undefined;
}

export function txRollback(state: ConnState, cause: string, cs?: Stack): void {
  if (state.tx === undefined) return;
  emit(withSession(state, { k: 'rollback', conn: state.id, tx: state.tx, cause }), cs);
  state.tx = undefined;
}

// ---------------------------------------------------------------------------
// SQL keywords (transaction control), the same reading the Python agent makes

/** First SQL keyword, upper case, skipping blanks, '(' and comments ('' when unknown). */
export function keyword(sql: string, from = 0): string {
  let i = from;
  const n = sql.length;
  while (i < n) {
    const c = sql.charCodeAt(i);
    if (c === 32 || c === 9 || c === 10 || c === 13 || c === 40) i++;
    else if (c === 45 && sql.charCodeAt(i + 1) === 45) {
      const j = sql.indexOf('\n', i);
      i = j < 0 ? n : j + 1;
    } else if (c === 47 && sql.charCodeAt(i + 1) === 42) {
      const j = sql.indexOf('*/', i + 2);
      i = j < 0 ? n : j + 2;
    } else break;
  }
  let j = i;
  while (j < n) {
    const c = sql.charCodeAt(j) | 32;
    if ((c >= 97 && c <= 122) || sql.charCodeAt(j) === 95) j++;
    else break;
  }
  return sql.slice(i, j).toUpperCase();
}

const BEGIN_WORDS = new Set(['BEGIN', 'START']);

/** The statement opened a transaction block itself (BEGIN / START TRANSACTION). */
export function isBegin(sql: string): boolean {
  return BEGIN_WORDS.has(keyword(sql));
}

/**
 * SAVEPOINT x / RELEASE [SAVEPOINT] x / ROLLBACK [WORK|TRANSACTION] TO [SAVEPOINT] x:
 * [action, name], or undefined for anything else.
 */
export function savepointOf(sql: string): ['begin' | 'release' | 'rollback', string] | undefined {
  const words = sql.trim().replace(/;\s*$/, '').split(/\s+/);
  const first = (words[0] ?? '').toUpperCase();
  let action: 'begin' | 'release' | 'rollback';
  let rest: string[];
  if (first === 'SAVEPOINT') {
    action = 'begin';
    rest = words.slice(1);
  } else if (first === 'RELEASE') {
    action = 'release';
    rest = words.slice(1);
    if ((rest[0] ?? '').toUpperCase() === 'SAVEPOINT') rest = rest.slice(1);
  } else if (first === 'ROLLBACK') {
    rest = words.slice(1);
    if (/^(WORK|TRANSACTION)$/i.test(rest[0] ?? '')) rest = rest.slice(1);
    if ((rest[0] ?? '').toUpperCase() !== 'TO') return undefined;
    action = 'rollback';
    rest = rest.slice(1);
    if ((rest[0] ?? '').toUpperCase() === 'SAVEPOINT') rest = rest.slice(1);
  } else return undefined;
  const name = rest.join(' ').replace(/^["`]|["`]$/g, '').trim();
  return name ? [action, name] : undefined;
}

/** Emit the savepoint event a statement inside an open transaction stands for, if any. */
export function savepointEvent(state: ConnState, sql: string, cs?: Stack): void {
  const i = sql.search(/\S/);
  const c = sql.charCodeAt(i) | 32;
  const d = sql.charCodeAt(i + 1) | 32;
  // SA(VEPOINT), RE(LEASE), RO(LLBACK), either case: only those statements can name a savepoint,
  // and every other statement of a transaction (SELECT above all) is done here.
  if (!(c === 115 && d === 97) && !(c === 114 && (d === 101 || d === 111))) return;
  const sp = savepointOf(sql);
  if (!sp) return;
  const e: PendingEvent = withSession(state, { k: 'savepoint', conn: state.id, action: sp[0], name: sp[1] });
  if (state.tx !== undefined) e.tx = state.tx;
  emit(e, cs);
}

/**
 * A statement left the transaction it ran in: commit or rollback, read from what
 * ran (the server's tag when known: COMMIT of an aborted transaction answers ROLLBACK).
 */
export function endedBy(state: ConnState, sql: string, tag: string | undefined, failed: boolean, cs?: Stack): void {
  if (failed) return txRollback(state, 'error', cs);
  const word = (tag ?? keyword(sql)).toUpperCase();
  if (word === 'ROLLBACK' || word === 'ABORT') txRollback(state, 'explicit', cs);
  else if (word === 'COMMIT' || word === 'END' || word === 'RELEASE') txCommit(state, cs);
  else txRollback(state, 'error', cs);
}

// ---------------------------------------------------------------------------
// The running test, for the processes it starts

/**
 * While a test runs, its id is in TXLENS_PARENT_TEST, so a process the test
 * starts (a worker, a server, a CLI) names it in its header, as under pytest.
 * Returns what to restore when the test ends.
 */
export function enterTest(id: string): string | undefined {
  const previous = process.env[ENV.parentTest];
  process.env[ENV.parentTest] = id;
  return previous;
}

export function leaveTest(previous: string | undefined): void {
  if (previous === undefined) delete process.env[ENV.parentTest];
  else process.env[ENV.parentTest] = previous;
}

// ---------------------------------------------------------------------------
// Lifecycle

let started = false;

/** Flush at exit (after reporting transactions the exit discards), and on SIGTERM when nobody else handles it. */
export function start(): void {
  if (started || !ACTIVE) return;
  started = true;
  process.on('exit', final);
  if (isMainThread && process.listenerCount('SIGTERM') === 0) process.once('SIGTERM', onSigterm);
  if (!isMainThread) flushBeforePosting();
}

/**
 * A worker thread ended by worker.terminate() runs no exit listener: what it buffered is lost.
 * The thread that terminates a worker does it on word from it (a message: "done", a result), so
 * a worker writes what it traced before each message leaves. better-sqlite3's own suite lost its
 * worker's every statement so: the worker answers, waits on its port, and is terminated.
 */
function flushBeforePosting(): void {
  const proto = (THREAD.MessagePort as { prototype?: Record<string, unknown> } | undefined)?.prototype;
  const post = proto?.postMessage;
  if (proto === undefined || typeof post !== 'function' || (post as { __txlens?: boolean }).__txlens) return;
  const posting = function postMessage(this: unknown) {
    if (ACTIVE) flush();
    // eslint-disable-next-line prefer-rest-params -- handed on untouched, as the caller passed them
    return Reflect.apply(post, this, arguments);
  };
  Object.defineProperty(posting, 'length', { value: post.length });
  Object.defineProperty(posting, '__txlens', { value: true });
  proto.postMessage = posting;
}

function final(): void {
  try {
    if (ACTIVE) for (const state of open) txRollback(state, 'exit');
  } catch {
    // exit goes on
  }
  flush();
  if (fd !== undefined) {
    try {
      closeSync(fd);
    } catch {
      // already gone
    }
    fd = undefined;
  }
  // Anything later (another exit listener's query) would reopen a file nobody reads.
  ACTIVE = false;
}

function onSigterm(): void {
  final();
  // Die of the signal as we would have without our listener, unless the code added its own since.
  if (process.listenerCount('SIGTERM') === 0) process.kill(process.pid, 'SIGTERM');
}

