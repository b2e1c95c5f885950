// What the Node fixture suites compare: the trace lines and report they read,
// the counts of connections, transactions, commits, rollbacks and statements
// from executed SQL (the database's own log) and from what txlens recorded, and
// the findings as 'rule file:line'.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../support/env';

export interface TraceLine {
  k: string;
  pid: number;
  conn?: string;
  sql?: string;
  cause?: string;
  driver?: string;
  err?: { message: string; code?: string };
  at?: [string, number, string];
  id?: string;
  outcome?: string;
  lang?: string;
}

export interface Finding {
  rule: string;
  severity: string;
  message: string;
  location: { file: string; line: number };
}

export interface Report {
  findings: Finding[];
  summary: { transactions: number; commits: number; rollbacks: number; statements: number; tests: number };
  trace: string;
}

export interface Counts {
  connections: number;
  statements: number;
  transactions: number;
  commits: number;
  /** ROLLBACK statements the code ran. */
  explicitRollbacks: number;
  /** Transactions that began and never committed (rolled back by statement, close or exit). */
  uncommitted: number;
}

/** The command's environment: the fixtures load pg/better-sqlite3 from the repository's node_modules. */
export function fixtureEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return {
    NODE_PATH: join(repoRoot, 'node_modules'),
    // This file runs under node --test itself; the fixture's own run must not think it is a child of ours.
    NODE_TEST_CONTEXT: undefined,
    NODE_OPTIONS: undefined,
    ...extra,
  };
}

function keyword(sql: string): string {
  return (/^\s*([A-Za-z]+)/.exec(sql)?.[1] ?? '').toUpperCase();
}

function isRollbackStatement(sql: string): boolean {
  return keyword(sql) === 'ROLLBACK' && !/^\s*ROLLBACK\s+(WORK\s+|TRANSACTION\s+)?TO\b/i.test(sql);
}

/** Counts from a list of executed SQL texts and the number of connections that ran them. */
export function countSql(sql: string[], connections: number): Counts {
  const begins = sql.filter((s) => keyword(s) === 'BEGIN' || keyword(s) === 'START').length;
  const commits = sql.filter((s) => keyword(s) === 'COMMIT' || keyword(s) === 'END').length;
  return {
    connections,
    statements: sql.length,
    transactions: begins,
    commits,
    explicitRollbacks: sql.filter(isRollbackStatement).length,
    uncommitted: begins - commits,
  };
}

/**
 * Counts from what each connection ran, read as the server does: a BEGIN inside
 * a transaction starts nothing ("there is already a transaction in progress"),
 * a COMMIT or ROLLBACK outside one ends nothing. Two transactions that share one
 * connection at once are one transaction to the server, and to txlens.
 */
export function countPerConnection(byConnection: string[][]): Counts {
  const counts: Counts = { connections: byConnection.length, statements: 0, transactions: 0, commits: 0, explicitRollbacks: 0, uncommitted: 0 };
  for (const sql of byConnection) {
    let open = false;
    for (const s of sql) {
      counts.statements++;
      const word = keyword(s);
      if (word === 'BEGIN' || word === 'START') {
        if (!open) counts.transactions++;
        open = true;
      } else if (word === 'COMMIT' || word === 'END') {
        if (open) counts.commits++;
        open = false;
      } else if (isRollbackStatement(s)) {
        if (open) counts.explicitRollbacks++;
        open = false;
      }
    }
  }
  counts.uncommitted = counts.transactions - counts.commits;
  return counts;
}

/** TAP verdicts, nested tests included: ['1:ok - a saved draft is kept', '0:not ok - notes', ...]. */
export function verdicts(tap: string): string[] {
  const out: string[] = [];
  for (const line of tap.split('\n')) {
    // node:test writes 'ok 1 - title', mocha 'ok 1 full title'.
    const m = /^(\s*)(not ok|ok) \d+ (?:- )?(.*?)(\s+#.*)?$/.exec(line);
    if (m) out.push(`${m[1].length / 4}:${m[2]} - ${m[3]}`);
  }
  return out;
}

interface CountedEvent {
  k: string;
  cause?: string;
  err?: unknown;
}

/** What txlens recorded: the report's summary, and the trace lines for what the summary does not count. */
export function txlensCounts(
  summary: { transactions: number; commits: number; rollbacks: number; statements: number },
  events: CountedEvent[],
  opts: { withoutFailedCompiles?: boolean } = {},
): Counts {
  const stmts = events.filter((e) => e.k === 'stmt');
  return {
    connections: events.filter((e) => e.k === 'connect').length,
    statements: opts.withoutFailedCompiles ? stmts.filter((e) => !e.err).length : summary.statements,
    transactions: summary.transactions,
    commits: summary.commits,
    explicitRollbacks: events.filter((e) => e.k === 'rollback' && (e.cause === 'explicit' || e.cause === 'error')).length,
    uncommitted: summary.rollbacks,
  };
}

// ---- better-sqlite3's own log of the run ------------------------------------------

export function verboseLog(file: string): { sql: string[]; opens: number } {
  const lines = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '') : [];
  const entries = lines.map((l) => JSON.parse(l) as { sql?: string; open?: string });
  return { sql: entries.filter((e) => e.sql !== undefined).map((e) => e.sql!), opens: entries.filter((e) => e.open !== undefined).length };
}

/** Rule findings as 'rule file:line'. */
export function located(report: Report): string[] {
  return report.findings.map((f) => `${f.rule} ${f.location.file}:${f.location.line}`).sort();
}

