/**
 * Which module files the agent hooks, and how: one table for every loader that
 * can hand them out (Node's own CommonJS loader, jest's module registry).
 */
import { readFileSync } from 'node:fs';
import * as rt from './runtime';
import { dirname, join } from 'node:path';
import { hookPgClient, hookPgPool } from './pg';
import { hookBetterSqlite3Addon, tracedBetterSqlite3 } from './sqlite';
import { hookMochaRunner, hookMochaSuite } from './mocha';
import { hookJestCircus, hookJestRuntime } from './jest';
import { hookKnexRunner, tracedKnexBuilder, tracedKnexTransaction } from './orm/knex';
import { hookTypeormRunner } from './orm/typeorm';
import { drizzleSupported, hookDrizzleCount, hookDrizzleSelect, hookDrizzleSession, tracedDrizzleQueryPromise } from './orm/drizzle';
import { tracedPrismaRuntime } from './orm/prisma';
import { hookSequelizeForwarders, hookSequelizeTransaction } from './orm/sequelize';

/* eslint-disable @typescript-eslint/no-explicit-any */

/** Version of the package `name` that `file` belongs to (walking up to its package.json). */
export function packageVersion(file: string | undefined, name: string): string | undefined {
  for (let dir = file ? dirname(file) : ''; dir && dirname(dir) !== dir; dir = dirname(dir)) {
    try {
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
      if (manifest?.name === name) return String(manifest.version ?? '');
    } catch {
      // no manifest here: keep walking up
    }
  }
  return undefined;
}

/** Folder -> the name its package.json gives (undefined: none): asked at each user file named like a hooked one (every index.js). */
const manifestNames = new Map<string, unknown>();

function manifestName(dir: string): unknown {
  if (manifestNames.has(dir)) return manifestNames.get(dir);
  let name: unknown;
  try {
    name = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))?.name;
  } catch {
    name = undefined;
  }
  manifestNames.set(dir, name);
  return name;
}

export type Hooked =
  | 'pg'
  | 'pg-pool'
  | 'better-sqlite3'
  | 'better-sqlite3-addon'
  | 'mocha-runner'
  | 'mocha-suite'
  | 'jest-runtime'
  | 'jest-circus'
  | 'knex'
  | 'knex-builder'
  | 'knex-runner'
  | 'typeorm-pg'
  | 'typeorm-sqlite'
  | 'drizzle-pg'
  | 'drizzle-sqlite'
  | 'drizzle-query'
  | 'drizzle-pg-select'
  | 'drizzle-sqlite-select'
  | 'drizzle-pg-db'
  | 'drizzle-sqlite-db'
  | 'prisma'
  | 'sequelize'
  | 'sequelize-main';

/** The package a hooked module file belongs to, for its version (when not the hook's own name). */
const PACKAGE: Partial<Record<Hooked, string>> = {
  'better-sqlite3-addon': 'better-sqlite3',
  'knex-builder': 'knex',
  'knex-runner': 'knex',
  'typeorm-pg': 'typeorm',
  'typeorm-sqlite': 'typeorm',
  'drizzle-pg': 'drizzle-orm',
  'drizzle-sqlite': 'drizzle-orm',
  'drizzle-query': 'drizzle-orm',
  'drizzle-pg-select': 'drizzle-orm',
  'drizzle-sqlite-select': 'drizzle-orm',
  'drizzle-pg-db': 'drizzle-orm',
  'drizzle-sqlite-db': 'drizzle-orm',
  prisma: '@prisma/client',
  'sequelize-main': 'sequelize',
};

/**
 * The module files the agent hooks under node_modules, by how their paths end, and the hook
 * each gets (the addons of better-sqlite3 apart: hookedBy matches those by pattern). Read by
 * hookedBy and by the loader hook that follows a module.register loader (loader-cjs.ts).
 */
