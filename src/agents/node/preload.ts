/**
 * Entry of the txlens Node agent, loaded into every Node process (and worker
 * thread) of a traced command through `NODE_OPTIONS=--require <this file>`.
 *
 * Without TXLENS_TRACE_DIR it does nothing. With it, it wraps the CommonJS
 * loader (Module#load and Module._load) and, when `pg`, `better-sqlite3`, mocha or
 * `node:test` loads, hooks that module before the caller gets it; so too the
 * transaction classes of Knex, TypeORM, Drizzle and Prisma (orm/), whose
 * transactions become sessions. Everything
 * else costs a string check per module loaded. No file is written until there is an
 * event, so processes that never touch a hooked library leave no trace file.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as rt from './runtime';
import { hookPgClient, hookPgPool } from './pg';
import { hookBetterSqlite3Addon, tracedBetterSqlite3 } from './sqlite';
import { tracedNodeTest } from './nodetest';
import { hookMochaRunner, hookMochaSuite } from './mocha';
import { hookKnexRunner, tracedKnexBuilder, tracedKnexTransaction } from './orm/knex';
import { hookTypeormRunner } from './orm/typeorm';
import { hookDrizzlePgSelect, hookDrizzleSession, tracedDrizzleQueryPromise } from './orm/drizzle';
import { tracedPrismaRuntime } from './orm/prisma';

// Wrappers hand `arguments` on untouched, so the wrapped function sees exactly what its caller passed.
/* eslint-disable prefer-rest-params */
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-require-imports */
const Module: any = require('node:module');

/** Version of the package `name` that `file` belongs to (walking up to its package.json). */
function packageVersion(file: string | undefined, name: string): string | undefined {
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

type Hooked =
  | 'pg'
  | 'pg-pool'
  | 'better-sqlite3'
  | 'better-sqlite3-addon'
  | 'mocha-runner'
  | 'mocha-suite'
  | 'knex'
  | 'knex-builder'
  | 'knex-runner'
  | 'typeorm-pg'
  | 'typeorm-sqlite'
  | 'drizzle-pg'
  | 'drizzle-sqlite'
  | 'drizzle-query'
  | 'drizzle-pg-select'
  | 'prisma';

/** The package a hooked module file belongs to, for its version. */
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
  prisma: '@prisma/client',
};

/**
 * Which hooked class a module file defines, from its path: the files that define
 * the classes, not the packages' entry points, which an ES `import` of the
 * package loads without Module#load.
 */
function hookedBy(filename: unknown): Hooked | '' {
  if (typeof filename !== 'string' || !filename.includes('node_modules')) return '';
  const path = filename.replace(/\\/g, '/');
  if (path.endsWith('/node_modules/pg/lib/client.js')) return 'pg';
  if (path.endsWith('/node_modules/pg-pool/index.js')) return 'pg-pool';
  if (path.endsWith('/node_modules/better-sqlite3/lib/database.js')) return 'better-sqlite3';
  if (path.endsWith('/better_sqlite3.node') && path.includes('/node_modules/better-sqlite3/')) return 'better-sqlite3-addon';
  if (path.endsWith('/node_modules/mocha/lib/runner.js')) return 'mocha-runner';
  if (path.endsWith('/node_modules/mocha/lib/suite.js')) return 'mocha-suite';
  if (path.endsWith('/node_modules/knex/lib/execution/transaction.js')) return 'knex';
  if (path.endsWith('/node_modules/knex/lib/execution/runner.js')) return 'knex-runner';
  if (/\/node_modules\/knex\/lib\/(query\/querybuilder|raw|schema\/builder)\.js$/.test(path)) return 'knex-builder';
  if (path.endsWith('/node_modules/typeorm/driver/postgres/PostgresQueryRunner.js')) return 'typeorm-pg';
  if (path.endsWith('/node_modules/typeorm/driver/sqlite-abstract/AbstractSqliteQueryRunner.js')) return 'typeorm-sqlite';
  if (path.endsWith('/node_modules/drizzle-orm/node-postgres/session.cjs')) return 'drizzle-pg';
  if (path.endsWith('/node_modules/drizzle-orm/better-sqlite3/session.cjs')) return 'drizzle-sqlite';
  if (path.endsWith('/node_modules/drizzle-orm/query-promise.cjs')) return 'drizzle-query';
  if (path.endsWith('/node_modules/drizzle-orm/pg-core/query-builders/select.cjs')) return 'drizzle-pg-select';
  if (path.endsWith('/node_modules/@prisma/client/runtime/client.js')) return 'prisma';
  return '';
}

function hookModule(name: Hooked, filename: string, exports: any): any {
  if (name === 'mocha-runner') hookMochaRunner(exports);
  else if (name === 'mocha-suite') hookMochaSuite(exports);
  if (name === 'mocha-runner' || name === 'mocha-suite') return exports;
  const version = packageVersion(filename, PACKAGE[name] ?? name) ?? '';
  if (name === 'knex') return tracedKnexTransaction(exports, version);
  if (name === 'knex-builder') return tracedKnexBuilder(exports);
  if (name === 'knex-runner') hookKnexRunner(exports);
  if (name === 'typeorm-pg') hookTypeormRunner(exports, 'PostgresQueryRunner', version);
  else if (name === 'typeorm-sqlite') hookTypeormRunner(exports, 'AbstractSqliteQueryRunner', version);
  else if (name === 'drizzle-pg') hookDrizzleSession(exports, 'node-postgres', version);
  else if (name === 'drizzle-sqlite') hookDrizzleSession(exports, 'better-sqlite3', version);
  else if (name === 'prisma') return tracedPrismaRuntime(exports, version);
  else if (name === 'drizzle-query') return tracedDrizzleQueryPromise(exports);
  else if (name === 'drizzle-pg-select') hookDrizzlePgSelect(exports);
  if (name === 'better-sqlite3-addon') hookBetterSqlite3Addon(exports, version);
  if (name === 'pg') hookPgClient(exports, version);
  else if (name === 'pg-pool') hookPgPool(exports, version);
  else if (name === 'better-sqlite3') return tracedBetterSqlite3(exports, version);
  return exports;
}

/**
 * Drivers are hooked when the module defining their classes has loaded, through
 * Module#load: the packages load those with `require` whether the app reached
 * them by `require` or by ES `import`, and what is left in `module.exports` is
 * what every importer gets (the traced better-sqlite3 constructor included).
 * node:test is built in: it is wrapped where `require` returns it.
 */
function install(): void {
  const proto = Module.prototype;
  const load = proto.load;
  const requireLoad = Module._load;
  if (typeof load !== 'function' || typeof requireLoad !== 'function' || load.__txlens) return;
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
  Module._load = function _load(this: unknown, request: unknown) {
    const exports = requireLoad.apply(this, arguments as any);
    if (request !== 'node:test' || !rt.ACTIVE) return exports;
    try {
      return tracedNodeTest(exports);
    } catch (e) {
      rt.fail(e);
      return exports;
    }
  };
  rt.start();
}

if (rt.ACTIVE) {
  try {
    install();
  } catch (e) {
    rt.fail(e);
  }
}
