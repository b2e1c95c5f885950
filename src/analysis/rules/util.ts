/**
 * Shared vocabulary for rule messages, so every finding names sessions,
 * transactions and places the same way: "session S3 (app/api/jobs.py:13)".
 */
import { isAbsolute } from 'node:path';
import type { ModelConnection, ModelProcess, ModelRun, ModelSession, ModelStatement, ModelTransaction } from '../../model/model';
import { relPath } from '../../present/paths';
import { stackWording, type StackWording } from '../../present/wording';
import type { SourceFrame } from '../../trace/schema';
import type { Finding, Location, RelatedLocation, Severity } from '../findings';

/** 'app/api/jobs.py:13': relative to the run's working directory when inside it. */
export function place(model: ModelRun, at: SourceFrame | undefined): string {
  return at ? `${relPath(at[0], model.run?.cwd)}:${at[1]}` : 'an unknown place';
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

/** The words of the stack a connection's statements came from (its process's language and ORM, its driver). */
export function connectionWording(conn: ModelConnection, sessionCls?: string): StackWording {
  return stackWording({ lang: conn.process.header.lang, libs: conn.process.header.libs, driver: conn.driver, sessionCls });
}

/**
 * "session S3 (app/api/jobs.py:13)", where the place is where the session was
 * opened; a Node ORM's session by its own name: "Knex transaction S3 (...)".
 */
export function sessionRef(model: ModelRun, sess: ModelSession): string {
  const noun = stackWording({ lang: sess.process.header.lang, sessionCls: sess.cls ?? '' }).session;
  return `${noun} ${sess.label}${sess.at ? ` (${place(model, sess.at)})` : ''}${inProcess(model, sess.process)}`;
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

/**
 * For a statement an ORM flush sent (its `at` is the line that changed the object): the flush's
 * line as a related place, "UPDATE jobs flushed here (by the query, flush() or commit() on this line)".
 * Empty for any other statement.
 */
export function flushRelated(st: ModelStatement): RelatedLocation[] {
  if (!st.flushAt || (st.at && st.at[0] === st.flushAt[0] && st.at[1] === st.flushAt[1])) return [];
  return related(st.flushAt, `${writeText(st)} sent to the database here, by the ORM flush this line caused`);
}

/** A statement as a related place: its line and, when an ORM flush sent it, the flush's line too. */
export function statementRelated(st: ModelStatement, message: string): RelatedLocation[] {
  return [...related(st.at, message), ...flushRelated(st)];
}

/** " (flushed at app/jobs.py:27)" for a statement an ORM flush sent; '' otherwise. */
export function flushedText(model: ModelRun, st: ModelStatement): string {
  return st.flushAt ? ` (flushed at ${place(model, st.flushAt)})` : '';
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

/** Who ran a statement: its ORM session when there is one, else its connection. */
export function statementOwnerRef(model: ModelRun, st: ModelStatement): string {
  return st.session ? sessionRef(model, st.session) : connectionRef(model, st.connection);
}

/** The short name of a statement's owner: 'S3' or 'C2'. */
export function statementOwnerLabel(st: ModelStatement): string {
  return st.session ? st.session.label : st.connection.label;
}

/** The short name of a transaction's owner: 'S1' or 'C1'. */
export function txOwnerLabel(tx: ModelTransaction): string {
  return tx.session ? tx.session.label : tx.connection.label;
}

/**
 * The two sides of a story in which a statement met another transaction (a read that missed its
 * writes, a wait on its lock, a snapshot older than its commit): each owner's reference for the
 * first mention ('session S3 (opened at app.py:12)') and its short label after that ('S3').
 */
export interface StatementAndTransaction {
  statementOwner: string;
  statementOwnerRef: string;
  txOwner: string;
  txOwnerRef: string;
}

export function statementAndTransaction(model: ModelRun, st: ModelStatement, tx: ModelTransaction): StatementAndTransaction {
  return {
    statementOwner: statementOwnerLabel(st),
    statementOwnerRef: statementOwnerRef(model, st),
    txOwner: txOwnerLabel(tx),
    txOwnerRef: txOwnerRef(model, tx),
  };
}

/** "TRUNCATE jobs", "INSERT into jobs", "SELECT from jobs": what a statement did, briefly. */
export function statementText(st: ModelStatement): string {
  if (st.op === 'write' || st.op === 'ddl') return writeText(st);
  const t = st.reads.join(', ');
  return t ? `${st.verb || 'statement'} from ${t}` : st.verb || 'a statement';
}

/** True when the test the finding belongs to failed (or errored in setup/teardown). */
/** Per model, the ids of the tests that failed: rules ask once per candidate finding, thousands of times on a large run. */
const failedTests = new WeakMap<ModelRun, Set<string>>();

export function testFailed(model: ModelRun, testId: string | undefined): boolean {
  if (!testId) return false;
  let failed = failedTests.get(model);
  if (!failed) {
    failed = new Set();
    const tests = model.tests;
    for (let i = 0; i < tests.length; i++) if (tests[i].outcome === 'failed' || tests[i].outcome === 'error') failed.add(tests[i].id);
    failedTests.set(model, failed);
  }
  return failed.has(testId);
}

/** JavaScript/TypeScript test files by the runners' own naming: orders.test.ts, notes.spec.mjs, ... */
const JS_TEST_FILE = /\.(test|spec)\.[cm]?[jt]sx?$/;

/**
 * Test code: conftest.py, test_*.py, *_test.py, a JavaScript or TypeScript `*.test.*` /
 * `*.spec.*` file, or a file under a `tests`, `test`, `spec` or `__tests__` folder of the project
 * (judged on the path relative to the run's working directory, so where the project itself
 * lives does not count). Rules use it to tell a test's own deliberate transaction handling
 * (a fixture rolling back at teardown) from the application's.
 */
export function isTestCode(model: ModelRun, at: SourceFrame | undefined): boolean {
  if (!at) return false;
  // Rules ask about the same few hundred files for every transaction and session: answer each once per model.
  let known = testCodeFiles.get(model);
  if (!known) testCodeFiles.set(model, (known = new Map()));
  let answer = known.get(at[0]);
  if (answer === undefined) known.set(at[0], (answer = isTestFile(at[0], model.run?.cwd)));
  return answer;
}

const testCodeFiles = new WeakMap<ModelRun, Map<string, boolean>>();

function isTestFile(file: string, cwd: string | undefined): boolean {
  const rel = relPath(file, cwd).replace(/\\/g, '/');
  const parts = rel.split('/');
  const base = parts[parts.length - 1];
  if (base === 'conftest.py' || /^test_.*\.py$/.test(base) || /_test\.py$/.test(base) || JS_TEST_FILE.test(base)) return true;
  if (isAbsolute(rel)) return false;
  return parts.slice(0, -1).some((p) => p === 'tests' || p === 'test' || p === 'spec' || p === '__tests__');
}

/** test id -> [file, first line, first line of the next test declared below it in that file]. */
const testBodies = new WeakMap<ModelRun, Map<string, [string, number, number]>>();

/**
 * Whether `at` is in the body of test `testId`: its file, from the line that declares it up to
 * the next test declared below it (hooks are declared above their tests, so they are outside).
 */
export function inTestBody(model: ModelRun, testId: string | undefined, at: SourceFrame | undefined): boolean {
  if (!testId || !at) return false;
  let bodies = testBodies.get(model);
  if (!bodies) {
    bodies = new Map();
    const lines = new Map<string, number[]>();
    for (const t of model.tests) if (t.line !== undefined) (lines.get(t.file) ?? lines.set(t.file, []).get(t.file)!).push(t.line);
    for (const l of lines.values()) l.sort((a, b) => a - b);
    for (const t of model.tests) {
      if (t.line === undefined) continue;
      const next = lines.get(t.file)!.find((l) => l > t.line!) ?? Infinity;
      bodies.set(t.id, [t.file, t.line, next]);
    }
    testBodies.set(model, bodies);
  }
  const body = bodies.get(testId);
  return !!body && at[0] === body[0] && at[1] >= body[1] && at[1] < body[2];
}
