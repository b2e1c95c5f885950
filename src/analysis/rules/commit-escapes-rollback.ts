/**
 * commit-escapes-rollback: a test relies on a transaction that its fixture
 * rolls back at teardown to undo what it wrote, but something inside the test
 * committed for real on another connection (a factory_boy factory with
 * `sqlalchemy_session_persistence = "commit"` on its own session, app code
 * committing a session that is not joined to the test's transaction). The
 * rollback cannot undo that commit; the rows stay for every later test.
 *
 * "Relies on an outer rollback": during the test, a transaction opened by test
 * code (a fixture's connection or session) ended with an explicit rollback()
 * in test code, wrote something itself, and SPANS the commit: it began before
 * the commit and ended after it. A rollback of a transaction that began after
 * the commit, or that wrote nothing (a read-only session's rollback), isolates
 * nothing, and suites that commit on purpose are left alone. A commit counts
 * when it wrote rows (DML), ran in that test on the same database, and no
 * committed whole-table cleanup of what it wrote followed in the same test.
 *
 * Sibling transactions are not isolation: a transaction that began at the same line as the
 * committing one is another unit of work of the same code (a transaction wrapper run for several
 * at once, some of whose callbacks threw), not a fixture's transaction around the commit.
 *
 * A test that reads what the commit wrote after that rollback (MikroORM's propagation tests: a
 * REQUIRES_NEW transaction commits inside one that throws, and the test then finds the inner
 * row and not the outer) is testing the two transactions' outcomes: the rollback was the code's
 * under test, not the test's isolation, and the row is what it looks for.
 *
 * Savepoints: a session joined to the test's transaction (SQLAlchemy 2.0
 * join_transaction_mode="create_savepoint", the 1.4 begin_nested recipe) only
 * releases a SAVEPOINT on commit(): no real COMMIT, so nothing fires. Except on
 * SQLite through pysqlite without an explicit BEGIN: there the SAVEPOINT
 * started SQLite's transaction and its RELEASE committed for real (the model's
 * `outermost` savepoint), so that RELEASE escapes the rollback like a COMMIT.
 *
 * Severity: error when the escaped rows broke something (a later test, or the
 * same test further on, hit a UNIQUE violation on them, as matched by
 * test-state-leak); warning otherwise, since the rows are still left behind.
 * Location: the commit; related: the teardown rollback it escaped.
 */
import type { ModelRun, ModelSavepoint, ModelStatement, ModelTransaction } from '../../model/model';
import type { SourceFrame } from '../../trace/schema';
import type { DynamicRule, Finding, RelatedLocation } from '../findings';
import { leakMatches } from './test-state-leak';
import { finding, firstFrame, isTestCode, place, related, statementRelated, testFailed, txOwnerRef, writeText } from './util';

const RULE = 'commit-escapes-rollback';

function isCleanup(st: ModelStatement): boolean {
  return st.verb === 'TRUNCATE' || st.verb === 'DROP' || st.verb === 'DELETE';
}

/** Transactions test code opened, wrote in, and deliberately rolled back at the end: the tests' isolation. */
function isolationRollbacks(model: ModelRun): Map<string, ModelTransaction[]> {
  const byTest = new Map<string, ModelTransaction[]>();
  // Indexed: a for-of over all of them allocates per element until the loop is optimized.
  const transactions = model.transactions;
  for (let i = 0; i < transactions.length; i++) {
    const tx = transactions[i];
    if (tx.outcome !== 'rollback' || tx.cause !== 'explicit' || !tx.test) continue;
    if (!isTestCode(model, tx.endAt)) continue;
    const openedAt = tx.session?.at ?? tx.beginAt;
    if (!isTestCode(model, openedAt) && !isTestCode(model, tx.beginAt)) continue;
    // A rollback of a transaction that wrote nothing undoes nothing.
    if (!tx.writes.some((w) => w.op === 'write' && !w.err)) continue;
    if (!byTest.has(tx.test)) byTest.set(tx.test, []);
    byTest.get(tx.test)!.push(tx);
  }
  return byTest;
}

