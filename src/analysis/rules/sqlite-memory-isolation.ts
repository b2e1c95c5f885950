/**
 * sqlite-memory-isolation: several connections opened SQLite `:memory:` (or a
 * private temporary database: `sqlite://`, an empty path) and each got its own
 * empty database. The classic story: a test creates the tables and a row on one
 * connection, then threads (SQLAlchemy's SingletonThreadPool gives each thread
 * its own connection), a second engine or a subprocess open their own
 * connections and find "no such table", or an empty table.
 *
 * The model gives every private memory connection its own `dbKey`, and a
 * shared-cache memory database (`file:name?mode=memory&cache=shared`) one key
 * per process and name, so "different databases" is just "different keys".
 * A StaticPool engine hands one connection to everyone: one key, no finding.
 *
 * Severity:
 * - error when a connection then failed with "no such table: T" while another
 *   memory database of the same test had T, or read T after another one had
 *   written rows to T (it cannot have seen them: its database never got them)
 *   while that one was still in use, or in a test that then failed; or listed
 *   its tables (SELECT from sqlite_master) and never created one, while another
 *   memory database of the test that had its tables was in use (CTFd's export
 *   opens `dataset.connect("sqlite://")` beside the app's database and exports
 *   nothing). A read of an empty table of a fresh database, after the other was
 *   last used, in a test that passed (or outside any test: suite-level hooks of
 *   different spec files each opening their own database) is how a fresh
 *   database per file, fixture or app begins;
 * - warning when memory databases of one test, in use at the same time, only
 *   touched the same tables (one last used before the next came up is a fresh
 *   database per test, file or app, by design: no finding).
 * "In use" is statements over overlapping spans of the test, not an open
 * connection: CTFd builds two apps in one test on `sqlite://` and never closes
 * the first one's StaticPool connection.
 *
 * Location: where the engine of the connection that came up empty was created
 * (`engineAt`), else where that connection was opened; that is the line to
 * change (StaticPool, a shared-cache URI, or one engine for everyone).
 */
import type { ModelConnection, ModelRun, ModelStatement } from '../../model/model';
import type { SourceFrame } from '../../trace/schema';
import type { DynamicRule, Finding, RelatedLocation } from '../findings';
import { positionsOn } from '../statement-index';
import { capitalize, PYTHON_MEMORY_TWO_ENGINES_ADVICE, STACK_WORDING } from '../../present/wording';
import { connectionRef, connectionWording, finding, firstFrame, place, related, testFailed } from './util';

const RULE = 'sqlite-memory-isolation';

