/**
 * Row keys: which rows of which table a statement is about, as far as its SQL
 * and parameters say. Rules use them to tell "the row jobs id=1" from "some
 * row of jobs", so two sessions working on different rows of one table are not
 * reported as a conflict.
 *
 * A key set maps column → the values the statement pins that column to:
 * - WHERE: top-level AND-ed `col = v`, `v = col` and `col IN (v, ...)`;
 *   a top-level OR, or anything not understood, pins nothing.
 * - INSERT (col, ...) VALUES (...), (...): every listed column, per row.
 * Values come from SQL literals or from parameters in any DB-API placeholder
 * style: qmark `?`, format `%s`, pyformat `%(name)s`, numeric `$1`, named `:name`.
 * A literal the agent masked (`…`, outside `--params values`) is no value: the
 * column it compares is left unpinned.
 *
 * Apart from keys, a WHERE's top-level AND-ed `col LIKE p` are kept as patterns:
 * a read of `name LIKE 'w1-%'` cannot be about a row written with name 'w2-3'.
 *
 * An UPDATE's `SET col = v, ...` gives the new values it writes (assignments):
 * what a reader that cannot see the UPDATE yet misses. A reader's answer
 * depends on a column only if its text names it or it selects `*`.
 *
 * Only one conclusion is ever drawn from keys: two key sets that pin a common
 * column to disjoint values cannot touch the same row. Everything else
 * (no keys, different columns, unknown values) means "may be the same rows",
 * which is the table-level answer.
 */
import type { ModelRun, ModelStatement } from './model';
import { MASKED_VALUE } from '../trace/redact';
import { tokenizeSql, type SqlToken } from './sql-tokens';

/** column (lower-case) → normalized values the statement restricts it to. */
export type RowKeySet = Map<string, Set<string>>;

/** Where a value comes from: a literal, a positional parameter (0-based), or a named one. */
type ValueRef = { lit: string } | { pos: number } | { name: string };

interface KeyTemplate {
  /** table → column → value refs (each ref one allowed value). */
  tables: Map<string, Map<string, ValueRef[]>>;
  /** table → column → LIKE pattern refs (a row must match every one). */
  likes: Map<string, Map<string, ValueRef[]>>;
  /** UPDATE only: table → column → the value SET gives it (null: an expression). Absent when SET was not understood. */
  sets: Map<string, Map<string, ValueRef | null>>;
  /** Column-like names the statement's text mentions (lower-case), and whether it selects every column. */
  mentions: Set<string>;
  selectsAll: boolean;
}

/** column (lower-case) → the new values an UPDATE gives it (undefined: not known, an expression or a NULL). */
export type RowAssignments = Map<string, Set<string> | undefined>;

/** column (lower-case) → the LIKE patterns a statement's WHERE requires of it. */
export type RowPatterns = Map<string, string[]>;

type Tok = SqlToken;

const CLAUSE_END = new Set([
  'ORDER', 'GROUP', 'LIMIT', 'OFFSET', 'RETURNING', 'FOR', 'HAVING', 'UNION', 'EXCEPT', 'INTERSECT', 'WINDOW', 'FETCH', 'ON',
]);
const NOT_ALIAS = new Set([
  'WHERE', 'SET', 'JOIN', 'INNER', 'LEFT', 'RIGHT', 'FULL', 'CROSS', 'OUTER', 'ON', 'USING', 'VALUES', 'ORDER', 'GROUP',
  'LIMIT', 'OFFSET', 'RETURNING', 'FOR', 'HAVING', 'UNION', 'EXCEPT', 'INTERSECT', 'DEFAULT', 'SELECT', 'NATURAL', 'WINDOW',
]);

function nameText(tok: Tok | undefined): string | undefined {
  if (!tok) return undefined;
  if (tok.t === 'ident') return tok.v;
  if (tok.t === 'word') return tok.v.toLowerCase();
  return undefined;
}

