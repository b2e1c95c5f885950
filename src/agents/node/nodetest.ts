/**
 * Test boundaries for node:test, read from node:test's own reports.
 *
 * The agent never stands between the user's code and node:test: node:test
 * takes each test's location from the frame that called test()/it() and shows
 * it in every reporter (TAP's `location:`, the events' file/line/column, the
 * editor's), and shows the test function's frames in a failure's stack, so a
 * wrapper around either would put the agent's own file there. Instead the agent
 * listens to the stream every reporter reads (the root test's TestsStream, an
 * EventEmitter that emits each report by its type besides queueing it for the
 * reporters; listening takes nothing from them):
 * - 'test:dequeue', right before a test runs (its parent's before and its
 *   beforeEach hooks included), is test_start;
 * - 'test:complete', once it ran (afterEach hooks included), is test_end;
 *   'test:pass'/'test:fail' (the ordered report, later) end a test whose
 *   completion never came.
 * The reports carry name, nesting and location; the test objects themselves
 * (for the suites around a test, and to tell tests from suites) are the
 * root's tree of subtests. The root is found once: when node:test's harness
 * sets itself up (it adds its process handlers from inside node:test), an
 * async_hooks init hook is on until the next test or hook object is made,
 * whose parent's `root` it is, and is off again from then on.
 *
 * The id is 'relative/file.test.js > suite > test' (relative to the workspace),
 * the name 'suite > test', file and line node:test's own location of the test,
 * read through the file's source map. Tests a test starts (t.test()) fall
 * inside their parent's window, as the parent's own work.
 */
import { createHook, type AsyncHook } from 'node:async_hooks';
import { relative } from 'node:path';
import * as rt from './runtime';
import { ENV } from '../../trace/schema';

/* eslint-disable @typescript-eslint/no-explicit-any */

const WORKSPACE = process.env[ENV.workspace] || process.cwd();
const HOOK_FAILURE = 'hookFailed';

/** A node:test report: name, nesting and (spread in) the test's location. */
interface Report {
  name?: unknown;
  nesting?: unknown;
  file?: unknown;
  line?: unknown;
  column?: unknown;
  skip?: unknown;
  todo?: unknown;
  details?: { passed?: unknown; error?: any };
}

interface Open {
  test: any;
  id: string;
  outer?: string;
}

const open: Open[] = [];
const seen = new WeakSet<object>();
let root: any;

/** A failed hook's report wraps the error that failed it: the message is the cause's. */
function failureOf(err: any): unknown {
  return err?.failureType === HOOK_FAILURE || err?.code === 'ERR_TEST_FAILURE' ? (err.cause ?? err) : err;
}

const isSuite = (t: any): boolean => t?.reportedType === 'suite';
/** The per-file test of node:test's orchestrator (and of in-process isolation): no suite of the user's. */
const isFileTest = (t: any): boolean => t?.constructor?.name === 'FileTest';

function sameTest(t: any, r: Report): boolean {
  if (t === null || typeof t !== 'object' || t.name !== r.name || t.nesting !== r.nesting) return false;
  const loc = t.loc;
  if (loc === undefined || loc === null) return r.file === undefined;
  return loc.file === r.file && loc.line === r.line && loc.column === r.column;
}

/** The not yet started test the report is about, in definition order. */
function findTest(r: Report): any {
  const pending: any[] = [root];
  while (pending.length > 0) {
    const t = pending.shift();
    const subtests: unknown = t?.subtests;
    if (!Array.isArray(subtests)) continue;
    for (const s of subtests) {
      if (!seen.has(s) && sameTest(s, r)) return s;
      pending.push(s);
    }
  }
  return undefined;
}

/** 'suite > test' for a test whose ancestors are suites; undefined for a test a test started. */
function pathOf(test: any): string[] | undefined {
  const names: string[] = [String(test.name)];
  for (let p = test.parent; p && p !== root && p.parent != null; p = p.parent) {
    if (isFileTest(p)) continue;
    if (!isSuite(p)) return undefined;
    names.unshift(String(p.name));
  }
  return names;
}

/**
 * Tests the command line left out (`--test-name-pattern`, `--test-only`): not run, as pytest's
 * deselected tests are not; Node 20 still reports them, as skipped with this reason, later
 * versions mark them filtered and say nothing.
 */
const DESELECTED = new Set(['test name does not match pattern', "'only' option not set"]);
const deselected = (test: any): boolean => test.filtered === true || (test.skipped === true && DESELECTED.has(test.message));

