/**
 * Drizzle transactions as sessions: `db.transaction(async (tx) => ...)` on
 * node-postgres and `db.transaction((tx) => ...)` on better-sqlite3. Nested
 * `tx.transaction()` calls are savepoints of the same session.
 *
 * The hook patches the drivers' session classes (NodePgSession,
 * BetterSQLiteSession), in Drizzle's CommonJS build as it loads and in its ES
 * module build as its modules hand them over (esm.ts). On node-postgres the
 * transaction checks a client out of the pool itself, so the session claims
 * the connection its `begin` runs on; on better-sqlite3 the transaction is
 * synchronous on the session's own Database, which it is bound to.
 */
import * as rt from '../runtime';
import { bindConnection, closeSession, closeWhenSettled, openSession, runInSession } from './session';
import { keepOrigin, keepingOrigin, sentFrom } from './origin';

/* eslint-disable prefer-rest-params, @typescript-eslint/no-explicit-any */
type AnyFn = (...args: any[]) => any;

const PATCHED = Symbol.for('txlens.drizzle.patched');

/** The releases whose classes the hooks know (0.29 has every method they patch); another is reported once and left untraced. */
export const DRIZZLE_SUPPORTED = '0.29 to 0.x';

export function drizzleSupported(version: string): boolean {
  const m = /^0\.(\d+)\./.exec(version);
  if (m && Number(m[1]) >= 29) return true;
  rt.unsupported('drizzle-orm', version || '(unknown version)', DRIZZLE_SUPPORTED);
  return false;
}

function patchPgSession(proto: any): void {
  const transaction: AnyFn = proto.transaction;
  proto.transaction = function drizzleTransaction(this: any) {
    if (!rt.ACTIVE) return transaction.apply(this, arguments as any);
    let sess;
    try {
      sess = openSession('NodePgTransaction', rt.callSites(drizzleTransaction));
    } catch (e) {
      rt.fail(e);
      return transaction.apply(this, arguments as any);
    }
    const args = arguments;
    const result = runInSession(sess, () => transaction.apply(this, args as any));
    closeWhenSettled(sess, result);
    return result;
  };
}

function patchSqliteSession(proto: any): void {
  const transaction: AnyFn = proto.transaction;
  proto.transaction = function drizzleTransaction(this: any) {
    if (!rt.ACTIVE) return transaction.apply(this, arguments as any);
    let sess;
    let cs;
    try {
      cs = rt.callSites(drizzleTransaction);
      sess = openSession('BetterSQLiteTransaction', cs);
      bindConnection(sess, this.client);
    } catch (e) {
      rt.fail(e);
      return transaction.apply(this, arguments as any);
    }
    try {
      return transaction.apply(this, arguments as any);
    } finally {
      try {
        closeSession(sess, cs);
      } catch (e) {
        rt.fail(e);
      }
    }
  };
}

/** Hook the session class of a Drizzle driver module: 'node-postgres' or 'better-sqlite3'. */
export function hookDrizzleSession(exports: any, driver: 'node-postgres' | 'better-sqlite3', version: string): void {
  const Session = driver === 'node-postgres' ? exports?.NodePgSession : exports?.BetterSQLiteSession;
  const proto = Session?.prototype;
  if (!proto || proto[PATCHED] || typeof proto.transaction !== 'function') return;
  Object.defineProperty(proto, PATCHED, { value: true });
  rt.noteLib('drizzle-orm', version);
  if (driver === 'node-postgres') patchPgSession(proto);
  else patchSqliteSession(proto);
}

// ---------------------------------------------------------------------------
// Where each query was built

/**
 * Drizzle's query builders are QueryPromises, which run when awaited (origin.ts).
 * What drizzle-orm/query-promise.cjs's importers get: the same exports, with a
 * QueryPromise subclass that keeps the line that built each builder and hands it
 * to the driver's hook while `then` sends the query (synchronously, on
 * node-postgres). (The module's exports are getters that cannot be redefined,
 * hence a copy.)
 */
