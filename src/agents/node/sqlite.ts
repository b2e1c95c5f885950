/**
 * Capture of better-sqlite3.
 *
 * How: `require('better-sqlite3')` hands out a constructor that builds the very
 * same Database (same prototype, so instanceof and subclasses work) and records
 * the connection. Statement methods (run, get, all, iterate) are native and
 * shared by every Statement, so they are patched once on the Statement
 * prototype the native addon exports (or, for an addon loaded from elsewhere,
 * that of the first statement prepared): that also sees the BEGIN/COMMIT/SAVEPOINT statements
 * `db.transaction()` prepares through the native handle (bypassing
 * Database#prepare), and the statement `db.pragma()` prepares. `exec` and
 * `close` are patched on Database.prototype.
 *
 * Transaction state is SQLite's own (`db.inTransaction`) before and after each
 * call, as the Python agent reads sqlite3's `in_transaction`: a change from
 * idle to "in transaction" is a begin, the opposite a commit or a rollback
 * (SQLite may roll back by itself after an error).
 */
import { resolve } from 'node:path';
import * as rt from './runtime';
import type { ConnState, PendingEvent } from './runtime';
import { claimOnBegin, sessionTask } from './orm/session';

// Wrappers hand `arguments` on untouched, so the wrapped function sees exactly what its caller passed.
/* eslint-disable prefer-rest-params */
/* eslint-disable @typescript-eslint/no-explicit-any */
type AnyFn = (...args: any[]) => any;

const PATCHED = Symbol.for('txlens.sqlite.patched');

const databases = new WeakMap<object, ConnState>();
const wrappers = new WeakMap<object, AnyFn>();
let statementProto: any;

function dbInfo(db: any): Record<string, unknown> {
  const name = typeof db.name === 'string' ? db.name : '';
  const info: Record<string, unknown> = { system: 'sqlite', name };
  if (db.memory === true || name === ':memory:' || name === '') info.memory = true;
  else info.file = resolve(name);
  return info;
}

function inTx(db: any): boolean {
  try {
    return db.inTransaction === true;
  } catch {
    return false;
  }
}

function opened(db: any, cs: rt.Stack | undefined): void {
  rt.faultPoint('sqlite.connect');
  const state = rt.newConn(db);
  databases.set(db, state);
  rt.emit({ k: 'connect', conn: state.id, db: dbInfo(db), driver: 'better-sqlite3' }, cs);
}

function errorOf(err: any): Record<string, unknown> {
  return { type: err?.name || err?.constructor?.name || 'Error', message: rt.errorMessage(err) };
}

function rowsOf(method: string, result: any): number | undefined {
  if (method === 'run') return typeof result?.changes === 'number' ? result.changes : undefined;
  if (method === 'all') return Array.isArray(result) ? result.length : undefined;
  if (method === 'get') return result === undefined ? 0 : 1;
  return undefined;
}

function record(state: ConnState, db: any, sql: string, params: unknown, method: string, result: any, err: any, was: boolean, cs: rt.Stack | undefined, start: bigint): void {
  try {
    const dur = Number(rt.clock() - start);
    rt.faultPoint('sqlite.stmt');
    if (was && state.tx === undefined) rt.txBegin(state, true, cs);
    const now = inTx(db);
    if (now && !was) rt.txBegin(state, !rt.isBegin(sql), cs);
    // Every field in one literal, those a statement lacks left undefined (JSON leaves them out): one
    // shape for every statement, in the order rt.withSession and the optional fields would give.
    const sess = state.sess;
    const event: PendingEvent = {
      k: 'stmt',
      conn: state.id,
      sql: rt.recordedSql(sql),
      dur,
      sess,
      _alt: sess !== undefined ? state.sessAt : undefined,
      tx: state.tx,
      // Synchronous: still the context of the caller.
      task: sessionTask(),
      params: rt.paramsRepr(params),
      err: err !== undefined ? errorOf(err) : undefined,
      rows: err === undefined ? rowsOf(method, result) : undefined,
    };
    rt.emitStmt(event, cs);
    if (was && !now) rt.endedBy(state, sql, undefined, err !== undefined, cs);
    else if (was && now && err === undefined) rt.savepointEvent(state, sql, cs);
  } catch (e) {
    rt.fail(e);
  }
}

/** The statement's parameters from the call's arguments: copied only when there are several. */
function paramsOf(args: IArguments): unknown {
  if (args.length === 0) return undefined;
  return args.length === 1 ? args[0] : Array.prototype.slice.call(args);
}

