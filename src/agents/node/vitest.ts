/**
 * vitest: test boundaries in its workers (the `forks` pool's child processes
 * and the `threads` pool's worker threads, which both inherit NODE_OPTIONS).
 *
 * The drivers need nothing here: vitest leaves node_modules to Node's own
 * loader, where the preload hooks them. Its runner, though, is ES modules the
 * CommonJS hooks never see. What it does expose is the worker's state object,
 * which it puts on `globalThis.__vitest_worker__` (with Object.defineProperty)
 * before each test file, and whose `current` it sets to a test right before
 * the test's beforeEach hooks and back to the test's suite once the test's
 * afterEach hooks ran and its result is final. In a vitest worker the agent
 * watches that property: `current` becomes an accessor, and each change to or
 * from a test is a test_start or test_end.
 *
 * Each test's line is where vitest itself locates it (`task.location`) when
 * the project turned on `includeTaskLocation`. The agent never turns it on:
 * the location would then show in the reporters' output (the JSON reporter's
 * `location`) of a traced run alone. Otherwise the line is that of the first
 * `test(`/`it(` call with the test's name, not yet taken, in the test's file
 * (vitest runs the source file itself, so a TypeScript test has its .ts line),
 * or else in a module of the workspace the file imported that also holds the
 * test's describe() blocks: Drizzle's integration suite defines its tests in a
 * shared module (pg-common.ts) whose tests() each driver's test file calls. Such
 * a test is written at the file and line that define it, its id still under its
 * test file.
 * Statement lines in files vitest compiled are read through the maps it keeps
 * in the same state object (vite-node's module cache in vitest 3, the module
 * runner's graph in vitest 4).
 *
 * The `vmThreads` and `vmForks` pools run each test file in a vm context of its
 * own, whose state vitest puts on that context rather than on globalThis, and
 * load CommonJS packages there with a loader of their own (vitest's
 * CommonjsExecutor), which Node's loader and so the preload never see. The
 * agent watches that state the same way, and hooks the files it hooks
 * (modules.ts) as that loader runs them, as it does in jest's registry. It finds
 * the loader through the mocker vitest 3 puts on the context, and through the
 * loaders vitest 4 defines on it (`__vitest_vm_context__`).
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, relative } from 'node:path';
import { isContext } from 'node:vm';
import * as rt from './runtime';
import { ENV } from '../../trace/schema';
import { hookedBy, hookModule } from './modules';

// Wrappers hand `arguments` on untouched, so the wrapped function sees exactly what its caller passed.
/* eslint-disable prefer-rest-params */
/* eslint-disable @typescript-eslint/no-explicit-any */

const STATE_KEY = '__vitest_worker__';
/** Where vitest 4 keeps a vm pool context's module loaders, on the context itself. */
const VM_CONTEXT_KEY = '__vitest_vm_context__';
const PATCHED = Symbol.for('txlens.vitest.patched');
const WORKSPACE = process.env[ENV.workspace] || process.cwd();

/**
 * This process or thread is one of the workers vitest runs tests in. Vitest 3
 * runs them through tinypool: a `forks` child runs tinypool's process entry; a
 * `threads` worker thread is started with tinypool's private data first in its
 * workerData (`{ workerId }`; its argv names no file while the preload runs).
 * Vitest 4 has its own pool: a `forks` child runs vitest's `dist/workers/forks.js`
 * (a `vmForks` child its `dist/workers/vmForks.js`);
 * a `threads` worker thread has neither argv nor workerData while the preload
 * runs, only the environment vitest gives it (`VITEST`, `VITEST_MODE`).
 */
export function isVitestWorker(
  argv: readonly string[] = process.argv,
  worker: { isMainThread: boolean; workerData: unknown } = rt.THREAD,
  env: NodeJS.ProcessEnv = process.env,
): boolean {
  const entry = (argv[1] ?? '').replace(/\\/g, '/');
  if (/\/tinypool\/dist\/entry\/process\.js$/.test(entry)) return true;
  if (/\/vitest\/dist\/workers\/(?:forks|vmForks)\.js$/.test(entry)) return true;
  if (worker.isMainThread) return false;
  if (worker.workerData === undefined && env.VITEST === 'true' && typeof env.VITEST_MODE === 'string') return true;
  if (!Array.isArray(worker.workerData)) return false;
  const first: unknown = worker.workerData[0];
  return !!first && typeof first === 'object' && typeof (first as { workerId?: unknown }).workerId === 'number';
}

