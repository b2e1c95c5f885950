/**
 * Sequelize transactions as sessions: a managed `sequelize.transaction(async (t)
 * => ...)` and an unmanaged `const t = await sequelize.transaction()`, from the
 * line that asked for them to their COMMIT or ROLLBACK. A nested transaction
 * (`{ transaction: t }`) is a savepoint on its parent's connection: the parent's
 * session goes on.
 *
 * sequelize/lib/transaction.js exports the Transaction class every dialect uses.
 * `prepareEnvironment` takes a connection from the pool and sends the BEGIN; it
 * runs within the app's call to `sequelize.transaction()` (before its first
 * await), so it opens the session at the app's line and runs inside the
 * session's async context: the BEGIN claims its connection (see session.ts).
 * `cleanup` / `forceCleanup` hand the connection back once the transaction
 * ended: the session closes there.
 */
import * as rt from '../runtime';
import { closeSession, openSession, runInSession, type OrmSession } from './session';

/* eslint-disable prefer-rest-params, @typescript-eslint/no-explicit-any */
type AnyFn = (...args: any[]) => any;

const SESSION = Symbol('txlens.sequelize.session');
const PATCHED = Symbol.for('txlens.sequelize.patched');

function closeOf(end: AnyFn): AnyFn {
  return function endTransaction(this: any) {
    const sess: OrmSession | undefined = this[SESSION];
    if (sess !== undefined) {
      try {
        this[SESSION] = undefined;
        closeSession(sess, undefined);
      } catch (e) {
        rt.fail(e);
      }
    }
    return end.apply(this, arguments as any);
  };
}

/** Hook the Transaction class (sequelize/lib/transaction.js, whose module.exports it is). */
export function hookSequelizeTransaction(Transaction: any, version: string): void {
  const proto = Transaction?.prototype;
  if (!proto || proto[PATCHED]) return;
  if (typeof proto.prepareEnvironment !== 'function' || typeof proto.cleanup !== 'function' || typeof proto.forceCleanup !== 'function') {
    rt.unsupported('sequelize', version, 'sequelize 6');
    return;
  }
  Object.defineProperty(proto, PATCHED, { value: true });
  rt.noteLib('sequelize', version);
  const prepareEnvironment: AnyFn = proto.prepareEnvironment;
  proto.prepareEnvironment = function sequelizeTransaction(this: any) {
    // A savepoint of the parent's transaction, on the parent's connection.
    if (!rt.ACTIVE || this.parent) return prepareEnvironment.apply(this, arguments as any);
    let sess: OrmSession;
    try {
      sess = openSession('Sequelize.Transaction', rt.callSites(sequelizeTransaction));
      this[SESSION] = sess;
    } catch (e) {
      rt.fail(e);
      return prepareEnvironment.apply(this, arguments as any);
    }
    const args = arguments;
    return runInSession(sess, () => prepareEnvironment.apply(this, args as any));
  };
  proto.cleanup = closeOf(proto.cleanup);
  proto.forceCleanup = closeOf(proto.forceCleanup);
}
