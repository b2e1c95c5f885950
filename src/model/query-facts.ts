/**
 * What statements mean for the rows other transactions see: the statement
 * verbs by what they do, and the sweep that pairs each read with the writes
 * another transaction held uncommitted when the read began. The SQL
 * classifier, the rules and the timeline all ask these questions; this module
 * is where the answers live.
 */
import type { ModelConnection, ModelRun, ModelStatement, ModelTransaction } from './model';
import { modelRowKeys, rowsMayOverlap } from './rowkeys';

/** Verbs that end or shape a transaction. */
export const TX_VERBS: ReadonlySet<string> = new Set(['BEGIN', 'START', 'COMMIT', 'END', 'ROLLBACK', 'SAVEPOINT', 'RELEASE', 'ABORT']);
/** Verbs that change the schema or its grants. */
export const DDL_VERBS: ReadonlySet<string> = new Set(['CREATE', 'ALTER', 'DROP', 'COMMENT', 'GRANT', 'REVOKE', 'REINDEX']);
/** Verbs that change data. */
export const WRITE_VERBS: ReadonlySet<string> = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE', 'REPLACE', 'UPSERT', 'TRUNCATE', 'COPY']);
/** Verbs that only read. */
export const READ_VERBS: ReadonlySet<string> = new Set(['SELECT', 'VALUES', 'TABLE', 'SHOW', 'EXPLAIN']);
/**
 * Writes that change rows another transaction cannot see before COMMIT. TRUNCATE and COPY
 * are writes too, but TRUNCATE blocks readers instead (lock-wait) and COPY names no rows.
 */
export const ROW_WRITES: ReadonlySet<string> = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE', 'REPLACE', 'UPSERT']);

/** One transaction's row writes to one table, uncommitted from the first until the transaction ended. */
export interface PendingWrites {
  tx: ModelTransaction;
  table: string;
  /** The transaction's writes to `table`, in order. */
  readonly writes: ModelStatement[];
  /** First write finished: from here the change exists but is uncommitted. */
  from: number;
  /** The transaction ended (commit: visible from here on; rollback: gone). */
  until: number;
}

/** Whether a statement is a row write that other transactions cannot see before COMMIT. */
function isPendingWrite(w: ModelStatement): boolean {
  return !w.err && ROW_WRITES.has(w.verb);
}

/**
 * Every transaction with row writes has one per table it wrote, but only the few that overlap a
 * read on another connection are ever asked for their writes: those are listed on demand, not
 * collected into an array per transaction and table while the sweep is set up.
 */
class TablePendingWrites implements PendingWrites {
  private listed?: ModelStatement[];
  constructor(
    readonly tx: ModelTransaction,
    readonly table: string,
    readonly from: number,
    readonly until: number,
  ) {}
  get writes(): ModelStatement[] {
    return (this.listed ??= this.tx.writes.filter((w) => isPendingWrite(w) && w.writes.includes(this.table)));
  }
}

/** The reads of one table of one database, in the model's order (by end time). */
export interface TableReads {
  readonly table: string;
  /** The connection's `dbKey`, '' when unknown. */
  readonly db: string;
  readonly reads: ModelStatement[];
  /** The connection of every read, while they share one; null once two differ. */
  soleConnection: ModelConnection | null;
}

/**
 * A run's reads (statements of op 'read') by table and database, in the order the model holds
 * them. Built by one pass over the statements, `add` for each read: the one a run has is the
 * rules' shared pass over the statements (src/analysis/statement-index.ts), which the
 * timeline reads too, so a run's reads are indexed once whoever asks.
 */
export class ReadIndex {
  /** table → database key ('' when unknown) → its reads. */
  readonly byTable = new Map<string, Map<string, TableReads>>();
  /** Every table's reads, in the order of each one's first read. */
  readonly inOrder: TableReads[] = [];
  /** database key → the connection of every read of it, while they share one; null once two differ. */
  readonly soleReaderOf = new Map<string, ModelConnection | null>();

  add(st: ModelStatement): void {
    const conn = st.connection;
    const db = conn.dbKey ?? '';
    const sole = this.soleReaderOf.get(db);
    if (sole === undefined) this.soleReaderOf.set(db, conn);
    else if (sole !== null && sole !== conn) this.soleReaderOf.set(db, null);
    const tables = st.reads;
    for (let k = 0; k < tables.length; k++) {
      const table = tables[k];
      let byDb = this.byTable.get(table);
      if (!byDb) this.byTable.set(table, (byDb = new Map()));
      let reads = byDb.get(db);
      if (!reads) {
        byDb.set(db, (reads = { table, db, reads: [], soleConnection: conn }));
        this.inOrder.push(reads);
      } else if (reads.soleConnection !== conn) reads.soleConnection = null;
      reads.reads.push(st);
    }
  }

  get(table: string, db: string): TableReads | undefined {
    return this.byTable.get(table)?.get(db);
  }
}

/** The pending writes to one table of one database that a read on another connection may have missed. */
class TablePendings {
  readonly pendings: PendingWrites[] = [];
  /** The connection of every pending write, while they share one; null once two differ. */
  soleConnection: ModelConnection | null | undefined = undefined;

  add(p: PendingWrites): void {
    this.pendings.push(p);
    const conn = p.tx.connection;
    if (this.soleConnection === undefined) this.soleConnection = conn;
    else if (this.soleConnection !== conn) this.soleConnection = null;
  }
}

