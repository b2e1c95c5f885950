/**
 * TypeORM QueryRunners as sessions: a runner that starts a transaction (by hand,
 * or through `dataSource.transaction()` / `manager.transaction()`) is a session
 * from its `startTransaction()` to its `release()`.
 *
 * The hook patches the query runner classes of the drivers the agent traces
 * (PostgresQueryRunner on pg, AbstractSqliteQueryRunner under better-sqlite3).
 * The runner connects lazily inside startTransaction, so the session claims the
 * connection its START TRANSACTION / BEGIN runs on (see session.ts).
 */
import * as rt from '../runtime';
import { closeSession, openSession, runInSession, type OrmSession } from './session';

/* eslint-disable prefer-rest-params, @typescript-eslint/no-explicit-any */
type AnyFn = (...args: any[]) => any;

const SESSION = Symbol('txlens.typeorm.session');
const PATCHED = Symbol.for('txlens.typeorm.patched');

function patchRunner(proto: any): void {
  if (!proto || proto[PATCHED] || typeof proto.startTransaction !== 'function' || typeof proto.release !== 'function') return;
  Object.defineProperty(proto, PATCHED, { value: true });
  const startTransaction: AnyFn = proto.startTransaction;
  const release: AnyFn = proto.release;
  proto.startTransaction = function startTx(this: any) {
    if (!rt.ACTIVE) return startTransaction.apply(this, arguments as any);
    let sess: OrmSession | undefined = this[SESSION];
    try {
      if (sess === undefined || sess.closed) {
        sess = openSession(this.constructor?.name || 'QueryRunner', rt.callSites(startTx));
        this[SESSION] = sess;
      }
    } catch (e) {
      rt.fail(e);
      return startTransaction.apply(this, arguments as any);
    }
    const args = arguments;
    return runInSession(sess, () => startTransaction.apply(this, args as any));
  };
  proto.release = function releaseRunner(this: any) {
    const sess: OrmSession | undefined = this[SESSION];
    if (sess !== undefined && rt.ACTIVE) {
      try {
        this[SESSION] = undefined;
        closeSession(sess, rt.callSites(releaseRunner));
      } catch (e) {
        rt.fail(e);
      }
    }
    return release.apply(this, arguments as any);
  };
}

/** Hook the query runner class a TypeORM driver module exports (`exportName`). */
export function hookTypeormRunner(exports: any, exportName: string, version: string): void {
  const Runner = exports?.[exportName];
  if (typeof Runner !== 'function') return;
  rt.noteLib('typeorm', version);
  patchRunner(Runner.prototype);
}