/** Reads `[schema.]table [AS] [alias]` at tokens[i]; records the alias; returns the table and the next index. */
function readTable(toks: Tok[], i: number, aliases: Map<string, string>): [string | undefined, number] {
  let name = nameText(toks[i]);
  if (!name) return [undefined, i];
  if (toks[i].t === 'word' && ['ONLY', 'TABLE', 'IGNORE', 'OR', 'REPLACE'].includes((toks[i] as { up: string }).up)) {
    return readTable(toks, i + 1, aliases);
  }
  i++;
  while (toks[i]?.t === 'punct' && (toks[i] as { v: string }).v === '.' && nameText(toks[i + 1])) {
    name = nameText(toks[i + 1])!;
    i += 2;
  }
  aliases.set(name, name);
  let next = toks[i];
  if (next?.t === 'word' && next.up === 'AS') {
    i++;
    next = toks[i];
  }
  if (next && (next.t === 'ident' || (next.t === 'word' && !NOT_ALIAS.has(next.up)))) {
    aliases.set(nameText(next)!, name);
    i++;
  }
  return [name, i];
}

function valueAt(toks: Tok[], i: number): [ValueRef | undefined, number] {
  const tok = toks[i];
  if (!tok) return [undefined, i];
  let ref: ValueRef | undefined;
  if (tok.t === 'param') ref = tok.ref;
  else if (tok.t === 'num') ref = { lit: canonicalNumber(tok.v) };
  else if (tok.t === 'str') ref = { lit: tok.v };
  else return [undefined, i];
  i++;
  // `$1::INTEGER`, `%(id_1)s::UUID`, `?::text[]`: a cast does not change the value.
  while (toks[i]?.t === 'punct' && (toks[i] as { v: string }).v === '::') {
    i += 2;
    if (toks[i]?.t === 'punct' && (toks[i] as { v: string }).v === '[') i += 2;
  }
  return [ref, i];
}

function canonicalNumber(text: string): string {
  const n = Number(text);
  return Number.isFinite(n) ? String(n) : text;
}

/** `[qual.]col` at tokens[i]: [qualifier, column, next index]. */
function columnAt(toks: Tok[], i: number): [string | undefined, string | undefined, number] {
  const first = nameText(toks[i]);
  if (!first || (toks[i].t === 'word' && /^(NOT|NULL|TRUE|FALSE|AND|OR|EXISTS|CASE)$/.test((toks[i] as { up: string }).up))) {
    return [undefined, undefined, i];
  }
  if (toks[i + 1]?.t === 'punct' && (toks[i + 1] as { v: string }).v === '.' && nameText(toks[i + 2])) {
    // schema.table.col: keep the last two
    if (toks[i + 3]?.t === 'punct' && (toks[i + 3] as { v: string }).v === '.' && nameText(toks[i + 4])) {
      return [nameText(toks[i + 2]), nameText(toks[i + 4]), i + 5];
    }
    return [first, nameText(toks[i + 2]), i + 3];
  }
  return [undefined, first, i + 1];
}

function isPunct(tok: Tok | undefined, v: string): boolean {
  return tok?.t === 'punct' && tok.v === v;
}

function isWord(tok: Tok | undefined, up: string): boolean {
  return tok?.t === 'word' && tok.up === up;
}

function addRef(tables: Map<string, Map<string, ValueRef[]>>, table: string, column: string, ref: ValueRef): void {
  let cols = tables.get(table);
  if (!cols) tables.set(table, (cols = new Map()));
  let refs = cols.get(column);
  if (!refs) cols.set(column, (refs = []));
  refs.push(ref);
}

/** Top-level conditions of the WHERE clause starting at tokens[i] (just after WHERE). */
function readWhere(
  toks: Tok[],
  i: number,
  aliases: Map<string, string>,
  mainTables: string[],
  out: Map<string, Map<string, ValueRef[]>>,
  likesOut: Map<string, Map<string, ValueRef[]>>,
): void {
  const conditions = readConjuncts(toks, i, aliases, mainTables);
  if (!conditions) return;
  for (const [table, col, refs] of conditions.found) for (const r of refs) addRef(out, table, col, r);
  for (const [table, col, ref] of conditions.likes) addRef(likesOut, table, col, ref);
}

interface Conjuncts {
  found: [string, string, ValueRef[]][];
  likes: [string, string, ValueRef][];
}

/** The index of the ')' that closes the '(' at tokens[i], or -1. */
function closingParen(toks: Tok[], i: number): number {
  let depth = 0;
  for (; i < toks.length; i++) {
    const tok = toks[i];
    if (tok.t !== 'punct') continue;
    if (tok.v === '(') depth++;
    else if (tok.v === ')' && --depth === 0) return i;
  }
  return -1;
}

