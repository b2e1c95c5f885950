/**
 * test-state-leak: rows committed during one test were still in the database
 * when a later test ran, and the later test ran into them: a UNIQUE violation
 * (SQLSTATE 23505, SQLite "UNIQUE constraint failed: t.c") on a key an earlier
 * test committed. "A UNIQUE violation from a row nobody inserted."
 *
 * Which earlier commit: the duplicate key is read from the error (PostgreSQL's
 * DETAIL "Key (email)=(a@b.c)", SQLite's "t.c" plus the failing INSERT's own
 * parameters) and matched against the parameters of committed INSERTs into the
 * same table of the same database, or the literals of their VALUES list for a
 * client that writes values into the text (pg-promise, Massive.js); the latest
 * match wins, since that row is the one still there. Without parameters (capture
 * off or types only) the rule falls back to the table: the latest commit into it
 * from an earlier test after any committed cleanup of it, reported as a warning
 * because it is a guess.
 *
 * Committed means made durable: by a COMMIT, or at once for a write run in
 * autocommit, outside any transaction (a plain node-postgres `pool.query`).
 *
 * Not a leak: rows a committed whole-table cleanup removed before the violation
 * (DELETE without WHERE, TRUNCATE, DROP TABLE, or DROP SCHEMA of the schema the
 * failing statement named: a suite that drops and recreates its tables or its
 * schema per test), and a key the failing transaction itself inserted earlier (a
 * test that inserts twice to check its own UNIQUE constraint).
 *
 * A deferred constraint fails at COMMIT, not at the INSERT: the key is read from the COMMIT's
 * DETAIL and the table from the transaction's INSERT of that key.
 *
 * Nor a key another session committed while the failing statement ran: a unique
 * check that meets a row inserted by a transaction still open waits for it, and
 * fails once it commits. That commit (sent before the failure came back, though
 * its own reply may be recorded after) is the row it hit, and it wins over any
 * older commit of the key: had the older row still been there, the newer INSERT
 * would have failed as well. Concurrent installers racing on the same keys (job
 * queues migrating their schema from many connections at once) collide with each
 * other, in the one test.
 *
 * Location: the commit in the earlier test (that is what must be undone or
 * isolated); related: the failing statement and the INSERT that wrote the key.
 * The finding belongs to the test whose statement failed: an error when the key was
 * matched and that test failed, a warning when it passed all the same (it caught
 * the violation, or provoked it on purpose against the earlier test's row).
 */
import type { ModelRun, ModelStatement, ModelTest, ModelTransaction } from '../../model/model';
import { insertLiteralRows } from '../../model/rowkeys';
import type { SourceFrame } from '../../trace/schema';
import type { DynamicRule, Finding, RelatedLocation } from '../findings';
import { statementIndex } from '../statement-index';
import { connectionRef, finding, firstFrame, place, statementRelated, txOwnerRef } from './util';

const RULE = 'test-state-leak';

export interface UniqueViolation {
  stmt: ModelStatement;
  table: string;
  columns: string[];
  /** Candidate duplicate keys (one tuple per row the statement tried to write), when known. */
  keys?: string[][];
  /**
   * For a deferred constraint, checked at COMMIT: the transaction's own INSERT of the key, the
   * write the COMMIT failed on (not a row of its own it collided with).
   */
  attempt?: ModelStatement;
}

/** A unique violation and the committed INSERT whose row it collided with. */
export interface LeakMatch {
  violation: UniqueViolation;
  insert: ModelStatement;
  /** The INSERT's transaction; none for an INSERT run in autocommit, durable when it finished. */
  tx?: ModelTransaction;
  /** 'key': the duplicate value was matched; 'table': only the table (no parameters to compare). */
  by: 'key' | 'table';
  /** Where the row became durable: the COMMIT, or the RELEASE SAVEPOINT that SQLite took as one. */
  committedAt?: SourceFrame;
}

const UNIQUE_TEXT = /UNIQUE constraint failed|duplicate key value violates unique constraint|Duplicate entry .* for key/i;