let latest: any;

function vitestSourceMap(file: string): { sources?: unknown } | undefined {
  try {
    // Vitest 4 runs files through Vite's module runner, whose graph decodes a module's inline map on
    // request (`.map` is the map as emitted); it has no moduleCache.
    const modules = latest?.evaluatedModules;
    if (typeof modules?.getModuleSourceMapById === 'function') {
      if (typeof modules.getModuleById === 'function' && !modules.getModuleById(file)) return undefined;
      const decoded = modules.getModuleSourceMapById(file);
      const map = decoded?.map;
      return map && typeof map === 'object' ? map : undefined;
    }
    const cache = latest?.moduleCache;
    // Only files vite-node ran: asking about another would add an empty entry to its cache.
    const id = typeof cache?.normalizePath === 'function' ? cache.normalizePath(file) : file;
    if (typeof cache?.has !== 'function' || !cache.has(id)) return undefined;
    const map = cache.getSourceMap?.(file);
    return map && typeof map === 'object' ? map : undefined;
  } catch {
    return undefined;
  }
}

interface Started {
  id: string;
  outer?: string;
}

const started = new WeakMap<object, Started>();

function isTest(task: any): boolean {
  return !!task && typeof task === 'object' && task.type === 'test';
}

function idOf(test: any): [string, string, string] {
  const names: string[] = [String(test.name)];
  for (let suite = test.suite; suite && suite !== test.file && typeof suite.filepath !== 'string'; suite = suite.suite) names.unshift(String(suite.name));
  const file: string = typeof test.file?.filepath === 'string' ? test.file.filepath : '';
  const name = names.join(' > ');
  return [file ? `${relative(WORKSPACE, file).split('\\').join('/')} > ${name}` : name, name, file];
}


/** Per source file (a test file, or a module that defines tests): its lines. */
const sources = new Map<string, string[] | null>();

/**
 * Per test file and source file: the lines of the source already given to a test of the test
 * file. A module that defines tests gives its lines again to each test file that runs them.
 */
const taken = new Map<string, Set<number>>();

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function linesOf(file: string): string[] | null {
  let lines = sources.get(file);
  if (lines === undefined) {
    try {
      lines = readFileSync(file, 'utf8').split('\n');
    } catch {
      lines = null;
    }
    sources.set(file, lines);
  }
  return lines;
}

/** The line of the first test()/it() call named `name` in `file` that no earlier test of `testFile` took. */
function definedAt(file: string, name: string, testFile = file): number | undefined {
  const lines = linesOf(file);
  if (lines === null) return undefined;
  const key = `${testFile}\0${file}`;
  let given = taken.get(key);
  if (given === undefined) taken.set(key, (given = new Set()));
  const call = new RegExp(`\\b(?:test|it)(?:\\.\\w+)*\\s*\\(\\s*(['"\`])${escapeRegExp(name)}\\1`);
  for (let i = 0; i < lines.length; i++) {
    if (given.has(i + 1) || !call.test(lines[i])) continue;
    given.add(i + 1);
    return i + 1;
  }
  return undefined;
}

/** Per file and suite name: whether the file calls describe() (or suite()) with that name. */
const describedIn = new Map<string, boolean>();

/** Whether `file` calls describe() (or suite()) with each of `suites`' names. */
function describes(file: string, suites: readonly string[]): boolean {
  const lines = sources.get(file);
  if (!lines) return false;
  return suites.every((name) => {
    const key = `${file}\0${name}`;
    let found = describedIn.get(key);
    if (found === undefined) {
      const call = new RegExp(`\\b(?:describe|suite)(?:\\.\\w+)*\\s*\\(\\s*(['"\`])${escapeRegExp(name)}\\1`);
      describedIn.set(key, (found = lines.some((l) => call.test(l))));
    }
    return found;
  });
}