/** Whether tokens[i] ends a condition of an AND list: AND, the clause's end, or the end of the group it is in. */
function endsConjunct(tok: Tok | undefined): boolean {
  if (tok === undefined) return true;
  if (tok.t === 'punct') return tok.v === ')' || tok.v === ';';
  return tok.t === 'word' && (tok.up === 'AND' || CLAUSE_END.has(tok.up));
}

/**
 * The `col = v`, `col IN (...)` and `col LIKE p` conditions of the AND list starting at tokens[i],
 * up to the end of the clause or of the bracket it is in; undefined when the list is a disjunction,
 * which pins nothing. A bracketed condition that is a whole member of the list is an AND list of
 * its own, whose conditions are the list's: Sequelize brackets every WHERE of more than one
 * condition (`WHERE ("t"."deletedAt" IS NULL AND "t"."id" = '...')`, a paranoid model's lookup), and
 * one with OR inside pins nothing, while the list's other members still do.
 */
function readConjuncts(toks: Tok[], i: number, aliases: Map<string, string>, mainTables: string[]): Conjuncts | undefined {
  const found: [string, string, ValueRef[]][] = [];
  const likes: [string, string, ValueRef][] = [];
  let depth = 0;
  let conditionStart = true;
  for (; i < toks.length; i++) {
    const tok = toks[i];
    if (tok.t === 'punct') {
      if (tok.v === '(') {
        if (depth === 0 && conditionStart) {
          const close = closingParen(toks, i);
          if (close > i && endsConjunct(toks[close + 1])) {
            const inner = readConjuncts(toks, i + 1, aliases, mainTables);
            if (inner) {
              found.push(...inner.found);
              likes.push(...inner.likes);
            }
            conditionStart = false;
            i = close;
            continue;
          }
        }
        depth++;
      } else if (tok.v === ')') {
        if (depth === 0) break;
        depth--;
      } else if (tok.v === ';' && depth === 0) break;
      continue;
    }
    if (depth > 0) continue;
    if (tok.t === 'word') {
      if (tok.up === 'OR') return undefined; // a disjunction pins nothing
      if (CLAUSE_END.has(tok.up)) break;
      if (tok.up === 'AND') {
        conditionStart = true;
        continue;
      }
    }
    if (!conditionStart) continue;
    conditionStart = false;
    // col = v | col IN (v, ...)
    const [qual, col, afterCol] = columnAt(toks, i);
    if (col !== undefined) {
      const table = qual ? aliases.get(qual) : mainTables.length === 1 ? mainTables[0] : undefined;
      if (isPunct(toks[afterCol], '=')) {
        const [ref, next] = valueAt(toks, afterCol + 1);
        if (ref && table) found.push([table, col.toLowerCase(), [ref]]);
        i = (ref ? next : afterCol + 1) - 1;
        continue;
      }
      if (isWord(toks[afterCol], 'LIKE') || isWord(toks[afterCol], 'ILIKE')) {
        const [ref, next] = valueAt(toks, afterCol + 1);
        // An ESCAPE clause changes what the pattern means: such a LIKE is not kept.
        if (ref && table && !isWord(toks[next], 'ESCAPE')) likes.push([table, col.toLowerCase(), ref]);
        i = (ref ? next : afterCol + 1) - 1;
        continue;
      }
      if (isWord(toks[afterCol], 'IN') && isPunct(toks[afterCol + 1], '(')) {
        const refs: ValueRef[] = [];
        let j = afterCol + 2;
        let ok = true;
        for (;;) {
          const [ref, next] = valueAt(toks, j);
          if (!ref) {
            ok = false;
            break;
          }
          refs.push(ref);
          j = next;
          if (isPunct(toks[j], ',')) j++;
          else break;
        }
        if (ok && isPunct(toks[j], ')') && table && refs.length > 0) {
          found.push([table, col.toLowerCase(), refs]);
          i = j;
        } else {
          i = afterCol; // let the loop see the '(' so depth stays right
        }
        continue;
      }
      i = afterCol - 1;
      continue;
    }
    // v = col
    const [ref, afterValue] = valueAt(toks, i);
    if (ref && isPunct(toks[afterValue], '=')) {
      const [q2, c2, after2] = columnAt(toks, afterValue + 1);
      const table = q2 ? aliases.get(q2) : mainTables.length === 1 ? mainTables[0] : undefined;
      if (c2 && table) found.push([table, c2.toLowerCase(), [ref]]);
      i = after2 - 1;
    }
  }
  return { found, likes };
}

