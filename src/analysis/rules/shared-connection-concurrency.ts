/**
 * shared-connection-concurrency: one connection (often through one ORM session)
 * used by two threads or two asyncio tasks at the same time. asyncpg refuses
 * the second operation ("cannot perform operation: another operation is in
 * progress"), an AsyncSession or Session shared by `asyncio.gather` or a
 * thread pool corrupts its own state, and even where the driver serializes
 * calls (sqlite3, psycopg2) both callers share one transaction: one commits or
 * rolls back the other's half-done work.
 *
 * Evidence: per connection, every operation with its interval (statements run
 * from `start` to `time`, which for SQLAlchemy's async adapters includes the
 * wait on its execution mutex: the task was already inside the connection) and
 * the commits/rollbacks as instants, each with its thread and task. Two
 * operations of different threads/tasks whose intervals overlap are concurrent
 * use. Use one after another from different threads never overlaps, so it is
 * never reported. One sweep per connection in start order, keeping the two
 * latest-ending operations of different actors: O(n log n) overall.
 *
 * Severity: error when one of the overlapping operations failed, or the test
 * did; warning otherwise (two threads or tasks on one session or connection is
 * a real defect, but this run did not show its harm).
 *
 * Location: the second concurrent use (the failing one when one failed); the
 * first is related.
 */
import type { ModelConnection, ModelProcess, ModelRun, ModelSession, ModelStatement, ModelTransaction } from '../../model/model';
import type { SourceFrame } from '../../trace/schema';
import type { DynamicRule, Finding, RelatedLocation, Severity } from '../findings';
import { capitalize } from '../../present/wording';
import { statementIndex } from '../statement-index';
import { connectionRef, finding, place, related, sessionRef, testFailed } from './util';

const RULE = 'shared-connection-concurrency';

interface Op {
  start: number;
  end: number;
  actor: string;
  thread?: number;
  task?: number;
  stmt?: ModelStatement;
  tx?: ModelTransaction;
  at?: SourceFrame;
  session?: ModelSession;
  test?: string;
}

interface Pair {
  first: Op;
  second: Op;
}

function actorOf(thread: number | undefined, task: number | undefined): string | undefined {
  if (thread === undefined && task === undefined) return undefined;
  return `${thread ?? ''}/${task ?? ''}`;
}

/** Ends that are the application's own operations on the connection (not the garbage collector or process exit). */
function endIsOperation(tx: ModelTransaction): boolean {
  return tx.end !== undefined && tx.outcome !== 'open' && tx.cause !== 'gc' && tx.cause !== 'exit';
}

function opText(op: Op): string {
  if (op.stmt) {
    const st = op.stmt;
    const tables = st.writes.length > 0 ? st.writes : st.reads;
    const what = tables.length > 0 ? `${st.verb} ${tables.slice(0, 2).join(', ')}` : st.verb || 'a statement';
    return what;
  }
  return op.tx?.outcome === 'commit' ? 'COMMIT' : 'ROLLBACK';
}

function failureOf(op: Op): string | undefined {
  const err = op.stmt?.err;
  return err ? err.message.replace(/^<class '[^']*'>:\s*/, '') : undefined;
}

function better(candidate: Pair, current: Pair | undefined): boolean {
  if (!current) return true;
  // A pair that shows the failure tells the story best.
  const failed = (p: Pair) => (p.second.stmt?.err ? 2 : p.first.stmt?.err ? 1 : 0);
  return failed(candidate) > failed(current);
}

/**
 * Connections that more than one actor (thread, task) used. Only they can show two actors at
 * once, so only their operations are collected: most runs have none, and building an operation
 * for every statement of the run would be nearly all of this rule's cost.
 */
function sharedConnections(model: ModelRun): Set<ModelConnection> {
  // The statements' actors come from the shared pass over them; the transactions' ends are added here.
  const { firstActor, multiActor } = statementIndex(model);
  const firstUser = new Map<ModelConnection, { thread?: number; task?: number }>();
  const shared = new Set(multiActor);
  // Indexed: a for-of over all of them allocates per element until the loop is optimized.
  const transactions = model.transactions;
  for (let i = 0; i < transactions.length; i++) {
    const tx = transactions[i];
    if (!endIsOperation(tx)) continue;
    const thread = tx.endThread;
    const task = tx.endTask;
    // No actor recorded: actorOf leaves such operations out.
    if (thread === undefined && task === undefined) continue;
    const conn = tx.connection;
    const first = firstActor.get(conn) ?? firstUser.get(conn);
    if (!first) firstUser.set(conn, { thread, task });
    else if (first.thread !== thread || first.task !== task) shared.add(conn);
  }
  return shared;
}

