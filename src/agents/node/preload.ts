/**
 * Entry of the txlens Node agent, loaded into every Node process (and worker
 * thread) of a traced command through `NODE_OPTIONS=--require <this file>`.
 *
 * Without TXLENS_TRACE_DIR it does nothing. With it, it wraps the CommonJS
 * loader's `Module._load` and, when `pg`, `better-sqlite3` or `node:test` is
 * required, hooks that module before the caller gets it. Everything else is
 * one string comparison per require. No file is written until there is an
 * event, so processes that never touch a hooked library leave no trace file.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as rt from './runtime';
import { hookPg } from './pg';
import { tracedBetterSqlite3 } from './sqlite';
import { tracedNodeTest } from './nodetest';

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

function resolved(request: string, parent: unknown, isMain: boolean): string | undefined {
  try {
    return Module._resolveFilename(request, parent, isMain);
  } catch {
    return undefined;
  }
}

function hook(request: string, exports: any, parent: unknown, isMain: boolean): any {
  switch (request) {
    case 'pg': {
      const main = resolved(request, parent, isMain);
      let poolVersion: string | undefined;
      try {
        poolVersion = main ? packageVersion(Module.createRequire(main).resolve('pg-pool'), 'pg-pool') : undefined;
      } catch {
        poolVersion = undefined;
      }
      hookPg(exports, packageVersion(main, 'pg') ?? '', poolVersion);
      return exports;
    }
    case 'better-sqlite3':
      return tracedBetterSqlite3(exports, packageVersion(resolved(request, parent, isMain), 'better-sqlite3') ?? '');
    case 'node:test':
      return tracedNodeTest(exports);
    default:
      return exports;
  }
}

function install(): void {
  const load = Module._load;
  if (typeof load !== 'function' || load.__txlens) return;
  const traced = function _load(this: unknown, request: unknown, parent: unknown, isMain: boolean) {
    const exports = load.apply(this, arguments as any);
    if (request !== 'pg' && request !== 'better-sqlite3' && request !== 'node:test') return exports;
    if (!rt.ACTIVE) return exports;
    try {
      return hook(request, exports, parent, isMain);
    } catch (e) {
      rt.fail(e);
      return exports;
    }
  };
  Object.defineProperty(traced, '__txlens', { value: true });
  Module._load = traced;
  rt.start();
}

if (rt.ACTIVE) {
  try {
    install();
  } catch (e) {
    rt.fail(e);
  }
}
