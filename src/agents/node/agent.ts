/**
 * The txlens Node agent, loaded into every Node process (and worker thread) of
 * a traced command by its preload (preload.ts, `NODE_OPTIONS=--require`), which
 * loads it only when TXLENS_TRACE_DIR is set, through V8's code cache.
 *
 * Without TXLENS_TRACE_DIR it does nothing. With it, it wraps the CommonJS
 * loader (Module#load) and, when `pg`, `better-sqlite3`, mocha or jest's
 * runtime loads, hooks that module before the caller gets it; node:test's own
 * reports give its test boundaries (nodetest.ts); so too the transaction classes
 * of Knex, TypeORM, Drizzle, Prisma and Sequelize (orm/),
 * whose transactions become sessions (modules.ts says which files those are;
 * esm.ts hooks Drizzle's ES module build, which `import` loads, as its
 * sources are read). Everything
 * else costs a string check per module loaded. No file is written until there is an
 * event, so processes that never touch a hooked library leave no trace file.
 */
import * as rt from './runtime';
import { watchNodeTest } from './nodetest';
import { hookedBy, hookModule, noteUnhookedBuild } from './modules';
import { hookVitestWorker, isVitestWorker } from './vitest';
import { hookEsmBuilds, inLoaderHooksThread } from './esm';
import { followLoaderHooks } from './loader-cjs';
import { watchCompiledMaps } from './compiled-maps';

// Wrappers hand `arguments` on untouched, so the wrapped function sees exactly what its caller passed.
/* eslint-disable prefer-rest-params */
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-require-imports */
const Module: any = require('node:module');

/**
 * Drivers are hooked when the module defining their classes has loaded, through
 * Module#load: the packages load those with `require` whether the app reached
 * them by `require` or by ES `import`, and what is left in `module.exports` is
 * what every importer gets (the traced better-sqlite3 constructor included).
 * node:test is never wrapped (nodetest.ts reads its own reports).
 */
function install(): void {
  const proto = Module.prototype;
  const load = proto.load;
  if (typeof load !== 'function' || load.__txlens) return;
  const tracedLoad = function load(this: any, filename: unknown) {
    const result = originalLoad.apply(this, arguments as any);
    const name = hookedBy(filename);
    if (name === '' || !rt.ACTIVE) return result;
    try {
      this.exports = hookModule(name, filename as string, this.exports);
    } catch (e) {
      rt.fail(e);
    }
    return result;
  };
  const originalLoad = load;
  Object.defineProperty(tracedLoad, '__txlens', { value: true });
  proto.load = tracedLoad;
  rt.watchLibraryFiles(noteUnhookedBuild);
  try {
    watchCompiledMaps();
  } catch (e) {
    rt.fail(e);
  }
  try {
    hookEsmBuilds();
  } catch {
    // Unhooked, Drizzle's ES module build is traced in part, which noteUnhookedBuild says.
  }
  try {
    followLoaderHooks();
  } catch (e) {
    rt.fail(e);
  }
  if (isVitestWorker()) hookVitestWorker();
  watchNodeTest();
  rt.start();
}

if (rt.ACTIVE && inLoaderHooksThread()) {
  // Another loader's hooks thread (tsx's) runs no app code, but reads its ES modules' sources: Drizzle's need the agent.
  try {
    hookEsmBuilds();
  } catch {
    // as above
  }
} else if (rt.ACTIVE) {
  try {
    install();
  } catch (e) {
    rt.fail(e);
  }
}

/** For the preload (preload.ts): which of the agent's code caches this process's code belongs in. */
export const recordedStatements: () => boolean = rt.recordedStatements;
