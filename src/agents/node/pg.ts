/**
 * Capture of node-postgres (`pg` 8.x) and its pool (`pg-pool` 3.x).
 *
 * How: the prototypes are patched in place (Client#connect/query/end, the
 * pool's connect/query/emit), so every copy of the classes the app, Knex,
 * TypeORM, Drizzle or Prisma's adapter create is seen. A query is recorded when
 * pg hands its result or error back: the caller's callback, or, for a query that
 * returns a promise, the callback of pg's own Query that settles it (the caller
 * gets pg's promise itself; where the Query is not where pg 8.x keeps it, a
 * derived promise is watched instead, whose rejection nobody handles stays
 * unhandled). Submittables (pg.Query, pg-cursor, pg-query-stream) are seen
 * through their own handleError/handleReadyForQuery. A statement's line is
 * captured in the hook's own frame (rt.STACK_HOLDER), after pg has sent it where it
 * is sent in the call.
 *
 * Transaction state is the server's: pg ≥ 8.21 keeps the last ReadyForQuery
 * status (`getTransactionStatus()`: I idle, T in a block, E failed block), which
 * is current when pg calls a query back. Older 8.x: read from the statements
 * (BEGIN/COMMIT/ROLLBACK text). The agent never sends SQL of its own.
 */
import * as rt from './runtime';
import type { ConnState, PendingEvent } from './runtime';
import { claimOnBegin, sessionTask } from './orm/session';

const STATE = Symbol('txlens.pg.state');
const CONNECT_AT = Symbol('txlens.pg.connectAt');
/**
 * The line a client is opened for, when its connect() ran with no user frame on the stack: pg-pool
 * opens a client for a caller queued behind its idle one from a later tick (process.nextTick), and
 * the line is that caller's, filled in when the pool hands it the client (see patchPool's deliver).
 */
const OPENED_FOR = Symbol('txlens.pg.openedFor');
const POOL = Symbol('txlens.pg.pool');
const NEXT_AT = Symbol('txlens.pg.nextAt');
/**
 * The pool (its id) a client was checked out of by pool.query, for the one statement pool.query
 * runs on it: that check-out is written as the statement's `pool`, not as an event of its own,
 * and its check-in only when the client goes back with a transaction open (see wrapRelease).
 */
const ONE_SHOT = Symbol('txlens.pg.oneShot');
const PATCHED = Symbol.for('txlens.pg.patched');

// Wrappers hand `arguments` on untouched, so the wrapped function sees exactly what its caller passed.
/* eslint-disable prefer-rest-params, @typescript-eslint/no-this-alias */
/* eslint-disable @typescript-eslint/no-explicit-any */
type AnyFn = (...args: any[]) => any;
type Client = Record<PropertyKey, any>;

interface QueryRecord {
  sql: string;
  params: unknown;
  cs: rt.Stack | undefined;
  /** `cs` when it is to be captured once pg has sent the statement. */
  later: rt.Stack | undefined;
  start: bigint;
  /** The ORM session context that sent it (see session.ts). */
  task: number | undefined;
  /** The pool (its id) whose pool.query sent it: the statement carries that call's check-out (ONE_SHOT). */
  oneShot: string | undefined;
  /** The prepared statement it runs by name alone (no text of its own), whose text is read when pg has it. */
  named: string | undefined;
}

// ---------------------------------------------------------------------------
// Connections

function dbInfo(client: Client): Record<string, unknown> {
  const db: Record<string, unknown> = { system: 'postgresql' };
  const name = client.database;
  const host = client.host;
  const port = Number(client.port);
  if (typeof name === 'string' && name) db.name = name;
  if (typeof host === 'string' && host) db.host = host;
  if (Number.isInteger(port) && port > 0) db.port = port;
  const user = typeof client.user === 'string' ? client.user : '';
  const auth = user ? `${encodeURIComponent(user)}@` : '';
  const dbPath = encodeURIComponent(typeof name === 'string' ? name : '');
  if (typeof host === 'string' && host.startsWith('/')) db.url = `postgresql://${auth}/${dbPath}?host=${encodeURIComponent(host)}`;
  else {
    let netloc = typeof host === 'string' ? host : '';
    if (netloc.includes(':') && !netloc.startsWith('[')) netloc = `[${netloc}]`;
    if (db.port) netloc += `:${db.port}`;
    db.url = `postgresql://${auth}${netloc}/${dbPath}`;
  }
  return db;
}