/** A value of an INSERT's VALUES row: a literal or a parameter, null for DEFAULT, undefined for an expression (now(), a subquery). */
type InsertValue = ValueRef | null | undefined;

/** The index of the `,` or `)` that ends the expression starting at tokens[i], at its own depth of brackets. */
function expressionEnd(toks: Tok[], i: number): number {
  let depth = 0;
  for (; i < toks.length; i++) {
    const tok = toks[i];
    if (tok.t !== 'punct') continue;
    if (tok.v === '(' || tok.v === '[') depth++;
    else if ((tok.v === ')' || tok.v === ']') && depth > 0) depth--;
    else if (depth === 0 && (tok.v === ',' || tok.v === ')')) return i;
  }
  return i;
}

/**
 * `(c1, c2) VALUES (v1, v2), (...)` starting at tokens[i]: the listed columns (lower-case) and each row's
 * values, in the columns' order. Undefined when the statement does not go on that way (INSERT ... SELECT,
 * a row of another length).
 */
function insertRowsAt(toks: Tok[], i: number): { columns: string[]; rows: InsertValue[][] } | undefined {
  if (!isPunct(toks[i], '(')) return undefined;
  const columns: string[] = [];
  let j = i + 1;
  for (;;) {
    const c = nameText(toks[j]);
    if (!c) return undefined;
    columns.push(c.toLowerCase());
    j++;
    if (isPunct(toks[j], ',')) j++;
    else break;
  }
  if (!isPunct(toks[j], ')') || !isWord(toks[j + 1], 'VALUES')) return undefined;
  j += 2;
  const rows: InsertValue[][] = [];
  while (isPunct(toks[j], '(')) {
    j++;
    const row: InsertValue[] = [];
    for (;;) {
      const [ref, next] = isWord(toks[j], 'DEFAULT') ? [null, j + 1] : valueAt(toks, j);
      if (ref !== undefined && (isPunct(toks[next], ',') || isPunct(toks[next], ')'))) {
        row.push(ref);
        j = next;
      } else {
        row.push(undefined);
        j = expressionEnd(toks, j);
      }
      if (isPunct(toks[j], ',')) j++;
      else break;
    }
    if (!isPunct(toks[j], ')') || row.length !== columns.length) return undefined;
    rows.push(row);
    j++;
    if (isPunct(toks[j], ',')) j++;
    else break;
  }
  return { columns, rows };
}

/**
 * INSERT INTO t (c1, c2) VALUES (v1, v2), (...): each column → its values over all rows.
 * A DEFAULT value (Sequelize lists every column, its id as DEFAULT) is the database's
 * choice, as if the column were not listed: the other columns still key the row.
 */
function readInsert(toks: Tok[], i: number, table: string, out: Map<string, Map<string, ValueRef[]>>): void {
  const insert = insertRowsAt(toks, i);
  // An expression (now(), a subquery) in any row: the rows it writes are not known, so neither are its keys.
  if (insert === undefined || insert.rows.some((row) => row.includes(undefined))) return;
  for (const row of insert.rows) row.forEach((ref, k) => ref && addRef(out, table, insert.columns[k], ref));
}

/**
 * The rows an `INSERT INTO t (c1, ...) VALUES (...), ...` writes as literals in its own text (a client
 * that formats values into the SQL, as pg-promise does, sends no parameters): the listed columns
 * (lower-case) and, per row, each column's literal, undefined where the row holds a parameter,
 * DEFAULT, an expression or a literal the agent masked. Undefined for any other statement.
 */
export function insertLiteralRows(sql: string): { columns: string[]; rows: (string | undefined)[][] } | undefined {
  const toks = tokenizeSql(sql);
  const into = toks.findIndex((tok, k) => tok.t === 'word' && tok.up === 'INTO' && k > 0 && isWord(toks[0], 'INSERT'));
  if (into < 0) return undefined;
  const [table, next] = readTable(toks, into + 1, new Map());
  const insert = table === undefined ? undefined : insertRowsAt(toks, next);
  if (insert === undefined) return undefined;
  const literal = (ref: InsertValue): string | undefined => (ref && 'lit' in ref && ref.lit !== MASKED_VALUE ? ref.lit : undefined);
  return { columns: insert.columns, rows: insert.rows.map((row) => row.map(literal)) };
}