/** A real commit inside a test: a COMMIT, or the RELEASE of an outermost pysqlite savepoint. */
interface Escape {
  tx: ModelTransaction;
  /** When the database made the writes durable. */
  time: number;
  at?: SourceFrame;
  writes: ModelStatement[];
  /** Set when the commit was a RELEASE SAVEPOINT that SQLite took as COMMIT. */
  savepoint?: ModelSavepoint;
}

function escapes(model: ModelRun, isolation: Map<string, ModelTransaction[]>): Escape[] {
  const out: Escape[] = [];
  for (const tx of model.transactions) {
    if (tx.test === undefined || !isolation.has(tx.test)) continue;
    if (tx.outcome === 'commit') {
      const writes = tx.writes.filter((w) => w.op === 'write' && !w.err);
      if (writes.length > 0) out.push({ tx, time: tx.end!, at: tx.endAt, writes });
      continue;
    }
    for (const sp of tx.savepoints) {
      if (!sp.outermost || sp.outcome !== 'release') continue;
      const writes = tx.writes.filter((w) => w.op === 'write' && !w.err && w.time >= sp.start && w.time <= sp.end!);
      if (writes.length > 0) out.push({ tx, time: sp.end!, at: sp.endAt, writes, savepoint: sp });
    }
  }
  return out;
}

/**
 * Two transactions begun by one line are siblings, not a test's isolation and a commit inside it:
 * a transaction wrapper (`db.transaction().execute(fn)`, `knex.transaction(fn)`) called for several
 * units of work at once commits each whose fn returned and rolls back each whose fn threw.
 */
function sameLine(a: SourceFrame | undefined, b: SourceFrame | undefined): boolean {
  return a !== undefined && b !== undefined && a[0] === b[0] && a[1] === b[1];
}

/** Per test, the statements of test code that read a table, in time order: built at the first candidate commit. */
function testReads(model: ModelRun): Map<string, ModelStatement[]> {
  const out = new Map<string, ModelStatement[]>();
  const statements = model.statements;
  for (let i = 0; i < statements.length; i++) {
    const st = statements[i];
    if (st.test === undefined || st.reads.length === 0 || st.err || !isTestCode(model, st.at)) continue;
    let list = out.get(st.test);
    if (list === undefined) out.set(st.test, (list = []));
    list.push(st);
  }
  return out;
}

/** Whether the test's own code read one of `tables` on `dbKey` after `time`: it looked for the rows the rollback left. */
function readAfter(reads: ModelStatement[] | undefined, dbKey: string | undefined, time: number, tables: Set<string>): boolean {
  return reads !== undefined && reads.some((st) => st.start >= time && st.connection.dbKey === dbKey && st.reads.some((t) => tables.has(t)));
}