function connectionOps(model: ModelRun): Map<ModelConnection, Op[]> {
  const byConn = new Map<ModelConnection, Op[]>();
  const push = (conn: ModelConnection, op: Op) => {
    let list = byConn.get(conn);
    if (!list) byConn.set(conn, (list = []));
    list.push(op);
  };
  const shared = sharedConnections(model);
  if (shared.size === 0) return byConn;
  // Only the shared connections' statements, each connection's in model order. The connections come
  // in the order their first statement with an actor ran, as one walk over every statement would meet them.
  const statements = model.statements;
  const { byConnection } = statementIndex(model);
  const fromStatements: { first: number; conn: ModelConnection; ops: Op[] }[] = [];
  for (const conn of shared) {
    const positions = byConnection.get(conn) ?? [];
    const ops: Op[] = [];
    let first = -1;
    for (let k = 0; k < positions.length; k++) {
      const st = statements[positions[k]];
      const actor = actorOf(st.thread, st.task);
      if (actor === undefined) continue;
      if (first < 0) first = positions[k];
      ops.push({ start: st.start, end: st.time, actor, thread: st.thread, task: st.task, stmt: st, at: st.at, session: st.session, test: st.test });
    }
    if (first >= 0) fromStatements.push({ first, conn, ops });
  }
  fromStatements.sort((a, b) => a.first - b.first);
  for (const { conn, ops } of fromStatements) byConn.set(conn, ops);
  for (const tx of model.transactions) {
    if (!endIsOperation(tx) || !shared.has(tx.connection)) continue;
    const actor = actorOf(tx.endThread, tx.endTask);
    if (actor === undefined) continue;
    push(tx.connection, { start: tx.end!, end: tx.end!, actor, thread: tx.endThread, task: tx.endTask, tx, at: tx.endAt, session: tx.session, test: tx.test });
  }
  return byConn;
}

/** Overlapping operations of different actors on one connection, the most telling pair per test. */
function overlaps(ops: Op[]): Map<string, Pair> {
  ops.sort((a, b) => a.start - b.start || a.end - b.end);
  const found = new Map<string, Pair>();
  let best: Op | undefined; // latest-ending operation so far
  let second: Op | undefined; // latest-ending operation of an actor other than best's
  for (const op of ops) {
    const other = best && best.actor !== op.actor ? best : second;
    if (other && other.end > op.start) {
      const testKey = op.test ?? other.test ?? '';
      const pair = { first: other, second: op };
      if (better(pair, found.get(testKey))) found.set(testKey, pair);
    }
    if (!best) best = op;
    else if (op.actor === best.actor) {
      if (op.end > best.end) best = op;
    } else if (op.end > best.end) {
      second = best;
      best = op;
    } else if (!second || op.end > second.end) {
      second = op;
    }
  }
  return found;
}

/** The other actor's operation that started last before `use` ended and was still running after `use` started. */
function inFlightAt(sorted: Op[], use: Op): Op | undefined {
  let lo = 0;
  let hi = sorted.length - 1;
  let last = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid].start <= use.end) {
      last = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  // Bounded walk back: only run for the pairs reported.
  for (let i = last, steps = 0; i >= 0 && steps < 10_000; i--, steps++) {
    const op = sorted[i];
    if (op.actor !== use.actor && op.end >= use.start && op.start < use.end) return op;
  }
  return undefined;
}

function actorKind(a: Op, b: Op): 'threads' | 'tasks' {
  return a.thread !== undefined && b.thread !== undefined && a.thread !== b.thread ? 'threads' : 'tasks';
}

/**
 * Node, no ORM session (a plain pg Client shared by two async calls): the trace
 * has no task for the statements, but it shows the interleaving. pg queues a
 * query sent while another is in flight and runs them in order, so a statement
 * `later` sent while `earlier` was still pending, and after some statement on
 * the connection had completed since `earlier` was sent, came from code that
 * resumed on that completion: a caller other than the one that sent `earlier`
 * without awaiting it. One caller's own queueing never shows this: queries it
 * sends in one go (no await between them) are sent before anything completes,
 * and a query it awaits has completed, with every query queued before it,
 * when it sends the next. Only pairs inside one transaction count: the second
 * caller ran inside a BEGIN it did not open.
 *
 * Both statements carried by one ORM session (a Knex transaction handed to
 * `Promise.all` branches, or to a promise library's `map`) are that session's
 * own fan-out, not a stranger: the code that holds the transaction object gave
 * it to both calls, the ORM queues them on its one connection, and it commits
 * once its callback has settled, after both. Silent unless one of them failed
 * (an aborted transaction fails the rest: that is the harm to show).
 */
function interleaved(ops: Op[]): Map<string, Pair> {
  ops.sort((a, b) => a.start - b.start || a.end - b.end);
  const found = new Map<string, Pair>();
  let pending: Op[] = [];
  let lastCompletion = -Infinity;
  for (const op of ops) {
    const still: Op[] = [];
    for (const p of pending) {
      if (p.end <= op.start) lastCompletion = Math.max(lastCompletion, p.end);
      else still.push(p);
    }
    pending = still;
    const tx = op.stmt?.transaction;
    const earlier = tx ? pending.find((p) => p.start < lastCompletion && p.stmt?.transaction === tx && !sessionFanOut(p, op)) : undefined;
    if (earlier) {
      const testKey = op.test ?? earlier.test ?? '';
      const pair = { first: earlier, second: op };
      if (better(pair, found.get(testKey))) found.set(testKey, pair);
    }
    pending.push(op);
  }
  return found;
}

