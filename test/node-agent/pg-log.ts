// Postgres's own record of what a run did: the throwaway server writes its log to
// server.log in its data directory (scripts/pg-server.mjs), which a superuser
// reads with pg_read_file. A database made by `loggedDatabase` logs every
// statement (log_statement=all, set on that database alone), and every log line
// names its database (log_line_prefix gains %d), so runs of several test files
// against one server never mix.
import { Client } from 'pg';
import { createDatabase, pgAdminUrl } from '../support/env';

const PREFIX = '%m [%p] %d ';

async function admin<T>(sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new Client({ connectionString: await pgAdminUrl() });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end();
  }
}

let prefixReady: Promise<void> | undefined;

/** Log lines name their database from now on (server-wide, and idempotent). */
function databaseInLogLines(): Promise<void> {
  prefixReady ??= (async () => {
    const [{ prefix }] = await admin<{ prefix: string }>('SELECT current_setting($1) AS prefix', ['log_line_prefix']);
    if (prefix === PREFIX) return;
    await admin(`ALTER SYSTEM SET log_line_prefix = '${PREFIX}'`);
    await admin('SELECT pg_reload_conf()');
    // The postmaster reloads asynchronously; new backends show the new value once it has.
    for (let i = 0; i < 100; i++) {
      const [{ now }] = await admin<{ now: string }>('SELECT current_setting($1) AS now', ['log_line_prefix']);
      if (now === PREFIX) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('log_line_prefix did not change');
  })();
  return prefixReady;
}

async function logSize(): Promise<number> {
  const [{ size }] = await admin<{ size: string }>(`SELECT size FROM pg_stat_file('server.log')`);
  return Number(size);
}

export interface LoggedDatabase {
  url: string;
  name: string;
  /** Where the server log ended when the database was made. */
  from: number;
}

export async function loggedDatabase(prefix: string): Promise<LoggedDatabase> {
  await databaseInLogLines();
  const url = await createDatabase(prefix);
  const name = new URL(url).pathname.slice(1);
  await admin(`ALTER DATABASE "${name}" SET log_statement = 'all'`);
  return { url, name, from: await logSize() };
}

export interface LoggedStatements {
  /** Each statement the server ran on the database, in log order (first line of its text). */
  sql: string[];
  /** Distinct backends (one per connection) that ran them. */
  backends: number;
  /** The same statements per backend, each backend's in its order. */
  byBackend: string[][];
}

/** The statements logged for `db` since it was made, once every connection to it has gone. */
export async function loggedStatements(db: LoggedDatabase): Promise<LoggedStatements> {
  for (let i = 0; i < 100; i++) {
    const [{ n }] = await admin<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [db.name]);
    if (n === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const size = await logSize();
  const [{ text }] = await admin<{ text: string }>('SELECT pg_read_file($1, $2, $3) AS text', ['server.log', db.from, size - db.from]);
  const line = /^\S+ \S+ \S+ \[(\d+)\] (\S*) LOG: {2}(?:statement|execute [^:]*): (.*)$/;
  const sql: string[] = [];
  const byPid = new Map<string, string[]>();
  for (const l of text.split('\n')) {
    const m = line.exec(l);
    if (!m || m[2] !== db.name) continue;
    if (!byPid.has(m[1])) byPid.set(m[1], []);
    byPid.get(m[1])!.push(m[3]);
    sql.push(m[3]);
  }
  return { sql, backends: byPid.size, byBackend: [...byPid.values()] };
}
