// What the Node fixture suites share: a traced run of a test command and an
// untraced one, the trace lines and report they read, the counts of
// connections, transactions, commits, rollbacks and statements from executed
// SQL (the database's own log) and from what txlens recorded, and the findings
// as 'rule file:line'.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, runCli } from '../support/env';
import { readProcessFiles } from '../support/trace-files';
import { loggedStatements, type LoggedDatabase } from './pg-log';

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

export interface TracedRun<T, R> {
  report: R;
  /** Each process file the agent wrote, as its lines (header first). */
  processes: T[][];
  events: T[];
  /** The test command's own stderr, as `txlens run` passed it on. */
  stderr: string;
  /** The run's exit code and the tail of its stderr, for assertion messages. */
  context: string;
  /** The test command's exit code, as the run recorded it. */
  exitCode: number | null;
}

/** `txlens run --json --trace <traceDir> -- <command>` from `cwd`: its report and what the agent wrote. */
export async function tracedRun<T = TraceLine, R extends { trace: string } = Report>(
  command: string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv; traceDir: string },
): Promise<TracedRun<T, R>> {
  const result = await runCli(['run', '--json', '--trace', opts.traceDir, '--', ...command], { cwd: opts.cwd, env: opts.env });
  const context = `exit ${result.code}\n--- stderr (tail) ---\n${result.stderr.split('\n').slice(-40).join('\n')}`;
  let report: R;
  try {
    report = JSON.parse(result.stdout) as R;
  } catch {
    throw new Error(`txlens run printed no JSON report: ${context}`);
  }
  const processes = readProcessFiles<T>(report.trace);
  const run = JSON.parse(readFileSync(join(report.trace, 'run.json'), 'utf8')) as { exitCode: number | null };
  return { report, processes, events: processes.flat(), stderr: result.stderr, context, exitCode: run.exitCode };
}

/** The same command without txlens: its exit code and its stdout and stderr, interleaved. */
export function runUntraced(cwd: string, command: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const [program, ...args] = command;
    const child = spawn(program, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

/**
 * The database's own counts of a run: Postgres's statement log of `pg` (read
 * per connection with `perConnection`, as the server does), or else
 * better-sqlite3's verbose log in `sqlLog`.
 */
export async function groundTruth(source: { pg?: LoggedDatabase[]; perConnection?: boolean; sqlLog?: string }): Promise<Counts> {
  if (source.pg !== undefined && source.pg.length > 0) {
    const logs = [];
    for (const db of source.pg) logs.push(await loggedStatements(db));
    if (source.perConnection) return countPerConnection(logs.flatMap((l) => l.byBackend));
    return countSql(
      logs.flatMap((l) => l.sql),
      logs.reduce((n, l) => n + l.backends, 0),
    );
  }
  const log = verboseLog(source.sqlLog ?? '');
  return countSql(log.sql, log.opens);
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