function inBlock(client: Client): boolean | undefined {
  if (typeof client.getTransactionStatus !== 'function') return undefined;
  const status = client.getTransactionStatus();
  if (status === 'T' || status === 'E') return true;
  if (status === 'I') return false;
  return undefined;
}

/**
 * inBlock while the client's status is current: not while it waits for a ReadyForQuery, which
 * updates it. pg hands an error to its caller as soon as it reads it, and the ReadyForQuery
 * behind it may come in a later read of the socket (a loaded machine): until then the status
 * is the one from before the statement.
 */
function settledBlock(client: Client): boolean | undefined {
  return client.readyForQuery === false ? undefined : inBlock(client);
}

/** The client's connection state, registering it (and writing its `connect`) on first sight. */
function stateOf(client: Client): ConnState {
  let state: ConnState | undefined = client[STATE];
  if (state !== undefined && !state.closed) return state;
  state = rt.newConn(client);
  client[STATE] = state;
  const event: PendingEvent = { k: 'connect', conn: state.id, db: dbInfo(client), driver: 'pg' };
  const pool = client[POOL];
  if (pool !== undefined) event.pool = pool;
  const openedFor: rt.Stack | undefined = client[OPENED_FOR];
  if (openedFor !== undefined) event._alt = openedFor;
  rt.emit(event, client[CONNECT_AT]);
  if (inBlock(client)) rt.txBegin(state, true);
  return state;
}

function connected(client: Client): void {
  try {
    if (rt.ACTIVE) stateOf(client);
  } catch (e) {
    rt.fail(e);
  }
}

function ended(client: Client, cs: rt.Stack | undefined): void {
  const state: ConnState | undefined = client[STATE];
  if (state === undefined || state.closed) return;
  rt.faultPoint('pg.close');
  rt.txRollback(state, 'close', cs);
  rt.emit({ k: 'close', conn: state.id }, cs);
  rt.forgetConn(state);
}

// ---------------------------------------------------------------------------
// Statements

function errorOf(err: any): Record<string, unknown> {
  const out: Record<string, unknown> = { type: err?.constructor?.name || err?.name || 'Error', message: rt.errorMessage(err) };
  if (typeof err?.code === 'string' && /^[0-9A-Z]{5}$/.test(err.code)) out.code = err.code;
  // DETAIL quotes row values ("Key (email)=(a@b.c)"): outside 'values' mode only a key's columns stay.
  const detail = rt.errorDetail(err);
  if (detail !== undefined) out.detail = detail;
  return out;
}

/** The rows a result counts (several results: their sum), or undefined. */
function rowsOf(res: any): number | undefined {
  if (res === undefined || res === null) return undefined;
  // One result, nearly always: no list to make of it.
  if (!Array.isArray(res)) return typeof res.rowCount === 'number' && res.rowCount >= 0 ? res.rowCount : undefined;
  let rows: number | undefined;
  for (let i = 0; i < res.length; i++) {
    const r = res[i];
    if (typeof r?.rowCount === 'number' && r.rowCount >= 0) rows = (rows ?? 0) + r.rowCount;
  }
  return rows;
}

/** The server's tag of the (last) result: asked only when a statement ended its transaction. */
function tagOf(res: any): string | undefined {
  const results = Array.isArray(res) ? res : res ? [res] : [];
  let tag: string | undefined;
  for (const r of results) if (typeof r?.command === 'string') tag = r.command;
  return tag;
}

/** Transaction state after a statement, from its text, for pg versions without getTransactionStatus(). */
function blockAfter(sql: string, was: boolean, failed: boolean): boolean {
  if (failed) return was;
  if (rt.savepointOf(sql)) return was;
  const word = rt.keyword(sql);
  if (word === 'BEGIN' || word === 'START') return true;
  if (word === 'COMMIT' || word === 'END' || word === 'ROLLBACK' || word === 'ABORT') return false;
  return was;
}

/** A plain COMMIT (or END): one the server refuses (a deferred constraint, a serialization failure) rolled the transaction back. */
const PLAIN_COMMIT = /^\s*(?:COMMIT|END)(?:\s+(?:WORK|TRANSACTION))?\s*;?\s*$/i;

