/**
 * stale-read: a read returned an older state than another session had
 * already committed. Two ways this happens without anything looking wrong:
 *
 * - Identity map: `session.get()` answered from the session's identity map (no
 *   SQL, an `identity_hit` event) after another session committed a change to
 *   that row, and the reading session loaded the row before that commit and did
 *   not touch it since. The API says COMPLETED after the worker committed FAILED.
 * - Snapshot: on PostgreSQL/MySQL, a read inside a REPEATABLE READ or
 *   SERIALIZABLE transaction whose snapshot (its first statement) predates
 *   another session's commit to the rows it reads.
 *
 * Severity: error when the reading test failed (the stale state is the likely
 * cause), warning otherwise.
 *
 * A passing test that began the snapshot transaction in its own body, committed the other
 * write there and read there earns none: it contrasts the snapshot with the committed state.
 */
import type { ModelIdentityHit, ModelRun, ModelSession, ModelStatement, ModelTransaction } from '../../model/model';
import { describeRows, identityKeys, modelRowKeys, rowsMayOverlap, type ModelRowKeys, type RowKeySet } from '../../model/rowkeys';
import { ROW_WRITES } from '../../model/query-facts';
import type { DynamicRule, Finding } from '../findings';
import type { SourceFrame } from '../../trace/schema';
import {
  finding,
  flushRelated,
  inTestBody,
  place,
  related,
  sessionRef,
  statementAndTransaction,
  statementRelated,
  testFailed,
  txOwnerLabel,
  txOwnerRef,
  writeText,
} from './util';

export const STALE_READ = 'stale-read';

const SNAPSHOT_LEVELS = new Set(['REPEATABLE READ', 'SERIALIZABLE', 'SNAPSHOT']);
/** Where a transaction's reads come from one snapshot; SQLite's pysqlite runs SELECTs outside BEGIN, so it is left out. */
const SNAPSHOT_SYSTEMS = new Set(['postgresql', 'mysql', 'mariadb']);
const SET_ISOLATION = /\bISOLATION\s+LEVEL\s+(REPEATABLE\s+READ|SERIALIZABLE|READ\s+COMMITTED|READ\s+UNCOMMITTED)/i;

interface Committed {
  tx: ModelTransaction;
  write: ModelStatement;
  /** Commit time. */
  at: number;
}

/**
 * The run's committed transactions on a known database, by commit time (ties in the model's order).
 * Only the few that committed inside the window a stale read asks about have their writes looked
 * at, not every write of the run.
 */
function committedTransactions(model: ModelRun): ModelTransaction[] {
  const out = model.transactions.filter((tx) => tx.outcome === 'commit' && tx.end !== undefined && !!tx.connection.dbKey);
  // Transactions are in start order, and most end in that order too: then no sort (and no copy of them to sort).
  for (let i = 1; i < out.length; i++) if (out[i].end! < out[i - 1].end!) return out.sort((a, b) => a.end! - b.end!);
  return out;
}

/** Index of the first transaction that committed after `time`. */
function upperBound(committed: ModelTransaction[], time: number): number {
  let lo = 0;
  let hi = committed.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (committed[mid].end! <= time) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The latest committed row write to `table` on `dbKey` that `accept` takes, among the writes
 * committed after `after` and at or before `until`: latest commit first, and within one
 * transaction its last write first.
 */
function latestCommittedWrite(
  committed: ModelTransaction[],
  dbKey: string,
  table: string,
  after: number,
  until: number,
  accept: (tx: ModelTransaction, write: ModelStatement) => boolean,
): Committed | undefined {
  for (let i = upperBound(committed, until) - 1; i >= 0 && committed[i].end! > after; i--) {
    const tx = committed[i];
    if (tx.connection.dbKey !== dbKey) continue;
    const writes = tx.writes;
    for (let j = writes.length - 1; j >= 0; j--) {
      const w = writes[j];
      if (w.err || !ROW_WRITES.has(w.verb) || !w.writes.includes(table)) continue;
      if (accept(tx, w)) return { tx, write: w, at: tx.end! };
    }
  }
  return undefined;
}

/**
 * Whether `st` may be about the rows `keys` names in `table`. Rows no key names may be any
 * row: then `st`'s own keys need not be worked out (most identity-map entries carry none).
 */
function mayTouchRows(keys: RowKeySet | undefined, st: ModelStatement, table: string, rowKeys: ModelRowKeys): boolean {
  return keys === undefined || rowsMayOverlap(keys, rowKeys.of(st, table));
}

function touches(st: ModelStatement, table: string): boolean {
  return st.reads.includes(table) || st.writes.includes(table);
}

/** The session's last statement touching `table` (rows overlapping `keys`) that finished before `time`. */
function lastTouchBefore(
  sess: ModelSession,
  table: string,
  keys: RowKeySet | undefined,
  time: number,
  rowKeys: ModelRowKeys,
): ModelStatement | undefined {
  // Session statements are in time order: find the last one before `time`, then walk back.
  const sts = sess.statements;
  let lo = 0;
  let hi = sts.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sts[mid].time < time) lo = mid + 1;
    else hi = mid;
  }
  for (let i = lo - 1; i >= 0; i--) {
    const st = sts[i];
    if (touches(st, table) && mayTouchRows(keys, st, table, rowKeys)) return st;
  }
  return undefined;
}