/**
 * Visits every read with each transaction that, when the read started, held
 * uncommitted row writes to a table it reads, on another connection to the
 * same database. Reads come per database and table in start order; the
 * transactions of one read in the order their first write finished. Whether
 * the read missed one of those writes (keys, row counts) is the caller's
 * judgement. `reads`: the run's reads, indexed.
 */
export function sweepPendingWrites(model: ModelRun, reads: ReadIndex, visit: (read: ModelStatement, pending: PendingWrites) => void): void {
  // Per table and database read: only writes some read on another connection may have missed are
  // pending writes worth sweeping. A transaction on the one connection that read its database (one
  // connection at a time, the common case) is passed over without a look at its writes.
  const pendingOf = new Map<TableReads, TablePendings>();
  // The tables the current transaction wrote so far (a table or two: a short list searched in place), one list reused.
  const seen: string[] = [];
  // Indexed loops over the model's arrays, here and below: each loop runs once, mostly before the
  // optimizing compiler takes it over, and until then a for-of allocates a result per element
  // (hundreds of thousands of statements: garbage that costs scavenges).
  const transactions = model.transactions;
  for (let i = 0; i < transactions.length; i++) {
    const tx = transactions[i];
    const dbKey = tx.connection.dbKey;
    const txWrites = tx.writes;
    if (!dbKey || txWrites.length === 0 || tx.isolation === 'AUTOCOMMIT') continue;
    const soleReader = reads.soleReaderOf.get(dbKey);
    if (soleReader === undefined || soleReader === tx.connection) continue;
    const until = tx.end ?? Infinity;
    seen.length = 0;
    for (let j = 0; j < txWrites.length; j++) {
      const w = txWrites[j];
      if (!isPendingWrite(w)) continue;
      const tables = w.writes;
      for (let k = 0; k < tables.length; k++) {
        const table = tables[k];
        // The first write of this transaction to `table` opens its pending writes.
        if (seen.includes(table)) continue;
        seen.push(table);
        const tableReads = reads.get(table, dbKey);
        if (!tableReads || tableReads.soleConnection === tx.connection) continue;
        let group = pendingOf.get(tableReads);
        if (!group) pendingOf.set(tableReads, (group = new TablePendings()));
        group.add(new TablePendingWrites(tx, table, w.time, until));
      }
    }
  }
  if (pendingOf.size === 0) return;

  // Tables in the order their first read came, as the sweep visits them.
  for (let g = 0; g < reads.inOrder.length; g++) {
    const tableReads = reads.inOrder[g];
    const group = pendingOf.get(tableReads);
    if (!group) continue;
    const { pendings, soleConnection } = group;
    pendings.sort((a, b) => a.from - b.from);
    // A read on the one connection that holds every pending write to the table has no other
    // transaction's writes to miss: it is left out of the sweep, which changes nothing for the reads that stay.
    const swept = soleConnection ? tableReads.reads.filter((r) => r.connection !== soleConnection) : tableReads.reads;
    // Statements are in end order; reads are swept in start order. Each start is read once, and the
    // reads are ordered by position (stable: ties keep the model's order), only when not already in order.
    const starts = new Float64Array(swept.length);
    for (let i = 0; i < swept.length; i++) starts[i] = swept[i].start;
    const order = inOrder(starts) ? undefined : positions(starts.length).sort((a, b) => starts[a] - starts[b]);
    let next = 0;
    const active: PendingWrites[] = [];
    for (let k = 0; k < swept.length; k++) {
      const i = order ? order[k] : k;
      const r = swept[i];
      const start = starts[i];
      while (next < pendings.length && pendings[next].from < start) active.push(pendings[next++]);
      if (active.length === 0) continue;
      // Drop the transactions that ended before this read, in place: a new array per read is most of the sweep's garbage.
      let kept = 0;
      for (let j = 0; j < active.length; j++) if (active[j].until > start) active[kept++] = active[j];
      active.length = kept;
      for (let j = 0; j < kept; j++) if (active[j].tx.connection !== r.connection) visit(r, active[j]);
    }
  }
}

/** 0, 1, ..., n - 1. */
function positions(n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(i);
  return out;
}

function inOrder(values: Float64Array): boolean {
  for (let i = 1; i < values.length; i++) if (values[i] < values[i - 1]) return false;
  return true;
}

/**
 * Reads that could not see another transaction's write: the write finished, its
 * transaction had not ended (or ended later) when the read started, on another
 * connection to the same database, and the rows may overlap. The same question
 * the uncommitted-read rule asks, without its judgement of whether it mattered:
 * the timeline shows every such pair and marks the ones a finding reports.
 * `reads`: the run's reads, indexed (the rules' shared pass has them).
 */
export function uncommittedPairs(model: ModelRun, reads: ReadIndex): { write: ModelStatement; read: ModelStatement }[] {
  const keys = modelRowKeys(model);
  const out: { write: ModelStatement; read: ModelStatement }[] = [];
  sweepPendingWrites(model, reads, (r, p) => {
    const readKeys = keys.of(r, p.table);
    // The latest overlapping write before the read: the change the reader missed.
    let write: ModelStatement | undefined;
    for (const w of p.writes) {
      if (w.time >= r.start) break;
      if (rowsMayOverlap(readKeys, keys.of(w, p.table))) write = w;
    }
    if (write) out.push({ write, read: r });
  });
  return out;
}
