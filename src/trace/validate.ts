/**
 * The shape check of every trace line: each field an event kind can carry,
 * with the type the model relies on (src/trace/schema.ts is the contract;
 * docs/trace-format.schema.json its machine-checkable form). A line that fails
 * is skipped and counted by the reader, so a hand-edited, corrupted or hostile
 * trace never reaches the model with a field of the wrong type. Fields the
 * format does not know are left alone (a newer agent may add some).
 */
import { EventKind, REQUIRED_FIELDS } from './schema';

type Check = ((v: unknown) => boolean) & {
  /**
   * The same test as a JavaScript expression over `v`, for the generated validators below: a
   * trace line's every field is checked, and a call per field costs more than the test itself.
   */
  inline?: string;
};

/** A check with its expression form; the function is built from that same text, so the two cannot differ. */
function simple(expr: string): Check {
  const check = new Function('v', `return ${expr};`) as Check;
  check.inline = expr;
  return check;
}

// `v - v === 0` is Number.isFinite for a number (false for NaN and the infinities), without a call.
const FINITE = `typeof v === 'number' && v - v === 0`;
const str = simple(`typeof v === 'string'`);
/** Ids (connection, session, transaction, test) key the model's maps: never empty. */
const id = simple(`typeof v === 'string' && v.length > 0`);
const num = simple(FINITE);
const nonNegative = simple(`${FINITE} && v >= 0`);
const bool = simple(`typeof v === 'boolean'`);
const any: Check = () => true;
any.inline = 'true';
const oneOf = (...values: string[]): Check => simple(`typeof v === 'string' && (${values.map((x) => `v === ${JSON.stringify(x)}`).join(' || ')})`);
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
export const isFrame: Check = simple(
  `Array.isArray(v) && v.length === 3 && typeof v[0] === 'string' && typeof v[1] === 'number' && v[1] - v[1] === 0 && typeof v[2] === 'string'`,
);

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
    pool: str,
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

type EventProblem = { field: string; missing: boolean };
/**
 * Checks an event in place; a sound event without a `pid` of its own gets `defaultPid` (its
 * header's), given. Filled in here because here `rec` has one of the few shapes of its kind:
 * the reader, which sees every kind, would pay for a generic property load on every line.
 */
export type EventValidator = (rec: Record<string, unknown>, defaultPid?: number) => EventProblem | undefined;

/**
 * One validator per kind, generated from FIELDS, BASE and REQUIRED_FIELDS: every field the kind
 * can carry is read by name (`rec["sql"]`) and tested in place (the checks' expressions), so each
 * load is a plain property access on events of one shape and a sound event costs no call and no
 * allocation, instead of a walk over the event's keys with a map lookup and a call for each.
 * Every line of a trace passes through here; the tables above stay the one home of what is checked.
 */
function compileValidator(kind: EventKind): EventValidator {
  const required = ['t', ...REQUIRED_FIELDS[kind].filter((f) => f !== 't')];
  const fields = { ...BASE, ...FIELDS[kind] };
  const checks: Check[] = [];
  const lines: string[] = [];
  for (const f of required) {
    const key = JSON.stringify(f);
    lines.push(`if (rec[${key}] === undefined || rec[${key}] === null) return { field: ${key}, missing: true };`);
  }
  for (const [f, check] of Object.entries(fields)) {
    const key = JSON.stringify(f);
    checks.push(check);
    const i = checks.length - 1;
    const test = check.inline ? `(${check.inline})` : `checks[${i}](v)`;
    // An agent writes null for an optional field it has no value for (Python's None): absent.
    const onNull = required.includes(f) ? '' : `if (v === null) delete rec[${key}]; else `;
    lines.push(`v = rec[${key}]; if (v !== undefined) { ${onNull}if (!${test}) return { field: ${key}, missing: false }; }`);
  }
  lines.push(`if (rec.pid === undefined && defaultPid !== undefined) rec.pid = defaultPid;`);
  const body = `return function validate${kind}(rec, defaultPid) {\nlet v;\n${lines.join('\n')}\nreturn undefined;\n};`;
  return new Function('checks', body)(checks) as EventValidator;
}

/** The validator of each known event kind: one lookup tells a known kind and finds its checks. */
export const EVENT_VALIDATORS: ReadonlyMap<string, EventValidator> = new Map(
  (Object.keys(FIELDS) as EventKind[]).map((kind) => [kind, compileValidator(kind)]),
);

/** The first field of an event (of a known kind) that is missing or of the wrong type; undefined when the event is sound. */
export function eventProblem(kind: EventKind, rec: Record<string, unknown>): EventProblem | undefined {
  return EVENT_VALIDATORS.get(kind)!(rec);
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
