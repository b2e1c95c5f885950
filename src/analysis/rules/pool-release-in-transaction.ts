/**
 * pool-release-in-transaction: a connection went back to its pool with its
 * transaction still open, so the next borrower runs inside a stranger's
 * transaction: its COMMIT publishes the other code's half-done work, its
 * ROLLBACK silently undoes it, and locks stay held in between.
 *
 * Python: SQLAlchemy with `pool_reset_on_return=None` (with the default reset
 * the pool rolls back at check-in instead, and a lost write is missing-commit's
 * story) or a raw DB-API connection released without commit. Two ways in, so
 * agents that cannot flag the check-in still get the finding:
 * - a check-in recorded with `txOpen`;
 * - a later check-out whose statements ran in a transaction begun before it.
 *
 * A transaction seen to only read before the release is not reported: it has
 * nothing to publish or undo, which is what a
 * StaticPool or shared `:memory:` connection (Flask-SQLAlchemy 2.x) shows when
 * a session's read stays open while other code uses the same connection.
 * Except one whose BEGIN ran on a connection checked out for that one statement
 * (node-postgres's `pool.query('BEGIN')`, which the trace gives as the statement's
 * `pool`): the pool takes the client back with the transaction it just opened, and
 * the code's next statements go to whichever client is idle.
 *
 * Severity: error when a later borrower ran statements in the transaction;
 * warning when an open transaction went back and nobody used it (it still
 * holds its writes, snapshot and locks, but this run did not show the harm),
 * and when the BEGIN went through pool.query and the only borrower was the same
 * function going on with its transaction on the client the pool happened to hand
 * back (it works only while nothing else uses the pool).
 * Location: the release (the line that returned the connection); failing
 * that, the last statement before it. Related: the borrower's first statement
 * inside the stranger's transaction and where that transaction finally ended.
 */
import type { ModelConnection, ModelRun, ModelStatement, ModelTransaction } from '../../model/model';
import type { SourceFrame } from '../../trace/schema';
import type { DynamicRule, Finding, RelatedLocation } from '../findings';
import { capitalize, POOL_QUERY_TRANSACTION_ADVICE } from '../../present/wording';
import { connectionRef, connectionWording, finding, firstFrame, place, related, sessionRef, statementRelated, writeText } from './util';

const RULE = 'pool-release-in-transaction';

/**
 * The transaction open on `conn` at `time`. A connection runs one transaction at a
 * time, in start order, so only the last one started by then can be open: a binary
 * search keeps this cheap on pooled connections that ran thousands of them.
 */
function openAt(conn: ModelConnection, time: number): ModelTransaction | undefined {
  const txs = conn.transactions;
  let lo = 0;
  let hi = txs.length - 1;
  let last = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (txs[mid].start <= time) {
      last = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  if (last < 0) return undefined;
  const tx = txs[last];
  return tx.end === undefined || tx.end > time ? tx : undefined;
}

/**
 * The first check-out of `conn` after `time`. Check-outs come in the order the connection's process
 * recorded them, which is time order: a binary search then, instead of a walk through the thousands
 * a pooled connection can have; a walk when they are not in order.
 */
function nextCheckout<K extends { time: number }>(checkouts: readonly K[], inTimeOrder: boolean, time: number): K | undefined {
  if (!inTimeOrder) return checkouts.find((k) => k.time > time);
  let lo = 0;
  let hi = checkouts.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (checkouts[mid].time <= time) lo = mid + 1;
    else hi = mid;
  }
  return checkouts[lo];
}

function ascendingTimes(items: readonly { time: number }[]): boolean {
  for (let i = 1; i < items.length; i++) if (!(items[i].time >= items[i - 1].time)) return false;
  return true;
}

/** The earliest and latest end time of a transaction's statements (undefined when it has none). */
function statementSpan(tx: ModelTransaction): { first: number; last: number } | undefined {
  const sts = tx.statements;
  if (sts.length === 0) return undefined;
  let first = Infinity;
  let last = -Infinity;
  for (let i = 0; i < sts.length; i++) {
    const t = sts[i].time;
    if (t < first) first = t;
    if (t > last) last = t;
  }
  return { first, last };
}

/**
 * Whether `st` ran on a connection checked out of its pool for it alone (pg-pool's pool.query):
 * the model gives such a statement a check-out at its start, at its line.
 */
function checkedOutFor(conn: ModelConnection, st: ModelStatement, inTimeOrder: boolean): boolean {
  const k = nextCheckout(conn.checkouts, inTimeOrder, st.start - 1);
  return k !== undefined && k.time === st.start && k.at === st.at;
}

/** Whether `later` is the same function as `st` going on (the same test, file and function name). */
function sameFunction(st: ModelStatement, later: ModelStatement): boolean {
  return st.test === later.test && st.at !== undefined && later.at !== undefined && st.at[0] === later.at[0] && st.at[2] === later.at[2];
}

function endText(model: ModelRun, tx: ModelTransaction): string {
  if (tx.outcome === 'commit') return `committed it at ${place(model, tx.endAt)}, publishing the earlier work too`;
  if (tx.outcome === 'rollback') return `rolled it back at ${place(model, tx.endAt)}, undoing the earlier work too`;
  return 'left it open';
}

function borrowerRef(model: ModelRun, st: ModelStatement): string {
  return st.session ? sessionRef(model, st.session) : `code at ${place(model, st.at)}`;
}

/**
 * BEGIN sent through pool.query, and no other code ran inside the transaction it left open: a
 * warning, since this run shows no harm (the function's own next statements found the same client
 * because nothing else was using the pool), at the BEGIN's line.
 */