function patchStatements(proto: any): void {
  statementProto = proto;
  if (!proto || proto[PATCHED]) return;
  Object.defineProperty(proto, PATCHED, { value: true });
  for (const method of ['run', 'get', 'all', 'iterate']) {
    const orig: AnyFn = proto[method];
    if (typeof orig !== 'function') continue;
    const wrapped = function (this: any) {
      const db = rt.ACTIVE ? this.database : undefined;
      const state = db !== undefined ? databases.get(db) : undefined;
      if (state === undefined || state.closed) return orig.apply(this, arguments as any);
      let was: boolean;
      let cs: rt.Stack | undefined;
      let sql: string;
      let start: bigint;
      try {
        was = inTx(db);
        cs = rt.currentOrigin();
        if (cs === undefined) {
          // Captured here rather than through rt.callSites: every frame between the capture and
          // this wrapper costs V8 as much to walk as the user's frame (see rt.captureDepth).
          const limit = rt.captureDepth(wrapped);
          const prevLimit = Error.stackTraceLimit;
          try {
            Error.stackTraceLimit = limit;
            Error.captureStackTrace(rt.STACK_HOLDER, wrapped);
          } finally {
            Error.stackTraceLimit = prevLimit;
          }
          cs = rt.capturedStack(wrapped, limit);
        }
        sql = this.source;
        claimOnBegin(db, sql);
        start = rt.clock();
      } catch (e) {
        rt.fail(e);
        return orig.apply(this, arguments as any);
      }
      let result: any;
      try {
        result = orig.apply(this, arguments as any);
      } catch (err) {
        record(state, db, sql, paramsOf(arguments), method, undefined, err, was, cs, start);
        throw err;
      }
      if (method === 'iterate' && result !== null && typeof result === 'object') {
        // SQLite runs it at the iterator's first step: recorded then, and never if it is never stepped.
        try {
          if (iteratorProto === undefined) patchIterators(Object.getPrototypeOf(result));
          if (iteratorProto !== undefined) unstepped.set(result, { state, db, sql, params: paramsOf(arguments), cs });
          else record(state, db, sql, paramsOf(arguments), method, result, undefined, was, cs, start);
        } catch (e) {
          rt.fail(e);
        }
        return result;
      }
      record(state, db, sql, paramsOf(arguments), method, result, undefined, was, cs, start);
      return result;
    };
    Object.defineProperty(wrapped, 'name', { value: method });
    Object.defineProperty(wrapped, 'length', { value: orig.length });
    proto[method] = wrapped;
  }
}

/** An iterate() not stepped yet: what its statement is recorded with at its first step. */
interface Unstepped {
  state: ConnState;
  db: any;
  sql: string;
  params: unknown;
  cs: rt.Stack | undefined;
}

const unstepped = new WeakMap<object, Unstepped>();
let iteratorProto: any;

/**
 * StatementIterator#next, shared by every iterator: the first step of an iterator iterate() handed
 * out runs its statement (its errors, its BEGIN or COMMIT happen there), and is recorded as it.
 * An iterator returned or dropped unstepped ran nothing (better-sqlite3's verbose logs nothing either).
 */
function patchIterators(proto: any): void {
  if (!proto || typeof proto.next !== 'function') return;
  iteratorProto = proto;
  if (proto[PATCHED]) return;
  Object.defineProperty(proto, PATCHED, { value: true });
  const origNext: AnyFn = proto.next;
  const stepped = function next(this: any): any {
    const first = unstepped.get(this);
    if (first === undefined) return origNext.apply(this, arguments as any);
    unstepped.delete(this);
    const { state, db, sql, params, cs } = first;
    if (!rt.ACTIVE || state.closed) return origNext.apply(this, arguments as any);
    let was: boolean;
    let start: bigint;
    try {
      was = inTx(db);
      claimOnBegin(db, sql);
      start = rt.clock();
    } catch (e) {
      rt.fail(e);
      return origNext.apply(this, arguments as any);
    }
    let result: any;
    try {
      result = origNext.apply(this, arguments as any);
    } catch (err) {
      record(state, db, sql, params, 'iterate', undefined, err, was, cs, start);
      throw err;
    }
    record(state, db, sql, params, 'iterate', result, undefined, was, cs, start);
    return result;
  };
  Object.defineProperty(stepped, 'length', { value: origNext.length });
  proto.next = stepped;
}