export const HOOKED_FILES: ReadonlyArray<readonly [string, Hooked]> = [
  ['/node_modules/pg/lib/client.js', 'pg'],
  ['/node_modules/pg-pool/index.js', 'pg-pool'],
  ['/node_modules/better-sqlite3/lib/database.js', 'better-sqlite3'],
  ['/node_modules/mocha/lib/runner.js', 'mocha-runner'],
  ['/node_modules/mocha/lib/suite.js', 'mocha-suite'],
  ['/node_modules/jest-runtime/build/index.js', 'jest-runtime'],
  // jest 30 keeps the adapter at build/; jest 27 to 29 under build/legacy-code-todo-rewrite/.
  ['/node_modules/jest-circus/build/jestAdapterInit.js', 'jest-circus'],
  ['/node_modules/jest-circus/build/legacy-code-todo-rewrite/jestAdapterInit.js', 'jest-circus'],
  ['/node_modules/knex/lib/execution/transaction.js', 'knex'],
  ['/node_modules/knex/lib/execution/runner.js', 'knex-runner'],
  ['/node_modules/knex/lib/query/querybuilder.js', 'knex-builder'],
  ['/node_modules/knex/lib/raw.js', 'knex-builder'],
  ['/node_modules/knex/lib/schema/builder.js', 'knex-builder'],
  ['/node_modules/typeorm/driver/postgres/PostgresQueryRunner.js', 'typeorm-pg'],
  ['/node_modules/typeorm/driver/sqlite-abstract/AbstractSqliteQueryRunner.js', 'typeorm-sqlite'],
  ['/node_modules/drizzle-orm/node-postgres/session.cjs', 'drizzle-pg'],
  ['/node_modules/drizzle-orm/better-sqlite3/session.cjs', 'drizzle-sqlite'],
  ['/node_modules/drizzle-orm/query-promise.cjs', 'drizzle-query'],
  ['/node_modules/drizzle-orm/pg-core/query-builders/select.cjs', 'drizzle-pg-select'],
  ['/node_modules/drizzle-orm/sqlite-core/query-builders/select.cjs', 'drizzle-sqlite-select'],
  ['/node_modules/drizzle-orm/pg-core/db.cjs', 'drizzle-pg-db'],
  ['/node_modules/drizzle-orm/sqlite-core/db.cjs', 'drizzle-sqlite-db'],
  ['/node_modules/@prisma/client/runtime/client.js', 'prisma'],
  ['/node_modules/sequelize/lib/transaction.js', 'sequelize'],
  ['/node_modules/sequelize/lib/sequelize.js', 'sequelize-main'],
];

/**
 * Which hooked class a module file defines, from its path: the files that define
 * the classes, not the packages' entry points, which an ES `import` of the
 * package loads without Module#load.
 */
export function hookedBy(filename: unknown): Hooked | '' {
  if (typeof filename !== 'string') return '';
  if (!filename.includes('node_modules')) return libraryCheckout(filename);
  const path = filename.replace(/\\/g, '/');
  for (const [suffix, hook] of HOOKED_FILES) if (path.endsWith(suffix)) return hook;
  if (path.endsWith('/better_sqlite3.node') && path.includes('/node_modules/better-sqlite3/')) return 'better-sqlite3-addon';
  if (/\/node_modules\/better-sqlite3\/prebuilds\/[^/]+\.node$/.test(path)) return 'better-sqlite3-addon';
  return '';
}

/** Knex's hooked files (HOOKED_FILES) by their path in its package, from the '/' before `lib`. */
const KNEX_FILES: ReadonlyArray<readonly [string, Hooked]> = HOOKED_FILES.filter(([suffix]) => suffix.startsWith('/node_modules/knex/')).map(
  ([suffix, hook]) => [suffix.slice('/node_modules/knex'.length), hook] as const,
);

/**
 * A library's hooked classes loaded from outside node_modules: the library's own
 * test suite runs the sources or build of its checkout (TypeORM's compiled build,
 * Sequelize's and Knex's lib/, better-sqlite3's lib/ and the addon it builds,
 * node-postgres's packages/pg and packages/pg-pool, which its workspace links into
 * node_modules and Node loads by their real paths), or a checkout the app links in.
 * The file names alone are too common to trust, so a package.json above the file
 * must name the library.
 */
function libraryCheckout(filename: string): Hooked | '' {
  const path = filename.replace(/\\/g, '/');
  // pg's lib/ and pg-pool's index.js, each right under its own package.json.
  if (path.endsWith('/lib/client.js')) return manifestName(dirname(dirname(filename))) === 'pg' ? 'pg' : '';
  if (path.endsWith('/index.js')) return manifestName(dirname(filename)) === 'pg-pool' ? 'pg-pool' : '';
  let hook: Hooked;
  if (path.endsWith('/driver/postgres/PostgresQueryRunner.js')) hook = 'typeorm-pg';
  else if (path.endsWith('/driver/sqlite-abstract/AbstractSqliteQueryRunner.js')) hook = 'typeorm-sqlite';
  else if (path.endsWith('/lib/transaction.js')) {
    // Sequelize's own lib/, right under its package.json: not any lib/transaction.js of a project within it.
    return manifestName(dirname(dirname(filename))) === 'sequelize' ? 'sequelize' : '';
  } else if (path.endsWith('/lib/sequelize.js')) {
    return manifestName(dirname(dirname(filename))) === 'sequelize' ? 'sequelize-main' : '';
  } else if (path.endsWith('/lib/database.js')) {
    return manifestName(dirname(dirname(filename))) === 'better-sqlite3' ? 'better-sqlite3' : '';
  } else if (path.endsWith('/better_sqlite3.node')) {
    // Where node-gyp builds it (build/Release/, build/Debug/, or wherever `bindings` looks): in the checkout, at any depth.
    return packageVersion(filename, 'better-sqlite3') === undefined ? '' : 'better-sqlite3-addon';
  } else if (/\/prebuilds\/[^/]+\.node$/.test(path)) {
    return manifestName(dirname(dirname(filename))) === 'better-sqlite3' ? 'better-sqlite3-addon' : '';
  } else if (path.endsWith('.js')) {
    // Knex's own lib/, each file at its place under Knex's package.json.
    for (const [suffix, knexHook] of KNEX_FILES) {
      if (path.endsWith(suffix)) return manifestName(path.slice(0, -suffix.length)) === 'knex' ? knexHook : '';
    }
    return '';
  } else return '';
  return packageVersion(filename, 'typeorm') === undefined ? '' : hook;
}

