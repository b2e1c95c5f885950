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
import { keepOrigin, sentFrom } from './origin';

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
 * hook keeps the line that built it (origin.ts) when its constructor sets its
 * `client`, its first statement: through a setter on the class's prototype that
 * makes the instance's own `client` as the assignment would. No frame of the
 * agent's is on the stack past that point: with `asyncStackTraces`, the
 * constructor then saves an Error whose stack Knex cuts at a fixed depth, and
 * a subclass's constructor there put one frame more in every query error's
 * stack (two of Knex's own tests fail on it). The module's class is left as it is.
 */
export function tracedKnexBuilder(Builder: any): any {
  const proto = typeof Builder === 'function' ? Builder.prototype : undefined;
  if (!proto || proto[PATCHED] || Object.getOwnPropertyDescriptor(proto, 'client') !== undefined) return Builder;
  Object.defineProperty(proto, PATCHED, { value: true });
  Object.defineProperty(proto, 'client', {
    configurable: true,
    enumerable: false,
    get(): undefined {
      return undefined;
    },
    set: function client(this: any, value: unknown) {
      Object.defineProperty(this, 'client', { value, writable: true, enumerable: true, configurable: true });
      if (rt.ACTIVE) {
        try {
          // Above the class being constructed (a dialect's subclass too), as the line that asked for the builder.
          const ctor = this.constructor;
          keepOrigin(this, typeof ctor === 'function' ? ctor : client);
        } catch (e) {
          rt.fail(e);
        }
      }
    },
  });
  return Builder;
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