function patchDatabase(proto: any): void {
  const origExec: AnyFn = proto.exec;
  const origPrepare: AnyFn = proto.prepare;
  // SQLite compiles at prepare(): "no such table" and syntax errors surface here,
  // before any run/get/all. Such a statement never ran, but it failed where the code asked for it.
  proto.prepare = function prepare(this: any, sql: any) {
    const state = rt.ACTIVE ? databases.get(this) : undefined;
    if (state === undefined || state.closed) return origPrepare.apply(this, arguments as any);
    try {
      const stmt = origPrepare.apply(this, arguments as any);
      // An addon loaded from elsewhere (the `nativeBinding` option): its Statement class, from its first statement.
      if (statementProto === undefined && stmt && typeof stmt === 'object') patchStatements(Object.getPrototypeOf(stmt));
      return stmt;
    } catch (err) {
      // Not a string (better-sqlite3's TypeError): no SQL reached SQLite, so no statement (not 'null', nor a String object's text).
      if (typeof sql !== 'string') throw err;
      try {
        const cs = rt.currentOrigin() ?? rt.callSites(prepare);
        const was = inTx(this);
        record(state, this, String(sql), undefined, 'prepare', undefined, err, was, cs, rt.clock());
      } catch (e) {
        rt.fail(e);
      }
      throw err;
    }
  };
  const origClose: AnyFn = proto.close;
  proto.exec = function exec(this: any, sql: any) {
    const state = rt.ACTIVE ? databases.get(this) : undefined;
    // Not a string: better-sqlite3 throws its TypeError before SQLite sees anything.
    if (state === undefined || state.closed || typeof sql !== 'string') return origExec.apply(this, arguments as any);
    let was: boolean;
    let cs: rt.Stack | undefined;
    let start: bigint;
    try {
      was = inTx(this);
      cs = rt.currentOrigin() ?? rt.callSites(exec);
      claimOnBegin(this, String(sql));
      start = rt.clock();
    } catch (e) {
      rt.fail(e);
      return origExec.apply(this, arguments as any);
    }
    let result: any;
    try {
      result = origExec.apply(this, arguments as any);
    } catch (err) {
      record(state, this, String(sql), undefined, 'exec', undefined, err, was, cs, start);
      throw err;
    }
    record(state, this, String(sql), undefined, 'exec', result, undefined, was, cs, start);
    return result;
  };
  proto.close = function close(this: any) {
    const state = rt.ACTIVE ? databases.get(this) : undefined;
    if (state !== undefined && !state.closed) {
      try {
        rt.faultPoint('sqlite.close');
        const cs = rt.callSites(close);
        if (inTx(this) && state.tx === undefined) rt.txBegin(state, true, cs);
        rt.txRollback(state, 'close', cs);
        rt.emit({ k: 'close', conn: state.id }, cs);
        rt.forgetConn(state);
      } catch (e) {
        rt.fail(e);
      }
    }
    return origClose.apply(this, arguments as any);
  };
}

/** better-sqlite3 13's Database factory, handing out each class it makes traced. */
function tracedFactory(factory: AnyFn, version: string): AnyFn {
  const traced = function (this: unknown) {
    const made = Reflect.apply(factory, this, arguments);
    return typeof made === 'function' ? tracedBetterSqlite3(made, version) : made;
  };
  Object.defineProperty(traced, 'name', { value: factory.name });
  Object.defineProperty(traced, 'length', { value: factory.length });
  wrappers.set(factory, traced);
  wrappers.set(traced, traced);
  return traced;
}

/**
 * The native addon (better_sqlite3.node, or prebuilds/<platform>-<arch>.node from 13 on) exports the Statement class whose run/get/all/iterate
 * every statement shares, including those db.transaction() prepares through the native handle.
 */
export function hookBetterSqlite3Addon(addon: any, version: string): void {
  const proto = addon?.Statement?.prototype;
  if (proto && statementProto === undefined && supported(version)) {
    patchStatements(proto);
    patchIterators(addon?.StatementIterator?.prototype);
  }
}

function major(version: string): number {
  return Number.parseInt(version.split('.')[0] ?? '', 10);
}

const SUPPORTED = '9.x to 13.x';

function supported(version: string): boolean {
  const m = major(version);
  return m >= 9 && m <= 13;
}

/**
 * What `require('better-sqlite3')` should return: a constructor that records each
 * database it opens (the module's own when the version is not supported).
 */
export function tracedBetterSqlite3(Original: any, version: string): any {
  if (typeof Original !== 'function') return Original;
  const known = wrappers.get(Original);
  if (known) return known;
  if (!supported(version)) {
    rt.unsupported('better-sqlite3', version, SUPPORTED);
    wrappers.set(Original, Original);
    return Original;
  }
  // better-sqlite3 13's lib/database.js exports createDatabase(getAddon, allowNativeBinding), which each
  // entry point (index.js, lib/<platform>.js) calls for a Database class of its own: no prototype.prepare.
  if (typeof Original.prototype?.prepare !== 'function') return tracedFactory(Original, version);
  rt.noteLib('better-sqlite3', version);
  const proto = Original.prototype;
  if (!proto[PATCHED]) {
    Object.defineProperty(proto, PATCHED, { value: true });
    patchDatabase(proto);
  }
  const Traced = function (this: unknown, ...args: any[]) {
    // Subclasses keep their own new.target; a plain call or `new` builds the original.
    const target = new.target === undefined || new.target === Traced ? Original : new.target;
    const db = Reflect.construct(Original, args, target);
    if (rt.ACTIVE) {
      try {
        opened(db, rt.callSites(Traced));
      } catch (e) {
        rt.fail(e);
      }
    }
    return db;
  } as unknown as AnyFn & { prototype: unknown };
  Object.setPrototypeOf(Traced, Original);
  Traced.prototype = proto;
  // Its databases name the constructor the app holds, as without the agent: `db.constructor === Database`
  // (better-sqlite3's own suite asserts it). Only the library's own code still holds Original, and never asks.
  const ctor = Object.getOwnPropertyDescriptor(proto, 'constructor');
  if (ctor !== undefined && ctor.value === Original && ctor.configurable === true) Object.defineProperty(proto, 'constructor', { ...ctor, value: Traced });
  Object.defineProperty(Traced, 'name', { value: Original.name });
  Object.defineProperty(Traced, 'length', { value: Original.length });
  wrappers.set(Original, Traced);
  wrappers.set(Traced, Traced);
  return Traced;
}
