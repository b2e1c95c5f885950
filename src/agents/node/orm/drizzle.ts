/**
 * Drizzle transactions as sessions: `db.transaction(async (tx) => ...)` on
 * node-postgres and `db.transaction((tx) => ...)` on better-sqlite3. Nested
 * `tx.transaction()` calls are savepoints of the same session.
 *
 * The hook patches the drivers' session classes (NodePgSession,
 * BetterSQLiteSession) in Drizzle's CommonJS build. On node-postgres the
 * transaction checks a client out of the pool itself, so the session claims
 * the connection its `begin` runs on; on better-sqlite3 the transaction is
 * synchronous on the session's own Database, which it is bound to.
 */
import * as rt from '../runtime';
import { bindConnection, closeSession, closeWhenSettled, openSession, runInSession } from './session';

/* eslint-disable prefer-rest-params, @typescript-eslint/no-explicit-any */
type AnyFn = (...args: any[]) => any;

const PATCHED = Symbol.for('txlens.drizzle.patched');

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