/**
 * UPDATE ... SET c1 = v1, c2 = expr, ... starting at tokens[i] (just after SET): column → value ref,
 * null for an expression. Undefined when the list is not understood (`SET (a, b) = (...)`).
 */
function readSet(toks: Tok[], i: number, aliases: Map<string, string>, table: string): Map<string, ValueRef | null> | undefined {
  const out = new Map<string, ValueRef | null>();
  for (;;) {
    const [qual, col, afterCol] = columnAt(toks, i);
    if (!col || (qual && aliases.get(qual) !== table) || !isPunct(toks[afterCol], '=')) return undefined;
    const [ref, afterValue] = valueAt(toks, afterCol + 1);
    let j = afterValue;
    let value: ValueRef | null = ref ?? null;
    const ends = (tok: Tok | undefined) => !tok || isPunct(tok, ',') || isPunct(tok, ';') || (tok.t === 'word' && (tok.up === 'WHERE' || tok.up === 'FROM' || CLAUSE_END.has(tok.up)));
    if (!ref || !ends(toks[j])) {
      // An expression (`n = n + 1`, `now()`, a subquery): skip to the next top-level comma or clause.
      value = null;
      j = afterCol + 1;
      let depth = 0;
      for (; j < toks.length; j++) {
        const tok = toks[j];
        if (isPunct(tok, '(')) depth++;
        else if (isPunct(tok, ')')) {
          if (depth === 0) return undefined;
          depth--;
        } else if (depth === 0 && ends(tok)) break;
      }
    }
    out.set(col.toLowerCase(), value);
    if (isPunct(toks[j], ',')) i = j + 1;
    else return out;
  }
}

/** A `*` that selects every column (`SELECT *`, `t.*`, `a, *`), not `count(*)` nor a product. */
function isStarColumn(toks: Tok[], i: number): boolean {
  const prev = toks[i - 1];
  return isPunct(toks[i], '*') && (isPunct(prev, '.') || isPunct(prev, ',') || isWord(prev, 'SELECT') || isWord(prev, 'DISTINCT') || isWord(prev, 'ALL'));
}

export function keyTemplate(sql: string): KeyTemplate {
  const tables = new Map<string, Map<string, ValueRef[]>>();
  const likes = new Map<string, Map<string, ValueRef[]>>();
  const sets = new Map<string, Map<string, ValueRef | null>>();
  const mentions = new Set<string>();
  const empty = { tables, likes, sets, mentions, selectsAll: true };
  let toks: Tok[];
  try {
    toks = tokenizeSql(sql);
  } catch {
    return empty;
  }
  const verbTok = toks.find((t) => t.t === 'word') as { up: string } | undefined;
  const verb = verbTok?.up;
  if (!verb || !['SELECT', 'UPDATE', 'DELETE', 'INSERT', 'REPLACE'].includes(verb)) return empty;
  let selectsAll = false;
  for (let i = 0; i < toks.length; i++) {
    const tok = toks[i];
    if (tok.t === 'word' || tok.t === 'ident') mentions.add(tok.v.toLowerCase());
    else if (isStarColumn(toks, i)) selectsAll = true;
  }
  const done = { tables, likes, sets, mentions, selectsAll };
  const aliases = new Map<string, string>();
  const mainTables: string[] = [];
  let depth = 0;
  for (let i = 0; i < toks.length; i++) {
    const tok = toks[i];
    if (tok.t === 'punct') {
      if (tok.v === '(') depth++;
      else if (tok.v === ')') depth--;
      continue;
    }
    if (tok.t !== 'word' || depth !== 0) continue;
    const prev = toks[i - 1];
    if (tok.up === 'FROM' || tok.up === 'JOIN' || (tok.up === 'UPDATE' && i === toks.indexOf(verbTok as Tok))) {
      let [table, next] = readTable(toks, i + 1, aliases);
      if (table) mainTables.push(table);
      // FROM a, b: more tables
      while (tok.up === 'FROM' && isPunct(toks[next], ',')) {
        [table, next] = readTable(toks, next + 1, aliases);
        if (table) mainTables.push(table);
      }
    } else if (tok.up === 'INTO' && prev?.t === 'word' && ['INSERT', 'REPLACE', 'IGNORE'].includes(prev.up)) {
      const [table, next] = readTable(toks, i + 1, aliases);
      if (table) readInsert(toks, next, table, tables);
      return done;
    } else if (tok.up === 'SET' && verb === 'UPDATE' && mainTables.length === 1 && sets.size === 0) {
      const assigned = readSet(toks, i + 1, aliases, mainTables[0]);
      if (assigned) sets.set(mainTables[0], assigned);
    } else if (tok.up === 'WHERE') {
      readWhere(toks, i + 1, aliases, mainTables, tables, likes);
    }
  }
  return done;
}

