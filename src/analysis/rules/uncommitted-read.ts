/**
 * uncommitted-read: a session read a table (a row, where keys tell) while
 * another session, on another connection to the same database, held writes
 * to it that it committed only later, or never. The reader cannot see them:
 * the fixture's row is missing from the API's answer (404), the list comes
 * back empty. On SQLite the reader may instead fail with "database is locked".
 *
 * Severity: error when the read is known to have missed the change and its
 * test failed: the read failed (locked), came back empty, or asked for the very
 * row that was written; or, when the driver does not count a SELECT's rows, it
 * scanned a table holding an uncommitted INSERT or looked a row up by a key the
 * INSERT left to the database (an autoincrement id). Otherwise a warning: the
 * read returned rows, or the test passed, so the invisible write may not matter.
 *
 * Keyed reads compare keys: a read of key K while another session holds an
 * uncommitted write of key J != K is no finding, and a keyed read in a passing
 * test whose key cannot be compared with the write's (a database-generated id)
 * is none either: a test that expects 404 for a random id reads a key nobody wrote.
 * A lookup the driver says returned rows found them, so it missed no INSERT whose key
 * cannot be compared (concurrent writers refreshing their own sequence-keyed rows), and
 * a read filtered by `col LIKE p` is not about rows written with a `col` that cannot match.
 *
 * An uncommitted UPDATE never hides a row: the reader sees the row as it was. It missed the
 * UPDATE only if the row's new values would change its answer: the read depends on a column the
 * UPDATE sets (names it, or selects `*`), and the row as the UPDATE leaves it still matches the
 * read's keys and LIKE filters. A count of `name LIKE 'A-%'` while another thread renames a row
 * to 'B-2.2' (or changes a column the count never names) missed nothing. A row the UPDATE moves
 * out of the filter is not judged: the trace does not show the old values it matched with.
 *
 * Sibling units of work (transactions opened by the same line, run at once) do not read each
 * other's uncommitted writes when the writer rolled back: those rows never existed for anyone.
 *
 * A test worker's read beside another test worker's uncommitted writes (test files run at once,
 * each in its own process, on one database) is none: neither test was meant to see the other's rows.
 *
 * A passing test that began the transaction in its own body and read beside it there (its file,
 * from its declaration to the next test's) earns none: it contrasts what the transaction sees
 * with what the rest of the database sees, as the "supports transactions" tests of Sequelize do.
 */
import type { ModelRun, ModelStatement, ModelTransaction } from '../../model/model';
import { sweepPendingWrites, type PendingWrites } from '../../model/query-facts';
import {
  describeRows,
  excludedByPatterns,
  modelRowKeys,
  rowsMayOverlap,
  sameRow,
  type ModelRowKeys,
  type RowKeySet,
} from '../../model/rowkeys';
import type { DynamicRule, Finding } from '../findings';
import { statementIndex } from '../statement-index';
import {
  finding,
  inTestBody,
  place,
  related,
  statementAndTransaction,
  statementRelated,
  testFailed,
} from './util';

export const UNCOMMITTED_READ = 'uncommitted-read';

const LOCKED = /database (table )?is locked/i;

interface Candidate {
  read: ModelStatement;
  pending: PendingWrites;
  write: ModelStatement;
  readKeys?: RowKeySet;
  writeKeys?: RowKeySet;
  exact: boolean;
}

function evidenceOfMiss(c: Candidate): boolean {
  const r = c.read;
  if (r.err && LOCKED.test(r.err.message)) return true;
  if (r.rows === 0) return true;
  if (c.exact) return true;
  // The driver does not count a SELECT's rows (sqlite3): for an INSERT, a table scan could not
  // have found the row, nor could a lookup by a key the INSERT left to the database (an
  // autoincrement id: the key only the writer had been told).
  if (r.rows !== undefined || c.write.verb !== 'INSERT') return false;
  if (!c.readKeys || c.readKeys.size === 0) return true;
  return ![...c.readKeys.keys()].some((col) => c.writeKeys?.has(col));
}

