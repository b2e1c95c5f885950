/**
 * Drizzle's ES module build, hooked as fully as its CommonJS one, and mocha's
 * (mocha 12 ships ES modules alone), whose Runner and Suite give the tests'
 * boundaries as its CommonJS ones did. An ES
 * `import` never passes through Module#load, so the agent appends to each
 * module defining a hooked class an epilogue (esm-files.ts) handing its classes
 * to `receive` here, in the thread evaluating it; the CommonJS hooks
 * (modules.ts) then patch them.
 *
 * The epilogue is added where the module's source is read, in the thread that
 * reads it. Node's off-thread loader hooks (`module.register`) would do it too,
 * but their thread costs every process that has them about 150 M instructions
 * at start-up, and every ES module it imports then crosses threads: a test
 * suite that starts many processes pays it in each, drizzle or not.
 * - Node >= 22.15 / 23.5: a synchronous `load` hook (`module.registerHooks`),
 *   run in the thread itself.
 * - Older Node: its ES module loader reads each module's source with
 *   `fs.promises.readFile(url)` of the object `fs.promises` is, after the
 *   preload has run (seen on 20.6, 20.11, 20.16, 20.20, 22.0 and 22.14; newer
 *   Node reads otherwise, and has the hook above). The agent wraps that function, and appends the epilogue to what it
 *   returns when the loader reads one of the hooked files (Drizzle's, mocha's); every other
 *   call passes through as it came. Where another loader's hooks run (tsx),
 *   Node's default load runs in their thread, which runs the preload too and is
 *   wrapped the same way.
 * Either is set up only where a `drizzle-orm` package, or a `mocha` whose
 * package is ES modules, is installed in a node_modules folder above the
 * working directory or the main script.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as rt from './runtime';
import { ESM_RECEIVER, esmHooked, withEpilogue } from './esm-files';
import { drizzleSupported } from './orm/drizzle';
import { hookModule, markEsmBuildHooked, packageVersion } from './modules';

/* eslint-disable prefer-rest-params, @typescript-eslint/no-explicit-any, @typescript-eslint/no-require-imports */

/** Whether `dir` or a folder above it has `node_modules/<pkg>` installed (as ES modules, when `esm`). */
export function installedAbove(dir: string, pkg: string, esm = false): boolean {
  for (let d = resolve(dir); ; d = dirname(d)) {
    const manifest = join(d, 'node_modules', pkg, 'package.json');
    if (existsSync(manifest)) return !esm || esModulePackage(manifest);
    if (dirname(d) === d) return false;
  }
}

/** Whether the package.json at `manifest` says its .js files are ES modules. */
function esModulePackage(manifest: string): boolean {
  try {
    return (JSON.parse(readFileSync(manifest, 'utf8')) as { type?: unknown }).type === 'module';
  } catch {
    return false;
  }
}

/** Whether a package the agent hooks as ES modules may be imported from `dir`: Drizzle (both builds ship), mocha from 12. */
function esmHookedAbove(dir: string): boolean {
  return installedAbove(dir, 'drizzle-orm') || installedAbove(dir, 'mocha', true);
}

/**
 * Node's loader-hooks thread (tsx's, any loader's) runs the preload too
 * (NODE_OPTIONS): it is a worker with no parent port, which every worker the
 * app starts has. It runs no app code, so the agent only reads sources there.
 */
export function inLoaderHooksThread(): boolean {
  return !rt.THREAD.isMainThread && rt.THREAD.parentPort === null;
}

// npm, npx, pnpm, yarn and corepack only start the test command (`txlens run -- npm test`): they never
// import the app's modules. The script is named as it was started (`/usr/bin/npm`, a link) or as the
// package manager's own file (`…/npm/bin/npm-cli.js`).
const PACKAGE_MANAGER_SCRIPT = /(?:^|[\\/])(?:np[mx](?:-cli\.js)?|pnpm(?:\.c?js)?|yarn(?:\.c?js)?|corepack)$/;

/** Hook Drizzle's ES module build in this thread, if it may import it. */
export function hookEsmBuilds(): void {
  const script = process.argv[1];
  if (script && PACKAGE_MANAGER_SCRIPT.test(script)) return;
  const roots = [process.cwd(), ...(script ? [dirname(resolve(script))] : [])];
  if (!roots.some(esmHookedAbove)) return;
  const hooksThread = inLoaderHooksThread();
  const registerHooks = (require('node:module') as any).registerHooks;
  if (typeof registerHooks === 'function') {
    // The hook runs where the module is evaluated, around any off-thread loader's chain: nothing to do in that thread.
    if (hooksThread) return;
    registerHooks({ load: loadWithEpilogue });
  } else if (!tapLoaderReads()) {
    return;
  }
  if (!hooksThread) Object.defineProperty(globalThis, Symbol.for(ESM_RECEIVER), { value: receive, configurable: true });
}

