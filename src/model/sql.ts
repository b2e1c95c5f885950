/**
 * Classifies a SQL statement as read/write/ddl/tx/other and names the tables it
 * touches. It is a tokenizer, not a parser: enough to say "INSERT into jobs" or
 * "SELECT from jobs join users" for the dialects ORMs emit (SQLite, Postgres,
 * MySQL quoting). What it cannot read it reports as `parsed: false`, and
 * analysis goes on without tables for that statement.
 */
import type { StatementKind } from '../trace/schema';
import { DDL_VERBS, READ_VERBS, TX_VERBS, WRITE_VERBS } from './query-facts';
import { tokenizeSql } from './sql-tokens';

export interface SqlShape {
  /** The statement text (one shared copy per distinct text when classified through SqlClassifier). */
  text: string;
  op: StatementKind;
  /** Leading keyword, upper-case ('SELECT', 'INSERT', 'BEGIN', ...). */
  verb: string;
  /** Tables written by the statement (lower-case unless quoted). */
  writes: string[];
  /** Tables read by the statement. */
  reads: string[];
  parsed: boolean;
}

type Token = { kind: 'word' | 'ident' | 'punct'; text: string };

/** The statement's words, quoted identifiers and punctuation: all the classifier reads (values and comments are dropped). */
function tokenize(sql: string): Token[] {
  const out: Token[] = [];
  for (const t of tokenizeSql(sql)) {
    if (t.t === 'word' || t.t === 'ident' || t.t === 'punct') out.push({ kind: t.t, text: t.v });
    // A placeholder stands where a value does: punctuation, never part of a name.
    else if (t.t === 'param') out.push({ kind: 'punct', text: '?' });
  }
  return out;
}

/** Words that may follow FROM/JOIN/INTO/UPDATE and are not table names. */
const NOT_TABLE = new Set([
  'SELECT', 'LATERAL', 'ONLY', 'ONLY', 'WITH', 'VALUES', 'UNNEST', 'GENERATE_SERIES', 'JSON_EACH',
  'JSON_TABLE', 'OR', 'IGNORE', 'REPLACE', 'ABORT', 'FAIL', 'ROLLBACK', 'TABLE', 'IF', 'NOT', 'EXISTS',
]);

/** Reads `schema.table` starting at tokens[i]; returns the name and the index after it. */
function readName(tokens: Token[], i: number): [string | undefined, number] {
  const parts: string[] = [];
  for (;;) {
    const t = tokens[i];
    if (!t || t.kind === 'punct') break;
    if (t.kind === 'word' && parts.length === 0 && NOT_TABLE.has(t.text.toUpperCase())) {
      // `INSERT OR IGNORE INTO`, `FROM ONLY t`, `TRUNCATE TABLE t`: skip the modifier word
      i++;
      continue;
    }
    parts.push(t.kind === 'ident' ? t.text : t.text.toLowerCase());
    i++;
    if (tokens[i]?.kind === 'punct' && tokens[i].text === '.') {
      i++;
      continue;
    }
    break;
  }
  if (parts.length === 0) return [undefined, i];
  // Reads from the catalogue (sqlite_master, information_schema, pg_catalog) are not application tables.
  const name = parts[parts.length - 1];
  return [name, i];
}

const SYSTEM_TABLE = /^(sqlite_|pg_)|^information_schema$/;

function addName(list: string[], name: string | undefined, schemaQualified = false): void {
  if (!name || SYSTEM_TABLE.test(name) || schemaQualified) return;
  if (!list.includes(name)) list.push(name);
}

