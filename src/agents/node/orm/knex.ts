/**
 * Knex transactions as sessions: `knex.transaction(trx => ...)`, `await
 * knex.transaction()` and their nested savepoints (which stay the outer
 * transaction's session).
 *
 * knex/lib/execution/transaction.js exports the Transaction class every
 * dialect's transaction extends (pg, better-sqlite3, ...). The hook hands out a
 * subclass that opens the session where the app called `transaction()` (the
 * constructor runs in that call), and patches `acquireConnection`, which gives
 * the transaction its connection and resolves once COMMIT or ROLLBACK has run:
 * the session is bound to that connection for exactly that span.
 */
import * as rt from '../runtime';
import { bindConnection, closeWhenSettled, openSession, type OrmSession } from './session';
import { keepingOrigin, sentFrom } from './origin';

/* eslint-disable prefer-rest-params, @typescript-eslint/no-explicit-any */
type AnyFn = (...args: any[]) => any;

const SESSION = Symbol('txlens.knex.session');
const PATCHED = Symbol.for('txlens.knex.patched');

export function tracedKnexTransaction(Transaction: any, version: string): any {
  const proto = Transaction?.prototype;
  if (typeof Transaction !== 'function' || !proto || typeof proto.acquireConnection !== 'function') return Transaction;
  if (proto[PATCHED]) return proto[PATCHED];
  rt.noteLib('knex', version);
  const acquireConnection: AnyFn = proto.acquireConnection;
  proto.acquireConnection = function (this: any, config: unknown, cb: unknown) {
    const sess: OrmSession | undefined = this[SESSION];
    if (sess === undefined || typeof cb !== 'function' || !rt.ACTIVE) return acquireConnection.apply(this, arguments as any);
    return acquireConnection.call(this, config, function (this: unknown, connection: unknown) {
      try {
        bindConnection(sess, connection);
      } catch (e) {
        rt.fail(e);
      }
      // Resolves when the transaction's COMMIT or ROLLBACK has run, before the connection goes back.
      const done = cb.apply(this, arguments as any);
      try {
        closeWhenSettled(sess, done);
      } catch (e) {
        rt.fail(e);
      }
      return done;
    });
  };
  class Traced extends Transaction {
    constructor(client: unknown, container: unknown, config: unknown, outerTx: unknown) {
      super(...arguments);
      // A nested transaction is a savepoint on the outer one's connection: the outer session goes on.
      if (rt.ACTIVE && !outerTx) {
        try {
          (this as any)[SESSION] = openSession('Knex.Transaction', rt.callSites(Traced as unknown as AnyFn));
        } catch (e) {
          rt.fail(e);
        }
      }
    }
  }
  Object.defineProperty(Traced, 'name', { value: Transaction.name });
  Object.defineProperty(proto, PATCHED, { value: Traced });
  return Traced;
}

// ---------------------------------------------------------------------------
// Where each query was built

/**
 * A Knex builder (QueryBuilder, Raw, SchemaBuilder) runs when it is awaited; the
 * hook hands out a subclass of the builder class that keeps the line that built
 * it (origin.ts).
 */
export function tracedKnexBuilder(Builder: any): any {
  if (typeof Builder !== 'function' || !Builder.prototype) return Builder;
  const known = Builder.prototype[PATCHED];
  if (known) return known;
  const Built = keepingOrigin(Builder);
  Object.defineProperty(Builder.prototype, PATCHED, { value: Built });
  return Built;
}

/** The runner sends a builder's SQL to the driver synchronously: the driver's hook takes the builder's line. */
export function hookKnexRunner(Runner: any): void {
  const proto = Runner?.prototype;
  if (!proto || proto[PATCHED] || typeof proto.query !== 'function') return;
  Object.defineProperty(proto, PATCHED, { value: true });
  const query: AnyFn = proto.query;
  proto.query = function (this: any) {
    const args = arguments;
    return sentFrom(this.builder, () => query.apply(this, args as any));
  };
}
