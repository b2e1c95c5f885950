/**
 * The editor's own ways of writing places and statements (CodeLens, notes, hovers);
 * the words every surface shares are in src/present/.
 */
import { pathToFileURL } from 'node:url';
import type { ModelConnection, ModelRun, ModelStatement, ModelTransaction } from '../../model/model';
import type { SourceFrame } from '../../trace/schema';
import { relPath } from '../../present/paths';
import { databaseShortName, transactionOutcome } from '../../present/wording';
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

export function oneLineSql(sql: string, max = 120): string {
  const flat = sql.replace(/\s+/g, ' ').trim().replace(/`/g, "'");
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** 'test.db', 'a :memory: database', 'app' (a server database's name). */
export function databaseName(conn: ModelConnection): string {
  const name = databaseShortName(conn.db);
  if (!name) return 'an unknown database';
  return conn.db?.memory ? 'a :memory: database' : name;
}
