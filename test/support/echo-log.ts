// Counts sessions, transactions, commits, rollbacks and statements from
// SQLAlchemy's own logging, as written by the jobs_app fixture
// (test/fixtures/jobs_app/app/echo_log.py: one JSON line {pid, logger, msg}
// per record, from every process). This is the ground truth txlens's summary is
// held to, so the rules are spelled out here, checked against real 1.4.54 and
// 2.0.58 output on SQLite and PostgreSQL:
//
// - `sqlalchemy.engine` INFO records are, per Connection:
//   "BEGIN (implicit)" (2.0 may add "; DBAPI should not BEGIN due to autocommit
//   mode") when a transaction starts; "COMMIT" / "ROLLBACK" (optionally
//   " using DBAPI connection...") when it ends; each statement's SQL text; and
//   after each statement a parameter line, always starting with "[":
//   "[generated in 0.0002s] (...)", "[cached since 1.2s ago] ...", "[no key ...]",
//   "[raw sql] ()", "[insertmanyvalues 1/2 ...]", "[dialect ... does not support
//   caching ...]". A parameter line is not a statement. Neither is
//   "ROLLBACK TO SAVEPOINT x" a transaction end: only the exact words above are.
// - The pool (`sqlalchemy.pool`, DEBUG) logs "... rollback-on-return" at EVERY
//   check-in, including after a logged COMMIT or ROLLBACK (it is the pool's
//   reset, a no-op on an idle connection). It ended a transaction only when a
//   BEGIN was logged on that connection and no COMMIT/ROLLBACK followed. Engine
//   lines do not name their connection, so this is decidable only when a process
//   has at most one connection checked out at a time: then "the last BEGIN of
//   this pid is still open" is exactly "the connection being reset is in a
//   transaction". The fixture is written that way (every session is closed
//   before the next one opens; the worker is a separate process). In the
//   fixture's real runs SQLAlchemy always logs ROLLBACK itself when a session
//   closes without commit (1.4 and 2.0 alike), so such pool-ended transactions
//   come out as zero; the rule is kept so a fixture change cannot miscount.
// - Sessions: SQLAlchemy logs nothing when one is created; the fixture's Session
//   subclass logs "session opened" on `jobs_app.session` from __init__ (an
//   AsyncSession wraps one such Session, so it counts once).
// - On PostgreSQL the dialect's first-connect probes ("select
//   pg_catalog.version()", "select current_schema()", "show
//   standard_conforming_strings") are logged as statements with no BEGIN before
//   them and no COMMIT/ROLLBACK after (SQLAlchemy rolls the driver back without
//   logging). SQLAlchemy runs them with its events switched off: they are the
//   dialect's own set-up, not the application's statements, and txlens (which
//   records through those events) does not list them. They are kept apart here
//   in `outsideTransaction`, with their text, so the comparison can leave out
//   exactly these and nothing else.
import { readFileSync } from 'node:fs';

export interface EchoCounts {
  sessions: number;
  transactions: number;
  commits: number;
  rollbacks: number;
  statements: number;
}

export interface EchoReport {
  total: EchoCounts;
  byPid: Map<number, EchoCounts>;
  /** Statements logged while no BEGIN was open in that process. */
  outsideTransaction: number;
  /** SQL of the statements logged with no transaction open. */
  outsideTransactionSql: string[];
  /** Rollbacks that were the pool's reset-on-return ending an open transaction. */
  poolResetRollbacks: number;
}

interface EchoRecord {
  pid: number;
  logger: string;
  msg: string;
}

const zero = (): EchoCounts => ({ sessions: 0, transactions: 0, commits: 0, rollbacks: 0, statements: 0 });

const isBegin = (m: string) => m === 'BEGIN (implicit)' || m.startsWith('BEGIN (implicit;');
const isCommit = (m: string) => m === 'COMMIT' || m.startsWith('COMMIT using DBAPI');
const isRollback = (m: string) => m === 'ROLLBACK' || m.startsWith('ROLLBACK using DBAPI');

export function countEchoLog(path: string): EchoReport {
  const records: EchoRecord[] = readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as EchoRecord);

  const byPid = new Map<number, EchoCounts>();
  const open = new Map<number, boolean>();
  let outsideTransaction = 0;
  const outsideTransactionSql: string[] = [];
  let poolResetRollbacks = 0;

  for (const { pid, logger, msg } of records) {
    let c = byPid.get(pid);
    if (!c) byPid.set(pid, (c = zero()));
    if (logger === 'jobs_app.session') {
      if (msg === 'session opened') c.sessions++;
    } else if (logger.startsWith('sqlalchemy.engine')) {
      if (isBegin(msg)) {
        c.transactions++;
        open.set(pid, true);
      } else if (isCommit(msg)) {
        c.commits++;
        open.set(pid, false);
      } else if (isRollback(msg)) {
        c.rollbacks++;
        open.set(pid, false);
      } else if (!msg.startsWith('[')) {
        c.statements++;
        if (!open.get(pid)) {
          outsideTransaction++;
          outsideTransactionSql.push(msg);
        }
      }
    } else if (logger.startsWith('sqlalchemy.pool')) {
      if (msg.includes('rollback-on-return') && open.get(pid)) {
        c.rollbacks++;
        poolResetRollbacks++;
        open.set(pid, false);
      }
    }
  }

  const total = zero();
  for (const c of byPid.values()) {
    for (const k of Object.keys(total) as (keyof EchoCounts)[]) total[k] += c[k];
  }
  return { total, byPid, outsideTransaction, outsideTransactionSql, poolResetRollbacks };
}
