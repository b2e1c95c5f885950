/**
 * Secrets out of everything txlens writes or shows: the one place that knows
 * what a password on a command line or in a URL looks like. run.json is
 * written through it, and the reader passes every header's argv, the run's
 * command and database URLs through it, so a trace written by an older agent
 * (or by hand) cannot bring a password into a report, the JSON or the HTML.
 */

export const REDACTED = '***';

// scheme://user:PASSWORD@host — the password part of URL userinfo (greedy: a password may hold an unencoded @).
const URL_USERINFO = /([A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s/@:]*:)([^\s/]*)(@)/g;
// password=…, passwd: …, pwd=…, PGPASSWORD=…, --password=…, "password": "…" (also inside libpq key=value strings).
const KEY_VALUE = /((?:^|[^A-Za-z0-9])(?:[A-Za-z0-9_]*(?:password|passwd|pwd|secret)|pass)["']?\s*[=:]\s*["']?)([^\s&;,"']+)/gi;

/** `text` with every password it holds replaced by ***. */
export function redactSecrets(text: string): string {
  if (typeof text !== 'string') return text;
  return text.replace(URL_USERINFO, `$1${REDACTED}$3`).replace(KEY_VALUE, `$1${REDACTED}`);
}

/**
 * A command line with its passwords replaced: in each argument, and in the
 * argument after a bare `--password`/`-p`-style flag (`--password PW`).
 */
export function redactArgv(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = typeof argv[i] === 'string' ? argv[i] : String(argv[i]);
    const prev = i > 0 ? argv[i - 1] : '';
    if (typeof prev === 'string' && /^--?[A-Za-z0-9_-]*pass(?:word|wd)?$/i.test(prev)) out.push(REDACTED);
    else out.push(redactSecrets(a));
  }
  return out;
}

/** What stands for a value that was not recorded: a literal in a statement's `sql`, a key of an `identity_hit`, a value quoted by a message. */
export const MASKED_VALUE = '\u2026';

/**
 * Text from a failed statement or test with the values it quotes taken out,
 * for `--params off`: a database error quotes the parameter it could not use
 * (`invalid input syntax for type integer: "v"`, `Key (email)=(v) already
 * exists`), and an assertion quotes the values it compared. Each becomes
 * MASKED_VALUE, as the agents write it. Coarser than withoutQuotedValues (a
 * quoted name goes too): the reader applies it to whatever a trace holds,
 * including a message no agent scrubbed.
 */
export function scrubValues(text: string): string {
  if (typeof text !== 'string') return text;
  return text
    .replace(/=\([^)]*\)/g, `=(${MASKED_VALUE})`)
    .replace(/'(?:[^'\\]|\\.)*'/g, `'${MASKED_VALUE}'`)
    .replace(/"(?:[^"\\]|\\.)*"/g, `"${MASKED_VALUE}"`);
}

// One pass over the SQL: at each position the alternatives are tried in order, so names, quoted
// identifiers, comments and placeholders are stepped over whole (the 1 of `param_1`, `$1`, `:1` is
// no literal) before a string, a dollar-quoted body or a number can match. Named groups are literals.
const SQL_PIECES = new RegExp(
  [
    String.raw`(?<dollar>\$(?<tag>[A-Za-z_]\w*)?\$[\s\S]*?(?:\$\k<tag>\$|$(?![\s\S])))`,
    String.raw`(?<estring>[eE]'(?:[^'\\]|\\[\s\S]|'')*(?:'|$(?![\s\S])))`,
    String.raw`(?:"(?:[^"]|"")*"?|` + '`[^`]*`?' + String.raw`|--[^\n]*|\/\*[\s\S]*?(?:\*\/|$(?![\s\S]))|%\(\w+\)s|[:$@]\w+|[A-Za-z_][\w$]*)`,
    String.raw`(?<string>'(?:[^']|'')*(?:'|$(?![\s\S])))`,
    String.raw`(?<number>0[xX][0-9A-Fa-f]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)`,
  ].join('|'),
  'g',
);
const LITERAL_HINT = /['\d$]/;

/**
 * `sql` with each string, dollar-quoted and numeric literal replaced by MASKED_VALUE, for a run
 * that keeps no values (`--params off`, `types`). Names, quoted identifiers, comments and
 * placeholders are kept, so the verb, the tables and the parameters' positions read as before;
 * the row-key reader takes a masked literal for an unknown value, never for a key.
 */
export function maskSqlLiterals(sql: string): string {
  if (typeof sql !== 'string') return sql;
  // Suites repeat a few hundred SQL texts: a repeat costs one lookup. A long text (a bulk INSERT of literals) is not kept.
  let masked = maskedSql.get(sql);
  if (masked === undefined) {
    masked = LITERAL_HINT.test(sql) ? sql.replace(SQL_PIECES, maskPiece) : sql;
    if (sql.length <= MASKED_SQL_CHARS) {
      if (maskedSql.size >= MASKED_SQL_CACHE) maskedSql.clear();
      maskedSql.set(sql, masked);
    }
  }
  return masked;
}

const maskedSql = new Map<string, string>();
const MASKED_SQL_CACHE = 2000;
const MASKED_SQL_CHARS = 4096;

function maskPiece(piece: string, ...rest: unknown[]): string {
  const groups = rest[rest.length - 1] as Record<string, string | undefined>;
  return groups.dollar !== undefined || groups.estring !== undefined || groups.string !== undefined || groups.number !== undefined ? MASKED_VALUE : piece;
}

// A quoted literal in a database message, and the word before it: after these words the quotes
// hold a name (`constraint "users_email_key"`), not a value. The Python agent's error_of agrees.
const QUOTED = /(\b\w+\s+)?("(?:[^"]|"")*"|'(?:[^']|'')*')/g;
const NAME_WORDS = new Set(
  (
    'relation constraint column table index type schema function database role sequence savepoint' +
    ' cursor trigger view operator extension collation domain tablespace statement portal'
  ).split(' '),
);
const KEY_VALUES = /^(Key \([^)]*\)=\().*(\)[^()]*)$/s;

/**
 * A database error's message without the values it quotes, for an agent outside `--params values`:
 * each quoted literal that is not a name becomes `"…"` (`invalid input syntax for type integer: "…"`).
 */
export function withoutQuotedValues(message: string): string {
  return message.replace(QUOTED, (whole: string, word: string | undefined, quoted: string) =>
    word && NAME_WORDS.has(word.trim().toLowerCase()) ? whole : `${word ?? ''}${quoted[0]}${MASKED_VALUE}${quoted[0]}`,
  );
}

/** A DETAIL line without row values: only the key columns of `Key (cols)=(values) …`; undefined for any other DETAIL. */
export function detailWithoutValues(detail: string): string | undefined {
  const keyed = KEY_VALUES.exec(detail);
  return keyed ? `${keyed[1]}${MASKED_VALUE}${keyed[2]}` : undefined;
}
