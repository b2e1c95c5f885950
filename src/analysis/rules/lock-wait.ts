/**
 * lock-wait: a statement waited on a lock held by another session that sat
 * idle in its transaction: the teardown TRUNCATE that hangs because a test's
 * session still holds an uncommitted write. Two shapes:
 *
 * - the wait failed: lock_timeout / statement_timeout on PostgreSQL (SQLSTATE
 *   55P03 / 57014), "database is locked" after SQLite's busy timeout, while the
 *   holder was still open (a failure that did not wait, against a holder that
 *   ended right after it, is a race between busy writers, not this story);
 * - the wait succeeded: the statement ran long, and went on the moment the
 *   holder's transaction ended (its commit or rollback released the lock).
 *
 * Which holders can block which statements:
 * - SQLite: one writer at a time for the whole file, so any transaction that
 *   wrote blocks any other write. (A read failing with "database is locked" is
 *   uncommitted-read's story.)
 * - PostgreSQL and others: TRUNCATE / DROP / ALTER (ACCESS EXCLUSIVE) wait for
 *   any transaction that touched the table; UPDATE / DELETE / INSERT wait for
 *   one that wrote (or locked FOR UPDATE) the same rows; a plain read waits
 *   only for a TRUNCATE or DDL on its table.
 * "Idle" means the holder ran no statement while the waiter waited.
 *
 * Location: the waiting statement. Related: the holder's last statement.
 */
import type { ModelRun, ModelStatement, ModelTransaction } from '../../model/model';
import { modelRowKeys, rowsMayOverlap } from '../../model/rowkeys';
import { duration } from '../../present/wording';
import type { DynamicRule, Finding } from '../findings';
import { statementIndex } from '../statement-index';
import {
  finding,
  place,
  related,
  statementAndTransaction,
  statementRelated,
  statementText,
} from './util';

export const LOCK_WAIT = 'lock-wait';

/** Shorter waits are ordinary contention, not worth a finding. */
const MIN_WAIT_NS = 100e6;
/** How close the waiter's end must follow the holder's end to say the one released the other. */
const RELEASE_SLACK_NS = 50e6;
/** SQLite's busy handler polls, every 100 ms once it has waited a while, so it wakes up to that late. */
const SQLITE_RELEASE_SLACK_NS = 150e6;

const LOCK_CODES = new Set(['55P03', '57014']);
const LOCK_MESSAGE = /database (table )?is locked|lock timeout|could not obtain lock|canceling statement due to (lock|statement) timeout/i;
const EXCLUSIVE_VERBS = new Set(['TRUNCATE', 'DROP', 'ALTER', 'LOCK', 'REINDEX', 'CLUSTER', 'VACUUM', 'CREATE']);
const ROW_LOCKING_READ = /\bFOR\s+(NO\s+KEY\s+)?(UPDATE|SHARE)\b/i;

function lockFailure(st: ModelStatement): boolean {
  if (!st.err) return false;
  return (st.err.code !== undefined && LOCK_CODES.has(st.err.code)) || LOCK_MESSAGE.test(st.err.message);
}

function isExclusive(st: ModelStatement): boolean {
  return st.op === 'ddl' || EXCLUSIVE_VERBS.has(st.verb);
}

interface Holding {
  tx: ModelTransaction;
  /** The holder's first statement that took a conflicting lock. */
  took: ModelStatement;
  /** The holder's last statement before the wait. */
  last: ModelStatement;
}

/**
 * Whether `tx`, as it stood when `w` started, held a lock `w` must wait for;
 * returns the holder's last statement before the wait, and whether it stayed idle.
 */
