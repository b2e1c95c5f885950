/**
 * Prisma transactions as sessions, on a driver adapter (@prisma/adapter-pg,
 * @prisma/adapter-better-sqlite3), whose statements reach the pg and
 * better-sqlite3 hooks: an interactive `prisma.$transaction(async (tx) => ...)`
 * (a Prisma.TransactionClient) and a batch `prisma.$transaction([...])` of
 * model calls, which the engine runs in one transaction of its own (a
 * Prisma.BatchTransaction).
 *
 * The generated client builds its class with the runtime's `getPrismaClient`
 * (@prisma/client/runtime/client.js); the hook hands out a `getPrismaClient`
 * whose classes have a traced `$transaction`. The adapter takes the
 * transaction's connection itself, so the session claims the connection its
 * BEGIN runs on. The engine sends a batch's statements from one request, so
 * they are placed at the first model call of the batch.
 */
import { isNativeError } from 'node:util/types';
import * as rt from '../runtime';
import { closeWhenSettled, openSession, runInSession } from './session';

/* eslint-disable prefer-rest-params, @typescript-eslint/no-explicit-any */
type AnyFn = (...args: any[]) => any;

const PATCHED = Symbol.for('txlens.prisma.patched');

function patchClientClass(Client: any): void {
  const proto = Client?.prototype;
  if (!proto || proto[PATCHED] || typeof proto.$transaction !== 'function') return;
  Object.defineProperty(proto, PATCHED, { value: true });
  // Model calls (`prisma.order.create(...)`) hand back lazy promises that the engine runs through its
  // own awaits: the call's own stack, which Prisma captures for its error messages, is the app's line.
  const request: AnyFn = proto._request;
  if (typeof request === 'function') {
    proto._request = function (this: any, params: any) {
      const error = rt.ACTIVE ? params?.callsite?._error : undefined;
      let site: rt.Stack | undefined;
      try {
        // isNativeError, not instanceof: under jest the client runs in the test file's realm, whose Error is not the agent's.
        site = isNativeError(error) ? rt.frameOfStackText(error.stack) : undefined;
      } catch (e) {
        rt.fail(e);
      }
      if (site === undefined) return request.apply(this, arguments as any);
      const args = arguments;
      return rt.withAsyncOrigin(site, () => request.apply(this, args as any));
    };
  }
  const $transaction: AnyFn = proto.$transaction;
  proto.$transaction = function prismaTransaction(this: any, work: unknown) {
    const batch = Array.isArray(work);
    if (!rt.ACTIVE || (typeof work !== 'function' && !batch)) return $transaction.apply(this, arguments as any);
    let sess;
    try {
      sess = openSession(batch ? 'Prisma.BatchTransaction' : 'Prisma.TransactionClient', rt.callSites(prismaTransaction));
    } catch (e) {
      rt.fail(e);
      return $transaction.apply(this, arguments as any);
    }
    const args = arguments;
    const result = runInSession(sess, () => $transaction.apply(this, args as any));
    closeWhenSettled(sess, result);
    return result;
  };
}

/**
 * What the runtime module's importers should get: the same exports, with a
 * `getPrismaClient` that traces the classes it builds. (The bundle defines its
 * exports as getters that cannot be redefined, hence a copy.)
 */
export function tracedPrismaRuntime(exports: any, version: string): any {
  const getPrismaClient = exports?.getPrismaClient;
  if (typeof getPrismaClient !== 'function') return exports;
  rt.noteLib('@prisma/client', version);
  const traced = function getTracedPrismaClient(this: unknown) {
    const Client = getPrismaClient.apply(this, arguments as any);
    try {
      patchClientClass(Client);
    } catch (e) {
      rt.fail(e);
    }
    return Client;
  };
  const descriptors = Object.getOwnPropertyDescriptors(exports);
  descriptors.getPrismaClient = { value: traced, enumerable: true, configurable: true, writable: true };
  const copy = Object.defineProperties({}, descriptors);
  return copy;
}
