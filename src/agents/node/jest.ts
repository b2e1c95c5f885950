/**
 * jest: the drivers its tests load, and its test boundaries.
 *
 * jest runs each test file in a module registry of its own: `require('pg')` in
 * a test compiles a fresh copy of pg's files inside the test's sandbox, never
 * through Node's loader, so the hooks on Module#load do not see it. Instead the
 * agent hooks jest-runtime when a jest process (the CLI in band, or each of its
 * forked workers, which inherit NODE_OPTIONS) loads it: every module jest
 * executes passes through its executor, and the files the agent hooks
 * (modules.ts) are hooked there the same way, in the copy the test gets. The
 * user's jest config and command stay as they are.
 *
 * Boundaries come from jest-circus's own events: the runner hands its test
 * environment every event (`handleTestEvent`), and the agent adds itself there,
 * in front of whatever the environment does. 'test_start' comes before the
 * test's beforeEach hooks and 'test_done' after its afterEach hooks, so a
 * test's hooks fall inside its window, as pytest fixtures do. The line of a
 * test is where `test()` added it ('add_test' runs inside that call).
 *
 * jest compiles files itself (babel-jest, ts-jest): statement lines are read
 * through the maps its transforms produced, which it keeps per file.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import * as rt from './runtime';
import { ENV } from '../../trace/schema';
import { hookedBy, hookModule } from './modules';

// Wrappers hand `arguments` on untouched, so the wrapped function sees exactly what its caller passed.
/* eslint-disable prefer-rest-params */
/* eslint-disable @typescript-eslint/no-explicit-any */
type AnyFn = (...args: any[]) => any;

const PATCHED = Symbol.for('txlens.jest.patched');
const WORKSPACE = process.env[ENV.workspace] || process.cwd();
const ROOT_BLOCK = 'ROOT_DESCRIBE_BLOCK';

// ---------------------------------------------------------------------------
// Modules jest executes

/** File -> where jest keeps its transform (the code it ran and the map of it). */
const transformsOf = new Map<string, () => any>();

function mapFromTransform(entry: any): { sources?: unknown } | undefined {
  if (!entry) return undefined;
  if (typeof entry.sourceMapPath === 'string' && entry.sourceMapPath) {
    try {
      return JSON.parse(readFileSync(entry.sourceMapPath, 'utf8'));
    } catch {
      // no map file: try the code's inline map
    }
  }
  const url = typeof entry.code === 'string' ? rt.trailingMapUrl(entry.code) : undefined;
  return url === undefined ? undefined : rt.dataUrlMap(url);
}

function jestSourceMap(file: string): { sources?: unknown } | undefined {
  const entry = transformsOf.get(file);
  return entry === undefined ? undefined : mapFromTransform(entry());
}

/** Before jest runs a user module's body: its map is where jest's transform of it will be. */
function executing(module: any, transforms: () => Map<string, any> | undefined): void {
  const filename = module?.filename;
  if (typeof filename !== 'string' || filename.includes('node_modules')) return;
  transformsOf.set(filename, () => transforms()?.get(filename));
  rt.addSourceMapProvider(jestSourceMap);
}

/** After jest ran a module's body: hook it when it is one the agent hooks. */
function executed(module: any): void {
  const filename = module?.filename;
  const name = hookedBy(filename);
  if (name !== '') module.exports = hookModule(name, filename, module.exports);
}

/** The wrappers wrapExec made: a runtime whose _execModule is none of them runs module bodies unseen. */
const wrappedExecs = new WeakSet<AnyFn>();

function wrapExec(owner: any, method: string, transforms: (self: any) => Map<string, any> | undefined): void {
  const exec: AnyFn = owner[method];
  const wrapped = (owner[method] = function (this: any, localModule: unknown) {
    if (rt.ACTIVE) {
      try {
        executing(localModule, () => transforms(this));
      } catch (e) {
        rt.fail(e);
      }
    }
    const result = exec.apply(this, arguments as any);
    if (rt.ACTIVE) {
      try {
        executed(localModule);
      } catch (e) {
        rt.fail(e);
      }
    }
    return result;
  });
  wrappedExecs.add(wrapped);
}

