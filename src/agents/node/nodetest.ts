/**
 * Test boundaries for node:test.
 *
 * `node --test` runs each test file in a child process of its own; NODE_OPTIONS
 * carries the agent into each. There, `require('node:test')` gets a copy of the
 * module whose test/it/describe/suite (and their skip/todo/only) wrap each test
 * function: test_start right before it runs, test_end when it returns, throws,
 * or its promise or done-callback settles. The function keeps its `length`, so
 * node:test still tells callback-style tests from the others. Suite names come
 * from the describe() blocks whose bodies are defining the test.
 *
 * The id is 'relative/file.test.js > suite > test' (relative to the workspace),
 * the name 'suite > test', file and line those of the test() call.
 */
import { relative } from 'node:path';
import * as rt from './runtime';
import { ENV } from '../../trace/schema';

// Wrappers hand `arguments` on untouched, so the wrapped function sees exactly what its caller passed.
/* eslint-disable prefer-rest-params */
/* eslint-disable @typescript-eslint/no-explicit-any */
type AnyFn = (...args: any[]) => any;

const WORKSPACE = process.env[ENV.workspace] || process.cwd();
const suites: string[] = [];
let traced: AnyFn | undefined;
let original: unknown;

interface TestMeta {
  id: string;
  name: string;
  file: string;
  line?: number;
}

function wrapTest(fn: AnyFn, meta: TestMeta): AnyFn {
  let running = false;
  let outerTest: string | undefined;
  const end = (outcome: 'passed' | 'failed', err?: unknown): void => {
    if (!running) return;
    running = false;
    try {
      rt.leaveTest(outerTest);
      const e: rt.PendingEvent = { k: 'test_end', id: meta.id, outcome };
      if (outcome === 'failed') e.message = rt.failureMessage(err);
      rt.emit(e);
      // The test's events reach the file even if the runner ends the process right after.
      rt.flush();
    } catch (e) {
      rt.fail(e);
    }
  };
  const wrapped = function (this: unknown) {
    if (!rt.ACTIVE) return fn.apply(this, arguments as any);
    const args = Array.prototype.slice.call(arguments);
    try {
      running = true;
      const e: rt.PendingEvent = { k: 'test_start', id: meta.id, name: meta.name, file: meta.file };
      if (meta.line !== undefined) e.line = meta.line;
      rt.emit(e);
      outerTest = rt.enterTest(meta.id);
      // On disk before the test runs: a test whose process is killed (SIGKILL, OOM) still shows it started.
      rt.flush();
    } catch (e) {
      rt.fail(e);
    }
    const callbackStyle = fn.length >= 2 && typeof args[1] === 'function';
    if (callbackStyle) {
      const done = args[1];
      args[1] = function (this: unknown, err: unknown) {
        end(err ? 'failed' : 'passed', err);
        return done.apply(this, arguments as any);
      };
    }
    let result: any;
    try {
      result = fn.apply(this, args);
    } catch (err) {
      end('failed', err);
      throw err;
    }
    if (result && typeof result.then === 'function') {
      return result.then(
        (value: unknown) => {
          end('passed');
          return value;
        },
        (err: unknown) => {
          end('failed', err);
          throw err;
        },
      );
    }
    if (!callbackStyle) end('passed');
    return result;
  };
  Object.defineProperty(wrapped, 'length', { value: fn.length });
  Object.defineProperty(wrapped, 'name', { value: fn.name });
  return wrapped;
}

function wrapSuite(fn: AnyFn, name: string): AnyFn {
  const wrapped = function (this: unknown) {
    suites.push(name);
    try {
      return fn.apply(this, arguments as any);
    } finally {
      suites.pop();
    }
  };
  Object.defineProperty(wrapped, 'length', { value: fn.length });
  Object.defineProperty(wrapped, 'name', { value: fn.name });
  return wrapped;
}

function definer(orig: AnyFn, suite: boolean): AnyFn {
  const define = function (this: unknown) {
    if (!rt.ACTIVE) return orig.apply(this, arguments as any);
    const args = Array.prototype.slice.call(arguments);
    try {
      let at = -1;
      for (let i = args.length - 1; i >= 0; i--) {
        if (typeof args[i] === 'function') {
          at = i;
          break;
        }
      }
      if (at >= 0) {
        const fn = args[at];
        const name = typeof args[0] === 'string' ? args[0] : fn.name || '<anonymous>';
        if (suite) args[at] = wrapSuite(fn, name);
        else {
          const frame = rt.userFrame(rt.callSites(define));
          const path = [...suites, name].join(' > ');
          const file = frame ? frame[0] : '';
          const id = file ? `${relative(WORKSPACE, file).split('\\').join('/')} > ${path}` : path;
          args[at] = wrapTest(fn, { id, name: path, file, line: frame?.[1] });
        }
      }
    } catch (e) {
      rt.fail(e);
      return orig.apply(this, arguments as any);
    }
    return orig.apply(this, args);
  };
  Object.defineProperty(define, 'name', { value: orig.name });
  return define;
}

