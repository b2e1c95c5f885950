/**
 * missing-commit: a session or connection wrote, and its transaction ended
 * without COMMIT because it was closed, released to the pool (reset-on-return),
 * garbage-collected, or the process exited. The rows were rolled back; nobody
 * else ever saw them ("the API polls PENDING forever").
 *
 * Not flagged, on purpose:
 * - rollback() the code called (cause 'explicit') or a rollback while an
 *   exception propagated ('error'; the agent says so too for a close by a
 *   teardown handed the request's error, and drops the unflushed changes it
 *   would report): the code chose to discard, usually after a failure, and
 *   fixtures that roll back their outer transaction at teardown do it this way;
 * - transactions a test owns (ended in test code, and opened there or written
 *   only from there): a test's own scratch writes or its rollback-isolation
 *   fixture. When such writes were meant for another
 *   session, uncommitted-read tells that story;
 * - sessions joined to a test's outer transaction through a SAVEPOINT: their
 *   commit() only releases the savepoint, and the outer transaction is the
 *   test's own;
 * - writes that failed or changed no row.
 *
 * Severity follows what the lost write did to anyone (docs/rules/severity.md):
 * - error: another session read a table the write touched afterwards, in the
 *   same test, and the test failed: the read could not see the change;
 * - warning: another session read it but the test passed, or the test failed
 *   with no such read: a real defect whose harm this run did not show;
 * - warning too for writes outside any test (a script): nothing tells whether
 *   the change was needed;
 * - nothing: no other session ever read the table and the test passed. A
 *   session that writes (autoflush included) and is rolled back or closed
 *   inside a passing test, with nobody reading, is ordinary unit-test practice.
 *
 * Location: where the COMMIT is missing. When the code that wrote also ended
 * the transaction (the same function called close() or left its `with`
 * block), that end is the line to fix: a commit belongs right before it.
 * Otherwise the transaction ended somewhere else (a teardown, the pool, the
 * garbage collector, process exit), and the last write is the last place the
 * writing code had control, so the finding sits there with the end as related.
 */
import type { ModelRun, ModelSession, ModelStatement, ModelTransaction } from '../../model/model';
import type { TableReads } from '../../model/query-facts';
import type { SourceFrame } from '../../trace/schema';
import type { DynamicRule, Finding, RelatedLocation } from '../findings';
import { capitalize, rollbackText } from '../../present/wording';
import { statementIndex } from '../statement-index';
import { finding, firstFrame, flushedText, flushRelated, isTestCode, place, related, sessionRef, statementOwnerLabel, statementRelated, testFailed, txOwnerRef, writeText } from './util';

const RULE = 'missing-commit';

/** Ends that discard work nobody chose to discard. */
const SILENT_ENDS = new Set(['session-close', 'close', 'pool-reset', 'exit', 'gc']);

function sameScope(a: SourceFrame | undefined, b: SourceFrame | undefined): boolean {
  return !!a && !!b && a[0] === b[0] && a[2] === b[2];
}

/**
 * Ended by test code, and either opened there or written only from there: the test's own
 * transaction. (A session factory may live in app code while the test opens, writes and
 * closes the session itself.)
 */
function testOwned(model: ModelRun, tx: ModelTransaction, lost: ModelStatement[]): boolean {
  if (tx.endAt !== undefined && !isTestCode(model, tx.endAt)) return false;
  const openedAt = tx.session ? tx.session.at : tx.beginAt;
  if (isTestCode(model, openedAt)) return true;
  return tx.endAt !== undefined && lost.every((w) => isTestCode(model, w.at));
}

function lostWrites(tx: ModelTransaction): ModelStatement[] {
  return tx.writes.filter((w) => w.op === 'write' && !w.err && w.rows !== 0);
}

function distinctWrites(writes: ModelStatement[]): string {
  const seen = new Set<string>();
  for (const w of writes) seen.add(writeText(w));
  const list = [...seen];
  return list.length <= 3 ? list.join(', ') : `${list.slice(0, 3).join(', ')} and ${list.length - 3} more`;
}