/** Two statements of one ORM session's transaction, neither failed: the session's own concurrent calls (see interleaved). */
function sessionFanOut(a: Op, b: Op): boolean {
  return a.session !== undefined && a.session === b.session && !a.stmt?.err && !b.stmt?.err;
}

function isNode(proc: ModelProcess): boolean {
  return proc.header.lang === 'node';
}

/** Per Node connection, its statements that ran outside any ORM session's task, each its own caller until shown otherwise. */
function untaskedNodeOps(model: ModelRun): Map<ModelConnection, Op[]> {
  const byConn = new Map<ModelConnection, Op[]>();
  // A run with no Node process (every Python run) has none: its statements need no pass.
  if (!model.processes.some(isNode)) return byConn;
  let n = 0;
  const statements = model.statements;
  for (let i = 0; i < statements.length; i++) {
    const st = statements[i];
    if (st.task !== undefined || st.thread === undefined || !isNode(st.connection.process)) continue;
    let list = byConn.get(st.connection);
    if (!list) byConn.set(st.connection, (list = []));
    list.push({ start: st.start, end: st.time, actor: `call${++n}`, thread: st.thread, stmt: st, at: st.at, session: st.session, test: st.test });
  }
  return byConn;
}

export const sharedConnectionConcurrencyRule: DynamicRule = {
  id: RULE,
  check(model: ModelRun): Finding[] {
    const findings: Finding[] = [];
    const found: Array<[ModelConnection, Op[], Map<string, Pair>]> = [];
    for (const [conn, ops] of connectionOps(model)) if (ops.length >= 2) found.push([conn, ops, overlaps(ops)]);
    for (const [conn, ops] of untaskedNodeOps(model)) if (ops.length >= 2) found.push([conn, ops, interleaved(ops)]);
    for (const [conn, ops, pairs] of found) {
      for (const [testKey, { first, second }] of pairs) {
        // The failing operation is the one to look at; the other is the story's other side.
        const [use, firstOther] = !second.stmt?.err && first.stmt?.err ? [first, second] : [second, first];
        // For a failure, the other side is what was in flight when it failed (a COMMIT, say), not only what overlapped first.
        const otherUse = use.stmt?.err ? inFlightAt(ops, use) ?? firstOther : firstOther;
        const at = use.at ?? otherUse.at;
        if (!at) continue;
        const kind = actorKind(use, otherUse);
        const sameSession = !!use.session && use.session === otherUse.session;
        const failure = failureOf(use) ?? failureOf(otherUse);
        // The consequence shown: an operation failed, or the test did. Sharing alone, however wrong, is a warning.
        const severity: Severity = failure || testFailed(model, testKey || undefined) ? 'error' : 'warning';
        const owner = sameSession ? sessionRef(model, use.session!) : connectionRef(model, conn);
        const via = sameSession ? `, on connection ${conn.label},` : '';
        // Under Node a task is an async call chain (an ORM transaction's callback), not an asyncio task.
        const node = isNode(conn.process);
        const actors = kind === 'threads' ? 'two threads' : node ? 'two async calls' : 'two asyncio tasks';
        const other = kind === 'threads' ? "another thread's" : node ? "another call's" : "another task's";
        let message =
          `${capitalize(owner)}${via} was used by ${actors} at once: ${opText(use)} at ${place(model, use.at)} ran while ${other} ` +
          `${opText(otherUse)} (${place(model, otherUse.at)}) was still in progress on the same connection`;
        const sharedTx = use.stmt?.transaction;
        if (sharedTx && sharedTx === otherUse.stmt?.transaction && !sameSession) message += `, both inside transaction ${sharedTx.label}, which only one of them began`;
        if (failure) message += `, and it failed: "${failure}"`;
        message += node
          ? `. A connection serves one transaction at a time: give each concurrent call its own connection (a pool, not one shared client) or await the calls one after another.`
          : severity === 'error'
            ? `. A ${sameSession ? 'session' : 'connection'} serves one ${kind === 'threads' ? 'thread' : 'task'} at a time: give each its own session (a sessionmaker call per ${kind === 'threads' ? 'thread' : 'task'}) or await the calls one after another.`
            : sameSession || kind === 'tasks'
              ? `. Nothing failed this time, but a ${sameSession ? 'session' : 'connection'} serves one ${kind === 'threads' ? 'thread' : 'task'} at a time: give each its own session (a sessionmaker call per ${kind === 'threads' ? 'thread' : 'task'}) or await the calls one after another.`
              : '. The driver ran them one at a time, but both threads share one transaction: a commit or rollback in one ends the other\'s work too.';
        const rel: RelatedLocation[] = related(otherUse.at, `${other} ${opText(otherUse)} was in progress here`);
        if (sameSession && use.session!.at) rel.push(...related(use.session!.at, `${use.session!.label} opened here and shared`));
        findings.push(finding(RULE, severity, message, at, { related: rel, test: testKey || undefined }));
      }
    }
    return findings;
  },
};
