/**
 * The editor's own ways of writing places and statements (CodeLens, notes, hovers);
 * the words every surface shares are in src/present/.
 */
import { pathToFileURL } from 'node:url';
import type { ModelConnection, ModelRun, ModelStatement, ModelTransaction } from '../../model/model';
import type { SourceFrame } from '../../trace/schema';
import { relPath } from '../../present/paths';
import { transactionOutcome } from '../../present/wording';
import { projectRoot } from '../../report/render';

/** Where the run ran: paths in texts are relative to it. */
export function runRoot(model: ModelRun): string | undefined {
  return projectRoot(model);
}

export function frameText(at: SourceFrame | undefined, root: string | undefined): string {
  return at ? `${relPath(at[0], root)}:${at[1]}` : 'an unknown place';
}

/** A markdown link that opens the file at the line. */
export function frameLink(at: SourceFrame | undefined, root: string | undefined): string {
  if (!at) return 'an unknown place';
  return `[${frameText(at, root)}](${pathToFileURL(at[0]).href}#L${at[1]})`;
}

/** How a transaction ended, with a link to where it ended (hovers). */
export function outcomeLong(tx: ModelTransaction, root: string | undefined): string {
  return transactionOutcome(tx, tx.endAt ? frameLink(tx.endAt, root) : undefined);
}

/** 'INSERT jobs', 'SELECT jobs, users', 'BEGIN'. */
export function statementShort(st: ModelStatement): string {
  const tables = st.writes.length ? st.writes : st.reads;
  const verb = st.verb || st.op.toUpperCase();
  return tables.length ? `${verb} ${tables.join(', ')}` : verb;
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