/**
 * The workspace's modules vitest ran for the current test file, the file itself apart, in the
 * order it ran them: the files of the module runner's graph (vitest 4 and 5, on Vite's module
 * runner) or vite-node's module cache (vitest 3); none where the worker keeps neither.
 */
function importedModules(testFile: string): string[] {
  try {
    const files = latest?.evaluatedModules?.fileToModulesMap;
    const cache = typeof files?.keys === 'function' ? files : latest?.moduleCache;
    if (typeof cache?.keys !== 'function') return [];
    const found: string[] = [];
    for (const key of cache.keys()) {
      if (typeof key !== 'string' || key === testFile || !isAbsolute(key) || /[\\/]node_modules[\\/]/.test(key)) continue;
      if (!/\.[cm]?[jt]sx?$/.test(key) || relative(WORKSPACE, key).startsWith('..')) continue;
      found.push(key);
    }
    return found;
  } catch {
    return [];
  }
}

/**
 * Where `test` is defined when vitest does not say: in its own file, or else in a module of the
 * workspace the file imported that holds each of its describe() blocks too (in either of them).
 */
function placeOf(test: any, file: string): [string, number] | undefined {
  const name = String(test.name);
  const line = definedAt(file, name);
  if (line !== undefined) return [file, line];
  const suites: string[] = [];
  for (let suite = test.suite; suite && suite !== test.file && typeof suite.filepath !== 'string'; suite = suite.suite) suites.push(String(suite.name));
  for (const module of importedModules(file)) {
    const at = definedAt(module, name, file);
    if (at === undefined) continue;
    if (describes(module, suites.filter((s) => !describes(file, [s])))) return [module, at];
    // Not this module's test after all: its line goes back to the tests still to come.
    taken.get(`${file}\0${module}`)?.delete(at);
  }
  return undefined;
}

const placed = new WeakMap<object, [string, number] | undefined>();

function start(test: any): void {
  if (vmPool && !vmLoaderHooked) rt.unsupported('vitest vm pools', '(module loader not found)', 'vitest 3 and 4');
  const [id, name, file] = idOf(test);
  const e: rt.PendingEvent = { k: 'test_start', id, name, file };
  const own = test.location?.line;
  if (typeof own === 'number' && own > 0) e.line = own;
  else {
    // A retried or repeated test runs again: it keeps the place it was given.
    if (!placed.has(test) && file) placed.set(test, placeOf(test, file));
    const at = placed.get(test);
    if (at !== undefined) {
      e.file = at[0];
      e.line = at[1];
    }
  }
  rt.emit(e);
  started.set(test, { id, outer: rt.enterTest(id) });
  // On disk before the test runs: a test whose process is killed (SIGKILL, OOM) still shows it started.
  rt.flush();
}

function end(test: any): void {
  const info = started.get(test);
  if (info === undefined) return;
  started.delete(test);
  rt.leaveTest(info.outer);
  const state = test.result?.state;
  const outcome = state === 'fail' ? 'failed' : state === 'skip' || state === 'todo' ? 'skipped' : 'passed';
  const e: rt.PendingEvent = { k: 'test_end', id: info.id, outcome };
  if (outcome === 'failed') e.message = rt.failureMessage(test.result?.errors?.[0]);
  rt.emit(e);
  // The test's events reach the file even if the pool ends the worker right after.
  rt.flush();
}

function transition(previous: unknown, next: unknown): void {
  if (previous === next) return;
  if (isTest(previous)) end(previous);
  if (isTest(next)) start(next);
}

/** Watch one worker state (vitest makes a new one for each test file it runs). */
function watch(state: any): void {
  if (!state || typeof state !== 'object' || state[PATCHED]) return;
  Object.defineProperty(state, PATCHED, { value: true });
  latest = state;
  rt.addSourceMapProvider(vitestSourceMap);
  let current = state.current;
  Object.defineProperty(state, 'current', {
    configurable: true,
    enumerable: true,
    get: () => current,
    set: (next: unknown) => {
      const previous = current;
      current = next;
      if (!rt.ACTIVE) return;
      try {
        transition(previous, next);
      } catch (e) {
        rt.fail(e);
      }
    },
  });
}