interface LoadResult {
  format?: string | null;
  source?: unknown;
}

/** `module.registerHooks`'s load hook: the module as the rest of the chain loaded it, with the epilogue where it is one of the hooked files (ESM_HOOKED). */
function loadWithEpilogue(url: string, context: unknown, nextLoad: (url: string, context: unknown) => LoadResult): LoadResult {
  const result = nextLoad(url, context);
  try {
    const hooked = esmHooked(url);
    if (hooked === undefined || result.format !== 'module') return result;
    const source = withEpilogue(hooked, result.source);
    return source === undefined ? result : { ...result, source };
  } catch {
    return result;
  }
}

const TAPPED = Symbol.for('txlens.esm.readTap');

/**
 * Wrap `fs.promises.readFile` so that Node's ES module loader, which reads
 * every module's source through it (`readFile(url)`, a URL and nothing else),
 * reads the hooked files with the epilogue appended. Only a call made by
 * the loader itself, for one of those files, is answered otherwise: any other
 * caller gets exactly what it would have. False where it cannot be wrapped.
 */
function tapLoaderReads(): boolean {
  // A policy manifest checks each module's source against its hash after the read: the epilogue would fail it.
  if ([...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((a) => a.includes('--experimental-policy'))) return false;
  const promises = require('node:fs').promises;
  const readFile = promises?.readFile;
  if (typeof readFile !== 'function') return false;
  if (readFile[TAPPED]) return true;
  const tapped = function readFile(this: unknown, path: unknown): Promise<unknown> {
    const read = original.apply(this, arguments as any);
    if (arguments.length !== 1 || !(path instanceof URL)) return read;
    try {
      const hooked = esmHooked(path.href);
      if (hooked === undefined || !calledByModuleLoader(tapped)) return read;
      return read.then((source: unknown) => {
        try {
          return withEpilogue(hooked, source) ?? source;
        } catch {
          return source;
        }
      });
    } catch {
      return read;
    }
  };
  const original: (...args: any[]) => Promise<unknown> = readFile;
  Object.defineProperty(tapped, TAPPED, { value: true });
  Object.defineProperty(tapped, 'length', { value: readFile.length });
  promises.readFile = tapped;
  return true;
}

/** Whether the function below `fn` on the stack is Node's ES module loader (node:internal/modules/esm/...). */
function calledByModuleLoader(fn: (...args: never[]) => unknown): boolean {
  const holder: { stack?: unknown } = {};
  const limit = Error.stackTraceLimit;
  const prepare = Error.prepareStackTrace;
  try {
    Error.stackTraceLimit = 1;
    Error.prepareStackTrace = (_error, sites) => sites;
    Error.captureStackTrace(holder, fn);
    const sites = holder.stack as NodeJS.CallSite[] | undefined;
    return Array.isArray(sites) && String(sites[0]?.getFileName() ?? '').startsWith('node:internal/modules/esm/');
  } finally {
    Error.prepareStackTrace = prepare;
    Error.stackTraceLimit = limit;
  }
}

/**
 * Called by a hooked module's epilogue as it finishes evaluating: `get` reads
 * its classes, `set` puts back replacements (a getter and setter of the module's
 * own bindings). A class the module no longer declares, or no longer lets be
 * replaced, is a layout the agent does not know: reported once, left untraced.
 */
function receive(name: unknown, url: unknown, get: () => any, set: (replacements: any) => void): void {
  if (!rt.ACTIVE || typeof url !== 'string' || typeof get !== 'function' || typeof set !== 'function') return;
  const hooked = esmHooked(url);
  if (hooked === undefined || hooked.hook !== name) return;
  const file = fileURLToPath(url);
  const pkg = hooked.pkg;
  const version = packageVersion(file, pkg) ?? '';
  if (pkg === 'drizzle-orm' && !drizzleSupported(version)) return;
  const unknownLayout = (): void =>
    rt.noteOnce(
      `${pkg} esm ${hooked.hook}`,
      `${pkg} ${version}: ${hooked.suffix.slice(hooked.suffix.indexOf(`${pkg}/`) + pkg.length + 1)} does not declare ${hooked.names.join(', ')} as the agent expects; what it would hook there is left untraced`,
    );
  let classes;
  try {
    classes = get();
  } catch {
    return unknownLayout();
  }
  let result;
  try {
    result = hookModule(hooked.hook, file, classes);
  } catch (e) {
    rt.fail(e);
    return;
  }
  if (result !== classes && hooked.replaced.length > 0) {
    try {
      set(result);
    } catch {
      return unknownLayout();
    }
  }
  markEsmBuildHooked(pkg);
}