/** Packages whose ES module build handed its classes over (esm.ts). */
const esmBuildsHooked = new Set<string>();

export function markEsmBuildHooked(pkg: string): void {
  esmBuildsHooked.add(pkg);
}

/**
 * A library file seen in a stack that says the library was loaded in a form the
 * agent did not hook: Drizzle's ES module build where the agent does not hook it
 * (esm.ts) or did not see it read (a runner that bundles it into its own module
 * graph, a loader that reads it its own way). Its statements still reach the driver's hooks.
 */
export function noteUnhookedBuild(path: string): void {
  if (esmBuildsHooked.has('drizzle-orm')) return;
  if (/[\\/]node_modules[\\/]drizzle-orm[\\/].*\.js$/.test(path)) {
    rt.noteOnce(
      'drizzle-orm esm',
      'drizzle-orm loaded as an ES module is traced in part: its statements are traced, its transactions are not sessions, and a query sent after an await may not name the line that built it (its CommonJS build, loaded by require, is hooked in full)',
    );
  }
}

/** Hook the freshly loaded module `name` (file `filename`); returns what its importers get. */
export function hookModule(name: Hooked, filename: string, exports: any): any {
  switch (name) {
    // The CommonJS build's module is the class; the ES module build's epilogue hands it over by name (esm.ts).
    case 'mocha-runner':
      hookMochaRunner(typeof exports === 'function' ? exports : exports?.Runner);
      return exports;
    case 'mocha-suite':
      hookMochaSuite(typeof exports === 'function' ? exports : exports?.Suite);
      return exports;
    case 'jest-runtime':
      hookJestRuntime(exports);
      return exports;
    case 'jest-circus':
      hookJestCircus(exports);
      return exports;
    default:
  }
  const version = packageVersion(filename, PACKAGE[name] ?? name) ?? '';
  if (name.startsWith('drizzle-') && !drizzleSupported(version)) return exports;
  switch (name) {
    case 'knex':
      return tracedKnexTransaction(exports, version);
    case 'knex-builder':
      return tracedKnexBuilder(exports);
    case 'knex-runner':
      hookKnexRunner(exports);
      return exports;
    case 'typeorm-pg':
      hookTypeormRunner(exports, 'PostgresQueryRunner', version);
      return exports;
    case 'typeorm-sqlite':
      hookTypeormRunner(exports, 'AbstractSqliteQueryRunner', version);
      return exports;
    case 'drizzle-pg':
      hookDrizzleSession(exports, 'node-postgres', version);
      return exports;
    case 'drizzle-sqlite':
      hookDrizzleSession(exports, 'better-sqlite3', version);
      return exports;
    case 'drizzle-query':
      return tracedDrizzleQueryPromise(exports);
    case 'drizzle-pg-select':
      hookDrizzleSelect(exports?.PgSelectBuilder);
      return exports;
    case 'drizzle-sqlite-select':
      hookDrizzleSelect(exports?.SQLiteSelectBuilder);
      return exports;
    case 'drizzle-pg-db':
      hookDrizzleCount(exports?.PgDatabase);
      return exports;
    case 'drizzle-sqlite-db':
      hookDrizzleCount(exports?.BaseSQLiteDatabase);
      return exports;
    case 'prisma':
      return tracedPrismaRuntime(exports, version);
    case 'sequelize':
      hookSequelizeTransaction(exports, version);
      return exports;
    case 'sequelize-main':
      hookSequelizeForwarders(exports);
      return exports;
    default:
  }
  if (name === 'better-sqlite3-addon') hookBetterSqlite3Addon(exports, version);
  else if (name === 'pg') hookPgClient(exports, version);
  else if (name === 'pg-pool') hookPgPool(exports, version);
  else if (name === 'better-sqlite3') return tracedBetterSqlite3(exports, version);
  return exports;
}
