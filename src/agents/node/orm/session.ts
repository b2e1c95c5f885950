/**
 * ORM sessions: the unit of work an ORM user sees (a Knex transaction, a TypeORM
 * QueryRunner, a Drizzle or Prisma interactive transaction, a Sequelize
 * transaction), written as
 * `session_open` / `session_close` and carried as `sess` by every event on the
 * connection the session is using, so the rules name what the code named.
 *
 * A session gets its connection in one of two ways:
 * - bound: the ORM hands the hook the driver connection (Knex's transaction
 *   connection, Drizzle's better-sqlite3 handle);
 * - claimed: the ORM picks the connection deep inside its own code (a pool
 *   checkout in Drizzle and Sequelize, Prisma's adapter, TypeORM's lazy connect). The hook
 *   then runs the ORM's transaction call inside the session's async context,
 *   and the first BEGIN sent from that context claims the connection it ran on.
 *   Only a BEGIN claims: other statements the transaction's callback sends
 *   through other connections (the classic read outside the transaction) stay
 *   the connections' own.
 * The binding lasts until the session closes. Nothing here sends SQL.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { types } from 'node:util';
import * as rt from '../runtime';
import type { ConnState } from '../runtime';

export interface OrmSession {
  id: string;
  /**
   * The session's async context as a number: the `task` of the statements sent
   * from it, so two transactions driving one connection at once show as two actors.
   */
  task: number;
  /** Where the app opened it. */
  at: rt.Stack | undefined;
  closed: boolean;
  /** Connections bound to the session; unbound when it closes. */
  conns: ConnState[];
}

// Made on the first session, so an app without a hooked ORM never pays for async context tracking.
let context: AsyncLocalStorage<OrmSession> | undefined;

/** A new session, opened at the caller's line (`cs`); `cls` is the ORM's name for it. */
let tasks = 0;

export function openSession(cls: string, cs: rt.Stack | undefined): OrmSession {
  const sess: OrmSession = { id: rt.nextId('s'), task: ++tasks, at: cs, closed: false, conns: [] };
  rt.emit({ k: 'session_open', sess: sess.id, cls }, cs);
  return sess;
}

/** The session's connection from now on (the driver object: a pg Client, a better-sqlite3 Database). */
export function bindConnection(sess: OrmSession, driverConnection: unknown): void {
  if (sess.closed) return;
  const state = rt.connOf(driverConnection);
  if (state !== undefined) bind(sess, state);
}

function bind(sess: OrmSession, state: ConnState): void {
  if (state.sess === sess.id) return;
  state.sess = sess.id;
  state.sessAt = sess.at;
  sess.conns.push(state);
}

/** Call `fn` inside the session's async context: a BEGIN it sends (now or later in its async chain) claims its connection. */
export function runInSession<T>(sess: OrmSession, fn: () => T): T {
  context ??= new AsyncLocalStorage<OrmSession>();
  return context.run(sess, fn);
}

/** The `task` of a statement starting now: the session whose async context sent it, if any. */
export function sessionTask(): number | undefined {
  return context?.getStore()?.task;
}

/**
 * Drivers call this as a statement starts, with their connection object. A BEGIN
 * sent from inside a session's context, on a connection no session holds, makes
 * the connection the session's.
 */
export function claimOnBegin(driverConnection: unknown, sql: string): void {
  if (context === undefined) return;
  const sess = context.getStore();
  if (sess === undefined || sess.closed || !rt.isBegin(sql)) return;
  const state = rt.connOf(driverConnection);
  if (state !== undefined && state.sess === undefined) bind(sess, state);
}

/** The session ended: its connections are free of it. */
export function closeSession(sess: OrmSession, cs: rt.Stack | undefined): void {
  if (sess.closed) return;
  sess.closed = true;
  for (const state of sess.conns) {
    if (state.sess !== sess.id) continue;
    state.sess = undefined;
    state.sessAt = undefined;
  }
  sess.conns = [];
  rt.emit({ k: 'session_close', sess: sess.id }, cs);
}

/**
 * Close `sess` when `result` (what the ORM's transaction call returned) settles.
 * The handlers go on a branch of the promise, so the caller's promise, and whether
 * a rejection of it is handled, stay exactly as they were.
 */
export function closeWhenSettled(sess: OrmSession, result: unknown): void {
  const close = (): void => {
    try {
      closeSession(sess, undefined);
    } catch (e) {
      rt.fail(e);
    }
  };
  // Only a real promise: calling `then` on some ORMs' thenables (Prisma's) is what starts their work.
  // Of any realm: under jest the ORM runs in the test file's context, whose Promise is not the
  // agent's, and `instanceof Promise` closed every Knex transaction's session as it opened.
  if (types.isPromise(result)) (result as Promise<unknown>).then(close, close);
  else close();
}
