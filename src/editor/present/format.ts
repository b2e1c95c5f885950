/** Small wording helpers shared by the editor's texts (CodeLens, notes, hovers). */
import { isAbsolute, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ModelConnection, ModelRun, ModelStatement, ModelTransaction } from '../../model/model';
import type { RollbackCause, SourceFrame } from '../../trace/schema';
import { projectRoot } from '../../report/render';

export const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/** Where the run ran: paths in texts are relative to it. */
export function runRoot(model: ModelRun): string | undefined {
  return projectRoot(model);
}

export function shortPath(file: string, root: string | undefined): string {
  if (!root || !isAbsolute(file)) return file;
  const r = relative(root, file);
  return r.startsWith('..') || isAbsolute(r) ? file : r.split('\\').join('/');
}

export function frameText(at: SourceFrame | undefined, root: string | undefined): string {
  return at ? `${shortPath(at[0], root)}:${at[1]}` : 'an unknown place';
}

/** A markdown link that opens the file at the line. */
export function frameLink(at: SourceFrame | undefined, root: string | undefined): string {
  if (!at) return 'an unknown place';
  return `[${frameText(at, root)}](${pathToFileURL(at[0]).href}#L${at[1]})`;
}

/** How a transaction ended, in a few words (after-line notes have little room). */
const CAUSE_SHORT: Record<RollbackCause, string> = {
  explicit: 'rolled back',
  error: 'rolled back by an error',
  close: 'rolled back at close',
  'session-close': 'rolled back at close',
  'pool-reset': 'rolled back by pool reset',
  exit: 'lost at process exit',
  gc: 'rolled back by gc',
};

/** How a transaction ended, in a sentence (hovers). */
const CAUSE_LONG: Record<RollbackCause, string> = {
  explicit: 'rolled back: rollback() called',
  error: 'rolled back by an error',
  close: 'rolled back: connection closed without commit',
  'session-close': 'rolled back: session closed without commit',
  'pool-reset': "rolled back by the pool's reset-on-return at check-in",
  exit: 'discarded: the process ended before commit',
  gc: 'rolled back: garbage collected without commit',
};

export function outcomeShort(tx: ModelTransaction | undefined): string {
  if (!tx) return 'autocommit';
  if (tx.outcome === 'open') return 'never ended';
  if (tx.outcome === 'commit') return 'committed';
  if (tx.writes.length === 0) return 'read only';
  return tx.cause ? CAUSE_SHORT[tx.cause] : 'not committed';
}

export function outcomeLong(tx: ModelTransaction, root: string | undefined): string {
  const at = tx.endAt ? ` at ${frameLink(tx.endAt, root)}` : '';
  if (tx.outcome === 'open') return 'never ended (still open when the trace stopped)';
  if (tx.outcome === 'commit') return `committed${at}`;
  // Ending a read-only transaction without COMMIT loses nothing: say so rather than alarm.
  if (tx.writes.length === 0) return `ended${at}, nothing to commit`;
  return tx.cause ? `${CAUSE_LONG[tx.cause]}${at}` : `ended${at} without a recorded commit or rollback`;
}

/** 'INSERT jobs', 'SELECT jobs, users', 'BEGIN'. */
export function statementShort(st: ModelStatement): string {
  const tables = st.writes.length ? st.writes : st.reads;
  const verb = st.verb || st.op.toUpperCase();
  return tables.length ? `${verb} ${tables.join(', ')}` : verb;
}

/** '+12 ms' after a reference time (ns on the run axis). */
export function after(ns: number, ref: number): string {
  const v = Math.max(0, ns - ref) / 1e6;
  return `+${v < 10 ? v.toFixed(1) : v.toFixed(0)} ms`;
}

export function ownerLabel(st: { session?: { label: string }; connection: { label: string } }): string {
  return st.session?.label ?? st.connection.label;
}

/** Test name without its file: 'test_a', 'TestX::test_b[1]'. */
export function testShortName(id: string): string {
  const i = id.indexOf('::');
  return i < 0 ? id : id.slice(i + 2);
}

export function oneLineSql(sql: string, max = 120): string {
  const flat = sql.replace(/\s+/g, ' ').trim().replace(/`/g, "'");
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** 'test.db', 'a :memory: database', 'app' (a server database's name). */
export function databaseName(conn: ModelConnection): string {
  const db = conn.db;
  if (!db) return 'an unknown database';
  if (db.memory) return 'a :memory: database';
  const name = db.file ?? db.name ?? db.system;
  return name.split(/[\\/]/).pop() ?? name;
}
