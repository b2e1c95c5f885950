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

/**
 * The Sequelize class (sequelize/lib/sequelize.js): an app may put a function of its own in place
 * of an instance's `query` or `transaction` that hands each call on to Sequelize's (Outline's tests
 * wrap `query` to log the error before rethrowing it). Every statement of every model call then
 * passes through that one line, which is no more where the statement was asked for than
 * Sequelize's own lines are: the first call that comes through it notes its line as forwarding
 * (rt.noteForwardingCaller), and the statement stands at the next line of the app out.
 */
export function hookSequelizeForwarders(Sequelize: any): void {
  const proto = Sequelize?.prototype;
  if (!proto || proto[PATCHED]) return;
  Object.defineProperty(proto, PATCHED, { value: true });
  for (const name of ['query', 'transaction'] as const) {
    const original: AnyFn = proto[name];
    if (typeof original !== 'function') continue;
    const seen = Symbol(`txlens.sequelize.forwarder.${name}`);
    const hooked = function sequelizeMethod(this: any) {
      // Called by the instance's own replacement (it took Sequelize's method to call before it put
      // itself in its place), once per instance: the replacement's line is learnt at its first call.
      if (rt.ACTIVE && this !== null && typeof this === 'object' && this[seen] === undefined && Object.prototype.hasOwnProperty.call(this, name) && this[name] !== hooked && Object.isExtensible(this)) {
        try {
          Object.defineProperty(this, seen, { value: rt.noteForwardingCaller(hooked) });
        } catch (e) {
          rt.fail(e);
        }
      }
      return original.apply(this, arguments as any);
    };
    Object.defineProperty(hooked, 'name', { value: name });
    proto[name] = hooked;
  }
}
