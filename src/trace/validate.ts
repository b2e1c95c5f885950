/**
 * The shape check of every trace line: each field an event kind can carry,
 * with the type the model relies on (src/trace/schema.ts is the contract;
 * docs/trace-format.schema.json its machine-checkable form). A line that fails
 * is skipped and counted by the reader, so a hand-edited, corrupted or hostile
 * trace never reaches the model with a field of the wrong type. Fields the
 * format does not know are left alone (a newer agent may add some).
 */
import { EventKind, REQUIRED_FIELDS } from './schema';

type Check = (v: unknown) => boolean;

const str: Check = (v) => typeof v === 'string';
/** Ids (connection, session, transaction, test) key the model's maps: never empty. */
const id: Check = (v) => typeof v === 'string' && v.length > 0;
const num: Check = (v) => typeof v === 'number' && Number.isFinite(v);
const nonNegative: Check = (v) => num(v) && (v as number) >= 0;
const bool: Check = (v) => typeof v === 'boolean';
const any: Check = () => true;
const oneOf =
  (...values: string[]): Check =>
  (v) =>
    typeof v === 'string' && values.includes(v);
const arrayOf =
  (item: Check): Check =>
  (v) =>
    Array.isArray(v) && v.every(item);
const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const shape =
  (fields: Record<string, Check>, required: string[] = []): Check =>
  (v) => {
    if (!isObject(v)) return false;
    for (const f of required) if (v[f] === undefined) return false;
    for (const [f, check] of Object.entries(fields)) if (v[f] !== undefined && !check(v[f])) return false;
    return true;
  };

/** [absolute file, line, function]. */
export const isFrame: Check = (v) => Array.isArray(v) && v.length === 3 && str(v[0]) && num(v[1]) && str(v[2]);

const database = shape({ system: str, name: str, url: str, memory: bool, file: str, host: str, port: num }, ['system']);
const statementError = shape({ type: str, message: str, code: str, detail: str }, ['type', 'message']);
const pendingChange = shape({ op: oneOf('insert', 'update', 'delete'), entity: str, table: str, count: num }, ['op', 'entity', 'count']);

/** Fields every event may carry. */
const BASE: Record<string, Check> = { t: nonNegative, pid: num, th: num, task: num, conn: id, sess: id, at: isFrame };

const FIELDS: Record<EventKind, Record<string, Check>> = {
  connect: { db: database, driver: str, pool: str, engine: str, engineAt: isFrame },
  close: {},
  checkout: { pool: str },
  checkin: { pool: str, txOpen: bool },
  reset: { rolledBack: bool },
  begin: { tx: id, implicit: bool, iso: str },
  stmt: {
    tx: id,
    sql: str,
    params: any,
    op: oneOf('read', 'write', 'ddl', 'tx', 'other'),
    tables: arrayOf(str),
    rows: num,
    dur: nonNegative,
    err: statementError,
    many: num,
    flushAt: isFrame,
    alsoAt: arrayOf(isFrame),
  },
  commit: { tx: id },
  rollback: { tx: id, cause: oneOf('explicit', 'error', 'close', 'session-close', 'pool-reset', 'exit', 'gc') },
  savepoint: { tx: id, action: oneOf('begin', 'release', 'rollback'), name: str },
  session_open: { cls: str },
  session_close: { pending: arrayOf(pendingChange) },
  identity_hit: { entity: str, table: str, key: arrayOf(str), pk: arrayOf(str) },
  test_start: { id, name: str, file: str, line: num },
  test_end: { id, outcome: oneOf('passed', 'failed', 'skipped', 'error'), message: str },
  agent_error: { message: str },
};

/** One field an event kind can carry: its check, and whether the kind requires it. */
interface FieldRule {
  check: Check;
  required: boolean;
}

/**
 * Per kind, every field it can carry (its own, and the shared ones it does not
 * redefine), by name: one map lookup per field of the event, a cost that does
 * not grow with the number of fields the format knows.
 */
const RULES = Object.fromEntries(
  (Object.keys(FIELDS) as EventKind[]).map((kind) => {
    const required = REQUIRED_FIELDS[kind];
    const rules = new Map<string, FieldRule>();
    for (const [field, check] of Object.entries({ ...BASE, ...FIELDS[kind] })) rules.set(field, { check, required: field === 't' || required.includes(field) });
    for (const field of required) if (!rules.has(field)) rules.set(field, { check: any, required: true });
    return [kind, rules];
  }),
) as Record<EventKind, Map<string, FieldRule>>;

/** The first field of an event (of a known kind) that is missing or of the wrong type; undefined when the event is sound. */
export function eventProblem(kind: EventKind, rec: Record<string, unknown>): { field: string; missing: boolean } | undefined {
  if (rec.t === undefined || rec.t === null) return { field: 't', missing: true };
  for (const f of REQUIRED_FIELDS[kind]) if (rec[f] === undefined || rec[f] === null) return { field: f, missing: true };
  const rules = RULES[kind];
  for (const f in rec) {
    const rule = rules.get(f);
    if (!rule) continue;
    const v = rec[f];
    // An agent writes null for an optional field it has no value for (Python's None): absent.
    if (v === null && !rule.required) {
      delete rec[f];
      continue;
    }
    if (!rule.check(v)) return { field: f, missing: false };
  }
  return undefined;
}

/** Header fields that only describe the process: a wrong type drops the field, not the process's whole trace. */
const HEADER_OPTIONAL: Record<string, Check> = {
  ppid: num,
  wall: num,
  argv: arrayOf(str),
  cwd: str,
  lang: str,
  runtime: str,
  agent: str,
  libs: (v) => isObject(v) && Object.values(v).every(str),
  test: str,
};

/** Drops header fields of the wrong type (in place); pid and t0 are checked by the reader. */
export function cleanHeader(rec: Record<string, unknown>): void {
  for (const [f, check] of Object.entries(HEADER_OPTIONAL)) if (rec[f] !== undefined && !check(rec[f])) delete rec[f];
  if (rec.argv === undefined) rec.argv = [];
  if (rec.ppid === undefined) rec.ppid = 0;
  if (rec.wall === undefined) rec.wall = 0;
  if (rec.cwd === undefined) rec.cwd = '';
  if (rec.lang === undefined) rec.lang = '';
}

const RUN_INFO: Record<string, Check> = {
  v: num,
  command: arrayOf(str),
  cwd: str,
  startedWall: num,
  endedWall: num,
  exitCode: (v) => v === null || num(v),
  signal: (v) => v === null || str(v),
  params: oneOf('off', 'types', 'values'),
};

/** Whether run.json holds what RunInfo says (fields of the wrong type make it unusable). */
export function isRunInfo(v: unknown): boolean {
  return shape(RUN_INFO, ['v', 'command', 'cwd', 'startedWall'])(v);
}
