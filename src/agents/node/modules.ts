/**
 * Which module files the agent hooks, and how: one table for every loader that
 * can hand them out (Node's own CommonJS loader, jest's module registry).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { hookPgClient, hookPgPool } from './pg';
import { hookBetterSqlite3Addon, tracedBetterSqlite3 } from './sqlite';
import { hookMochaRunner, hookMochaSuite } from './mocha';
import { hookJestCircus, hookJestRuntime } from './jest';

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

export type Hooked =
  | 'pg'
  | 'pg-pool'
  | 'better-sqlite3'
  | 'better-sqlite3-addon'
  | 'mocha-runner'
  | 'mocha-suite'
  | 'jest-runtime'
  | 'jest-circus';

/**
 * Which hooked class a module file defines, from its path: the files that define
 * the classes, not the packages' entry points, which an ES `import` of the
 * package loads without Module#load.
 */
export function hookedBy(filename: unknown): Hooked | '' {
  if (typeof filename !== 'string' || !filename.includes('node_modules')) return '';
  const path = filename.replace(/\\/g, '/');
  if (path.endsWith('/node_modules/pg/lib/client.js')) return 'pg';
  if (path.endsWith('/node_modules/pg-pool/index.js')) return 'pg-pool';
  if (path.endsWith('/node_modules/better-sqlite3/lib/database.js')) return 'better-sqlite3';
  if (path.endsWith('/better_sqlite3.node') && path.includes('/node_modules/better-sqlite3/')) return 'better-sqlite3-addon';
  if (path.endsWith('/node_modules/mocha/lib/runner.js')) return 'mocha-runner';
  if (path.endsWith('/node_modules/mocha/lib/suite.js')) return 'mocha-suite';
  if (path.endsWith('/node_modules/jest-runtime/build/index.js')) return 'jest-runtime';
  if (path.endsWith('/node_modules/jest-circus/build/jestAdapterInit.js')) return 'jest-circus';
  return '';
}

/** Hook the freshly loaded module `name` (file `filename`); returns what its importers get. */
export function hookModule(name: Hooked, filename: string, exports: any): any {
  switch (name) {
    case 'mocha-runner':
      hookMochaRunner(exports);
      return exports;
    case 'mocha-suite':
      hookMochaSuite(exports);
      return exports;
    case 'jest-runtime':
      hookJestRuntime(exports);
      return exports;
    case 'jest-circus':
      hookJestCircus(exports);
      return exports;
    default:
  }
  const version = packageVersion(filename, name === 'better-sqlite3-addon' ? 'better-sqlite3' : name) ?? '';
  if (name === 'better-sqlite3-addon') hookBetterSqlite3Addon(exports, version);
  else if (name === 'pg') hookPgClient(exports, version);
  else if (name === 'pg-pool') hookPgPool(exports, version);
  else if (name === 'better-sqlite3') return tracedBetterSqlite3(exports, version);
  return exports;
}
