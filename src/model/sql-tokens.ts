/**
 * The one SQL tokenizer: the classifier (sql.ts) reads verbs and tables from
 * its words, identifiers and punctuation; row keys (rowkeys.ts) read values and
 * parameters too. It is a tokenizer, not a parser.
 */

/**
 * A token of SQL: a word (with its upper-case form for keyword tests), a quoted
 * identifier, a string literal's value, a number, a parameter placeholder (its
 * position or name), or punctuation.
 */
export type SqlToken =
  | { t: 'word'; v: string; up: string }
  | { t: 'ident'; v: string }
  | { t: 'str'; v: string }
  | { t: 'num'; v: string }
  | { t: 'param'; ref: { pos: number } | { name: string } }
  | { t: 'punct'; v: string };

/**
 * Splits SQL into tokens, for the dialects ORMs emit (SQLite, Postgres, MySQL
 * quoting) and every DB-API placeholder style: qmark `?`, format `%s`, pyformat
 * `%(name)s`, numeric `$1` and `:1`, named `:name`. Comments and whitespace are
 * dropped, and so is a `$$`-quoted body (a function's source is not the
 * statement's SQL).
 */
export function tokenizeSql(sql: string): SqlToken[] {
  const out: SqlToken[] = [];
  const n = sql.length;
  let pos = 0;
  let i = 0;
  while (i < n) {
    const ch = sql[i];
    if (ch <= ' ') {
      i++;
      continue;
    }
    if (ch === '-' && sql[i + 1] === '-') {
      const nl = sql.indexOf('\n', i);
      i = nl < 0 ? n : nl + 1;
      continue;
    }
    if (ch === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? n : end + 2;
      continue;
    }
    if (ch === "'") {
      let j = i + 1;
      let text = '';
      while (j < n) {
        if (sql[j] === "'") {
          if (sql[j + 1] === "'") {
            text += "'";
            j += 2;
            continue;
          }
          break;
        }
        text += sql[j++];
      }
      out.push({ t: 'str', v: text });
      i = j + 1;
      continue;
    }
    if (ch === '"' || ch === '`' || ch === '[') {
      const close = ch === '[' ? ']' : ch;
      const end = sql.indexOf(close, i + 1);
      const stop = end < 0 ? n : end;
      out.push({ t: 'ident', v: sql.slice(i + 1, stop) });
      i = stop + 1;
      continue;
    }
    if (ch === '?') {
      out.push({ t: 'param', ref: { pos: pos++ } });
      i++;
      continue;
    }
    if (ch === '%') {
      if (sql[i + 1] === 's') {
        out.push({ t: 'param', ref: { pos: pos++ } });
        i += 2;
        continue;
      }
      if (sql[i + 1] === '(') {
        const close = sql.indexOf(')', i + 2);
        if (close > 0 && sql[close + 1] === 's') {
          out.push({ t: 'param', ref: { name: sql.slice(i + 2, close) } });
          i = close + 2;
          continue;
        }
      }
      out.push({ t: 'punct', v: '%' });
      i++;
      continue;
    }
    if (ch === '$' && sql[i + 1] === '$') {
      const end = sql.indexOf('$$', i + 2);
      i = end < 0 ? n : end + 2;
      continue;
    }
    if (ch === '$' && /[0-9]/.test(sql[i + 1] ?? '')) {
      let j = i + 1;
      while (j < n && /[0-9]/.test(sql[j])) j++;
      out.push({ t: 'param', ref: { pos: Number(sql.slice(i + 1, j)) - 1 } });
      i = j;
      continue;
    }
    if (ch === ':' && sql[i + 1] === ':') {
      out.push({ t: 'punct', v: '::' });
      i += 2;
      continue;
    }
    // numeric paramstyle `:1` (1-based), where no name or number runs into it (`a[1:2]` is a slice)
    if (ch === ':' && /[0-9]/.test(sql[i + 1] ?? '') && !/[A-Za-z0-9_:\]]/.test(sql[i - 1] ?? '')) {
      let j = i + 1;
      while (j < n && /[0-9]/.test(sql[j])) j++;
      out.push({ t: 'param', ref: { pos: Number(sql.slice(i + 1, j)) - 1 } });
      i = j;
      continue;
    }
    if (ch === ':' && /[A-Za-z_]/.test(sql[i + 1] ?? '') && sql[i - 1] !== ':') {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_]/.test(sql[j])) j++;
      out.push({ t: 'param', ref: { name: sql.slice(i + 1, j) } });
      i = j;
      continue;
    }
    if (/[A-Za-z_]/.test(ch)) {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_$]/.test(sql[j])) j++;
      const v = sql.slice(i, j);
      out.push({ t: 'word', v, up: v.toUpperCase() });
      i = j;
      continue;
    }
    if (/[0-9]/.test(ch) || (ch === '-' && /[0-9]/.test(sql[i + 1] ?? '') && isValueStart(out))) {
      let j = i + 1;
      while (j < n && /[0-9.eE]/.test(sql[j])) j++;
      out.push({ t: 'num', v: sql.slice(i, j) });
      i = j;
      continue;
    }
    out.push({ t: 'punct', v: ch });
    i++;
  }
  return out;
}

/** A minus sign starts a number only where a value is expected (after `=`, `(`, `,`, IN). */
function isValueStart(out: SqlToken[]): boolean {
  const last = out[out.length - 1];
  return !last || (last.t === 'punct' && (last.v === '=' || last.v === '(' || last.v === ',')) || (last.t === 'word' && last.up === 'IN');
}
