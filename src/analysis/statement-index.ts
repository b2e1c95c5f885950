/**
 * One pass over a run's statements for every rule that would otherwise make its own: the
 * reads by table and database (the timeline's arrows read them too), the statements that
 * failed, each statement's duration, which connections more than one thread or task used,
 * each connection's statements, the writes outside transactions and the DDL. Built on first
 * use and kept per model, so a rule run alone (as the tests do) gets the same answers as
 * under `analyse`.
 *
 * On a large run the statements are hundreds of thousands of objects spread over the heap:
 * walking them once instead of once per rule is most of what the rules cost, and what a rule
 * then looks at is the few that matter to it (a read of a table a lost write touched, a
 * statement that failed or waited long). What each rule makes of them stays in the rule.
 */
import type { ModelConnection, ModelRun, ModelStatement } from '../model/model';
import { ReadIndex } from '../model/query-facts';

export interface StatementIndex {
  /** Every read (op 'read') by table and database, in the model's order (by end time). */
  readonly reads: ReadIndex;
  /**
   * The position in `model.statements` of every statement that failed (has `err`), ascending:
   * a rule after the failures reads them from there, and one walking every position (beside
   * `durations`) meets them in the same order.
   */
  readonly failed: readonly number[];
  /** Each statement's duration in ns (0 when unknown), by its position in `model.statements`. */
  readonly durations: Float64Array;
  /** The first thread and task seen on each connection's statements (a statement with neither counts for nothing). */
  readonly firstActor: Map<ModelConnection, { thread?: number; task?: number }>;
  /** Connections whose statements came from more than one thread or task. */
  readonly multiActor: Set<ModelConnection>;
  /**
   * Each connection's statements, as ascending positions in `model.statements`, its connections
   * in the order of their first statement: a rule about a few connections (shared ones, memory
   * databases) reads theirs instead of passing over every statement.
   */
  readonly byConnection: Map<ModelConnection, number[]>;
  /** The positions of the writes and DDL run outside any transaction (autocommit), ascending. */
  readonly untransactedWrites: readonly number[];
  /** The positions of the DDL statements, ascending. */
  readonly ddl: readonly number[];
}

const perModel = new WeakMap<ModelRun, StatementIndex>();

export function statementIndex(model: ModelRun): StatementIndex {
  let index = perModel.get(model);
  if (!index) perModel.set(model, (index = build(model.statements)));
  return index;
}

function build(statements: readonly ModelStatement[]): StatementIndex {
  const n = statements.length;
  const reads = new ReadIndex();
  const failed: number[] = [];
  const durations = new Float64Array(n);
  const firstActor = new Map<ModelConnection, { thread?: number; task?: number }>();
  const multiActor = new Set<ModelConnection>();
  const byConnection = new Map<ModelConnection, number[]>();
  const untransactedWrites: number[] = [];
  const ddl: number[] = [];
  // The connection and actor of the statement before: the same again (the common case) changes nothing.
  let lastConnection: ModelConnection | undefined;
  let connectionPositions: number[] = [];
  let lastThread: number | undefined;
  let lastTask: number | undefined;
  // Indexed: this loop runs once, mostly before the optimizing compiler takes it over, and until
  // then a for-of allocates a result per element.
  for (let i = 0; i < n; i++) {
    const st = statements[i];
    const conn = st.connection;
    durations[i] = st.dur ?? 0;
    if (st.err) failed.push(i);
    const thread = st.thread;
    const task = st.task;
    if (conn !== lastConnection) {
      const positions = byConnection.get(conn);
      if (positions) connectionPositions = positions;
      else byConnection.set(conn, (connectionPositions = []));
    }
    connectionPositions.push(i);
    if (conn !== lastConnection || thread !== lastThread || task !== lastTask) {
      lastConnection = conn;
      lastThread = thread;
      lastTask = task;
      if (thread !== undefined || task !== undefined) {
        const first = firstActor.get(conn);
        if (!first) firstActor.set(conn, { thread, task });
        else if (first.thread !== thread || first.task !== task) multiActor.add(conn);
      }
    }
    const op = st.op;
    if (op === 'read') reads.add(st);
    else if (op === 'write' || op === 'ddl') {
      if (op === 'ddl') ddl.push(i);
      if (!st.transaction) untransactedWrites.push(i);
    }
  }
  return { reads, failed, durations, firstActor, multiActor, byConnection, untransactedWrites, ddl };
}

/**
 * The positions of the statements of `connections`, ascending, when they are a small part of the
 * run; undefined when they are much of it, where a walk over every statement (checking each one's
 * connection) costs less than merging theirs.
 */
export function positionsOn(model: ModelRun, connections: Iterable<ModelConnection>): Uint32Array | undefined {
  const { byConnection } = statementIndex(model);
  const lists: number[][] = [];
  let total = 0;
  for (const conn of connections) {
    const list = byConnection.get(conn);
    if (list === undefined) continue;
    lists.push(list);
    total += list.length;
  }
  if (total * 4 > model.statements.length) return undefined;
  const positions = new Uint32Array(total);
  let at = 0;
  for (const list of lists) for (let k = 0; k < list.length; k++) positions[at++] = list[k];
  // A typed array sorts by value without a comparator; one connection's list is in order already.
  return lists.length > 1 ? positions.sort() : positions;
}
