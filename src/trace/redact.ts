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

/**
 * Text from a failed statement or test with the values it quotes taken out,
 * for `--params off`: a database error quotes the parameter it could not use
 * (`invalid input syntax for type integer: "v"`, `Key (email)=(v) already
 * exists`), and an assertion quotes the values it compared.
 */
export function scrubValues(text: string): string {
  if (typeof text !== 'string') return text;
  return text
    .replace(/=\([^)]*\)/g, '=(?)')
    .replace(/'(?:[^'\\]|\\.)*'/g, "'?'")
    .replace(/"(?:[^"\\]|\\.)*"/g, '"?"');
}