const UNKNOWN = Symbol('unknown');

function paramValue(params: unknown, ref: { pos: number } | { name: string }): unknown {
  if (params === null || typeof params !== 'object') return UNKNOWN;
  if ('pos' in ref) {
    if (!Array.isArray(params) || ref.pos >= params.length) return UNKNOWN;
    return params[ref.pos];
  }
  if (Array.isArray(params)) return UNKNOWN;
  const rec = params as Record<string, unknown>;
  return ref.name in rec ? rec[ref.name] : UNKNOWN;
}

/** A parameter value as a comparable key ('1', 'abc'); undefined when it cannot stand for a value. */
export function paramKey(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'number') return String(value);
  if (typeof value === 'boolean') return value ? '1' : '0';
  if (typeof value === 'string') {
    if (value.endsWith('...')) return undefined; // truncated by the agent
    return unwrapRepr(value) ?? value;
  }
  return undefined;
}

/** A Python repr() of a key value ('1', "'abc'", "UUID('…')") as a comparable key. */
export function reprKey(text: string): string {
  if (/^-?\d+(\.\d+)?$/.test(text)) return canonicalNumber(text);
  if (text === 'True') return '1';
  if (text === 'False') return '0';
  const quoted = /^'(.*)'$/.exec(text) ?? /^"(.*)"$/.exec(text);
  if (quoted) return quoted[1];
  return unwrapRepr(text) ?? text;
}

function unwrapRepr(text: string): string | undefined {
  const m = /^(?:UUID|Decimal)\('(.*)'\)$/.exec(text);
  return m ? m[1] : undefined;
}

/** Parameter sets of a statement: one for execute, several for executemany. */
function paramSets(params: unknown): unknown[] {
  if (Array.isArray(params) && params.length > 0 && params.every((p) => p !== null && typeof p === 'object')) return params;
  return [params];
}

/**
 * Binds a template to a statement's parameters: table → key set. A column
 * whose value is unknown (parameters off or typed only, truncated, NULL, an
 * expression) is left out, which only ever widens the rows a statement may touch.
 */
export function bindKeys(template: KeyTemplate, params: unknown, useParams: boolean): Map<string, RowKeySet> {
  const out = new Map<string, RowKeySet>();
  const sets = useParams ? paramSets(params) : [];
  for (const [table, cols] of template.tables) {
    const keys: RowKeySet = new Map();
    for (const [col, refs] of cols) {
      const values = new Set<string>();
      let known = true;
      for (const ref of refs) {
        if ('lit' in ref) {
          values.add(ref.lit);
          continue;
        }
        if (sets.length === 0) {
          known = false;
          break;
        }
        for (const set of sets) {
          const v = paramValue(set, ref);
          const key = v === UNKNOWN ? undefined : paramKey(v);
          if (key === undefined) {
            known = false;
            break;
          }
          values.add(key);
        }
        if (!known) break;
      }
      if (known && values.size > 0) keys.set(col, values);
    }
    if (keys.size > 0) out.set(table, keys);
  }
  return out;
}

/**
 * Binds a template's LIKE patterns to a statement's parameters: table → column →
 * patterns. A pattern whose value is unknown is left out (any row may match it).
 */
export function bindPatterns(template: KeyTemplate, params: unknown, useParams: boolean): Map<string, RowPatterns> {
  const out = new Map<string, RowPatterns>();
  const sets = useParams ? paramSets(params) : [];
  for (const [table, cols] of template.likes) {
    const patterns: RowPatterns = new Map();
    for (const [col, refs] of cols) {
      const known: string[] = [];
      for (const ref of refs) {
        if ('lit' in ref) known.push(ref.lit);
        else if (sets.length === 1) {
          const v = paramValue(sets[0], ref);
          if (typeof v === 'string' && !v.endsWith('...')) known.push(v);
        }
      }
      if (known.length > 0) patterns.set(col, known);
    }
    if (patterns.size > 0) out.set(table, patterns);
  }
  return out;
}