/** The object on `object`'s prototype chain (itself first) that has `key` as its own property. */
function ownerOf(object: any, key: string): any {
  for (let o = object; o; o = Object.getPrototypeOf(o)) if (Object.prototype.hasOwnProperty.call(o, key)) return o;
  return undefined;
}

/**
 * A custom runtime (jest's `runtime` option: @side/jest-runtime, which MikroORM's suite runs) is a
 * subclass of Runtime with an _execModule of its own, which never calls Runtime's: hooked on
 * Runtime's prototype only, its tests ran no hooked module and no test boundary, and the run traced
 * nothing. Every load goes through Runtime's requireModule, which the subclass inherits: there the
 * prototype that owns the instance's _execModule is hooked too, once.
 */
function hookOwnExec(proto: any): void {
  const requireModule: AnyFn = proto.requireModule;
  if (typeof requireModule !== 'function') return;
  proto.requireModule = function (this: any) {
    if (rt.ACTIVE && typeof this?._execModule === 'function' && !wrappedExecs.has(this._execModule)) {
      try {
        const owner = ownerOf(this, '_execModule');
        if (owner) wrapExec(owner, '_execModule', (self) => self._fileTransforms);
      } catch (e) {
        rt.fail(e);
      }
    }
    return requireModule.apply(this, arguments as any);
  };
}

/** jest ≥ 30.3 runs module bodies in a ModuleExecutor the Runtime owns: hook its class once, on first use. */
function hookExecutor(runtime: any): void {
  const executor = runtime?.executor;
  const proto = executor && Object.getPrototypeOf(executor);
  if (!proto || proto[PATCHED] || typeof proto.exec !== 'function') return;
  Object.defineProperty(proto, PATCHED, { value: true });
  wrapExec(proto, 'exec', (self) => self.transformCache?.getEntries?.());
}

/** Hook jest-runtime's Runtime class (jest-runtime/build/index.js). */
export function hookJestRuntime(exports: any): void {
  const Runtime = exports?.default ?? exports;
  const proto = Runtime?.prototype;
  if (!proto || proto[PATCHED]) return;
  if (typeof proto._execModule === 'function') {
    // jest 27 to 30.2: the Runtime runs module bodies itself.
    Object.defineProperty(proto, PATCHED, { value: true });
    wrapExec(proto, '_execModule', (self) => self._fileTransforms);
    hookOwnExec(proto);
    return;
  }
  if (typeof proto.requireModule !== 'function') {
    rt.unsupported('jest-runtime', '(unknown layout)', 'jest 27 to 30');
    return;
  }
  Object.defineProperty(proto, PATCHED, { value: true });
  const requireModule: AnyFn = proto.requireModule;
  // Every load, internal modules included, starts here; the executor exists by then.
  proto.requireModule = function (this: any) {
    if (rt.ACTIVE) {
      try {
        hookExecutor(this);
      } catch (e) {
        rt.fail(e);
      }
    }
    return requireModule.apply(this, arguments as any);
  };
}

// ---------------------------------------------------------------------------
// Test boundaries

interface TestInfo {
  id: string;
  outer?: string;
  started: boolean;
}

/** Where each test was added: keyed by the Error jest-circus keeps for it (test.asyncError). */
const addedAt = new WeakMap<object, [string, number] | undefined>();
const running = new WeakMap<object, TestInfo>();

function titlePath(test: any): string[] {
  const names: string[] = [String(test?.name ?? '')];
  for (let block = test?.parent; block && block.name !== ROOT_BLOCK; block = block.parent) names.unshift(String(block.name));
  return names;
}

