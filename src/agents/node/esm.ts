/**
 * Drizzle's ES module build, hooked as fully as its CommonJS one. An ES
 * `import` never passes through Module#load, so the preload registers loader
 * hooks (esm-hooks.ts, `module.register`, Node >= 20.6) that append to each
 * module defining a hooked class an epilogue handing its classes to `receive`
 * here, in the thread evaluating it; the CommonJS hooks (modules.ts) then patch
 * them.
 *
 * Loader hooks run in a thread of their own, which costs every process that
 * has them start-up time and memory: they are registered only where a
 * `drizzle-orm` package is installed, in a node_modules folder above the
 * working directory or the main script.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isMainThread, parentPort } from 'node:worker_threads';
import * as rt from './runtime';
import { ESM_RECEIVER, esmHooked } from './esm-files';
import { drizzleSupported } from './orm/drizzle';
import { hookModule, markEsmBuildHooked, packageVersion } from './modules';

/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-require-imports */

/** Whether `dir` or a folder above it has `node_modules/<pkg>` installed. */
export function installedAbove(dir: string, pkg: string): boolean {
  for (let d = resolve(dir); ; d = dirname(d)) {
    if (existsSync(join(d, 'node_modules', pkg, 'package.json'))) return true;
    if (dirname(d) === d) return false;
  }
}

/**
 * Node's loader-hooks thread (ours, tsx's, any loader's) runs the preload too
 * (NODE_OPTIONS): it is a worker with no parent port, which every worker the
 * app starts has. It runs no app code, so the agent stays out of it.
 */
export function inLoaderHooksThread(): boolean {
  return !isMainThread && parentPort === null;
}

// npm, npx, pnpm, yarn and corepack only start the test command (`txlens run -- npm test`): they never
// import the app's modules, so they are spared the hooks thread's start-up. The script is named as it was
// started (`/usr/bin/npm`, a link) or as the package manager's own file (`…/npm/bin/npm-cli.js`).
const PACKAGE_MANAGER_SCRIPT = /(?:^|[\\/])(?:np[mx](?:-cli\.js)?|pnpm(?:\.c?js)?|yarn(?:\.c?js)?|corepack)$/;

/** Register the loader hooks if this process may import Drizzle's ES module build. */
export function hookEsmBuilds(): void {
  const register = (require('node:module') as any).register;
  if (typeof register !== 'function') return;
  const script = process.argv[1];
  if (script && PACKAGE_MANAGER_SCRIPT.test(script)) return;
  const roots = [process.cwd(), ...(script ? [dirname(resolve(script))] : [])];
  if (!roots.some((dir) => installedAbove(dir, 'drizzle-orm'))) return;
  Object.defineProperty(globalThis, Symbol.for(ESM_RECEIVER), { value: receive, configurable: true });
  register(pathToFileURL(join(__dirname, 'esm-hooks.mjs')).href);
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
  const version = packageVersion(file, 'drizzle-orm') ?? '';
  if (!drizzleSupported(version)) return;
  const unknownLayout = (): void =>
    rt.noteOnce(
      `drizzle-orm esm ${hooked.hook}`,
      `drizzle-orm ${version}: ${hooked.suffix.slice(hooked.suffix.indexOf('drizzle-orm/') + 12)} does not declare ${hooked.names.join(', ')} as the agent expects; what it would hook there is left untraced`,
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
  markEsmBuildHooked('drizzle-orm');
}