function oneShotBeginFinding(model: ModelRun, conn: ModelConnection, tx: ModelTransaction, begin: ModelStatement, borrower: ModelStatement | undefined, at: SourceFrame): Finding {
  let message = `${begin.verb} at ${place(model, at)} went through pool.query, which hands its client back to the pool as soon as the statement is done: transaction ${tx.label} stayed open on ${connectionRef(model, conn)} in the pool.`;
  if (borrower) {
    message += ` The statements after it (${borrower.writes.length ? writeText(borrower) : borrower.verb} at ${place(model, borrower.at)} first) ran inside ${tx.label} only because the pool handed the same client out again; while other code uses the pool they run on other clients, outside it, and other code runs inside it.`;
  } else {
    message += ' Whoever borrows that client next runs inside it.';
  }
  message += ` ${POOL_QUERY_TRANSACTION_ADVICE}`;
  const rel: RelatedLocation[] = borrower ? statementRelated(borrower, `next statement, inside ${tx.label} on the same client by chance`) : [];
  if (tx.endAt && tx.outcome !== 'open') rel.push(...related(tx.endAt, `${tx.label} ${tx.outcome === 'commit' ? 'committed' : 'rolled back'} here`));
  return finding(RULE, 'warning', message, at, { related: rel, test: begin.test ?? tx.test });
}

export const poolReleaseInTransactionRule: DynamicRule = {
  id: RULE,
  check(model: ModelRun): Finding[] {
    const findings: Finding[] = [];
    for (const conn of model.connections) {
      if (conn.checkouts.length === 0 && conn.releasedInTransaction.length === 0) continue;
      const explained = new Set<ModelTransaction>();
      const checkoutsInOrder = ascendingTimes(conn.checkouts);
      const report = (tx: ModelTransaction, releasedAt: number, releaseFrame: SourceFrame | undefined): void => {
        if (explained.has(tx)) return;
        explained.add(tx);
        const next = nextCheckout(conn.checkouts, checkoutsInOrder, releasedAt);
        const before = tx.statements.filter((s) => s.time <= releasedAt);
        const after = next ? tx.statements.filter((s) => s.time >= next.time) : [];
        const wrote = before.some((s) => (s.op === 'write' || s.op === 'ddl') && !s.err);
        // BEGIN sent through pool.query: its client went back to the pool as soon as BEGIN was done.
        const oneShotBegin = before.length === 1 && before[0].op === 'tx' && !before[0].err && checkedOutFor(conn, before[0], checkoutsInOrder);
        // A transaction seen to only read publishes nothing and undoes nothing, whoever ends it:
        // a read left open on a StaticPool / shared :memory: connection is the usual case, and
        // no connection really went back to a pool there. A transaction with no statement seen
        // before the release (SQL sent on the raw DB-API cursor of a pooled connection, which
        // only its BEGIN shows) may have written anything: it is still reported.
        if (!wrote && before.length > 0 && !oneShotBegin) return;
        const lastBefore = before[before.length - 1];
        const at = firstFrame(releaseFrame, lastBefore?.at, tx.beginAt);
        if (!at) return;
        const borrower = after[0];
        if (oneShotBegin && (!borrower || sameFunction(before[0], borrower))) {
          findings.push(oneShotBeginFinding(model, conn, tx, before[0], borrower, at));
          return;
        }
        let message = `${capitalize(connectionRef(model, conn))} went back to its pool at ${place(model, at)} with transaction ${tx.label} still open`;
        if (wrote) message += ` (holding ${[...new Set(before.filter((s) => s.op === 'write').map(writeText))].join(', ')})`;
        if (borrower) {
          message +=
            `; the next borrower, ${borrowerRef(model, borrower)}, ran ${borrower.writes.length ? writeText(borrower) : borrower.verb} at ${place(model, borrower.at)} inside that stranger's transaction and ${endText(model, tx)}.`;
        } else {
          message += '; whoever borrows the connection next runs inside it.';
        }
        message += ` ${connectionWording(conn, tx.session?.cls).releaseAdvice}`;
        const rel: RelatedLocation[] = [];
        // A borrower's write sent by an ORM flush sits at the line that changed the object; the flush is related too.
        if (borrower) rel.push(...statementRelated(borrower, `next borrower's ${borrower.verb} inside ${tx.label}`));
        if (borrower && tx.endAt && tx.outcome !== 'open') rel.push(...related(tx.endAt, `${tx.label} ${tx.outcome === 'commit' ? 'committed' : 'rolled back'} here by the borrower`));
        if (lastBefore?.at && lastBefore.at !== at) rel.push(...related(lastBefore.at, `last statement before the release`));
        // Error when a borrower ran inside the stranger's transaction: the consequence is in the trace.
        const severity = borrower ? 'error' : 'warning';
        findings.push(finding(RULE, severity, message, at, { related: rel, test: borrower?.test ?? tx.test }));
      };
      for (const r of conn.releasedInTransaction) {
        const tx = openAt(conn, r.time);
        if (tx) report(tx, r.time, r.at);
      }
      // Check-outs that found a transaction already open, for agents that do not flag check-ins.
      // Indexed: a for-of over all of them allocates per element until the loop is optimized.
      const checkouts = conn.checkouts;
      // A transaction open across many check-outs (one never ended) is met at each: its statements' span is read once.
      const spans = new Map<ModelTransaction, { first: number; last: number } | undefined>();
      for (let i = 0; i < checkouts.length; i++) {
        const k = checkouts[i];
        const tx = openAt(conn, k.time);
        if (!tx || explained.has(tx) || tx.start >= k.time) continue;
        let span = spans.get(tx);
        if (span === undefined && !spans.has(tx)) spans.set(tx, (span = statementSpan(tx)));
        // It ran statements both before and after this check-out.
        if (!span || !(span.first < k.time) || !(span.last >= k.time)) continue;
        report(tx, k.time - 1, undefined);
      }
    }
    return findings;
  },
};