function infoOf(test: any, testPath: string): TestInfo {
  let info = running.get(test);
  if (info === undefined) {
    const name = titlePath(test).join(' > ');
    info = { id: testPath ? `${relative(WORKSPACE, testPath).split('\\').join('/')} > ${name}` : name, started: false };
    running.set(test, info);
  }
  return info;
}

function start(test: any, testPath: string): void {
  const info = infoOf(test, testPath);
  if (info.started) return;
  info.started = true;
  const at = test?.asyncError ? addedAt.get(test.asyncError) : undefined;
  const e: rt.PendingEvent = { k: 'test_start', id: info.id, name: titlePath(test).join(' > '), file: at?.[0] ?? testPath };
  if (at) e.line = at[1];
  rt.emit(e);
  info.outer = rt.enterTest(info.id);
  // On disk before the test runs: a test whose process is killed (SIGKILL, OOM) still shows it started.
  rt.flush();
}

function end(test: any, testPath: string, outcome: 'passed' | 'failed' | 'skipped'): void {
  const info = infoOf(test, testPath);
  if (!info.started) start(test, testPath);
  info.started = false;
  rt.leaveTest(info.outer);
  const e: rt.PendingEvent = { k: 'test_end', id: info.id, outcome };
  if (outcome === 'failed') {
    const first = Array.isArray(test.errors) ? test.errors[0] : undefined;
    e.message = rt.failureMessage(Array.isArray(first) ? first[0] : first);
  }
  rt.emit(e);
  // The test's events reach the file even if the worker is ended right after.
  rt.flush();
}

function onEvent(event: any, state: any, testPath: string, handler: AnyFn): void {
  switch (event?.name) {
    case 'add_test': {
      // jest-circus's own handler ran first: the test it made is the block's last child.
      const block = state?.currentDescribeBlock;
      const test = block?.children?.[block.children.length - 1];
      if (test?.asyncError && typeof test.asyncError === 'object') {
        const frame = rt.userFrame(rt.callSites(handler));
        addedAt.set(test.asyncError, frame ? [frame[0], frame[1]] : undefined);
      }
      return;
    }
    case 'test_start':
      start(event.test, testPath);
      return;
    case 'test_done':
      end(event.test, testPath, Array.isArray(event.test?.errors) && event.test.errors.length > 0 ? 'failed' : 'passed');
      return;
    case 'test_skip':
    case 'test_todo':
      end(event.test, testPath, 'skipped');
      return;
    default:
  }
}

/**
 * Hook jest-circus's adapter (jest-circus/build/[legacy-code-todo-rewrite/]jestAdapterInit.js, which jest
 * runs inside each test file's sandbox): its `initialize` gets the test
 * environment, whose `handleTestEvent` it subscribes to every circus event.
 */
export function hookJestCircus(exports: any): void {
  if (!exports || exports[PATCHED] || typeof exports.initialize !== 'function') return;
  Object.defineProperty(exports, PATCHED, { value: true });
  const initialize: AnyFn = exports.initialize;
  exports.initialize = function (this: unknown, options: any) {
    if (rt.ACTIVE) {
      try {
        const environment = options?.environment;
        const testPath = typeof options?.testPath === 'string' ? options.testPath : '';
        if (environment && typeof environment === 'object') {
          const own: AnyFn | undefined = typeof environment.handleTestEvent === 'function' ? environment.handleTestEvent : undefined;
          const handleTestEvent = function handleTestEvent(this: unknown, event: unknown, state: unknown) {
            if (rt.ACTIVE) {
              try {
                onEvent(event, state, testPath, handleTestEvent);
              } catch (e) {
                rt.fail(e);
              }
            }
            return own === undefined ? undefined : own.apply(this, arguments as any);
          };
          environment.handleTestEvent = handleTestEvent;
        }
      } catch (e) {
        rt.fail(e);
      }
    }
    return initialize.apply(this, arguments as any);
  };
}