/** Aggregates return a row whether or not any row matched: their row count says nothing. */
const AGGREGATE_SELECT = /^\s*SELECT\s+(?:DISTINCT\s+)?(?:count|sum|min|max|avg|total|group_concat|string_agg|array_agg|bool_and|bool_or|every)\s*\(/i;

/** A keyed read (a lookup) that the driver says returned rows: it found what it looked for. */
function returnedItsRows(r: ModelStatement, readKeys: RowKeySet | undefined): boolean {
  return !!readKeys && readKeys.size > 0 && r.rows !== undefined && r.rows > 0 && !AGGREGATE_SELECT.test(r.sql);
}

/**
 * The row an UPDATE leaves behind, as keys: its WHERE keys with the columns it sets replaced by
 * their new values (dropped where those are unknown). Null when the read's answer cannot depend
 * on any column the UPDATE sets; the WHERE keys alone when the SET list was not understood.
 */
function rowAfterUpdate(keys: ModelRowKeys, r: ModelStatement, w: ModelStatement, table: string): RowKeySet | undefined | null {
  const where = keys.of(w, table);
  const assigned = keys.assignmentsOf(w, table);
  if (!assigned) return where;
  if (![...assigned.keys()].some((col) => keys.mayDependOn(r, col))) return null;
  const row: RowKeySet = new Map(where);
  for (const [col, values] of assigned) {
    if (values) row.set(col, values);
    else row.delete(col);
  }
  return row;
}

/**
 * Two transactions opened by one line are sibling units of work of the same code (a transaction
 * wrapper run for several at once: Objection's upsertGraph tests map three invalid graphs to
 * `transaction(knex, trx => upsertGraph(...))`, each deleting rows and then failing validation).
 * A sibling that rolled back wrote nothing anyone was meant to see: the other read the rows as
 * they stayed. A sibling that committed afterwards keeps the finding: the read missed rows that
 * became real.
 */
function rolledBackSibling(reader: ModelTransaction | undefined, writer: ModelTransaction): boolean {
  if (!reader || writer.outcome !== 'rollback') return false;
  const a = reader.session?.at ?? reader.beginAt;
  const b = writer.session?.at ?? writer.beginAt;
  return a !== undefined && b !== undefined && a[0] === b[0] && a[1] === b[1];
}

/**
 * The writer is another test worker's: test runners run test files at once, each in a process of
 * its own (vitest's and jest's workers, node:test's process per file), on the one test database,
 * each test on rows of its own. A read in one worker's test while another worker held writes hid
 * no row the reading test was meant to see: Outline's vitest workers, one looking a team's rows up
 * through a join while another's transaction held another team's. A process that runs no test (an
 * API server, a job worker a test started) keeps the finding: its writes are the test's to see.
 */
function otherWorkersTest(r: ModelStatement, writer: ModelTransaction): boolean {
  return r.process !== writer.process && r.process.tests.length > 0 && writer.process.tests.length > 0 && r.test !== undefined && r.test !== writer.test;
}

function check(model: ModelRun): Finding[] {
  const keys = modelRowKeys(model);
  // One finding per read line, writer transaction and test; the strongest evidence wins.
  const found = new Map<string, Candidate>();
  sweepPendingWrites(model, statementIndex(model).reads, (r, p) => {
    if (p.tx === r.transaction) return;
    if (rolledBackSibling(r.transaction, p.tx)) return;
    if (otherWorkersTest(r, p.tx)) return;
    const table = p.table;
    const readKeys = keys.of(r, table);
    const readPatterns = keys.patternsOf(r, table);
    const locked = !!r.err && LOCKED.test(r.err.message);
    let write: ModelStatement | undefined;
    let writeKeys: RowKeySet | undefined;
    let exact = false;
    for (const w of p.writes) {
      if (w.time >= r.start) break;
      // An UPDATE is judged by the row it leaves behind: the one the reader would have seen after COMMIT.
      // A read that failed on the writer's lock got no answer at all: only the rows count.
      const wk = w.verb === 'UPDATE' && !locked ? rowAfterUpdate(keys, r, w, table) : keys.of(w, table);
      if (wk === null || !rowsMayOverlap(readKeys, wk) || excludedByPatterns(readPatterns, wk)) continue;
      const same = sameRow(readKeys, wk);
      // An INSERT whose key the database chose (INSERT ... RETURNING id) cannot be matched
      // to a lookup by that key, and a lookup that returned its row did not miss it: the
      // row it found is committed, so it is not the one still uncommitted elsewhere.
      if (!same && w.verb === 'INSERT' && returnedItsRows(r, readKeys)) continue;
      if (!write || (same && !exact)) {
        write = w;
        writeKeys = wk;
        exact = same;
      }
    }
    if (!write) return;
    const id = `${r.at ? `${r.at[0]}:${r.at[1]}` : r.connection.key}\u0000${p.tx.key}\u0000${r.test ?? ''}`;
    const cand: Candidate = { read: r, pending: p, write, readKeys, writeKeys, exact };
    const prev = found.get(id);
    if (!prev || (evidenceOfMiss(cand) && !evidenceOfMiss(prev))) found.set(id, cand);
  });

  const findings: Finding[] = [];
  for (const c of found.values()) {
    const f = describe(model, c);
    if (f) findings.push(f);
  }
  return findings;
}

function describe(model: ModelRun, c: Candidate): Finding | undefined {
  const { read: r, pending: p, write: w } = c;
  const at = r.at ?? w.at;
  if (!at) return undefined;
  const sides = statementAndTransaction(model, r, p.tx);
  const reader = sides.statementOwner;
  const writer = sides.txOwner;
  const rows = c.exact ? describeRows(p.table, c.readKeys) : c.readKeys && c.readKeys.size > 0 ? describeRows(p.table, c.readKeys) : p.table;
  const what = w.verb === 'INSERT' ? 'an uncommitted INSERT into it' : w.verb === 'DELETE' ? 'an uncommitted DELETE from it' : `an uncommitted ${w.verb} of it`;
  let effect: string;
  if (r.err && LOCKED.test(r.err.message)) effect = `${reader}'s read failed with "${r.err.message}"`;
  else if (w.verb === 'INSERT') effect = `the row was invisible to ${reader}`;
  else if (w.verb === 'DELETE') effect = `${reader} still saw the rows as they were before the DELETE`;
  else effect = `${reader} saw the values from before the ${w.verb}`;
  let ending: string;
  if (p.tx.outcome === 'commit') ending = `${writer} committed only afterwards${p.tx.endAt ? ` (${place(model, p.tx.endAt)})` : ''}.`;
  else if (p.tx.outcome === 'rollback') ending = `${writer} never committed it.`;
  else ending = `${writer} never committed it before the trace ended.`;
  const message = `${sides.statementOwnerRef} read ${rows} while ${sides.txOwnerRef} held ${what}; ${effect}. ${ending}`;
  const failed = testFailed(model, r.test);
  // A keyed read (a lookup by id) whose key cannot be compared with the write's (the INSERT left the id to
  // the database) in a test that passed: most often a lookup of a key nobody wrote, such as a random id a
  // test expects to 404. Nothing shows the read was after that row, so it earns no finding.
  if (!failed && !c.exact && c.readKeys && c.readKeys.size > 0) return undefined;
  // A passing test that began the transaction in its own body and read beside it there, outside
  // it: the test contrasts what the transaction sees with what the rest of the database sees
  // (Sequelize's "supports transactions" tests: create in t, findAll without t expects none).
  // It holds both ends in view, and its assertions held: no fixture hid a row from the code under test.
  if (!failed && inTestBody(model, r.test, r.at) && inTestBody(model, r.test, p.tx.session?.at ?? p.tx.beginAt)) return undefined;
  const severity = failed && evidenceOfMiss(c) ? 'error' : 'warning';
  const rel = [
    ...statementRelated(w, `${writer}'s uncommitted ${w.verb} (${p.tx.label}, still open when ${reader} read)`),
    ...related(
      p.tx.endAt,
      p.tx.outcome === 'commit' ? `${writer} committed here, after ${reader}'s read` : `${writer}'s transaction ended here without COMMIT`,
    ),
  ];
  return finding(UNCOMMITTED_READ, severity, message, at, { related: rel, test: r.test });
}

export const uncommittedReadRule: DynamicRule = { id: UNCOMMITTED_READ, check };
