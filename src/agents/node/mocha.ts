/**
 * Test boundaries for mocha.
 *
 * mocha reports every test through its Runner's events: 'test' before the
 * test's beforeEach hooks, 'fail' with the error, 'test end' after its afterEach
 * hooks. Runner#emit is wrapped to turn those into test_start/test_end, so a
 * test's hooks fall inside its window, as pytest fixtures do. The line of each
 * test is where `it()` added it (Suite#addTest runs while the spec file loads).
 * `--parallel` workers load mocha themselves and are hooked the same way; the
 * parent, which only replays their events for its reporters, records none.
 *
 * A hook that fails is a 'fail' of the hook, and mocha's reporters count it as
 * a failure: a beforeEach's ends the test it ran for (which never gets its
 * 'test end'), as an error; a before/after all hook's (or an afterEach's, once
 * its test ended) is an errored entry of its own, named as mocha names it
 * ('"before all" hook for "..."'), since the tests it stopped never start.
 */
import { relative } from 'node:path';
import * as rt from './runtime';
import { ENV } from '../../trace/schema';

// Wrappers hand `arguments` on untouched, so the wrapped function sees exactly what its caller passed.
/* eslint-disable prefer-rest-params */
/* eslint-disable @typescript-eslint/no-explicit-any */
type AnyFn = (...args: any[]) => any;

const PATCHED = Symbol.for('txlens.mocha.patched');
const WORKSPACE = process.env[ENV.workspace] || process.cwd();

interface TestInfo {
  id: string;
  started: boolean;
  error?: unknown;
  /** TXLENS_PARENT_TEST before the test began. */
  outer?: string;
}

const defined = new WeakMap<object, [string, number] | undefined>();
const running = new WeakMap<object, TestInfo>();

function infoOf(test: any): TestInfo {
  let info = running.get(test);
  if (info === undefined) {
    const name = (typeof test.titlePath === 'function' ? test.titlePath() : [String(test.title)]).join(' > ');
    const at = defined.get(test);
    const file: string = typeof test.file === 'string' ? test.file : at?.[0] ?? '';
    info = { id: file ? `${relative(WORKSPACE, file).split('\\').join('/')} > ${name}` : name, started: false };
    running.set(test, info);
  }
  return info;
}

function start(test: any): void {
  const info = infoOf(test);
  info.started = true;
  info.error = undefined;
  const at = defined.get(test);
  const name = info.id.includes(' > ') && typeof test.file === 'string' ? info.id.slice(info.id.indexOf(' > ') + 3) : info.id;
  const e: rt.PendingEvent = { k: 'test_start', id: info.id, name, file: typeof test.file === 'string' ? test.file : at?.[0] ?? '' };
  // The line goes with the file it is in. mocha's test.file is the file whose loading defined the `it`
  // that added the test: an `it` kept from another spec file (better-sqlite3's setup file exports
  // `util.itUnix = it`) names that file, while the test is at the line of its own file that called it.
  if (at) {
    e.file = at[0];
    e.line = at[1];
  }
  rt.emit(e);
  info.outer = rt.enterTest(info.id);
  // On disk before the test runs: a test whose process is killed (SIGKILL, OOM) still shows it started.
  rt.flush();
}

function end(test: any, byHook = false): void {
  const info = infoOf(test);
  const pending = typeof test.isPending === 'function' && test.isPending();
  if (!info.started) {
    if (!pending) return;
    start(test);
  }
  info.started = false;
  rt.leaveTest(info.outer);
  const failed = test.state === 'failed' || info.error !== undefined;
  const e: rt.PendingEvent = { k: 'test_end', id: info.id, outcome: failed ? (byHook ? 'error' : 'failed') : pending ? 'skipped' : 'passed' };
  if (failed) e.message = rt.failureMessage(info.error);
  rt.emit(e);
  rt.flush();
}

/** A hook's 'fail': the running test it belongs to errors, or the hook is an errored entry of its own. */
function hookFailed(hook: any, err: unknown): void {
  const current = hook.ctx?.currentTest;
  const info = current && typeof current === 'object' ? running.get(current) : undefined;
  if (info?.started) {
    info.error = err;
    end(current, true);
    return;
  }
  start(hook);
  infoOf(hook).error = err;
  end(hook, true);
}

/**
 * The runner of a `--parallel` run's parent process, which replays its workers' events for the
 * reporters (copies of their tests, rebuilt from messages): the workers record the tests, where
 * they run; recorded again here, each would start twice and never end.
 */
function replaysWorkers(runner: any): boolean {
  try {
    return typeof runner?.isParallelMode === 'function' && runner.isParallelMode() === true;
  } catch {
    return false;
  }
}

/** Hook mocha's Runner class (mocha/lib/runner.js). */
export function hookMochaRunner(Runner: any): void {
  const proto = Runner?.prototype;
  if (!proto || proto[PATCHED] || typeof proto.emit !== 'function') return;
  Object.defineProperty(proto, PATCHED, { value: true });
  const emit: AnyFn = proto.emit;
  proto.emit = function (this: any, event: unknown, test: any, err: unknown) {
    if (rt.ACTIVE && test && typeof test === 'object' && (test.type === 'test' || (test.type === 'hook' && event === 'fail')) && !replaysWorkers(this)) {
      try {
        if (test.type === 'hook') hookFailed(test, err);
        else if (event === 'test') start(test);
        else if (event === 'fail') infoOf(test).error = err;
        else if (event === 'test end') end(test);
      } catch (e) {
        rt.fail(e);
      }
    }
    return emit.apply(this, arguments as any);
  };
}

/** Hook mocha's Suite class (mocha/lib/suite.js): remember where each test was defined. */
export function hookMochaSuite(Suite: any): void {
  const proto = Suite?.prototype;
  if (!proto || proto[PATCHED] || typeof proto.addTest !== 'function') return;
  Object.defineProperty(proto, PATCHED, { value: true });
  const addTest: AnyFn = proto.addTest;
  proto.addTest = function addTestTraced(this: unknown, test: any) {
    if (rt.ACTIVE && test && typeof test === 'object') {
      try {
        const frame = rt.userFrame(rt.callSites(addTestTraced));
        defined.set(test, frame ? [frame[0], frame[1]] : undefined);
      } catch (e) {
        rt.fail(e);
      }
    }
    return addTest.apply(this, arguments as any);
  };
}