const NO_SUCH_TABLE = /no such table:\s*["'`[]?([\w.]+)/i;
/** A read of SQLite's catalogue: the model keeps it out of a statement's tables, so it is known by its text. */
const CATALOG_READ = /\bsqlite_(?:master|schema)\b/i;

interface MemoryDb {
  key: string;
  connections: Set<ModelConnection>;
  /** Tables this database had (created or written), with the statement that first did it. */
  had: Map<string, ModelStatement>;
  /** Tables written with rows (INSERT/UPDATE...), with the first such statement. */
  rowsWritten: Map<string, ModelStatement>;
  touched: Set<string>;
  /** Start of its first statement and end of its last one in this group's test (any statement, PRAGMAs too). */
  use: [number, number];
}

interface Evidence {
  victim: ModelStatement;
  /** The statement of another memory database that had the table. */
  other: ModelStatement;
  table: string;
  kind: 'missing-table' | 'missing-rows' | 'empty-catalog';
}

interface Group {
  test?: string;
  dbs: Map<string, MemoryDb>;
  evidence: Evidence[];
}

function strip(table: string): string {
  const dot = table.lastIndexOf('.');
  return (dot >= 0 ? table.slice(dot + 1) : table).toLowerCase();
}

/** A connection to a SQLite memory database of its own (or one shared-cache database per process and name). */
function isMemory(conn: ModelConnection): conn is ModelConnection & { dbKey: string } {
  return !!conn.db?.memory && !!conn.dbKey;
}

function meaningful(st: ModelStatement): boolean {
  if (st.err) return true;
  return (st.op === 'read' || st.op === 'write' || st.op === 'ddl') && (st.reads.length > 0 || st.writes.length > 0);
}

/** The other memory database in the group that had `table`, first found (in opening order). */
function otherHaving(group: Group, self: string, table: string, map: 'had' | 'rowsWritten'): ModelStatement | undefined {
  for (const db of group.dbs.values()) {
    if (db.key === self) continue;
    const st = db[map].get(table);
    if (st) return st;
  }
  return undefined;
}

/** The first table another memory database in the group had, with the statement that made it: one still open at `time` first. */
function firstHad(group: Group, self: string, time: number): [string, ModelStatement] | undefined {
  let closed: [string, ModelStatement] | undefined;
  for (const db of group.dbs.values()) {
    if (db.key === self) continue;
    const first = db.had.entries().next();
    if (first.done) continue;
    for (const c of db.connections) if ((c.closed ?? Infinity) > time) return first.value;
    closed ??= first.value;
  }
  return closed;
}

function actorText(a: ModelStatement, b: ModelStatement): string {
  if (a.process !== b.process) return ` in process ${a.process.pid}`;
  if (a.thread !== undefined && b.thread !== undefined && a.thread !== b.thread) return ' in another thread';
  return '';
}

/** How many SQLAlchemy engines made the group's connections (by the engine's id, else the line that created it). */
function engineCount(group: Group): number {
  const engines = new Set<string>();
  for (const db of group.dbs.values()) {
    for (const conn of db.connections) {
      const key = conn.engine ?? (conn.engineAt ? `${conn.engineAt[0]}:${conn.engineAt[1]}` : undefined);
      if (key !== undefined) engines.add(key);
    }
  }
  return engines.size;
}

function engineFrame(conn: ModelConnection): SourceFrame | undefined {
  return firstFrame(conn.engineAt, conn.at);
}

function describeGroup(model: ModelRun, group: Group): Finding[] {
  const findings: Finding[] = [];
  const seenPlaces = new Set<string>();
  const dbCount = group.dbs.size;
  const connCount = [...group.dbs.values()].reduce((n, db) => n + db.connections.size, 0);
  const counts = `${connCount} connection${connCount === 1 ? '' : 's'} here, ${dbCount} separate database${dbCount === 1 ? '' : 's'}`;
  const firstConn = [...group.dbs.values()][0]?.connections.values().next().value as ModelConnection | undefined;
  const wording = firstConn ? connectionWording(firstConn) : STACK_WORDING.python;
  const advice = wording === STACK_WORDING.python && engineCount(group) > 1 ? PYTHON_MEMORY_TWO_ENGINES_ADVICE : wording.memoryAdvice;

  for (const ev of group.evidence) {
    if (ev.kind === 'missing-rows' && !missedLiveRows(model, group, ev)) continue;
    // A database that went on to create tables of its own was being set up, not looked into.
    if (ev.kind === 'empty-catalog' && (!missedLiveRows(model, group, ev) || (group.dbs.get(ev.victim.connection.dbKey ?? '')?.had.size ?? 0) > 0)) continue;
    const victimConn = ev.victim.connection;
    const at = firstFrame(engineFrame(victimConn), ev.victim.at);
    if (!at) continue;
    const key = `${at[0]}:${at[1]}`;
    if (seenPlaces.has(key)) continue;
    seenPlaces.add(key);
    const otherConn = ev.other.connection;
    const where = ev.victim.at ? ` at ${place(model, ev.victim.at)}` : '';
    const story =
      ev.kind === 'missing-table'
        ? `${ev.victim.verb} failed with "no such table: ${ev.table}"${where}`
        : ev.kind === 'empty-catalog'
          ? `${ev.victim.verb} listed the tables of sqlite_master${where} and found none`
          : `${ev.victim.verb} read ${ev.table}${where} and could not see the rows ${otherConn.label} had written to it`;
    const otherDid =
      ev.kind === 'missing-rows' ? `${otherConn.label} wrote them at ${place(model, ev.other.at)}` : `${otherConn.label} had created ${ev.table} at ${place(model, ev.other.at)}`;
    const message =
      `${capitalize(connectionRef(model, victimConn))}${actorText(ev.victim, ev.other)} opened SQLite ${memoryName(victimConn)} and got its own empty database: ` +
      `${story}, although ${otherDid} in a different memory database (${counts}). ${advice}`;
    const victimDid =
      ev.kind === 'missing-table'
        ? `failed here: no such table ${ev.table}`
        : ev.kind === 'empty-catalog'
          ? 'listed the tables of its own empty database here'
          : `read ${ev.table} from its own empty database here`;
    const rel: RelatedLocation[] = [
      ...related(ev.victim.at, victimDid),
      ...related(ev.other.at, `${otherConn.label} ${ev.kind === 'missing-rows' ? 'wrote' : 'created'} ${ev.table} here, in another memory database`),
    ];
    const otherEngine = engineFrame(otherConn);
    if (otherEngine && `${otherEngine[0]}:${otherEngine[1]}` !== key) rel.push(...related(otherEngine, otherConn.process.header.lang === 'node' ? `${otherConn.label} opened its own memory database here` : `engine of ${otherConn.label} created here`));
    findings.push(finding(RULE, 'error', message, at, { related: dedupe(rel), test: group.test ?? ev.victim.test }));
  }
  if (findings.length > 0) return findings;

  // No failure seen: still worth a warning when separate memory databases were used for the same
  // tables at the same time. One closed before the other opened is a fresh database per test file or
  // fixture, by design: nothing could have been shared with a database that was already gone.
  const dbs = [...group.dbs.values()];
  for (let i = 1; i < dbs.length; i++) {
    for (let j = 0; j < i; j++) {
      if (!usedTogether(dbs[i], dbs[j])) continue;
      const shared = [...dbs[i].touched].filter((t) => dbs[j].touched.has(t));
      if (shared.length === 0) continue;
      const later = [...dbs[i].connections][0];
      const earlier = [...dbs[j].connections][0];
      const at = firstFrame(engineFrame(later), later.at);
      if (!at) continue;
      const tables = shared.slice(0, 3).join(', ');
      const message =
        `${capitalize(connectionRef(model, later))} and ${connectionRef(model, earlier)} both opened SQLite ${memoryName(later)} and used ${tables}, ` +
        `but each has its own database: what one writes, the other never sees (${counts}). ${advice}`;
      const rel = dedupe([
        ...related(engineFrame(earlier), `${earlier.label} opened its own memory database here`),
      ]);
      return [finding(RULE, 'warning', message, at, { related: rel, test: group.test })];
    }
  }
  return [];
}

/**
 * A read that came up empty shows harm when the rows it missed were in a database still open
 * beside its own, or when its test failed; else it is a fresh database's first read.
 */
function missedLiveRows(model: ModelRun, group: Group, ev: Evidence): boolean {
  if (testFailed(model, ev.victim.test)) return true;
  const victimDb = group.dbs.get(ev.victim.connection.dbKey ?? '');
  const otherDb = group.dbs.get(ev.other.connection.dbKey ?? '');
  return victimDb === undefined || otherDb === undefined || usedTogether(victimDb, otherDb);
}

/**
 * Both databases ran statements over spans that overlap: one was still in use after the other
 * came up. Being open is not enough: a suite that builds a new app per test, or two in one test,
 * leaves the old app's StaticPool connection open and never uses it again (CTFd's
 * create_ctfd/destroy_ctfd on `sqlite://`), and the new app's fresh database is by design.
 */
function usedTogether(a: MemoryDb, b: MemoryDb): boolean {
  return a.use[0] < b.use[1] && b.use[0] < a.use[1];
}

/** The span of use of `st`'s memory database in `st`'s test, made on first sight. */
function useOf(uses: Map<string, [number, number]>, st: ModelStatement): [number, number] {
  const key = `${st.test ?? ''}\0${st.connection.dbKey ?? ''}`;
  let use = uses.get(key);
  if (!use) uses.set(key, (use = [st.start, st.time]));
  return use;
}

function memoryName(conn: ModelConnection): string {
  const name = conn.db?.name;
  return !name || name === ':memory:' ? '":memory:"' : `"${name}"`;
}

function dedupe(rel: RelatedLocation[]): RelatedLocation[] {
  const seen = new Set<string>();
  return rel.filter((r) => {
    const k = `${r.file}:${r.line}:${r.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

export const sqliteMemoryIsolationRule: DynamicRule = {
  id: RULE,
  check(model: ModelRun): Finding[] {
    // Only statements on memory databases count: a run without one needs no pass over its statements.
    const memory = model.connections.filter(isMemory);
    if (memory.length === 0) return [];
    const groups = new Map<string, Group>();
    const uses = new Map<string, [number, number]>();
    // Statements are in time order, so "had the table before" is a running state: the memory
    // databases' statements, when they are few, in their model order, else every statement.
    const statements = model.statements;
    const positions = positionsOn(model, memory);
    const n = positions ? positions.length : statements.length;
    for (let j = 0; j < n; j++) {
      const st = statements[positions ? positions[j] : j];
      const conn = st.connection;
      if (!isMemory(conn)) continue;
      const use = useOf(uses, st);
      if (st.start < use[0]) use[0] = st.start;
      if (st.time > use[1]) use[1] = st.time;
      const catalog = !st.err && st.op === 'read' && CATALOG_READ.test(st.sql);
      if (!catalog && !meaningful(st)) continue;
      const groupKey = st.test ?? '';
      let group = groups.get(groupKey);
      if (!group) {
        group = { test: st.test, dbs: new Map(), evidence: [] };
        groups.set(groupKey, group);
      }
      let db = group.dbs.get(conn.dbKey);
      if (!db) {
        db = { key: conn.dbKey, connections: new Set(), had: new Map(), rowsWritten: new Map(), touched: new Set(), use: useOf(uses, st) };
        group.dbs.set(conn.dbKey, db);
      }
      db.connections.add(conn);

      if (catalog) {
        // Listing the tables of a database that has none yet, while another of the test's has them.
        if (db.had.size === 0) {
          const other = firstHad(group, db.key, st.start);
          if (other) group.evidence.push({ victim: st, other: other[1], table: other[0], kind: 'empty-catalog' });
        }
        continue;
      }
      if (st.err) {
        const m = NO_SUCH_TABLE.exec(st.err.message);
        if (m) {
          const table = strip(m[1]);
          const other = otherHaving(group, db.key, table, 'had');
          if (other) group.evidence.push({ victim: st, other, table, kind: 'missing-table' });
        }
        continue;
      }
      for (const t of st.reads) {
        const table = strip(t);
        db.touched.add(table);
        // A database that got rows of its own for the table may be meant to be separate; one that never did came up empty.
        if (st.op !== 'read' || db.rowsWritten.has(table)) continue;
        const other = otherHaving(group, db.key, table, 'rowsWritten');
        if (other) group.evidence.push({ victim: st, other, table, kind: 'missing-rows' });
      }
      for (const t of st.writes) {
        const table = strip(t);
        db.touched.add(table);
        if (!db.had.has(table)) db.had.set(table, st);
        if (st.op === 'write' && st.rows !== 0 && !db.rowsWritten.has(table)) db.rowsWritten.set(table, st);
      }
    }
    const findings: Finding[] = [];
    for (const group of groups.values()) {
      if (group.dbs.size < 2) continue;
      findings.push(...describeGroup(model, group));
    }
    return findings;
  },
};
