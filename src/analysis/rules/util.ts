/**
 * Shared vocabulary for rule messages, so every finding names sessions,
 * transactions and places the same way: "session S3 (app/api/jobs.py:13)".
 */
import { isAbsolute, relative } from 'node:path';
import type { ModelConnection, ModelProcess, ModelRun, ModelSession, ModelStatement, ModelTransaction } from '../../model/model';
import type { SourceFrame } from '../../trace/schema';
import type { Finding, Location, RelatedLocation, Severity } from '../findings';

/** A path as people read it in messages: relative to the run's working directory when inside it. */
export function shortPath(model: ModelRun, file: string): string {
  const cwd = model.run?.cwd;
  if (!cwd || !isAbsolute(file)) return file;
  const r = relative(cwd, file);
  return r.startsWith('..') ? file : r;
}

export function place(model: ModelRun, at: SourceFrame | undefined): string {
  return at ? `${shortPath(model, at[0])}:${at[1]}` : 'an unknown place';
}

export function location(at: SourceFrame): Location {
  return { file: at[0], line: at[1] };
}

export function related(at: SourceFrame | undefined, message: string): RelatedLocation[] {
  return at ? [{ file: at[0], line: at[1], message }] : [];
}

function inProcess(model: ModelRun, proc: ModelProcess): string {
  // Name the process only when it is not the one running the tests (an API server, a worker).
  return proc.tests.length === 0 && model.processes.length > 1 ? ` in process ${proc.pid}` : '';
}

/** "session S3 (app/api/jobs.py:13)", where the place is where the session was opened. */
export function sessionRef(model: ModelRun, sess: ModelSession): string {
  return `session ${sess.label}${sess.at ? ` (${place(model, sess.at)})` : ''}${inProcess(model, sess.process)}`;
}

/** "connection C2 (app/db.py:8)", where the place is where it was opened. */
export function connectionRef(model: ModelRun, conn: ModelConnection): string {
  return `connection ${conn.label}${conn.at ? ` (${place(model, conn.at)})` : ''}${inProcess(model, conn.process)}`;
}

/** Who ran a transaction: its ORM session when there is one, else its connection. */
export function txOwnerRef(model: ModelRun, tx: ModelTransaction): string {
  return tx.session ? sessionRef(model, tx.session) : connectionRef(model, tx.connection);
}

/** "INSERT into jobs" / "UPDATE jobs" / "DELETE from jobs" for a write statement. */
export function writeText(st: ModelStatement): string {
  const t = st.writes.join(', ');
  switch (st.verb) {
    case 'INSERT':
      return t ? `INSERT into ${t}` : 'INSERT';
    case 'DELETE':
      return t ? `DELETE from ${t}` : 'DELETE';
    default:
      return t ? `${st.verb} ${t}` : st.verb;
  }
}

/** The first place among candidates that has a source frame. */
export function firstFrame(...frames: (SourceFrame | undefined)[]): SourceFrame | undefined {
  return frames.find((f) => f !== undefined);
}

export function finding(
  rule: string,
  severity: Severity,
  message: string,
  at: SourceFrame,
  extra: Partial<Pick<Finding, 'related' | 'test' | 'fixes'>> = {},
): Finding {
  return { rule, severity, message, location: location(at), related: extra.related ?? [], test: extra.test, fixes: extra.fixes ?? [] };
}