/** Whether a transaction before `txs[t]` ran on database `dbKey`. Sessions run few transactions, most on one connection. */
function workedInBefore(txs: ModelTransaction[], t: number, dbKey: string): boolean {
  for (let u = 0; u < t; u++) if (txs[u].connection.dbKey === dbKey) return true;
  return false;
}

function identityFindings(model: ModelRun, committed: ModelTransaction[]): Finding[] {
  const rowKeys = modelRowKeys(model);
  const found = new Map<string, Finding>();
  // Indexed: a for-of over all of them allocates per element until the loop is optimized.
  const hits = model.identityHits;
  for (let i = 0; i < hits.length; i++) {
    const hit = hits[i];
    if (!hit.table || !hit.at) continue;
    const sess = hit.session;
    const keys = identityKeys(hit.pk, hit.key);
    const loaded = lastTouchBefore(sess, hit.table, keys, hit.time, rowKeys);
    // Without a load we saw, we cannot date the session's copy of the row.
    if (!loaded) continue;
    const table = hit.table;
    // The databases the session worked in, each once, in the order it first did.
    const txs = sess.transactions;
    for (let t = 0; t < txs.length; t++) {
      const dbKey = txs[t].connection.dbKey;
      if (!dbKey || workedInBefore(txs, t, dbKey)) continue;
      // Commits after the session's last look at the row and before the hit: the copy predates them.
      const c = latestCommittedWrite(committed, dbKey, table, loaded.time, hit.time, (tx, w) => tx.session !== sess && mayTouchRows(keys, w, table, rowKeys));
      if (!c) continue;
      const id = `${hit.at[0]}:${hit.at[1]}\u0000${c.tx.key}\u0000${hit.test ?? ''}`;
      if (!found.has(id)) found.set(id, identityFinding(model, hit, keys, loaded, c));
    }
  }
  return [...found.values()];
}

function sameLine(a: SourceFrame | undefined, b: SourceFrame | undefined): boolean {
  return !!a && !!b && a[0] === b[0] && a[1] === b[1];
}

function identityFinding(model: ModelRun, hit: ModelIdentityHit, keys: RowKeySet | undefined, loaded: ModelStatement, c: Committed): Finding {
  const reader = hit.session.label;
  const writer = txOwnerLabel(c.tx);
  const row = describeRows(hit.table!, keys);
  const message =
    `${sessionRef(model, hit.session)} returned ${hit.entity} (${row}) from its identity map, without SQL, after ` +
    `${txOwnerRef(model, c.tx)} had committed ${writeText(c.write)} to that row; ${reader} still held the state it loaded ` +
    `at ${place(model, loaded.at)}. Refresh the object (session.refresh(), populate_existing) or expire it before reading.`;
  return finding(STALE_READ, testFailed(model, hit.test) ? 'error' : 'warning', message, hit.at!, {
    test: hit.test,
    related: [
      ...related(c.write.at, `${writer}'s ${c.write.verb} of the row`),
      ...related(c.tx.endAt, `${writer} committed here, before ${reader} read`),
      // When the commit itself flushed the write, the commit line above already says where it was sent.
      ...(sameLine(c.write.flushAt, c.tx.endAt) ? [] : flushRelated(c.write)),
      ...statementRelated(loaded, `${reader} loaded the row here, before that commit`),
    ],
  });
}

/** Isolation level of a transaction: what the agent recorded, else a SET TRANSACTION / BEGIN ... ISOLATION LEVEL statement in it. */
function isolationOf(tx: ModelTransaction): string | undefined {
  for (const st of tx.statements) {
    if (st.op !== 'tx' && st.op !== 'other') break;
    const m = SET_ISOLATION.exec(st.sql);
    if (m) return m[1].toUpperCase().replace(/\s+/g, ' ');
  }
  return tx.isolation;
}

/** A transaction whose reads come from the snapshot its first statement took. */
interface SnapshotTransaction {
  tx: ModelTransaction;
  dbKey: string;
  level: string;
  first: ModelStatement;
}