function pendingText(sess: ModelSession): string {
  const parts = (sess.closePending ?? []).map((p) => {
    const verb = p.op === 'insert' ? 'new' : p.op === 'update' ? 'changed' : 'deleted';
    return `${p.count} ${verb} ${p.entity}${p.table ? ` (${p.table})` : ''}`;
  });
  return parts.join(', ');
}

/** Reads per table and database (in time order). */
interface ReadIndex {
  /** table → database key ('' when unknown) → reads. */
  reads: Map<string, Map<string, TableReads>>;
  /** End of each test's window, to stop looking for readers where the test ended. */
  testEnd: Map<string, number>;
}

function readIndex(model: ModelRun): ReadIndex {
  const testEnd = new Map<string, number>();
  const tests = model.tests;
  for (let i = 0; i < tests.length; i++) testEnd.set(tests[i].id, Math.max(testEnd.get(tests[i].id) ?? -Infinity, tests[i].end ?? Infinity));
  return { reads: statementIndex(model).reads.byTable, testEnd };
}

/** The first read of one of `tables`, after `from`, in `test`, by a transaction other than the writer's. */
function laterReader(
  index: ReadIndex,
  dbKey: string | undefined,
  tables: Iterable<string>,
  from: number,
  test: string | undefined,
  isWriter: (st: ModelStatement) => boolean,
): ModelStatement | undefined {
  const until = test === undefined ? Infinity : (index.testEnd.get(test) ?? Infinity);
  for (const table of tables) {
    const byDb = index.reads.get(table);
    if (!byDb) continue;
    const lists = dbKey === undefined ? [...byDb.values()] : [byDb.get(dbKey)];
    for (const tableReads of lists) {
      if (!tableReads) continue;
      const list = tableReads.reads;
      // Statements are in time order: start at the first that finished after `from`.
      let lo = 0;
      let hi = list.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (list[mid].time <= from) lo = mid + 1;
        else hi = mid;
      }
      for (let i = lo; i < list.length; i++) {
        const st = list[i];
        if (st.start > until) break;
        if (st.start > from && st.test === test && !isWriter(st)) return st;
      }
    }
  }
  return undefined;
}

type Consequence = 'error' | 'warning' | undefined;

function consequence(model: ModelRun, test: string | undefined, reader: ModelStatement | undefined): Consequence {
  // Outside any test (a script, a process no test started) there is no passing test to vouch for the loss.
  if (test === undefined) return 'warning';
  const failed = testFailed(model, test);
  if (reader && failed) return 'error';
  if (reader || failed) return 'warning';
  return undefined;
}

function transactionFinding(model: ModelRun, tx: ModelTransaction, index: () => ReadIndex): Finding | undefined {
  const lost = lostWrites(tx);
  if (lost.length === 0) return undefined;
  const test = tx.test ?? lost[lost.length - 1].test;
  const tables = new Set(lost.flatMap((w) => w.writes));
  const reader = laterReader(index(), tx.connection.dbKey, tables, lost[0].time, test, (st) => st.transaction === tx);
  const severity = consequence(model, test, reader);
  if (!severity) return undefined;
  const last = lost[lost.length - 1];
  const first = lost[0];
  const endAt = tx.endAt ?? (tx.cause === 'session-close' ? tx.session?.closeAt : undefined);
  // A write an ORM flush sent is at the line that changed the object; the flush (a query, flush(),
  // commit()) ran where the session was in use, which is what decides where the commit belongs.
  const endHere = sameScope(endAt, last.at) || sameScope(endAt, last.flushAt);
  const at = endHere ? endAt : firstFrame(last.at, endAt, tx.beginAt, tx.session?.at, tx.connection.at);
  if (!at) return undefined;

  const open = tx.outcome === 'open';
  const writes = distinctWrites(lost);
  const where = last.at ? ` at ${place(model, last.at)}${flushedText(model, last)}` : '';
  const ended = endAt && !open ? ` (${place(model, endAt)})` : '';
  const message =
    `${capitalize(txOwnerRef(model, tx))} ran ${writes}${where}, and its transaction ${tx.label} ${rollbackText(tx)}${ended}: ` +
    (open
      ? 'the change was never committed, so no other session could see it.'
      : 'the change was rolled back, and no other session ever saw it. Commit before the session or connection is closed or released.');

  const rel: RelatedLocation[] = [];
  if (endHere) {
    rel.push(...statementRelated(last, `${writeText(last)} that was never committed`));
    if (first !== last && !sameFrame(first.at, last.at)) rel.push(...statementRelated(first, `first uncommitted write: ${writeText(first)}`));
  } else {
    if (!open) rel.push(...related(endAt, `${tx.label} ended here without COMMIT`));
    rel.push(...flushRelated(last));
    if (first !== last && !sameFrame(first.at, last.at)) rel.push(...related(first.at, `first uncommitted write: ${writeText(first)}`));
  }
  if (tx.session?.at) rel.push(...related(tx.session.at, `${tx.session.label} opened here`));
  if (reader?.at) rel.push(...related(reader.at, `${statementOwnerLabel(reader)} read ${reader.reads.join(', ')} here and could not see the change`));
  return finding(RULE, open ? 'warning' : severity, message, at, { related: rel, test });
}