export function classifySql(sql: string): SqlShape {
  let tokens: Token[];
  try {
    tokens = tokenize(sql);
  } catch {
    return { text: sql, op: 'other', verb: '', writes: [], reads: [], parsed: false };
  }
  const first = tokens.find((t) => t.kind === 'word');
  if (!first) return { text: sql, op: 'other', verb: '', writes: [], reads: [], parsed: false };
  const verb = first.text.toUpperCase();
  const writes: string[] = [];
  const reads: string[] = [];
  // CTE names are not tables; collect them so reads of them are not reported.
  const cteNames = new Set<string>();
  let mainVerb = verb;
  let depth = 0;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t.kind === 'punct') {
      if (t.text === '(') depth++;
      else if (t.text === ')') depth--;
      continue;
    }
    if (t.kind !== 'word') continue;
    const w = t.text.toUpperCase();
    const prev = tokens[i - 1];
    if (verb === 'WITH' && depth === 0 && WRITE_VERBS.has(w) && mainVerb === 'WITH') mainVerb = w;
    if (verb === 'WITH' && depth === 0 && w === 'SELECT' && mainVerb === 'WITH') mainVerb = 'SELECT';
    if (verb === 'WITH' && w === 'AS' && prev && prev.kind !== 'punct') {
      cteNames.add(prev.kind === 'ident' ? prev.text : prev.text.toLowerCase());
    }
    switch (w) {
      case 'FROM': {
        // DELETE FROM t writes t; any other FROM reads.
        const isDelete = prev?.kind === 'word' && prev.text.toUpperCase() === 'DELETE';
        const [name] = readName(tokens, i + 1);
        if (name && !cteNames.has(name)) addName(isDelete ? writes : reads, name);
        break;
      }
      case 'JOIN':
      case 'USING': {
        const [name] = readName(tokens, i + 1);
        if (name && !cteNames.has(name) && tokens[i + 1]?.kind !== 'punct') addName(reads, name);
        break;
      }
      case 'INTO': {
        const pv = prev?.text.toUpperCase();
        if (pv === 'INSERT' || pv === 'REPLACE' || pv === 'IGNORE' || pv === 'MERGE' || pv === 'UPSERT') {
          const [name] = readName(tokens, i + 1);
          addName(writes, name);
        }
        break;
      }
      case 'UPDATE': {
        // `FOR UPDATE` and `ON CONFLICT DO UPDATE` are not table writes of their own.
        const pv = prev?.kind === 'word' ? prev.text.toUpperCase() : '';
        if (pv !== 'FOR' && pv !== 'DO' && pv !== 'KEY') {
          const [name] = readName(tokens, i + 1);
          addName(writes, name);
        }
        break;
      }
      case 'TRUNCATE': {
        let j = i + 1;
        for (;;) {
          const [name, next] = readName(tokens, j);
          if (!name) break;
          addName(writes, name);
          if (tokens[next]?.text === ',') j = next + 1;
          else break;
        }
        break;
      }
      case 'TABLE': {
        // CREATE/ALTER/DROP TABLE t: DDL on t, recorded as a write so a later reader sees it.
        const pv = prev?.kind === 'word' ? prev.text.toUpperCase() : '';
        if (pv === 'CREATE' || pv === 'ALTER' || pv === 'DROP' || pv === 'TEMP' || pv === 'TEMPORARY') {
          const [name] = readName(tokens, i + 1);
          addName(writes, name);
        }
        break;
      }
    }
  }
  let op: StatementKind;
  if (TX_VERBS.has(verb)) op = 'tx';
  else if (DDL_VERBS.has(verb)) op = 'ddl';
  else if (WRITE_VERBS.has(mainVerb) || writes.length > 0) op = 'write';
  else if (READ_VERBS.has(mainVerb) || mainVerb === 'WITH') op = 'read';
  else op = 'other';
  return { text: sql, op, verb: mainVerb, writes, reads, parsed: true };
}

/** Slots of SqlClassifier's recent-text table (a power of two). */
const RECENT_SLOTS = 4096;

/**
 * A slot for a SQL text from its length and a few of its characters: where ORMs put the table
 * name (`UPDATE t`, `SELECT t.id`: from the 8th character; `INSERT INTO t`, `DELETE FROM t`:
 * from the 13th), the middle and the end. Reading five characters costs far less than hashing
 * the whole text.
 */
function recentSlot(sql: string): number {
  const n = sql.length;
  let h = Math.imul(n, 0x9e3779b1);
  h = Math.imul(h ^ sql.charCodeAt(7) ^ (sql.charCodeAt(8) << 8), 0x85ebca6b);
  h = Math.imul(h ^ sql.charCodeAt(12) ^ (sql.charCodeAt(13) << 8), 0xc2b2ae35);
  h = Math.imul(h ^ sql.charCodeAt(n >> 1) ^ (sql.charCodeAt(n - 2) << 8), 0x27d4eb2f);
  // charCodeAt past the end is NaN, which `^` reads as 0: short texts still get a slot.
  return (h ^ (h >>> 15)) & (RECENT_SLOTS - 1);
}

/**
 * Memoizes classification: ORM test suites run the same few hundred SQL texts
 * thousands of times, so a bounded cache saves nearly all tokenizing.
 *
 * Every line of a trace is parsed into new strings, so a Map keyed by the text
 * hashes each statement's whole SQL again. The recent-text table is looked at
 * first: one slot per text, found from a few of its characters, confirmed by
 * comparing the texts (far cheaper than hashing them); only a text that is not
 * in its slot goes through the Map. A slot holds what the Map holds for its
 * text, so either way the answer is the same shape.
 */
export class SqlClassifier {
  private cache = new Map<string, SqlShape>();
  private recent: (SqlShape | undefined)[] = new Array<SqlShape | undefined>(RECENT_SLOTS).fill(undefined);
  constructor(private readonly limit = 20_000) {}
  classify(sql: string): SqlShape {
    const slot = recentSlot(sql);
    const seen = this.recent[slot];
    if (seen !== undefined && seen.text === sql) return seen;
    let shape = this.cache.get(sql);
    if (!shape) {
      shape = classifySql(sql);
      if (this.cache.size >= this.limit) {
        this.cache.clear();
        this.recent.fill(undefined);
      }
      this.cache.set(sql, shape);
    }
    this.recent[slot] = shape;
    return shape;
  }
}