export const commitEscapesRollbackRule: DynamicRule = {
  id: RULE,
  check(model: ModelRun): Finding[] {
    const isolation = isolationRollbacks(model);
    if (isolation.size === 0) return [];
    const committed = escapes(model, isolation);
    if (committed.length === 0) return [];
    // What the escaped rows broke, by committing transaction.
    const broke = new Map<string, string>();
    for (const m of leakMatches(model)) {
      const failedTest = m.violation.stmt.test;
      // An autocommit INSERT has no transaction a test's outer rollback could have held.
      if (!failedTest || !m.tx || broke.has(m.tx.key)) continue;
      broke.set(m.tx.key, failedTest === m.tx.test ? `later in the same test, ${failedTest}` : `in a later test, ${failedTest}`);
    }
    // Committed cleanups per test and database, to skip commits a fixture deletes again at teardown.
    const cleaned = new Map<string, { time: number; tables: string[] }[]>();
    for (const tx of model.transactions) {
      if (tx.outcome !== 'commit' || !tx.test || !isolation.has(tx.test)) continue;
      for (const st of tx.writes) {
        if (!isCleanup(st) || st.err) continue;
        const key = `${tx.test}|${tx.connection.dbKey}`;
        if (!cleaned.has(key)) cleaned.set(key, []);
        cleaned.get(key)!.push({ time: tx.end!, tables: st.writes });
      }
    }

    const findings: Finding[] = [];
    let reads: Map<string, ModelStatement[]> | undefined;
    for (const e of committed) {
      const tx = e.tx;
      const rollbacks = isolation.get(tx.test!)!.filter(
        (x) =>
          x.connection.dbKey === tx.connection.dbKey &&
          // It spans the commit: began before it and was rolled back after it. A COMMIT on its own
          // connection would have ended it; an outermost savepoint's RELEASE lies inside it.
          x.start < e.time &&
          x.end! > e.time &&
          (e.savepoint ? x === tx : x.connection !== tx.connection && !sameLine(x.beginAt, tx.beginAt)),
      );
      if (rollbacks.length === 0) continue;
      const outer = rollbacks[0];
      const writes = e.writes;
      // A fixture's own committed cleanup leaves nothing behind.
      if (writes.every(isCleanup) && isTestCode(model, e.at)) continue;
      const tables = new Set(writes.flatMap((w) => w.writes));
      const cleanups = cleaned.get(`${tx.test}|${tx.connection.dbKey}`) ?? [];
      if (tables.size > 0 && [...tables].every((t) => cleanups.some((c) => c.time > e.time && c.tables.includes(t)))) continue;
      // The test read the committed table after the rollback and passed: it checked which unit of work
      // survived. One that failed may have found the escaped rows where it expected none (an atomicity
      // test of code that commits inside it), and rows that broke something else are harm either way.
      if (!e.savepoint && !broke.has(tx.key) && !testFailed(model, tx.test)) {
        reads ??= testReads(model);
        if (readAfter(reads.get(tx.test!), tx.connection.dbKey, outer.end!, tables)) continue;
      }
      const at = firstFrame(e.at, writes[writes.length - 1].at);
      if (!at) continue;
      const what = [...new Set(writes.map(writeText))].join(', ');
      const harm = broke.get(tx.key);
      const how = e.savepoint
        ? `released savepoint ${e.savepoint.name} after ${what}, and SQLite took that RELEASE as COMMIT (pysqlite sent no BEGIN before the SAVEPOINT)`
        : `committed ${what} (${tx.label}), outside the test's transaction ${outer.label}`;
      // The cure in the words of the stack that committed: SQLAlchemy's session joining, or, in Node, handing
      // the code the test's transaction (a Knex trx's own transaction() is a savepoint of it).
      const cure = e.savepoint
        ? ' Have SQLAlchemy emit BEGIN itself on SQLite (isolation_level=None on connect, "BEGIN" in the begin event), so the savepoint nests inside the test\'s transaction.'
        : tx.connection.process.header.lang === 'node'
          ? " Hand the code the test's transaction (with Knex, the test's trx, whose own transaction() is a savepoint of it), or clean up what it commits."
          : ' Bind that session to the test\'s connection (join_transaction_mode="create_savepoint"), or flush instead of commit.';
      const message =
        `${tx.test} relies on the rollback at ${place(model, outer.endAt)} to undo its writes, but ${txOwnerRef(model, tx)} ${how}: ` +
        'the rollback cannot undo it, so the rows stay' +
        (harm ? ` and collided ${harm}.` : ' for every later test.') +
        cure;
      const rel: RelatedLocation[] = [...related(outer.endAt, `the test's rollback (${outer.label}), which this commit escaped`)];
      const firstWrite = writes[0];
      if (firstWrite.at && (firstWrite.at[0] !== at[0] || firstWrite.at[1] !== at[1])) rel.push(...statementRelated(firstWrite, `${writeText(firstWrite)} that was committed`));
      if (tx.session?.at) rel.push(...related(tx.session.at, `${tx.session.label} opened here`));
      findings.push(finding(RULE, harm ? 'error' : 'warning', message, at, { related: rel, test: tx.test }));
    }
    return findings;
  },
};
