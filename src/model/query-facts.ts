/**
 * What statements mean for the rows other transactions see: the statement
 * verbs by what they do, and the sweep that pairs each read with the writes
 * another transaction held uncommitted when the read began. The SQL
 * classifier, the rules and the timeline all ask these questions; this module
 * is where the answers live.
 */
import type { ModelRun, ModelStatement, ModelTransaction } from './model';
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

/**
 * Visits every read with each transaction that, when the read started, held
 * uncommitted row writes to a table it reads, on another connection to the
 * same database. Reads come per database and table in start order; the
 * transactions of one read in the order their first write finished. Whether
 * the read missed one of those writes (keys, row counts) is the caller's
 * judgement.
 */
export function sweepPendingWrites(model: ModelRun, visit: (read: ModelStatement, pending: PendingWrites) => void): void {
  // Keyed by database, then table: two lookups with strings the model already holds,
  // instead of a joined key built (and hashed) for every write and every read.
  const pendingBy = new Map<string, Map<string, PendingWrites[]>>();
  // The tables the current transaction wrote so far (a table or two: a short list searched in place), one list reused.
  const seen: string[] = [];
  for (const tx of model.transactions) {
    const dbKey = tx.connection.dbKey;
    if (!dbKey || tx.writes.length === 0 || tx.isolation === 'AUTOCOMMIT') continue;
    let byTable: Map<string, PendingWrites[]> | undefined;
    const until = tx.end ?? Infinity;
    seen.length = 0;
    for (const w of tx.writes) {
      if (!isPendingWrite(w)) continue;
      for (const table of w.writes) {
        // The first write of this transaction to `table` opens its pending writes.
        if (!seen.includes(table)) {
          seen.push(table);
          if (!byTable) {
            byTable = pendingBy.get(dbKey);
            if (!byTable) pendingBy.set(dbKey, (byTable = new Map()));
          }
          const p = new TablePendingWrites(tx, table, w.time, until);
          const list = byTable.get(table);
          if (list) list.push(p);
          else byTable.set(table, [p]);
        }
      }
    }
  }
  if (pendingBy.size === 0) return;

  const readsBy = new Map<PendingWrites[], ModelStatement[]>();
  for (const st of model.statements) {
    if (st.op !== 'read') continue;
    const dbKey = st.connection.dbKey;
    const byTable = dbKey ? pendingBy.get(dbKey) : undefined;
    if (!byTable) continue;
    for (const table of st.reads) {
      const pendings = byTable.get(table);
      if (!pendings) continue;
      const list = readsBy.get(pendings);
      if (list) list.push(st);
      else readsBy.set(pendings, [st]);
    }
  }

  for (const [pendings, reads] of readsBy) {
    pendings.sort((a, b) => a.from - b.from);
    // Statements are in end order; reads are swept in start order.
    reads.sort((a, b) => a.start - b.start);
    let next = 0;
    const active: PendingWrites[] = [];
    for (const r of reads) {
      while (next < pendings.length && pendings[next].from < r.start) active.push(pendings[next++]);
      if (active.length === 0) continue;
      // Drop the transactions that ended before this read, in place: a new array per read is most of the sweep's garbage.
      let kept = 0;
      for (const p of active) if (p.until > r.start) active[kept++] = p;
      active.length = kept;
      for (const p of active) if (p.tx.connection !== r.connection) visit(r, p);
    }
  }
}

/**
 * Reads that could not see another transaction's write: the write finished, its
 * transaction had not ended (or ended later) when the read started, on another
 * connection to the same database, and the rows may overlap. The same question
 * the uncommitted-read rule asks, without its judgement of whether it mattered:
 * the timeline shows every such pair and marks the ones a finding reports.
 */
export function uncommittedPairs(model: ModelRun): { write: ModelStatement; read: ModelStatement }[] {
  const keys = modelRowKeys(model);
  const out: { write: ModelStatement; read: ModelStatement }[] = [];
  sweepPendingWrites(model, (r, p) => {
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