function holds(tx: ModelTransaction, w: ModelStatement, sqlite: boolean, rowKeys: ReturnType<typeof modelRowKeys>): Holding | undefined {
  let last: ModelStatement | undefined;
  let took: ModelStatement | undefined;
  let conflict = false;
  const wTables = [...w.writes, ...w.reads];
  for (const h of tx.statements) {
    if (h.time > w.start) {
      // The holder worked during the wait: not idle, a different story.
      if (h.start < w.time) return undefined;
      break;
    }
    if (h.err) continue;
    last = h;
    if (conflict) continue;
    if (sqlite) {
      conflict = h.op === 'write' || h.op === 'ddl';
      if (conflict) took = h;
      continue;
    }
    const hWrites = ROW_LOCKING_READ.test(h.sql) ? [...h.writes, ...h.reads] : h.writes;
    if (isExclusive(w)) {
      conflict = wTables.some((t) => h.reads.includes(t) || h.writes.includes(t));
    } else if (isExclusive(h)) {
      conflict = wTables.some((t) => h.writes.includes(t));
    } else if (w.op === 'write') {
      conflict = w.writes.some((t) => hWrites.includes(t) && rowsMayOverlap(rowKeys.of(w, t), rowKeys.of(h, t)));
    }
    if (conflict) took = h;
  }
  return took && last ? { tx, took, last } : undefined;
}

/**
 * A database's transactions in start order, to find the ones still open when a statement started
 * without a walk from the start of the run: a max tree over their ends (a transaction that never
 * ended counts as ending at infinity) leads straight to those that ended after a given time, in
 * start order, and skips every subtree of transactions already over. Per waiter that costs the
 * transactions open at its start times the tree's depth, not every transaction begun before it.
 */
class OpenTransactions {
  readonly txs: ModelTransaction[] = [];
  private starts = new Float64Array(0);
  /** Leaves from `size`: each transaction's end; above them, the latest end below each node. */
  private latestEnd = new Float64Array(0);
  private size = 1;
  private built = false;

  /** Builds the tree, once every transaction is in, when the first waiter on this database asks. */
  private build(): void {
    this.built = true;
    const n = this.txs.length;
    while (this.size < n) this.size *= 2;
    this.starts = new Float64Array(n);
    this.latestEnd = new Float64Array(2 * this.size).fill(-Infinity);
    for (let i = 0; i < n; i++) {
      this.starts[i] = this.txs[i].start;
      this.latestEnd[this.size + i] = this.txs[i].end ?? Infinity;
    }
    for (let node = this.size - 1; node >= 1; node--) this.latestEnd[node] = Math.max(this.latestEnd[2 * node], this.latestEnd[2 * node + 1]);
  }

  /**
   * Calls `visit` on every transaction that started before `time` and had not ended by then
   * (ended after it, or never), in start order: those the walk over all of them kept.
   */
  openAt(time: number, visit: (tx: ModelTransaction) => void): void {
    if (!this.built) this.build();
    // The transactions that started before `time`: a prefix, as they are in start order.
    let lo = 0;
    let hi = this.starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.starts[mid] < time) lo = mid + 1;
      else hi = mid;
    }
    if (lo > 0) this.descend(1, 0, this.size, lo, time, visit);
  }

  private descend(node: number, from: number, to: number, before: number, time: number, visit: (tx: ModelTransaction) => void): void {
    if (from >= before || this.latestEnd[node] <= time) return;
    if (node >= this.size) {
      visit(this.txs[from]);
      return;
    }
    const mid = (from + to) >> 1;
    this.descend(2 * node, from, mid, before, time, visit);
    this.descend(2 * node + 1, mid, to, before, time, visit);
  }
}