/**
 * Whether the server ended the transaction by refusing its COMMIT. The client's transaction
 * status cannot say so yet when the ReadyForQuery after the error came in a later read of
 * the socket (a loaded machine): it still says 'T', and the transaction would stay open in
 * the trace, its connection going back to the pool "inside" it.
 */
function commitRefused(sql: string, was: boolean, err: any): boolean {
  return was && typeof err?.code === 'string' && /^[0-9A-Z]{5}$/.test(err.code) && PLAIN_COMMIT.test(sql);
}

function finished(client: Client, rec: QueryRecord, err: any, res: any): void {
  if (!rt.ACTIVE) return;
  try {
    if (rec.named !== undefined && rec.sql === '') rec.sql = namedText(client, rec.named) ?? '';
    const dur = Number(rt.clock() - rec.start);
    rt.faultPoint('pg.stmt');
    // A statement still running when end() closed its client (a query Knex stopped waiting for
    // at its timeout, the connection destroyed under it) fails after the close: it ran on that
    // connection, which ended any transaction, and it opens no new one.
    const own: ConnState | undefined = client[STATE];
    const ranOnClosed = own !== undefined && own.closed === true;
    const state = ranOnClosed ? own : stateOf(client);
    const was = state.tx !== undefined;
    const failed = err !== undefined && err !== null;
    // A success is recorded once its ReadyForQuery was read; an error may come before it.
    const status = ranOnClosed ? false : failed ? settledBlock(client) : inBlock(client);
    const now = failed && commitRefused(rec.sql, was, err) ? false : (status ?? blockAfter(rec.sql, was, failed));
    if (now && !was) rt.txBegin(state, !rt.isBegin(rec.sql), rec.cs);
    // Only pool.query's own statement: one the client still ran for its previous holder (a stream
    // released before its close was answered) may end first, and would take the check-out away.
    let pool: string | undefined;
    if (rec.oneShot !== undefined && client[ONE_SHOT] === rec.oneShot) {
      client[ONE_SHOT] = undefined;
      pool = rec.oneShot;
    }
    // Every field in one literal, those a statement lacks left undefined (JSON leaves them out): one
    // shape for every statement, which the writer (stmtLine in runtime.ts) then reads at one map. `_alt` as
    // rt.withSession sets it.
    const sess = state.sess;
    const event: PendingEvent = {
      k: 'stmt',
      conn: state.id,
      sql: rt.recordedSql(rec.sql),
      dur,
      sess,
      _alt: sess !== undefined ? state.sessAt : state.outAt,
      tx: state.tx,
      pool,
      task: rec.task,
      params: rt.paramsRepr(rec.params),
      rows: failed ? undefined : rowsOf(res),
      err: failed ? errorOf(err) : undefined,
    };
    rt.emitStmt(event, rec.cs);
    if (was && !now) rt.endedBy(state, rec.sql, failed ? undefined : tagOf(res), failed, rec.cs);
    else if (was && now && !failed) rt.savepointEvent(state, rec.sql, rec.cs);
  } catch (e) {
    rt.fail(e);
  }
}

function textOf(config: any): string | undefined {
  if (typeof config === 'string') return config;
  if (config && typeof config.text === 'string') return config.text;
  // pg-query-stream's QueryStream keeps its text on the pg-cursor it hands the protocol to.
  if (config && typeof config.cursor?.text === 'string') return config.cursor.text;
  return undefined;
}

function wrapCallback(client: Client, rec: QueryRecord, cb: AnyFn): AnyFn {
  return function queryCallback(this: unknown, err: any, res: any) {
    finished(client, rec, err, res);
    return cb.apply(this, arguments as any);
  };
}

/** The promise the caller gets for a query without a callback: pg's own, seen settle. */
function settled(client: Client, rec: QueryRecord, result: any): any {
  if (!result || typeof result.then !== 'function') return result;
  return result.then(
    (res: any) => {
      finished(client, rec, undefined, res);
      return res;
    },
    (err: any) => {
      finished(client, rec, err, undefined);
      throw err;
    },
  );
}

/**
 * The pg Query a client has just queued or sent for `sql`: where pg 8.x keeps it (the last of its
 * queue, or the active query when it went out at once). Undefined wherever pg may not have queued
 * it (a broken or ending client, pipeline mode) or may call its callback other than once (a read
 * timeout calls the callback it wrapped and then drops it).
 */