function snapshotTransactions(model: ModelRun): SnapshotTransaction[] {
  const out: SnapshotTransaction[] = [];
  // Indexed: a for-of over all of them allocates per element until the loop is optimized.
  const transactions = model.transactions;
  for (let i = 0; i < transactions.length; i++) {
    const tx = transactions[i];
    const system = tx.connection.db?.system;
    const dbKey = tx.connection.dbKey;
    if (!system || !SNAPSHOT_SYSTEMS.has(system) || !dbKey) continue;
    const level = isolationOf(tx);
    if (!level || !SNAPSHOT_LEVELS.has(level)) continue;
    const first = tx.statements.find((st) => st.op === 'read' || st.op === 'write');
    if (first) out.push({ tx, dbKey, level, first });
  }
  return out;
}

/** The reads of a snapshot transaction that the rule judges (each a line to point at), after its snapshot. */
function snapshotReads({ tx, first }: SnapshotTransaction): ModelStatement[] {
  return tx.statements.filter((r) => r.op === 'read' && r !== first && r.at);
}

/** Whether anything could have read stale: an identity-map hit on a table, or a snapshot transaction's read of one. */
function anyInQuestion(model: ModelRun, snapshots: SnapshotTransaction[]): boolean {
  return model.identityHits.some((hit) => hit.table && hit.at) || snapshots.some((s) => snapshotReads(s).some((r) => r.reads.length > 0));
}

function snapshotFindings(model: ModelRun, committed: ModelTransaction[], snapshots: SnapshotTransaction[]): Finding[] {
  const rowKeys = modelRowKeys(model);
  const found = new Map<string, Finding>();
  for (const s of snapshots) {
    const { tx, dbKey, level, first } = s;
    const snapshot = first.start;
    for (const r of snapshotReads(s)) {
      for (const table of r.reads) {
        const readKeys = rowKeys.of(r, table);
        // Commits after the snapshot and before the read: the read saw the state from before them.
        const c = latestCommittedWrite(
          committed,
          dbKey,
          table,
          snapshot,
          r.start,
          (other, w) => other !== tx && other.connection !== tx.connection && mayTouchRows(readKeys, w, table, rowKeys),
        );
        if (!c) continue;
        if (contrastsItsSnapshot(model, tx, r, c.tx)) continue;
        const id = `${r.at![0]}:${r.at![1]}\u0000${c.tx.key}\u0000${r.test ?? ''}`;
        if (!found.has(id)) found.set(id, snapshotFinding(model, tx, level, first, r, table, readKeys, c));
      }
    }
  }
  return [...found.values()];
}

/**
 * A passing test that began the snapshot transaction in its own body (it chose the isolation level),
 * committed the other transaction's write there too, and read in the snapshot there: it shows what the
 * snapshot hides, as typeorm-transactional's "shouldn't see the most recent committed rows when using
 * REPEATABLE READ" does. It holds every end in view, and its assertions held.
 */
function contrastsItsSnapshot(model: ModelRun, tx: ModelTransaction, r: ModelStatement, writer: ModelTransaction): boolean {
  if (testFailed(model, r.test)) return false;
  return (
    inTestBody(model, r.test, r.at) &&
    inTestBody(model, r.test, tx.session?.at ?? tx.beginAt) &&
    inTestBody(model, r.test, writer.session?.at ?? writer.beginAt)
  );
}

function snapshotFinding(
  model: ModelRun,
  tx: ModelTransaction,
  level: string,
  first: ModelStatement,
  r: ModelStatement,
  table: string,
  readKeys: RowKeySet | undefined,
  c: Committed,
): Finding {
  const sides = statementAndTransaction(model, r, c.tx);
  const reader = sides.statementOwner;
  const writer = sides.txOwner;
  const message =
    `${sides.statementOwnerRef} read ${describeRows(table, readKeys)} in ${level} transaction ${tx.label}, whose snapshot ` +
    `was taken at its first statement (${place(model, first.at)}), before ${sides.txOwnerRef} committed ` +
    `${writeText(c.write)}; ${reader} saw the state from before that commit. End the transaction (commit or rollback) before reading again.`;
  return finding(STALE_READ, testFailed(model, r.test) ? 'error' : 'warning', message, r.at!, {
    test: r.test,
    related: [
      ...related(first.at, `${tx.label}'s snapshot was taken here (${level})`),
      ...related(c.write.at, `${writer}'s ${c.write.verb}`),
      ...related(c.tx.endAt, `${writer} committed here, after the snapshot`),
      ...(sameLine(c.write.flushAt, c.tx.endAt) ? [] : flushRelated(c.write)),
    ],
  });
}

function check(model: ModelRun): Finding[] {
  const snapshots = snapshotTransactions(model);
  if (!anyInQuestion(model, snapshots)) return [];
  const committed = committedTransactions(model);
  if (committed.length === 0) return [];
  return [...identityFindings(model, committed), ...snapshotFindings(model, committed, snapshots)];
}

export const staleReadRule: DynamicRule = { id: STALE_READ, check };