function onDequeue(r: Report): void {
  const test = findTest(r);
  if (test === undefined) return;
  seen.add(test);
  if (isSuite(test) || isFileTest(test) || typeof test.hookType === 'string' || deselected(test)) return;
  const path = pathOf(test);
  if (path === undefined) return;
  const name = path.join(' > ');
  let file = '';
  let line: number | undefined;
  const loc = test.loc;
  if (loc && typeof loc.file === 'string' && typeof loc.line === 'number') {
    [file, line] = rt.sourcePosition(loc.file, loc.line, typeof loc.column === 'number' ? loc.column : 1);
  }
  const id = file ? `${relative(WORKSPACE, file).split('\\').join('/')} > ${name}` : name;
  const e: rt.PendingEvent = { k: 'test_start', id, name, file };
  if (line !== undefined) e.line = line;
  rt.emit(e);
  open.push({ test, id, outer: rt.enterTest(id) });
  // On disk before the test runs: a test whose process is killed (SIGKILL, OOM) still shows it started.
  rt.flush();
}

function onEnd(r: Report): void {
  const at = open.findIndex((o) => sameTest(o.test, r));
  if (at < 0) return;
  const [{ id, outer }] = open.splice(at, 1);
  rt.leaveTest(outer);
  const error = r.details?.error;
  let outcome: 'passed' | 'failed' | 'skipped' | 'error';
  if (r.skip !== undefined && r.skip !== false) outcome = 'skipped';
  else if (r.details?.passed === true || (r.details?.passed === undefined && !error)) outcome = 'passed';
  // A todo test is expected to fail: node:test does not count it as a failure either.
  else if (r.todo !== undefined && r.todo !== false) outcome = 'skipped';
  else outcome = error?.failureType === HOOK_FAILURE ? 'error' : 'failed';
  const e: rt.PendingEvent = { k: 'test_end', id, outcome };
  if (outcome === 'failed' || outcome === 'error') e.message = rt.failureMessage(failureOf(error));
  rt.emit(e);
  // The test's events reach the file even if the runner ends the process right after.
  rt.flush();
}

function guarded(fn: (r: Report) => void): (r: Report) => void {
  return (r) => {
    if (!rt.ACTIVE || root === undefined) return;
    try {
      if (r && typeof r === 'object') fn(r);
    } catch (e) {
      rt.fail(e);
    }
  };
}

/**
 * Listen to the root test's report stream (once per process: node:test has one
 * root). A hook's test object (before(), beforeEach()) has no parent, and a root
 * and stream of its own: its root is that of the test it belongs to.
 */
function adopt(test: any): boolean {
  const candidate = (test?.parent ?? test?.parentTest)?.root;
  const reporter = candidate?.reporter;
  if (!candidate || typeof reporter?.on !== 'function') return false;
  root = candidate;
  reporter.on('test:dequeue', guarded(onDequeue));
  reporter.on('test:complete', guarded(onEnd));
  reporter.on('test:pass', guarded(onEnd));
  reporter.on('test:fail', guarded(onEnd));
  return true;
}

let hook: AsyncHook | undefined;

/** node:test's harness is setting up (its root test exists): find the root through the next test object made. */
function findRoot(): void {
  if (hook !== undefined || root !== undefined) return;
  let made: object[] = [];
  const settle = (): void => {
    const candidates = made;
    made = [];
    try {
      if (root === undefined && rt.ACTIVE) candidates.some(adopt);
    } catch (e) {
      rt.fail(e);
    }
    if (root !== undefined || !rt.ACTIVE) hook?.disable();
  };
  hook = createHook({
    init(_id, type, _trigger, resource) {
      if (type !== 'Test') return;
      made.push(resource);
      // The test's constructor is still running: read its root once it returned.
      if (made.length === 1) queueMicrotask(settle);
    },
  });
  hook.enable();
}

function fromTestRunner(): boolean {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 30;
  const holder: { stack?: string } = {};
  Error.captureStackTrace(holder, fromTestRunner);
  Error.stackTraceLimit = limit;
  return typeof holder.stack === 'string' && holder.stack.includes('internal/test_runner/');
}

/**
 * Watch for node:test in this process: its harness adds its 'uncaughtException'
 * handler when it makes the root test. One listener on process's 'newListener',
 * removed once node:test showed up.
 */
export function watchNodeTest(): void {
  const onNewListener = (event: unknown): void => {
    if (event !== 'uncaughtException' || !rt.ACTIVE) return;
    try {
      if (!fromTestRunner()) return;
      process.removeListener('newListener', onNewListener);
      findRoot();
    } catch (e) {
      rt.fail(e);
    }
  };
  process.on('newListener', onNewListener);
}