function queuedQuery(client: Client, config: any, sql: string): any {
  if (client.pipeline || client._queryable === false || client._ending || config.query_timeout || client.connectionParameters?.query_timeout) return undefined;
  const queue = client._queryQueue;
  let query: any;
  if (Array.isArray(queue) && queue.length > 0) query = queue[queue.length - 1];
  // pg 8.x before the field went private kept it public (reading the public one now warns).
  else query = '_activeQuery' in client ? client._activeQuery : client.activeQuery;
  return query && query.text === sql && typeof query.callback === 'function' ? query : undefined;
}

/**
 * The promise pg returned for a query without a callback, handed on as it is: the statement is
 * recorded from the callback pg's Query settles that promise with, so no promise of the agent's
 * stands between pg and the caller (one more turn of the microtask queue before the caller
 * resumes). Where the Query is not where pg 8.x keeps it, the promise is watched instead.
 */
function watchQuery(client: Client, rec: QueryRecord, config: any, result: any): any {
  if (!result || typeof result.then !== 'function') return result;
  const query = queuedQuery(client, config, rec.sql);
  if (query === undefined) return settled(client, rec, result);
  const settle: AnyFn = query.callback;
  let done = false;
  query.callback = function queryCallback(this: unknown, err: any) {
    if (!done) {
      done = true;
      if (err === undefined || err === null) finished(client, rec, undefined, arguments[1]);
      // An error comes before the server's ReadyForQuery, which the same read of the socket
      // nearly always holds: the statement is recorded after that read, with the transaction
      // state a handler of the promise sees.
      else queueMicrotask(() => finished(client, rec, err, undefined));
    }
    return settle.apply(this, arguments as any);
  };
  return result;
}

/**
 * pg.Query, pg-cursor, pg-query-stream: recorded when the server says the statement is done, or
 * when pg hands it its error. pg drops a submittable as its active query on an error (the server's,
 * a read timeout, the connection ending), so the ReadyForQuery after it never reaches the submittable.
 * The error is recorded before the submittable's own handler runs: the app's error listeners run
 * inside it, and one may send the ROLLBACK at once.
 */
function watchSubmittable(client: Client, rec: QueryRecord, sub: any): void {
  const onError = sub.handleError;
  const onReady = sub.handleReadyForQuery;
  if (typeof onError !== 'function' || typeof onReady !== 'function') return;
  let done = false;
  sub.handleError = function (this: unknown, err: any) {
    if (!done) {
      done = true;
      finished(client, rec, err, undefined);
    }
    return onError.apply(this, arguments as any);
  };
  sub.handleReadyForQuery = function (this: unknown) {
    if (!done) {
      done = true;
      finished(client, rec, undefined, sub._result ?? sub._results);
    }
    return onReady.apply(this, arguments as any);
  };
}

// ---------------------------------------------------------------------------
// Patches

/**
 * The text of the prepared statement `name` on the client's connection: pg keeps the text of each
 * statement it has sent or parsed by name, which a query that gives the name alone runs again. A
 * name queued behind the query that prepares it is known once that one is sent.
 */
function namedText(client: Client, name: string): string | undefined {
  const connection = client.connection;
  const text = connection?.parsedStatements?.[name] ?? connection?.submittedNamedStatements?.[name];
  return typeof text === 'string' ? text : undefined;
}

/** The record of a statement starting now, or undefined for what is not one (or on an internal error). */
function queryRecord(client: Client, config: any, values: any): QueryRecord | undefined {
  try {
    let sql = textOf(config);
    // A config that names a prepared statement and gives no text of its own runs that statement again.
    const named = (sql === undefined || sql === '') && typeof config === 'object' && typeof config.name === 'string' && config.name !== '' ? config.name : undefined;
    if (named !== undefined) sql = namedText(client, named) ?? '';
    if (sql === undefined && typeof config.submit !== 'function') return undefined;
    let cs: rt.Stack | undefined = rt.currentOrigin() ?? client[NEXT_AT];
    // Where the statement was asked for, when nobody said so already: captured once pg has sent it.
    let later: rt.Stack | undefined;
    if (cs === undefined) cs = later = rt.laterCallSites();
    const params = typeof values === 'function' || values === undefined ? (config.values ?? config.cursor?.values) : values;
    // Sent from pool.query's callback (NEXT_AT): pool.query's statement.
    const oneShot: string | undefined = client[NEXT_AT] !== undefined ? client[ONE_SHOT] : undefined;
    const rec: QueryRecord = { sql: sql ?? String(config.text ?? ''), params, cs, later, start: rt.clock(), task: sessionTask(), oneShot, named };
    claimOnBegin(client, rec.sql);
    return rec;
  } catch (e) {
    rt.fail(e);
    return undefined;
  }
}