/**
 * Binds an UPDATE template's SET list to the statement's parameters: table → column → the new
 * values (over every parameter set of an executemany); undefined values where they are not known.
 */
export function bindAssignments(template: KeyTemplate, params: unknown, useParams: boolean): Map<string, RowAssignments> {
  const out = new Map<string, RowAssignments>();
  const sets = useParams ? paramSets(params) : [];
  for (const [table, cols] of template.sets) {
    const assigned: RowAssignments = new Map();
    for (const [col, ref] of cols) {
      let values: Set<string> | undefined;
      if (ref && 'lit' in ref) values = new Set([ref.lit]);
      else if (ref && sets.length > 0) {
        values = new Set();
        for (const set of sets) {
          const v = paramValue(set, ref);
          const key = v === UNKNOWN ? undefined : paramKey(v);
          if (key === undefined) {
            values = undefined;
            break;
          }
          values.add(key);
        }
      }
      assigned.set(col, values);
    }
    out.set(table, assigned);
  }
  return out;
}

/** A LIKE pattern as a regular expression, case-insensitive (SQLite's LIKE is); undefined when it uses escapes. */
function likeRegExp(pattern: string): RegExp | undefined {
  if (pattern.includes('\\')) return undefined;
  const body = pattern.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&').replace(/%/g, '[\\s\\S]*').replace(/_/g, '[\\s\\S]');
  return new RegExp(`^${body}$`, 'i');
}

/**
 * True when `keys` pins a column to values none of which can match the LIKE patterns a
 * statement requires of it: the rows `keys` describes are not among the ones it reads.
 */
export function excludedByPatterns(patterns: RowPatterns | undefined, keys: RowKeySet | undefined): boolean {
  if (!patterns || !keys) return false;
  for (const [col, pats] of patterns) {
    const values = keys.get(col);
    if (!values) continue;
    const regexps = pats.map(likeRegExp);
    if (regexps.some((r) => r === undefined)) continue;
    const anyMatch = [...values].some((v) => regexps.every((r) => r!.test(v)));
    if (!anyMatch) return true;
  }
  return false;
}

/** Memoized templates: suites repeat a few hundred SQL texts thousands of times. */
export class RowKeyExtractor {
  private cache = new Map<string, KeyTemplate>();
  constructor(
    /** False when parameters were captured as types only or not at all. */
    private readonly useParams = true,
    private readonly limit = 20_000,
  ) {}
  private template(sql: string): KeyTemplate {
    let tpl = this.cache.get(sql);
    if (!tpl) {
      tpl = keyTemplate(sql);
      if (this.cache.size >= this.limit) this.cache.clear();
      this.cache.set(sql, tpl);
    }
    return tpl;
  }
  keys(sql: string, params: unknown): Map<string, RowKeySet> {
    const tpl = this.template(sql);
    if (tpl.tables.size === 0) return EMPTY;
    return bindKeys(tpl, params, this.useParams);
  }
  patterns(sql: string, params: unknown): Map<string, RowPatterns> {
    const tpl = this.template(sql);
    if (tpl.likes.size === 0) return EMPTY_PATTERNS;
    return bindPatterns(tpl, params, this.useParams);
  }
  /** An UPDATE's new values per table; a table is absent when the statement is no UPDATE or its SET was not understood. */
  assignments(sql: string, params: unknown): Map<string, RowAssignments> {
    const tpl = this.template(sql);
    if (tpl.sets.size === 0) return EMPTY_ASSIGNMENTS;
    return bindAssignments(tpl, params, this.useParams);
  }
  /** False only when the statement's answer cannot depend on `column`: its text never names it and it selects no `*`. */
  mayDependOn(sql: string, column: string): boolean {
    const tpl = this.template(sql);
    return tpl.selectsAll || tpl.mentions.has(column.toLowerCase());
  }
}

const EMPTY_ASSIGNMENTS: Map<string, RowAssignments> = new Map();

const EMPTY_PATTERNS: Map<string, RowPatterns> = new Map();