function withVariants(orig: AnyFn, suite: boolean): AnyFn {
  const out: any = definer(orig, suite);
  for (const variant of ['skip', 'todo', 'only']) {
    const v = (orig as any)[variant];
    if (typeof v === 'function') out[variant] = definer(v, suite);
  }
  return out;
}

/** What `require('node:test')` returns while tracing: the module with its test definers wrapped. */
export function tracedNodeTest(mod: any): any {
  if (typeof mod !== 'function') return mod;
  if (traced !== undefined && mod === original) return traced;
  const test: any = withVariants(mod, false);
  for (const key of Object.getOwnPropertyNames(mod)) {
    if (key === 'length' || key === 'name' || key === 'prototype' || key in test) continue;
    test[key] = mod[key];
  }
  test.test = test;
  test.it = mod.it === mod.test || mod.it === mod ? test : withVariants(mod.it, false);
  if (typeof mod.describe === 'function') test.describe = withVariants(mod.describe, true);
  if (typeof mod.suite === 'function') test.suite = mod.suite === mod.describe ? test.describe : withVariants(mod.suite, true);
  original = mod;
  traced = test;
  return test;
}

// ---------------------------------------------------------------------------
// ES modules: `import { test } from 'node:test'`

/**
 * An ES `import` of node:test never passes through `require`: it gets the
 * built-in module's own exports. In a process that runs node:test tests, the
 * agent registers a resolve hook (module.register, off-thread) that sends every
 * import of 'node:test' to a small module which takes node:test from `require`
 * (so the traced copy) and exports the very names this Node's node:test has,
 * the default export included. Only 'node:test' is redirected: every other
 * specifier goes on to the next resolver untouched.
 */
export function isNodeTestProcess(env: NodeJS.ProcessEnv = process.env, execArgv: readonly string[] = process.execArgv, argv: readonly string[] = process.argv): boolean {
  if (env.NODE_TEST_CONTEXT) return true;
  if (execArgv.some((a) => a === '--test' || a.startsWith('--test='))) return true;
  // A test file run directly: `node orders.test.mjs`.
  return /(\.|^|[\\/])(test|spec)\.[cm]?[jt]sx?$|[\\/](test|tests|__tests__)[\\/][^\\/]+\.[cm]?[jt]sx?$/.test(argv[1] ?? '');
}

/** Source of the module every ES import of node:test gets: node:test's exports, through the traced `require`. */
export function esmShimSource(requireFrom: string, names: readonly string[]): string {
  const exported = names.filter((n) => /^[A-Za-z_$][\w$]*$/.test(n) && n !== 'default');
  return [
    "import { createRequire } from 'node:module';",
    `const nodeTest = createRequire(${JSON.stringify(requireFrom)})('node:test');`,
    'export default nodeTest;',
    ...exported.map((n) => `export const ${n} = nodeTest[${JSON.stringify(n)}];`),
  ].join('\n');
}

function resolveHookSource(shimUrl: string): string {
  return [
    `const SHIM = ${JSON.stringify(shimUrl)};`,
    'export async function resolve(specifier, context, next) {',
    "  if (specifier === 'node:test' && context.parentURL !== SHIM) return { url: SHIM, shortCircuit: true };",
    '  return next(specifier, context);',
    '}',
  ].join('\n');
}

const dataUrl = (source: string): string => `data:text/javascript;base64,${Buffer.from(source).toString('base64')}`;

/** Register the resolve hook, once, when `module.register` exists (Node ≥ 20.6). */
export function registerEsmNodeTest(moduleApi: { register?: (url: string, parent?: string) => void }, nodeTest: unknown): void {
  if (typeof moduleApi.register !== 'function' || typeof nodeTest !== 'function') return;
  const names = Object.getOwnPropertyNames(nodeTest).filter((n) => n !== 'length' && n !== 'name' && n !== 'prototype');
  const shim = dataUrl(esmShimSource(__filename, names));
  moduleApi.register(dataUrl(resolveHookSource(shim)));
}
