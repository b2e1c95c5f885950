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
 */
import type { ModelIdentityHit, ModelRun, ModelSession, ModelStatement, ModelTransaction } from '../../model/model';
import { describeRows, identityKeys, modelRowKeys, rowsMayOverlap, type RowKeySet } from '../../model/rowkeys';
import { ROW_WRITES } from '../../model/query-facts';
import type { DynamicRule, Finding } from '../findings';
import type { SourceFrame } from '../../trace/schema';
import { finding, flushRelated, place, related, sessionRef, statementAndTransaction, statementRelated, testFailed, txOwnerLabel, txOwnerRef, writeText } from './util';

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

/** Committed row writes: database → table → the writes, sorted by commit time. */
type CommittedIndex = Map<string, Map<string, Committed[]>>;

/** Committed row writes to `tables` per database and table, sorted by commit time. */
function committedIndex(model: ModelRun, tables: ReadonlySet<string>): CommittedIndex {
  const out: CommittedIndex = new Map();
  for (const tx of model.transactions) {
    const dbKey = tx.connection.dbKey;
    if (tx.outcome !== 'commit' || tx.end === undefined || !dbKey) continue;
    let byTable: Map<string, Committed[]> | undefined;
    for (const w of tx.writes) {
      if (w.err || !ROW_WRITES.has(w.verb)) continue;
      for (const table of w.writes) {
        if (!tables.has(table)) continue;
        if (!byTable) {
          byTable = out.get(dbKey);
          if (!byTable) out.set(dbKey, (byTable = new Map()));
        }
        let list = byTable.get(table);
        if (!list) byTable.set(table, (list = []));
        list.push({ tx, write: w, at: tx.end });
      }
    }
  }
  for (const byTable of out.values()) for (const list of byTable.values()) list.sort((a, b) => a.at - b.at);
  return out;
}

/** Index of the first entry with `at` > time. */
function upperBound(list: Committed[], time: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid].at <= time) lo = mid + 1;
    else hi = mid;
  }
  return lo;
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
  rowKeys: ReturnType<typeof modelRowKeys>,
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
    if (touches(st, table) && rowsMayOverlap(keys, rowKeys.of(st, table))) return st;
  }
  return undefined;
}

function identityFindings(model: ModelRun, committed: CommittedIndex): Finding[] {
  const rowKeys = modelRowKeys(model);
  const found = new Map<string, Finding>();
  const dbKeysOf = new Map<ModelSession, Set<string>>();
  for (const hit of model.identityHits) {
    if (!hit.table || !hit.at) continue;
    const sess = hit.session;
    let dbKeys = dbKeysOf.get(sess);
    if (!dbKeys) {
      dbKeys = new Set(sess.transactions.map((t) => t.connection.dbKey).filter((k): k is string => !!k));
      dbKeysOf.set(sess, dbKeys);
    }
    const keys = identityKeys(hit.pk, hit.key);
    const loaded = lastTouchBefore(sess, hit.table, keys, hit.time, rowKeys);
    // Without a load we saw, we cannot date the session's copy of the row.
    if (!loaded) continue;
    for (const dbKey of dbKeys) {
      const list = committed.get(dbKey)?.get(hit.table);
      if (!list) continue;
      // Commits after the session's last look at the row and before the hit: the copy predates them.
      for (let i = upperBound(list, hit.time) - 1; i >= 0 && list[i].at > loaded.time; i--) {
        const c = list[i];
        if (c.tx.session === sess) continue;
        if (!rowsMayOverlap(keys, rowKeys.of(c.write, hit.table))) continue;
        const id = `${hit.at[0]}:${hit.at[1]}\u0000${c.tx.key}\u0000${hit.test ?? ''}`;
        if (!found.has(id)) found.set(id, identityFinding(model, hit, keys, loaded, c));
        break;
      }
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
  for (const tx of model.transactions) {
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

/**
 * The tables a stale read could be about: those identity-map hits name and those snapshot
 * transactions read. Only their committed writes are indexed, not every write of the run.
 */
function tablesInQuestion(model: ModelRun, snapshots: SnapshotTransaction[]): Set<string> {
  const tables = new Set<string>();
  for (const hit of model.identityHits) if (hit.table && hit.at) tables.add(hit.table);
  for (const s of snapshots) for (const r of snapshotReads(s)) for (const table of r.reads) tables.add(table);
  return tables;
}

function snapshotFindings(model: ModelRun, committed: CommittedIndex, snapshots: SnapshotTransaction[]): Finding[] {
  const rowKeys = modelRowKeys(model);
  const found = new Map<string, Finding>();
  for (const s of snapshots) {
    const { tx, dbKey, level, first } = s;
    const snapshot = first.start;
    for (const r of snapshotReads(s)) {
      for (const table of r.reads) {
        const list = committed.get(dbKey)?.get(table);
        if (!list) continue;
        const readKeys = rowKeys.of(r, table);
        for (let i = upperBound(list, r.start) - 1; i >= 0 && list[i].at > snapshot; i--) {
          const c = list[i];
          if (c.tx === tx || c.tx.connection === tx.connection) continue;
          if (!rowsMayOverlap(readKeys, rowKeys.of(c.write, table))) continue;
          const id = `${r.at![0]}:${r.at![1]}\u0000${c.tx.key}\u0000${r.test ?? ''}`;
          if (!found.has(id)) found.set(id, snapshotFinding(model, tx, level, first, r, table, readKeys, c));
          break;
        }
      }
    }
  }
  return [...found.values()];
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
  const tables = tablesInQuestion(model, snapshots);
  if (tables.size === 0) return [];
  const committed = committedIndex(model, tables);
  if (committed.size === 0) return [];
  return [...identityFindings(model, committed), ...snapshotFindings(model, committed, snapshots)];
}

export const staleReadRule: DynamicRule = { id: STALE_READ, check };