function check(model: ModelRun): Finding[] {
  const rowKeys = modelRowKeys(model);
  // The transactions per database, in start order: made when the first statement that may have waited comes (most runs have none).
  let txByDb: Map<string, OpenTransactions> | undefined;
  const transactionsOf = (dbKey: string): OpenTransactions | undefined => {
    if (!txByDb) {
      txByDb = new Map();
      for (const tx of model.transactions) {
        const k = tx.connection.dbKey;
        if (!k) continue;
        let list = txByDb.get(k);
        if (!list) txByDb.set(k, (list = new OpenTransactions()));
        list.txs.push(tx);
      }
    }
    return txByDb.get(dbKey);
  };
  const found = new Map<string, Finding>();
  // Only a statement that failed or ran long can have waited: found by their durations and
  // failures side by side, without a look at the others.
  const { durations, failed: failedPositions } = statementIndex(model);
  const statements = model.statements;
  // The failures' positions are ascending, as this walk goes: the next one is met in turn.
  let nextFailure = 0;
  for (let i = 0; i < statements.length; i++) {
    if (failedPositions[nextFailure] === i) nextFailure++;
    else if (durations[i] < MIN_WAIT_NS) continue;
    const w = statements[i];
    const failed = lockFailure(w);
    if (!failed && (w.err || (w.dur ?? 0) < MIN_WAIT_NS)) continue;
    const dbKey = w.connection.dbKey;
    if (!dbKey) continue;
    const sqlite = w.connection.db?.system === 'sqlite';
    if (sqlite && w.op === 'read') continue;
    const slack = sqlite ? SQLITE_RELEASE_SLACK_NS : RELEASE_SLACK_NS;
    const candidates = transactionsOf(dbKey);
    if (!candidates) continue;
    let best: Holding | undefined;
    // Only a transaction still open when the waiter started can have held its lock.
    candidates.openAt(w.start, (tx) => {
      if (tx.connection === w.connection || tx.isolation === 'AUTOCOMMIT') return;
      if (failed) {
        // Still holding when the waiter gave up.
        if (tx.end !== undefined && tx.end < w.time - slack) return;
        // A failure without a wait (SQLite's shared-cache table lock does not wait) against a
        // holder that finished right after it: two writers racing, not a holder sitting idle.
        if ((w.dur ?? 0) < MIN_WAIT_NS && tx.end !== undefined && tx.end - w.time <= slack) return;
      } else {
        // The holder's end released the waiter: it ended during the wait, just before the waiter finished.
        if (tx.end === undefined || tx.end - w.start < MIN_WAIT_NS || Math.abs(w.time - tx.end) > slack) return;
      }
      const h = holds(tx, w, sqlite, rowKeys);
      if (h && (!best || h.last.time > best.last.time)) best = h;
    });
    if (!best) continue;
    const at = w.at ?? best.last.at;
    if (!at) continue;
    const id = `${at[0]}:${at[1]}\u0000${best.tx.key}`;
    if (found.has(id)) continue;
    found.set(id, describe(model, w, best, failed, at));
  }
  return [...found.values()];
}

function describe(model: ModelRun, w: ModelStatement, h: Holding, failed: boolean, at: [string, number, string]): Finding {
  const sides = statementAndTransaction(model, w, h.tx);
  const holder = sides.txOwner;
  const waiter = sides.statementOwner;
  const tookText = `${statementText(h.took)} at ${place(model, h.took.at)}`;
  const idleSince =
    h.last === h.took
      ? `which took it with ${tookText} and sat idle in transaction ${h.tx.label}`
      : `which took it with ${tookText} and sat idle in transaction ${h.tx.label} after ${place(model, h.last.at)}`;
  let message: string;
  if (failed) {
    message =
      `${statementText(w)} by ${sides.statementOwnerRef} waited ${duration(w.dur ?? 0)} for a lock held by ` +
      `${sides.txOwnerRef}, ${idleSince}, and failed: ${w.err!.message}. ` +
      `${holder} must commit, roll back or close before this statement runs.`;
  } else {
    const waited = (h.tx.end ?? w.time) - w.start;
    message =
      `${statementText(w)} by ${sides.statementOwnerRef} waited ${duration(waited)} for a lock held by ` +
      `${sides.txOwnerRef}, ${idleSince}; it went on only when ${holder}'s transaction ended ` +
      `(${h.tx.outcome === 'commit' ? 'COMMIT' : 'rollback'}${h.tx.endAt ? ` at ${place(model, h.tx.endAt)}` : ''}).`;
  }
  const rel = [
    ...statementRelated(h.last, `${holder}'s last statement before ${waiter} waited; its transaction ${h.tx.label} stayed open`),
    ...(h.took !== h.last ? statementRelated(h.took, `${holder}'s ${statementText(h.took)} took the lock`) : []),
    ...related(h.tx.endAt, `${holder}'s transaction ended here`),
  ];
  return finding(LOCK_WAIT, 'error', message, at, { related: rel, test: w.test });
}

export const lockWaitRule: DynamicRule = { id: LOCK_WAIT, check };