function sameFrame(a: SourceFrame | undefined, b: SourceFrame | undefined): boolean {
  return !!a && !!b && a[0] === b[0] && a[1] === b[1];
}

export const missingCommitRule: DynamicRule = {
  id: RULE,
  check(model: ModelRun): Finding[] {
    const findings: Finding[] = [];
    // Places already explained by a transaction finding, so a close that both rolled back flushed
    // writes and dropped unflushed ones is one finding, not two.
    const closesExplained = new Set<string>();
    const candidates: ModelTransaction[] = [];
    // Indexed: a for-of over all of them allocates per element until the loop is optimized.
    const transactions = model.transactions;
    for (let i = 0; i < transactions.length; i++) {
      const tx = transactions[i];
      if (tx.writes.length === 0 || tx.outcome === 'commit') continue;
      if (tx.outcome === 'rollback' && !(tx.cause && SILENT_ENDS.has(tx.cause))) continue;
      // A process that stopped capturing early leaves transactions open that may well have committed.
      if (tx.outcome === 'open' && tx.process.agentErrors.length > 0) continue;
      if (testOwned(model, tx, lostWrites(tx))) continue;
      candidates.push(tx);
    }
    let reads: ReadIndex | undefined;
    // Built on first use: a run with nothing lost never looks at a read.
    const index = () => (reads ??= readIndex(model));
    for (const tx of candidates) {
      const f = transactionFinding(model, tx, index);
      if (!f) continue;
      findings.push(f);
      if (tx.session) closesExplained.add(tx.session.key);
    }
    const sessions = model.sessions;
    for (let i = 0; i < sessions.length; i++) {
      const sess = sessions[i];
      if (!sess.closePending || !sess.closeAt) continue;
      if (isTestCode(model, sess.at) && isTestCode(model, sess.closeAt)) continue;
      const pending = pendingText(sess);
      const tables = (sess.closePending ?? []).map((p) => p.table).filter((t): t is string => !!t);
      const dbKey = sess.transactions[0]?.connection.dbKey;
      const reader = laterReader(index(), dbKey, tables, sess.closed ?? 0, sess.test, (st) => st.session === sess && st.time <= (sess.closed ?? 0));
      const severity = consequence(model, sess.test, reader);
      if (!severity && !closesExplained.has(sess.key)) continue;
      if (closesExplained.has(sess.key)) {
        const f = findings.find((x) => x.rule === RULE && x.message.startsWith(capitalize(sessionRef(model, sess))));
        if (f) f.message += ` It also dropped unflushed changes: ${pending}.`;
        continue;
      }
      const message =
        `${capitalize(sessionRef(model, sess))} was closed at ${place(model, sess.closeAt)} holding unsaved changes (${pending}): ` +
        'close() discards changes that were never flushed or committed, so the database never saw them. Commit before closing.';
      findings.push(
        finding(RULE, severity!, message, sess.closeAt, {
          related: [
            ...related(sess.at, `${sess.label} opened here`),
            ...(reader ? related(reader.at, `${statementOwnerLabel(reader)} read ${reader.reads.join(', ')} here and could not see the change`) : []),
          ],
          test: sess.test,
        }),
      );
    }
    return findings;
  },
};