function unquote(name: string): string {
  const t = name.trim();
  const q = /^["`[](.*)["`\]]$/.exec(t);
  return q ? q[1] : t.toLowerCase();
}

function lastPart(name: string): string {
  const parts = name.split('.');
  return unquote(parts[parts.length - 1]);
}

function text(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** Splits "1, a, b" from a DETAIL key tuple; values containing ", " cannot be told apart, and then nothing matches. */
function splitKey(values: string, n: number): string[] | undefined {
  if (n === 1) return [values];
  const parts = values.split(', ');
  return parts.length === n ? parts : undefined;
}

const INSERT_COLUMNS = /^\s*INSERT\s+(?:OR\s+\w+\s+)?INTO\s+((?:"[^"]+"|`[^`]+`|[\w$]+)(?:\.(?:"[^"]+"|`[^`]+`|[\w$]+))?)\s*\(([^)]*)\)/i;

/**
 * The values an INSERT wrote into `columns`, one tuple per row, from its captured
 * parameters: positional lists (qmark/format, several VALUES rows, executemany) or
 * named ones (pyformat; SQLAlchemy's multi-row names `email__0`, `email_m0`).
 */
export function insertedKeys(st: ModelStatement, columns: string[], paramsCaptured: boolean): string[][] | undefined {
  const params = st.params;
  const sentNone = params === undefined || params === null || (Array.isArray(params) && params.length === 0);
  if (!sentNone && !paramsCaptured) return undefined;
  const m = INSERT_COLUMNS.exec(st.sql);
  if (!m) return undefined;
  const cols = m[2].split(',').map((c) => unquote(c));
  const wanted = columns.map((c) => c.toLowerCase());
  const idx = wanted.map((c) => cols.findIndex((x) => x.toLowerCase() === c));
  if (idx.some((i) => i < 0)) return undefined;
  // No parameters went with the statement: a client that formats values into the text itself
  // (pg-promise, and Massive on it) wrote the keys there, as literals of its VALUES list (read
  // with the row keys' tokenizer). Outside `--params values` the agent masked them: no keys then.
  if (sentNone) {
    const written = insertLiteralRows(st.sql);
    const at = written === undefined ? [] : wanted.map((c) => written.columns.indexOf(c));
    if (written === undefined || at.some((k) => k < 0)) return undefined;
    const rows = written.rows.map((row) => at.map((k) => row[k])).filter((row): row is string[] => row.every((v) => v !== undefined));
    return rows.length > 0 ? rows : undefined;
  }
  const sets: unknown[] = st.many !== undefined && Array.isArray(st.params) ? st.params : [st.params];
  const rows: string[][] = [];
  for (const set of sets) {
    if (Array.isArray(set)) {
      const n = cols.length;
      for (let r = 0; r * n < set.length; r++) {
        const row = idx.map((i) => set[r * n + i]);
        if (row.every((v) => v !== undefined)) rows.push(row.map(text));
      }
    } else if (set && typeof set === 'object') {
      const named = set as Record<string, unknown>;
      const byRow = new Map<string, string[]>();
      for (const [key, value] of Object.entries(named)) {
        const km = /^(.*?)(?:__(\d+)|_m(\d+))?$/.exec(key)!;
        const col = wanted.indexOf(km[1].toLowerCase());
        if (col < 0) continue;
        const row = km[2] ?? km[3] ?? '';
        if (!byRow.has(row)) byRow.set(row, new Array(wanted.length));
        byRow.get(row)![col] = text(value);
      }
      for (const row of byRow.values()) if (row.every((v) => v !== undefined)) rows.push(row);
    }
  }
  return rows.length > 0 ? rows : undefined;
}

export function uniqueViolation(st: ModelStatement, paramsCaptured: boolean): UniqueViolation | undefined {
  const err = st.err;
  if (!err) return undefined;
  if (err.code !== '23505' && !UNIQUE_TEXT.test(err.message)) return undefined;
  let table = st.writes[0];
  let columns: string[] = [];
  const sqlite = /UNIQUE constraint failed: ([^\n]+)/i.exec(err.message);
  if (sqlite) {
    for (const part of sqlite[1].split(',')) {
      const dot = part.trim().lastIndexOf('.');
      if (dot > 0) {
        table = unquote(part.trim().slice(0, dot));
        columns.push(unquote(part.trim().slice(dot + 1)));
      }
    }
  }
  let keys: string[][] | undefined;
  const detail = /Key \((.+?)\)=\((.*)\) already exists/.exec(err.detail ?? err.message);
  if (detail) {
    columns = detail[1].split(',').map((c) => unquote(c));
    const values = splitKey(detail[2], columns.length);
    if (values) keys = [values];
  }
  let attempt: ModelStatement | undefined;
  if (!table && keys && st.transaction && COMMIT.test(st.sql)) {
    // A deferred UNIQUE constraint (DEFERRABLE INITIALLY DEFERRED) is checked at COMMIT: the table is
    // that of the transaction's own INSERT of the key, which is what failed (MikroORM's GH1176 tests).
    const want = JSON.stringify(keys[0]);
    attempt = st.transaction.writes.find(
      (w) => !w.err && (w.verb === 'INSERT' || w.verb === 'REPLACE') && (insertedKeys(w, columns, paramsCaptured)?.some((r) => JSON.stringify(r) === want) ?? false),
    );
    if (attempt) table = attempt.writes[0];
  }
  if (!table) return undefined;
  if (!keys && columns.length > 0) keys = insertedKeys(st, columns, paramsCaptured);
  return { stmt: st, table: lastPart(table), columns, keys, attempt };
}

const COMMIT = /^\s*(COMMIT|END)\b/i;

function isCleanup(st: ModelStatement): boolean {
  return st.verb === 'TRUNCATE' || st.verb === 'DROP' || (st.verb === 'DELETE' && !/\bWHERE\b/i.test(st.sql));
}

const IDENT = String.raw`(?:"(?:[^"]|"")+"|[\w$]+)`;
const DROP_SCHEMA = new RegExp(String.raw`^\s*DROP\s+SCHEMA\s+(?:IF\s+EXISTS\s+)?(${IDENT}(?:\s*,\s*${IDENT})*)`, 'i');

function identName(name: string): string {
  const t = name.trim();
  return t.startsWith('"') ? t.slice(1, -1).replace(/""/g, '"') : t.toLowerCase();
}

/** The schemas a committed `DROP SCHEMA a, b [CASCADE]` removed, with every table in them; undefined for any other statement. */
function droppedSchemas(st: ModelStatement): string[] | undefined {
  if (st.verb !== 'DROP') return undefined;
  const m = DROP_SCHEMA.exec(st.sql);
  if (!m) return undefined;
  return m[1].split(/\s*,\s*/).map(identName);
}

const TARGET = new RegExp(String.raw`^\s*(?:INSERT\s+INTO|UPDATE(?:\s+ONLY)?)\s+(${IDENT})\s*\.\s*${IDENT}`, 'i');

/**
 * The schema of the table a failing INSERT or UPDATE named: its qualifier, or `public`
 * for an unqualified name (PostgreSQL's default search path, where a suite's own
 * `DROP SCHEMA public CASCADE` reset takes its tables).
 */
function targetSchema(st: ModelStatement): string {
  const m = TARGET.exec(st.sql);
  return m ? identName(m[1]) : 'public';
}

const cache = new WeakMap<ModelRun, LeakMatch[]>();

/** The first of `n` ascending values (`at(i)`) that is at least `value`; `n` when none is. */
function firstAtOrAfter(n: number, at: (i: number) => number, value: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (at(mid) < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The first of `n` ascending values (`at(i)`) above `value`; `n` when none is. */
function firstAfter(n: number, at: (i: number) => number, value: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (at(mid) <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** INSERTs into the violated table that the failing statement's own transaction ran before it. */
function ownInserts(v: UniqueViolation): ModelStatement[] {
  const tx = v.stmt.transaction;
  if (!tx) return [];
  return tx.writes.filter(
    (w) => w !== v.stmt && w !== v.attempt && !w.err && w.time <= v.stmt.start && (w.verb === 'INSERT' || w.verb === 'REPLACE') && w.writes.some((t) => lastPart(t) === v.table),
  );
}

/**
 * Every unique violation of the run matched to the committed INSERT it collided
 * with, whatever test either ran in. Shared with commit-escapes-rollback.
 */
export function leakMatches(model: ModelRun): LeakMatch[] {
  const cached = cache.get(model);
  if (cached) return cached;
  const paramsCaptured = (model.run?.params ?? 'values') === 'values';
  const violations: UniqueViolation[] = [];
  const statements = model.statements;
  for (const i of statementIndex(model).failed) {
    const v = uniqueViolation(statements[i], paramsCaptured);
    if (v) violations.push(v);
  }
  const matches: LeakMatch[] = [];
  if (violations.length > 0) {
    // The violated tables by database: asked for every write of the run, without making a key string each time.
    const wantedTables = new Map<string | undefined, Set<string>>();
    for (const v of violations) {
      const dbKey = v.stmt.connection.dbKey;
      let tables = wantedTables.get(dbKey);
      if (!tables) wantedTables.set(dbKey, (tables = new Set()));
      tables.add(v.table);
    }
    // Durable inserts and whole-table cleanups (DELETE without WHERE, TRUNCATE, DROP TABLE), per
    // database and table, in the order the database made them durable: at COMMIT, or at the RELEASE of
    // an outermost pysqlite savepoint for a transaction that was rolled back afterwards.
    // `sent`: when the commit went to the database (the COMMIT statement's start), at or before `durable`.
    const inserts = new Map<string, { st: ModelStatement; tx?: ModelTransaction; durable: number; sent: number; at?: SourceFrame }[]>();
    const cleanups = new Map<string, number[]>();
    /** Committed DROP SCHEMAs per database: each schema dropped, with the times, in durable order. */
    const schemaDrops = new Map<string | undefined, { schema: string; until: number }[]>();
    const durable: { st: ModelStatement; tx?: ModelTransaction; until: number; sent: number; at?: SourceFrame }[] = [];
    /** The longest a commit took from being sent to being recorded, over the INSERTs below. */
    let maxLag = 0;
    // Only a write that can be one of those, into a table of a database some violation names, is
    // worth a place in the durable order: the run's other writes (nearly all of them) are passed
    // over here rather than listed and sorted to be dropped by the loop below, which judges the
    // same statements the same way.
    const tableNames = new Map<string, string>();
    const mayMatter = (st: ModelStatement): boolean => {
      if (st.err) return false;
      const tables = wantedTables.get(st.connection.dbKey);
      if (tables === undefined) return false;
      const verb = st.verb;
      if (verb !== 'INSERT' && verb !== 'REPLACE' && verb !== 'DELETE' && verb !== 'TRUNCATE' && verb !== 'DROP') return false;
      if (verb === 'DROP' && droppedSchemas(st)) return true;
      const writes = st.writes;
      for (let k = 0; k < writes.length; k++) {
        let name = tableNames.get(writes[k]);
        if (name === undefined) tableNames.set(writes[k], (name = lastPart(writes[k])));
        if (tables.has(name)) return true;
      }
      return false;
    };
    // A write outside any transaction (autocommit: node-postgres's plain pool.query, a DB-API
    // connection in autocommit mode) is durable the moment it finished, like a COMMIT of its own.
    for (const i of statementIndex(model).untransactedWrites) {
      const st = statements[i];
      if ((st.writes.length > 0 || st.verb === 'DROP') && mayMatter(st)) durable.push({ st, until: st.time, sent: st.start, at: st.at });
    }
    const transactions = model.transactions;
    for (let i = 0; i < transactions.length; i++) {
      const tx = transactions[i];
      if (tx.writes.length === 0) continue;
      if (tx.outcome === 'commit' && tx.end !== undefined) {
        // The COMMIT statement, when the driver sent one: the database made the rows visible between its start and its reply.
        const last = tx.statements[tx.statements.length - 1];
        const sent = last !== undefined && (last.verb === 'COMMIT' || last.verb === 'END') && last.time <= tx.end ? last.start : tx.end;
        for (const st of tx.writes) if (mayMatter(st)) durable.push({ st, tx, until: tx.end, sent, at: tx.endAt });
      } else if (tx.durableUntil !== undefined) {
        // Each write became durable at the first RELEASE of an outermost savepoint after it.
        for (const st of tx.writes) {
          if (!mayMatter(st)) continue;
          const sp = tx.savepoints.find((x) => x.outermost && x.outcome === 'release' && x.end! >= st.time);
          if (sp) durable.push({ st, tx, until: sp.end!, sent: sp.end!, at: sp.endAt });
        }
      }
    }
    durable.sort((a, b) => a.until - b.until);
    for (const { st, tx, until, sent, at } of durable) {
      if (st.err) continue;
      const schemas = droppedSchemas(st);
      if (schemas) {
        let drops = schemaDrops.get(st.connection.dbKey);
        if (!drops) schemaDrops.set(st.connection.dbKey, (drops = []));
        for (const schema of schemas) drops.push({ schema, until });
        continue;
      }
      for (const table of st.writes) {
        const name = lastPart(table);
        if (!wantedTables.get(st.connection.dbKey)?.has(name)) continue;
        const key = `${st.connection.dbKey}|${name}`;
        if (st.verb === 'INSERT' || st.verb === 'REPLACE') {
          if (!inserts.has(key)) inserts.set(key, []);
          inserts.get(key)!.push({ st, tx, durable: until, sent, at });
          if (until - sent > maxLag) maxLag = until - sent;
        } else if (isCleanup(st)) {
          if (!cleanups.has(key)) cleanups.set(key, []);
          cleanups.get(key)!.push(until);
        }
      }
    }
    // Per table and columns of a violation, the committed INSERTs' keys, each key with the positions
    // (in `inserts` order: durable order) of the INSERTs that wrote it: read once, however many
    // violations look up that table, instead of every INSERT's parameters per violation.
    const keyedPositions = new Map<string, Map<string, number[]>>();
    const positionsByKey = (key: string, columns: string[]): Map<string, number[]> => {
      const id = `${key}\u0000${JSON.stringify(columns)}`;
      let byKey = keyedPositions.get(id);
      if (!byKey) {
        keyedPositions.set(id, (byKey = new Map()));
        const list = inserts.get(key) ?? [];
        for (let i = 0; i < list.length; i++) {
          for (const row of insertedKeys(list[i].st, columns, paramsCaptured) ?? []) {
            const k = JSON.stringify(row);
            const at = byKey.get(k);
            if (!at) byKey.set(k, [i]);
            else if (at[at.length - 1] !== i) at.push(i);
          }
        }
      }
      return byKey;
    };
    for (const v of violations) {
      const key = `${v.stmt.connection.dbKey}|${v.table}`;
      // Rows a committed cleanup removed (or a dropped and recreated table) cannot be what collided.
      // Cleanups and INSERTs are in durable order: both bounds are binary searches.
      const cleaned = cleanups.get(key) ?? [];
      let lastCleanup = (() => {
        const n = firstAtOrAfter(cleaned.length, (i) => cleaned[i], v.stmt.start);
        return n > 0 ? cleaned[n - 1] : -Infinity;
      })();
      const drops = schemaDrops.get(v.stmt.connection.dbKey);
      if (drops) {
        const schema = targetSchema(v.stmt);
        for (const d of drops) if (d.schema === schema && d.until < v.stmt.start && d.until > lastCleanup) lastCleanup = d.until;
      }
      const list = inserts.get(key) ?? [];
      // The INSERTs durable after the last cleanup whose commit was sent before the failure came
      // back: positions in [from, end) with `sent` at or before its end. Those durable before the
      // statement started, [from, to), all are; past `to`, commits that landed while it waited on
      // them (`end` bounds them: none sent in time can be recorded later than the slowest commit took).
      const failedAt = v.stmt.time;
      const to = firstAtOrAfter(list.length, (i) => list[i].durable, v.stmt.start);
      const from = firstAfter(to, (i) => list[i].durable, lastCleanup);
      const end = Math.max(to, firstAfter(list.length, (i) => list[i].durable, failedAt + maxLag));
      const inTime = (i: number) => i < to || list[i].sent <= failedAt;
      if (from >= end) continue;
      // The test's own earlier INSERTs into the table, in the failing statement's transaction or
      // committed during the same test: a test that inserts a key twice to check the constraint
      // collides with itself, not with an earlier test.
      const own = ownInserts(v);
      if (v.keys) {
        const want = new Set(v.keys.map((k) => JSON.stringify(k)));
        const hits = (rows: string[][] | undefined) => rows?.some((r) => want.has(JSON.stringify(r))) ?? false;
        if (own.some((st) => hits(insertedKeys(st, v.columns, paramsCaptured)))) continue;
        // The latest INSERT in range that wrote one of the keys: the row still there.
        const byKey = positionsByKey(key, v.columns);
        let latest = -1;
        for (const k of want) {
          const at = byKey.get(k);
          if (!at) continue;
          for (let n = firstAtOrAfter(at.length, (i) => at[i], end) - 1; n >= 0 && at[n] >= from && at[n] > latest; n--) {
            if (inTime(at[n])) {
              latest = at[n];
              break;
            }
          }
        }
        if (latest >= 0) matches.push({ violation: v, insert: list[latest].st, tx: list[latest].tx, by: 'key', committedAt: list[latest].at });
        continue;
      }
      if (own.length > 0) continue;
      let last = end - 1;
      while (last >= from && !inTime(last)) last--;
      if (last < from) continue;
      const candidate = list[last];
      matches.push({ violation: v, insert: candidate.st, tx: candidate.tx, by: 'table', committedAt: candidate.at });
    }
  }
  cache.set(model, matches);
  return matches;
}

export function keyText(v: UniqueViolation): string {
  if (!v.keys || v.keys.length !== 1) return v.columns.length > 0 ? `on ${v.table}.${v.columns.join(', ')}` : `on ${v.table}`;
  const pairs = v.columns.map((c, i) => `${c} = ${JSON.stringify(v.keys![0][i])}`);
  return `on ${pairs.join(', ')}`;
}

/** Per model, each test by id: asked twice per finding, thousands of times on a large run. */
const testsById = new WeakMap<ModelRun, Map<string, ModelTest>>();

function testOf(model: ModelRun, id: string | undefined): ModelTest | undefined {
  if (!id) return undefined;
  let tests = testsById.get(model);
  if (!tests) {
    tests = new Map();
    // The first test of an id wins, as a search from the start would find it.
    for (const t of model.tests) if (!tests.has(t.id)) tests.set(t.id, t);
    testsById.set(model, tests);
  }
  return tests.get(id);
}

export const testStateLeakRule: DynamicRule = {
  id: RULE,
  check(model: ModelRun): Finding[] {
    const findings: Finding[] = [];
    const seen = new Set<string>();
    for (const m of leakMatches(model)) {
      const failed = m.violation.stmt;
      const earlier = m.tx ? m.tx.test : m.insert.test;
      if (!earlier || !failed.test || earlier === failed.test) continue;
      const earlierStart = testOf(model, earlier)?.start;
      const later = testOf(model, failed.test);
      if (earlierStart === undefined || later === undefined || earlierStart >= later.start) continue;
      const at = firstFrame(m.committedAt, m.insert.at);
      if (!at) continue;
      const once = `${m.tx?.key ?? `${m.insert.connection.key}@${m.insert.time}`}|${failed.test}`;
      if (seen.has(once)) continue;
      seen.add(once);
      const byKey = m.by === 'key';
      // A test that passed all the same caught the collision, or provoked it on purpose (a test of the
      // constraint that relies on an earlier test's row): the order dependence is real, but this run
      // shows no harm from it, so a warning; run alone, the test would not have collided.
      const passed = later.outcome === 'passed';
      const message =
        `${earlier} committed rows into ${m.violation.table} (${m.tx ? `${txOwnerRef(model, m.tx)}, ${m.tx.label}` : `${connectionRef(model, m.insert.connection)}, in autocommit`} at ${place(model, at)}) that were still there when ${failed.test} ran: ` +
        `its ${failed.verb} at ${place(model, failed.at)} failed with "${failed.err!.message}" ${keyText(m.violation)}` +
        (byKey
          ? ', the key the earlier test committed.'
          : `; this was the last commit into ${m.violation.table} before it (parameters were not captured, so the key could not be compared).`) +
        (passed
          ? ' The test passed: it depends on the earlier test having run first, and alone it would not collide. If it means to hit the constraint, insert the row it collides with in the test itself; otherwise undo what each test commits or give each test its own keys.'
          : ' Undo what each test commits (rollback isolation, or delete at teardown) or give each test its own keys.');
      const rel: RelatedLocation[] = [...statementRelated(failed, `${failed.verb} that failed on the leftover row (${failed.test})`)];
      if (m.insert.at && (m.insert.at[0] !== at[0] || m.insert.at[1] !== at[1])) rel.push(...statementRelated(m.insert, `INSERT of the leftover row (${earlier})`));
      findings.push(finding(RULE, byKey && !passed ? 'error' : 'warning', message, at, { related: rel, test: failed.test }));
    }
    return findings;
  },
};