function patchClient(proto: Client): void {
  const origQuery: AnyFn = proto.query;
  const origConnect: AnyFn = proto.connect;
  const origEnd: AnyFn = proto.end;

  /** The statement's own work: sends it when the connection is free (the capture then waits until after the send). */
  function send(client: Client, rec: QueryRecord, config: any, values: any, callback: any, args: IArguments): any {
    if (typeof config.submit === 'function') {
      try {
        watchSubmittable(client, rec, config);
      } catch (e) {
        rt.fail(e);
      }
      return origQuery.apply(client, args as any);
    }
    if (typeof values !== 'function' && typeof callback !== 'function' && typeof config.callback !== 'function') return watchQuery(client, rec, config, origQuery.apply(client, args as any));
    // A callback to call ours first: the arguments are copied only then.
    const copy = Array.prototype.slice.call(args);
    if (typeof values === 'function') {
      copy[1] = wrapCallback(client, rec, values);
      return origQuery.apply(client, copy);
    }
    if (typeof callback === 'function') {
      copy[2] = wrapCallback(client, rec, callback);
      return origQuery.apply(client, copy);
    }
    if (typeof config === 'object' && typeof config.callback === 'function') {
      // pg calls a config object's own callback; hand it a copy that calls ours first.
      copy[0] = Object.assign(Object.create(Object.getPrototypeOf(config)), config, { callback: wrapCallback(client, rec, config.callback) });
      return origQuery.apply(client, copy);
    }
    return settled(client, rec, origQuery.apply(client, copy));
  }

  proto.query = function query(this: Client, config: any, values: any, callback: any) {
    if (!rt.ACTIVE || config === null || config === undefined) return origQuery.apply(this, arguments as any);
    const rec = queryRecord(this, config, values);
    if (rec === undefined) return origQuery.apply(this, arguments as any);
    try {
      return send(this, rec, config, values, callback, arguments);
    } finally {
      // pg has sent the statement (or queued it): while the server works on it, its line, and the
      // trace lines of what came before. Captured here, in the hook's own frame: a helper's frame
      // between the capture and the hook costs V8 about as much to walk as the user's (rt.captureDepth).
      try {
        if (rec.later !== undefined) {
          const limit = rt.captureDepth(query);
          const prevLimit = Error.stackTraceLimit;
          try {
            Error.stackTraceLimit = limit;
            Error.captureStackTrace(rt.STACK_HOLDER, query);
          } finally {
            Error.stackTraceLimit = prevLimit;
          }
          rt.fillCapturedStack(rec.later, query, limit);
        }
        rt.encodeBuffered();
      } catch (e) {
        rt.fail(e);
      }
    }
  };

  proto.connect = function connect(this: Client, callback: any) {
    if (!rt.ACTIVE) return origConnect.apply(this, arguments as any);
    try {
      const cs = rt.callSites(connect);
      this[CONNECT_AT] = cs;
      this[OPENED_FOR] = cs.frame === undefined ? {} : undefined;
    } catch (e) {
      rt.fail(e);
    }
    const client = this;
    if (typeof callback === 'function') {
      return origConnect.call(this, function connectCallback(this: unknown, err: any) {
        // The caller's callback first: a pool's marks the client as pooled before it is registered.
        try {
          return callback.apply(this, arguments as any);
        } finally {
          if (!err) connected(client);
        }
      });
    }
    const result = origConnect.apply(this, arguments as any);
    if (!result || typeof result.then !== 'function') return result;
    return result.then((value: any) => {
      connected(client);
      return value;
    });
  };

  proto.end = function end(this: Client) {
    if (rt.ACTIVE && this[STATE] !== undefined) {
      try {
        ended(this, rt.callSites(end));
      } catch (e) {
        rt.fail(e);
      }
    }
    return origEnd.apply(this, arguments as any);
  };
}