export function tracedDrizzleQueryPromise(exports: any): any {
  const QueryPromise = exports?.QueryPromise;
  if (typeof QueryPromise !== 'function' || typeof QueryPromise.prototype?.then !== 'function') return exports;
  const known = QueryPromise.prototype[PATCHED];
  if (known) return known;
  class Built extends keepingOrigin(QueryPromise) {
    then(onFulfilled: unknown, onRejected: unknown): unknown {
      return sentFrom(this, () => super.then(onFulfilled, onRejected));
    }
  }
  Object.defineProperty(Built, 'name', { value: QueryPromise.name });
  // Drizzle mixes QueryPromise into its select builders by copying the own methods of its
  // prototype (applyMixins): the subclass must own catch and finally too, or a select awaited
  // with .catch() would throw that catch is not a function.
  for (const key of Object.getOwnPropertyNames(QueryPromise.prototype)) {
    if (key === 'constructor' || Object.prototype.hasOwnProperty.call(Built.prototype, key)) continue;
    const d = Object.getOwnPropertyDescriptor(QueryPromise.prototype, key);
    if (d) Object.defineProperty(Built.prototype, key, d);
  }
  // Drizzle's is() asks an entity class for its own kind.
  for (const key of Object.getOwnPropertySymbols(QueryPromise)) {
    const d = Object.getOwnPropertyDescriptor(QueryPromise, key);
    if (d) Object.defineProperty(Built, key, d);
  }
  const descriptors = Object.getOwnPropertyDescriptors(exports);
  descriptors.QueryPromise = { value: Built, enumerable: true, configurable: true, writable: true };
  const copy = Object.defineProperties({}, descriptors);
  Object.defineProperty(QueryPromise.prototype, PATCHED, { value: copy });
  return copy;
}

/**
 * A select is the one builder that mixes QueryPromise in rather than extending
 * it (no constructor of ours runs): `db.select().from(table)` is where it is built.
 * The select builder's class is PgSelectBuilder (pg-core) or SQLiteSelectBuilder (sqlite-core).
 */
export function hookDrizzleSelect(Builder: any): void {
  const proto = Builder?.prototype;
  if (!proto || proto[PATCHED] || typeof proto.from !== 'function') return;
  Object.defineProperty(proto, PATCHED, { value: true });
  const from: AnyFn = proto.from;
  proto.from = function selectFrom(this: unknown) {
    const query = from.apply(this, arguments as any);
    if (rt.ACTIVE && query && typeof query === 'object') {
      try {
        keepOrigin(query, selectFrom);
      } catch (e) {
        rt.fail(e);
      }
    }
    return query;
  };
}

/**
 * `db.$count(table)` builds a count builder, a SQL chunk (it can be embedded in a select) with
 * a `then` of its own that sends the count when awaited: kept, like the other builders, is
 * the line of `$count`, and its class's `then` sends as asked for there. The database class
 * is PgDatabase (pg-core) or BaseSQLiteDatabase (sqlite-core); the builder's class is reached
 * through the first builder made.
 */
export function hookDrizzleCount(Database: any): void {
  const proto = Database?.prototype;
  if (!proto || proto[PATCHED] || typeof proto.$count !== 'function') return;
  Object.defineProperty(proto, PATCHED, { value: true });
  const $count: AnyFn = proto.$count;
  proto.$count = function count(this: unknown) {
    const builder = $count.apply(this, arguments as any);
    if (rt.ACTIVE && builder && typeof builder === 'object') {
      try {
        keepOrigin(builder, count);
        sendCountsFrom(Object.getPrototypeOf(builder));
      } catch (e) {
        rt.fail(e);
      }
    }
    return builder;
  };
}

function sendCountsFrom(proto: any): void {
  if (!proto || Object.prototype.hasOwnProperty.call(proto, PATCHED) || typeof proto.then !== 'function') return;
  Object.defineProperty(proto, PATCHED, { value: true });
  const then: AnyFn = proto.then;
  proto.then = function countThen(this: unknown) {
    const args = arguments;
    return sentFrom(this, () => then.apply(this, args as any));
  };
}