const EMPTY: Map<string, RowKeySet> = new Map();

/** False only when both key sets pin a common column to disjoint values: then no row can be in both. */
export function rowsMayOverlap(a: RowKeySet | undefined, b: RowKeySet | undefined): boolean {
  if (!a || !b) return true;
  for (const [col, va] of a) {
    const vb = b.get(col);
    if (!vb) continue;
    let common = false;
    for (const v of va) {
      if (vb.has(v)) {
        common = true;
        break;
      }
    }
    if (!common) return false;
  }
  return true;
}

/** True when both pin some column to the same single value: the same row, as far as that column is a key. */
export function sameRow(a: RowKeySet | undefined, b: RowKeySet | undefined): boolean {
  if (!a || !b || !rowsMayOverlap(a, b)) return false;
  for (const [col, va] of a) {
    const vb = b.get(col);
    if (vb && va.size === 1 && vb.size === 1 && [...va][0] === [...vb][0]) return true;
  }
  return false;
}

/** "jobs id=1" / "jobs id=1, 2" / "jobs" for messages; prefers `id`-like columns. */
export function describeRows(table: string, keys: RowKeySet | undefined): string {
  if (!keys || keys.size === 0) return table;
  const cols = [...keys.keys()];
  const pick = cols.find((c) => c === 'id') ?? cols.find((c) => /(^|_)id$/.test(c)) ?? cols[0];
  const values = [...keys.get(pick)!];
  const shown = values.length > 3 ? `${values.slice(0, 3).join(', ')}, ...` : values.join(', ');
  return `${table} ${pick}=${shown}`;
}

/** The key set of an identity-map entry: primary-key columns (when known) → repr'd key values; none when the values were not recorded. */
export function identityKeys(pk: string[] | undefined, key: string[]): RowKeySet | undefined {
  if (!pk || pk.length !== key.length || key.includes(MASKED_VALUE)) return undefined;
  const out: RowKeySet = new Map();
  pk.forEach((col, i) => out.set(col.toLowerCase(), new Set([reprKey(key[i])])));
  return out;
}

/** Row keys of a run's statements, computed on first use and shared by every rule that asks. */
export interface ModelRowKeys {
  /** table → key set of the rows `st` pins in that table (undefined: any row). */
  of(st: ModelStatement, table: string): RowKeySet | undefined;
  /** table → the LIKE patterns `st`'s WHERE requires of that table's rows (undefined: none known). */
  patternsOf(st: ModelStatement, table: string): RowPatterns | undefined;
  /** The new values an UPDATE `st` gives that table's columns (undefined: no UPDATE, or its SET not understood). */
  assignmentsOf(st: ModelStatement, table: string): RowAssignments | undefined;
  /** False only when `st`'s answer cannot depend on `column` (never named, no `*`). */
  mayDependOn(st: ModelStatement, column: string): boolean;
}

const perModel = new WeakMap<ModelRun, ModelRowKeys>();

export function modelRowKeys(model: ModelRun): ModelRowKeys {
  let found = perModel.get(model);
  if (found) return found;
  // Parameters captured as types only ('int') must not be taken for values.
  const extractor = new RowKeyExtractor(model.run?.params === undefined || model.run.params === 'values');
  const cache = new WeakMap<ModelStatement, Map<string, RowKeySet>>();
  const patternCache = new WeakMap<ModelStatement, Map<string, RowPatterns>>();
  const assignmentCache = new WeakMap<ModelStatement, Map<string, RowAssignments>>();
  found = {
    of(st, table) {
      let keys = cache.get(st);
      if (!keys) {
        keys = extractor.keys(st.sql, st.params);
        cache.set(st, keys);
      }
      return keys.get(table);
    },
    patternsOf(st, table) {
      let patterns = patternCache.get(st);
      if (!patterns) {
        patterns = extractor.patterns(st.sql, st.params);
        patternCache.set(st, patterns);
      }
      return patterns.get(table);
    },
    assignmentsOf(st, table) {
      let assigned = assignmentCache.get(st);
      if (!assigned) {
        assigned = extractor.assignments(st.sql, st.params);
        assignmentCache.set(st, assigned);
      }
      return assigned.get(table);
    },
    mayDependOn(st, column) {
      return extractor.mayDependOn(st.sql, column);
    },
  };
  perModel.set(model, found);
  return found;
}