function poolId(pool: Client): string {
  let id = pool[POOL];
  if (id === undefined) {
    id = rt.nextId('p');
    Object.defineProperty(pool, POOL, { value: id, enumerable: false });
  }
  return id;
}

/**
 * Where the pool.query running now was called from, set for the synchronous extent of the call:
 * the checkout it makes, the statement it runs and the check-in all stand at that line. Captured
 * in pool.query's own wrapper, where the caller is the frame right above (from inside pg-pool's
 * connect it is three frames up, and each frame costs at capture).
 */
let poolQueryAt: rt.Stack | undefined;

function checkedOut(pool: Client, client: Client, cs: rt.Stack | undefined): void {
  if (!rt.ACTIVE) return;
  try {
    const state = stateOf(client);
    state.outAt = cs;
    rt.emit({ k: 'checkout', conn: state.id, pool: poolId(pool) }, cs);
  } catch (e) {
    rt.fail(e);
  }
}

/**
 * `releasedAt`: where the release was asked for when the caller is known already. pool.query
 * releases its client from pg's own callback, whose stack holds no user frame: its check-in
 * is placed at pool.query's caller, and no stack is captured for it. pool.query's check-out and
 * check-in are its statement's (ONE_SHOT): the check-in is written only when the client goes back
 * with a transaction open, which pool-release-in-transaction reports; the check-out only when
 * no statement carried it (the query failed before pg took it).
 */
function wrapRelease(pool: Client, client: Client, release: AnyFn, releasedAt: rt.Stack | undefined): AnyFn {
  return function releaseClient(this: unknown) {
    if (rt.ACTIVE) {
      try {
        const state = client[STATE] as ConnState | undefined;
        if (state !== undefined && !state.closed) {
          let cs = releasedAt;
          if (cs === undefined) {
            // In the hook's own frame, as client.query's (no helper frame for V8 to walk).
            const limit = rt.captureDepth(releaseClient);
            const prevLimit = Error.stackTraceLimit;
            try {
              Error.stackTraceLimit = limit;
              Error.captureStackTrace(rt.STACK_HOLDER, releaseClient);
            } finally {
              Error.stackTraceLimit = prevLimit;
            }
            cs = rt.capturedStack(releaseClient, limit);
          }
          const open = settledBlock(client) ?? state.tx !== undefined;
          const unwritten: string | undefined = client[ONE_SHOT];
          if (unwritten !== undefined) {
            client[ONE_SHOT] = undefined;
            rt.emit({ k: 'checkout', conn: state.id, pool: unwritten }, cs);
          }
          if (open || releasedAt === undefined) {
            const event: PendingEvent = rt.withSession(state, { k: 'checkin', conn: state.id, pool: poolId(pool) });
            if (open) {
              event.txOpen = true;
              if (state.tx === undefined) rt.txBegin(state, true, cs);
            }
            rt.emit(event, cs);
          }
          state.outAt = undefined;
        }
      } catch (e) {
        rt.fail(e);
      }
    }
    return release.apply(this, arguments as any);
  };
}