// ---------------------------------------------------------------------------
// The vm pools' own CommonJS loader

const MOCKER_KEY = '__vitest_mocker__';

/**
 * A vm pool's test context was seen, and the CommonJS loader of such contexts was hooked: a test
 * that starts in a vm pool with no loader hooked runs untraced, which the agent says (a vitest
 * whose vm pools keep their loader where the agent does not look traced nothing with nothing said).
 */
let vmPool = false;
let vmLoaderHooked = false;

/** Hook the class of the loader vitest's vm pools run CommonJS files with (CommonjsExecutor). */
function hookVmCommonjs(externalModules: any): void {
  const cjs = externalModules?.cjs;
  const proto = cjs && Object.getPrototypeOf(cjs);
  if (!proto) return;
  if (proto[PATCHED]) {
    vmLoaderHooked = true;
    return;
  }
  if (typeof proto.loadCommonJSModule !== 'function' || !(cjs.requireCache instanceof Map)) {
    rt.unsupported('vitest vm pools', '(unknown module loader)', 'vitest 3 and 4');
    return;
  }
  Object.defineProperty(proto, PATCHED, { value: true });
  vmLoaderHooked = true;
  const load = proto.loadCommonJSModule;
  proto.loadCommonJSModule = function loadCommonJSModule(this: any, module: any, filename: unknown) {
    // A cached module was hooked when it first ran.
    const fresh = rt.ACTIVE && hookedBy(filename) !== '' && !this.requireCache.has(filename);
    const exports = load.apply(this, arguments as any);
    if (!fresh || !rt.ACTIVE) return exports;
    try {
      const hooked = hookModule(hookedBy(filename) as Exclude<ReturnType<typeof hookedBy>, ''>, filename as string, exports);
      // The cache holds the module object: later requires of the file get what this one got.
      if (module && typeof module === 'object') module.exports = hooked;
      return hooked;
    } catch (e) {
      rt.fail(e);
      return exports;
    }
  };
}

/**
 * A vm pool's test context: vitest puts its mocker there right after it made the
 * executor that loads the context's modules, and the mocker leads to it. The
 * property becomes an accessor that behaves as the plain property it was.
 */
function watchVmContext(context: any): void {
  vmPool = true;
  if (context[PATCHED]) return;
  define(context, PATCHED, { value: true });
  let mocker = context[MOCKER_KEY];
  define(context, MOCKER_KEY, {
    configurable: true,
    enumerable: true,
    get: () => mocker,
    set: (next: unknown) => {
      mocker = next;
      if (!rt.ACTIVE) return;
      try {
        hookVmCommonjs((next as any)?.executor?.externalModules);
      } catch (e) {
        rt.fail(e);
      }
    },
  });
}

// The original, kept before hookVitestWorker wraps it.
const define = Object.defineProperty;

/**
 * In a vitest worker: see each state vitest puts on globalThis. Object.defineProperty
 * is wrapped to notice that one property being defined; every other call goes
 * straight through.
 */
export function hookVitestWorker(): void {
  if ((Object.defineProperty as any)[PATCHED]) return;
  const defineProperty = function defineProperty<T>(target: T, key: PropertyKey, descriptor: PropertyDescriptor & ThisType<any>): T {
    const result = define(target, key, descriptor);
    if (key === STATE_KEY && rt.ACTIVE) {
      try {
        if (target === (globalThis as unknown)) watch(descriptor?.value);
        else if (target !== null && typeof target === 'object' && isContext(target)) {
          // A vm pool: the test file's context, not this realm's globalThis.
          watch(descriptor?.value);
          watchVmContext(target);
        }
      } catch (e) {
        rt.fail(e);
      }
    } else if (key === VM_CONTEXT_KEY && rt.ACTIVE) {
      // Vitest 4's vm pools: the context's loaders, defined on it before any test file is imported
      // (its mocker no longer leads to them).
      try {
        if (target !== null && typeof target === 'object' && isContext(target)) hookVmCommonjs(descriptor?.value?.externalModulesExecutor);
      } catch (e) {
        rt.fail(e);
      }
    }
    return result;
  };
  define(defineProperty, PATCHED, { value: true });
  Object.defineProperty = defineProperty;
}