function patchPool(proto: Client): void {
  const origConnect: AnyFn = proto.connect;
  const origQuery: AnyFn = proto.query;
  const origEmit: AnyFn = proto.emit;

  proto.emit = function emit(this: Client, name: any, client: any) {
    if (name === 'connect' && rt.ACTIVE && client && typeof client === 'object') {
      try {
        client[POOL] = poolId(this);
      } catch (e) {
        rt.fail(e);
      }
    }
    return origEmit.apply(this, arguments as any);
  };

  proto.query = function query(this: Client) {
    if (!rt.ACTIVE) return origQuery.apply(this, arguments as any);
    // Captured before the call, unlike client.query's: pg-pool hands even an idle client over from a
    // later tick (process.nextTick), so the statement is never sent before this call returns.
    try {
      let cs = rt.currentOrigin();
      if (cs === undefined) {
        // In the hook's own frame, as client.query's: not rt.callSites(query), nor rt.captureStack,
        // whose frames would be more for V8 to walk (see rt.captureDepth).
        const limit = rt.captureDepth(query);
        const prevLimit = Error.stackTraceLimit;
        try {
          Error.stackTraceLimit = limit;
          Error.captureStackTrace(rt.STACK_HOLDER, query);
        } finally {
          Error.stackTraceLimit = prevLimit;
        }
        cs = rt.capturedStack(query, limit);
      }
      poolQueryAt = cs;
    } catch (e) {
      rt.fail(e);
      return origQuery.apply(this, arguments as any);
    }
    try {
      return origQuery.apply(this, arguments as any);
    } finally {
      poolQueryAt = undefined;
    }
  };

  proto.connect = function connect(this: Client, callback: any) {
    const queryAt = poolQueryAt;
    poolQueryAt = undefined;
    const fromQuery = queryAt !== undefined;
    if (!rt.ACTIVE) return origConnect.apply(this, arguments as any);
    let cs: rt.Stack | undefined = queryAt;
    try {
      if (cs === undefined) {
        // In the hook's own frame, as client.query's (no helper frame for V8 to walk).
        const limit = rt.captureDepth(connect);
        const prevLimit = Error.stackTraceLimit;
        try {
          Error.stackTraceLimit = limit;
          Error.captureStackTrace(rt.STACK_HOLDER, connect);
        } finally {
          Error.stackTraceLimit = prevLimit;
        }
        cs = rt.capturedStack(connect, limit);
      }
    } catch (e) {
      rt.fail(e);
      return origConnect.apply(this, arguments as any);
    }
    const pool = this;
    const deliver = (client: Client): void => {
      // A client the pool opened for this call: its connect line is this call's. Its connect event is
      // written already when pool.connect's promise hands it over (then its line is filled in before
      // the event is), and is still to come when a callback does (the check-out below writes it).
      const openedFor: rt.Stack | undefined = client[OPENED_FOR];
      if (openedFor !== undefined && cs !== undefined) {
        client[OPENED_FOR] = undefined;
        const state: ConnState | undefined = client[STATE];
        if (state === undefined || state.closed) client[CONNECT_AT] = cs;
        else if (openedFor.frame === undefined) openedFor.frame = cs.frame;
      }
      // pool.query's check-out is written with its statement (ONE_SHOT): one line instead of three.
      if (fromQuery) client[ONE_SHOT] = poolId(pool);
      else checkedOut(pool, client, cs);
      if (typeof client.release === 'function') client.release = wrapRelease(pool, client, client.release, fromQuery ? cs : undefined);
    };
    if (typeof callback === 'function') {
      return origConnect.call(this, function connectCallback(this: unknown, err: any, client: any) {
        if (err || !client) return callback.apply(this, arguments as any);
        const args = Array.prototype.slice.call(arguments);
        if (rt.ACTIVE) {
          try {
            deliver(client);
            if (typeof args[2] === 'function') args[2] = client.release;
          } catch (e) {
            rt.fail(e);
          }
        }
        if (!fromQuery) return callback.apply(this, args);
        // pool.query runs its statement right here: give it pool.query's caller as its frame.
        client[NEXT_AT] = cs;
        try {
          return callback.apply(this, args);
        } finally {
          client[NEXT_AT] = undefined;
        }
      });
    }
    const result = origConnect.apply(this, arguments as any);
    if (!result || typeof result.then !== 'function') return result;
    return result.then((client: any) => {
      if (rt.ACTIVE && client) {
        try {
          deliver(client);
        } catch (e) {
          rt.fail(e);
        }
      }
      return client;
    });
  };
}

function major(version: string): number {
  return Number.parseInt(version.split('.')[0] ?? '', 10);
}

/** Hook pg's Client class (pg/lib/client.js); `version` is pg's. */
export function hookPgClient(Client: any, version: string): void {
  const proto = Client?.prototype;
  if (!proto || proto[PATCHED]) return;
  Object.defineProperty(proto, PATCHED, { value: true });
  if (major(version) !== 8) return rt.unsupported('pg', version, '8.x');
  rt.noteLib('pg', version);
  patchClient(proto);
}

/** Hook pg-pool's Pool class (pg.Pool is a subclass of it bound to pg.Client). */
export function hookPgPool(Pool: any, version: string): void {
  const proto = Pool?.prototype;
  if (!proto || proto[PATCHED] || typeof proto.connect !== 'function') return;
  Object.defineProperty(proto, PATCHED, { value: true });
  if (major(version) !== 3) return rt.unsupported('pg-pool', version, '3.x');
  rt.noteLib('pg-pool', version);
  patchPool(proto);
}
