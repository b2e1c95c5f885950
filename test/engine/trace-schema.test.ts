// docs/trace-format.schema.json against the two things it must agree with:
// src/trace/schema.ts (kinds, field names, which fields are required, enums)
// and what the Python agent really writes (every line of real traces from a
// pytest + SQLAlchemy run on SQLite). The validator used here (Ajv, draft
// 2020-12) is checked first, on the schema itself and on lines it must accept
// and lines it must reject.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { readTrace } from '../../src/trace/reader';
import {
  EVENT_KINDS,
  REQUIRED_FIELDS,
  type EventKind,
  type HeaderEvent,
  type RollbackCause,
  type SavepointEvent,
  type StatementKind,
  type TestOutcome,
  type TraceEvent,
} from '../../src/trace/schema';
import { python, pythonTraceEnv, repoRoot, tempDir, type PythonEnvName } from '../support/env';
import { schemaErrors, validate, type JsonSchema, type SchemaError } from '../support/json-schema';

type Json = Record<string, unknown>;

const schema = JSON.parse(readFileSync(join(repoRoot, 'docs', 'trace-format.schema.json'), 'utf8')) as Json;
const branches = schema.oneOf as Json[];
const defs = schema.$defs as Record<string, Json>;

function branchOf(kind: string): Json | undefined {
  return branches.find((b) => (b.properties as Record<string, Json>).k.const === kind);
}

function show(errors: SchemaError[]): string {
  return errors.map((e) => `${e.path || '/'}: ${e.message}`).join('; ');
}

// ---- what schema.ts says, made checkable at run time ---------------------------
// These tables are type-checked against schema.ts (`tsc --noEmit`): a field added to
// or removed from an interface, or one that changes between optional and required,
// stops the build until the table, and then the JSON schema, follow.

type Fields<T> = Record<keyof T, true>;
type RequiredKeys<T> = { [K in keyof T]-?: object extends Pick<T, K> ? never : K }[keyof T];
type RequiredFields<T> = Record<RequiredKeys<T>, true>;
type EventOf<K extends EventKind> = Extract<TraceEvent, { k: K }>;
interface Shape<T> {
  fields: Fields<T>;
  required: RequiredFields<T>;
}

const base = { k: true, t: true, pid: true, th: true, task: true, conn: true, sess: true, at: true } as const;
const baseRequired = { k: true, t: true, pid: true } as const;

const SHAPES: { [K in EventKind]: Shape<EventOf<K>> } & { header: Shape<HeaderEvent> } = {
  header: {
    fields: { k: true, v: true, pid: true, ppid: true, t0: true, wall: true, argv: true, cwd: true, lang: true, runtime: true, agent: true, libs: true, test: true, thread: true },
    required: { k: true, v: true, pid: true, ppid: true, t0: true, wall: true, argv: true, cwd: true, lang: true },
  },
  connect: {
    fields: { ...base, db: true, driver: true, pool: true, engine: true, engineAt: true },
    required: { ...baseRequired, conn: true, db: true, driver: true },
  },
  close: { fields: { ...base }, required: { ...baseRequired, conn: true } },
  checkout: { fields: { ...base, pool: true }, required: { ...baseRequired, conn: true } },
  checkin: { fields: { ...base, pool: true, txOpen: true }, required: { ...baseRequired, conn: true } },
  reset: { fields: { ...base, rolledBack: true }, required: { ...baseRequired, conn: true, rolledBack: true } },
  begin: { fields: { ...base, tx: true, implicit: true, iso: true }, required: { ...baseRequired, conn: true, tx: true } },
  stmt: {
    fields: { ...base, tx: true, sql: true, params: true, op: true, tables: true, rows: true, dur: true, err: true, many: true, pool: true, flushAt: true, alsoAt: true },
    required: { ...baseRequired, conn: true, sql: true },
  },
  commit: { fields: { ...base, tx: true }, required: { ...baseRequired, conn: true } },
  rollback: { fields: { ...base, tx: true, cause: true }, required: { ...baseRequired, conn: true, cause: true } },
  savepoint: {
    fields: { ...base, tx: true, action: true, name: true },
    required: { ...baseRequired, conn: true, action: true, name: true },
  },
  session_open: { fields: { ...base, cls: true }, required: { ...baseRequired, sess: true } },
  session_close: { fields: { ...base, pending: true }, required: { ...baseRequired, sess: true } },
  identity_hit: {
    fields: { ...base, entity: true, table: true, key: true, pk: true },
    required: { ...baseRequired, sess: true, entity: true, key: true },
  },
  test_start: {
    fields: { ...base, id: true, name: true, file: true, line: true },
    required: { ...baseRequired, id: true, name: true, file: true },
  },
  test_end: { fields: { ...base, id: true, outcome: true, message: true }, required: { ...baseRequired, id: true, outcome: true } },
  agent_error: { fields: { ...base, message: true }, required: { ...baseRequired, message: true } },
};

const ROLLBACK_CAUSES: Record<RollbackCause, true> = {
  explicit: true,
  error: true,
  close: true,
  'session-close': true,
  'pool-reset': true,
  exit: true,
  gc: true,
};
const STATEMENT_KINDS: Record<StatementKind, true> = { read: true, write: true, ddl: true, tx: true, other: true };
const TEST_OUTCOMES: Record<TestOutcome, true> = { passed: true, failed: true, skipped: true, error: true };
const SAVEPOINT_ACTIONS: Record<SavepointEvent['action'], true> = { begin: true, release: true, rollback: true };

const sorted = (xs: Iterable<string>) => [...xs].sort();

// ---- the validator itself ------------------------------------------------------

describe('JSON Schema validator (Ajv, draft 2020-12)', () => {
  const ok = (s: JsonSchema, v: unknown) => assert.deepEqual(validate(s, v), [], `${JSON.stringify(v)} should match ${JSON.stringify(s)}`);
  const bad = (s: JsonSchema, v: unknown, pathAndWord: [string, RegExp]) => {
    const errors = validate(s, v);
    assert.ok(errors.length > 0, `${JSON.stringify(v)} should not match ${JSON.stringify(s)}`);
    assert.ok(
      errors.some((e) => e.path === pathAndWord[0] && pathAndWord[1].test(e.message)),
      `expected an error at '${pathAndWord[0]}' matching ${pathAndWord[1]}, got: ${show(errors)}`,
    );
  };

  it('finds the trace schema valid draft 2020-12', () => {
    assert.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
    assert.deepEqual(schemaErrors(schema as JsonSchema), []);
    assert.deepEqual([...new Set(schemaErrors({ type: 'strnig' }).map((e) => e.path))], ['/type']);
  });

  it('checks types, integers apart from other numbers', () => {
    ok({ type: 'integer' }, 3);
    bad({ type: 'integer' }, 3.5, ['', /must be integer, got 3\.5/]);
    ok({ type: 'number' }, 3.5);
    bad({ type: 'string' }, 3, ['', /must be string, got 3/]);
    bad({ type: 'object' }, [], ['', /must be object, got \[\]/]);
    bad({ type: 'array' }, {}, ['', /must be array, got \{\}/]);
    bad({ type: 'object' }, null, ['', /got null/]);
    ok({ type: ['string', 'null'] }, null);
    assert.throws(() => validate({ type: 'strnig' }, 'x'), /schema is invalid/);
  });

  it('checks required fields and the schemas of present properties, ignores undeclared ones', () => {
    const s = { type: 'object', required: ['a'], properties: { a: { type: 'string' }, b: { type: 'integer', minimum: 0 } } };
    ok(s, { a: 'x', b: 0, extra: [1] });
    bad(s, { b: 1 }, ['', /must have required property 'a'/]);
    bad(s, { a: 'x', b: -1 }, ['/b', /must be >= 0, got -1/]);
    bad(s, { a: 1 }, ['/a', /must be string/]);
    const map = { type: 'object', additionalProperties: { type: 'string' } };
    ok(map, { sqlalchemy: '2.0.0' });
    bad(map, { sqlalchemy: 2 }, ['/sqlalchemy', /must be string/]);
  });

  it('checks const, enum and pattern', () => {
    ok({ const: 1 }, 1);
    bad({ const: 1 }, '1', ['', /must be equal to constant 1, got "1"/]);
    ok({ enum: ['a', 'b'] }, 'b');
    bad({ enum: ['a', 'b'] }, 'c', ['', /allowed values \["a","b"\], got "c"/]);
    ok({ const: { x: [1, 2] } }, { x: [1, 2] });
    ok({ const: { a: 1, b: [true] } }, { b: [true], a: 1 });
    bad({ const: { x: [1, 2] } }, { x: [2, 1] }, ['', /must be equal to constant/]);
    ok({ type: 'string', pattern: '^[0-9]+$' }, '123456789012345678901');
    bad({ type: 'string', pattern: '^[0-9]+$' }, '12a', ['', /must match pattern/]);
  });

  it('checks tuples: prefixItems, items after them, minItems', () => {
    const frame = { type: 'array', prefixItems: [{ type: 'string' }, { type: 'integer', minimum: 1 }, { type: 'string' }], minItems: 3, items: false };
    ok(frame, ['/app/a.py', 12, 'f']);
    bad(frame, ['/app/a.py', '12', 'f'], ['/1', /must be integer/]);
    bad(frame, ['/app/a.py', 0, 'f'], ['/1', /must be >= 1/]);
    bad(frame, ['/app/a.py', 12], ['', /must NOT have fewer than 3 items/]);
    bad(frame, ['/app/a.py', 12, 'f', 'g'], ['', /must NOT have more than 3 items/]);
    ok({ type: 'array', items: { type: 'string' } }, ['a', 'b']);
    bad({ type: 'array', items: { type: 'string' } }, ['a', 2], ['/1', /must be string/]);
  });

  it('checks oneOf: exactly one branch, explained by the branch the value was meant for', () => {
    const s = {
      oneOf: [
        { type: 'object', required: ['n'], properties: { k: { const: 'a' }, n: { type: 'integer' } } },
        { type: 'object', required: ['s'], properties: { k: { const: 'b' }, s: { type: 'string' } } },
      ],
    };
    ok(s, { k: 'a', n: 1 });
    ok(s, { k: 'b', s: 'x' });
    bad(s, { k: 'b', s: 1 }, ['/s', /must be string/]);
    assert.deepEqual(
      validate(s, { k: 'b', s: 1 }).map((e) => e.path),
      ['', '/s'],
      'only the oneOf itself and the branch of k=b',
    );
    bad(s, { k: 'c' }, ['', /must match exactly one schema in oneOf, matches none/]);
    bad({ oneOf: [{ type: 'integer' }, { type: 'number' }] }, 1, ['', /matches branches 0 and 1/]);
  });

  it('follows $ref, checks every keyword of the standard, and refuses what it cannot check', () => {
    const s = { $defs: { id: { type: 'string' } }, type: 'object', properties: { conn: { $ref: '#/$defs/id' } } };
    ok(s, { conn: 'c1' });
    bad(s, { conn: 1 }, ['/conn', /must be string/]);
    bad({ type: 'string', maxLength: 3 }, 'abcd', ['', /must NOT have more than 3 characters/]);
    ok({ anyOf: [{ type: 'string' }, { type: 'integer' }] }, 1);
    bad({ anyOf: [{ type: 'string' }, { type: 'integer' }] }, 1.5, ['', /must match a schema in anyOf/]);
    assert.throws(() => validate({ $ref: '#/$defs/missing' }, 1), /can't resolve reference/);
    assert.throws(() => validate({ $ref: 'https://example.org/s.json' }, 1), /can't resolve reference/);
    // Strict mode: a misspelt keyword is an error, not a schema that checks nothing.
    assert.throws(() => validate({ type: 'string', maxLenght: 3 }, 'abcd'), /unknown keyword: "maxLenght"/);
  });

  it('accepts real-looking trace lines and rejects broken ones against the trace schema', () => {
    const stmt = {
      k: 'stmt', conn: 'c1', sql: 'SELECT 1', tx: 't1', params: [1, 'a'], dur: 1200, rows: 1,
      t: 2639829510, pid: 4242, th: 140338371181440, at: ['/home/dev/shop/tests/test_orders.py', 19, 'test_order'],
    };
    ok(schema as JsonSchema, stmt);
    ok(schema as JsonSchema, { ...stmt, someFutureField: { any: 'thing' } });
    const { sql: _sql, ...withoutSql } = stmt;
    bad(schema as JsonSchema, withoutSql, ['', /must have required property 'sql'/]);
    bad(schema as JsonSchema, { ...stmt, t: '2639829510' }, ['/t', /must be integer/]);
    bad(schema as JsonSchema, { ...stmt, at: ['/x.py', '19', 'f'] }, ['/at/1', /must be integer/]);
    bad(schema as JsonSchema, { ...stmt, err: { type: 'IntegrityError' } }, ['/err', /must have required property 'message'/]);
    bad(schema as JsonSchema, { k: 'rollback', conn: 'c1', cause: 'timeout', t: 1, pid: 1 }, ['/cause', /allowed values/]);
    bad(schema as JsonSchema, { k: 'explode', t: 1, pid: 1 }, ['', /matches none/]);
    const header = { k: 'header', v: 1, pid: 7, ppid: 1, t0: '18446744073709551615', wall: 1700000000000, argv: ['python'], cwd: '/srv', lang: 'python' };
    ok(schema as JsonSchema, header);
    bad(schema as JsonSchema, { ...header, t0: 1149459305904 }, ['/t0', /must be string/]);
    bad(schema as JsonSchema, { ...header, v: 2 }, ['/v', /must be equal to constant 1/]);
  });
});

// ---- the JSON schema against schema.ts ------------------------------------------

describe('trace-format.schema.json agrees with src/trace/schema.ts', () => {
  it('has one branch per event kind plus the header, and no other', () => {
    const kinds = branches.map((b) => (b.properties as Record<string, Json>).k.const as string);
    assert.deepEqual(sorted(kinds), sorted(['header', ...EVENT_KINDS]));
    assert.equal(new Set(kinds).size, kinds.length, 'one branch per kind');
  });

  for (const kind of ['header', ...EVENT_KINDS] as Array<EventKind | 'header'>) {
    it(`${kind}: same fields, same required fields; REQUIRED_FIELDS are required`, () => {
      const branch = branchOf(kind);
      assert.ok(branch, `a branch for ${kind}`);
      const required = branch.required as string[];
      assert.deepEqual(sorted(Object.keys(branch.properties as Json)), sorted(Object.keys(SHAPES[kind].fields)), 'declared fields');
      assert.deepEqual(sorted(required), sorted(Object.keys(SHAPES[kind].required)), 'required fields');
      if (kind !== 'header') {
        for (const f of ['k', 't', ...REQUIRED_FIELDS[kind]]) assert.ok(required.includes(f), `${kind} requires ${f}`);
      } else {
        // What the reader itself insists on before it accepts a process file.
        for (const f of ['v', 'pid', 't0']) assert.ok(required.includes(f), `header requires ${f}`);
      }
    });
  }

  it('has the enums of schema.ts', () => {
    const prop = (kind: string, field: string) => (branchOf(kind)!.properties as Record<string, Json>)[field];
    assert.deepEqual(sorted(prop('rollback', 'cause').enum as string[]), sorted(Object.keys(ROLLBACK_CAUSES)));
    assert.deepEqual(sorted(prop('stmt', 'op').enum as string[]), sorted(Object.keys(STATEMENT_KINDS)));
    assert.deepEqual(sorted(prop('test_end', 'outcome').enum as string[]), sorted(Object.keys(TEST_OUTCOMES)));
    assert.deepEqual(sorted(prop('savepoint', 'action').enum as string[]), sorted(Object.keys(SAVEPOINT_ACTIONS)));
    assert.equal(prop('header', 'v').const, 1);
  });
});

// ---- the JSON schema against real traces -----------------------------------------

const PYTEST = ['-m', 'pytest', '-q', '-p', 'no:cacheprovider'];

interface Line {
  file: string;
  lineNo: number;
  value: Json;
}

interface AgentRun {
  label: string;
  code: number | null;
  stdout: string;
  stderr: string;
  traceDir: string;
  lines: Line[];
}

/** The environment minus anything that would trace the child by accident or change what it loads. */
function cleanBase(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PYTHONDONTWRITEBYTECODE: '1' };
  for (const key of Object.keys(env)) if (key.startsWith('TXLENS_') && !key.startsWith('TXLENS_TEST_')) delete env[key];
  delete env.PYTEST_PLUGINS;
  delete env.PYTHONPATH;
  return env;
}

function runFixture(version: PythonEnvName, params: 'off' | 'types' | 'values', args: string[], extra: NodeJS.ProcessEnv = {}): AgentRun {
  const workspace = tempDir('trace-schema-ws');
  cpSync(join(repoRoot, 'test', 'fixtures', 'trace-schema'), workspace, { recursive: true });
  const traceDir = join(tempDir('trace-schema-run'), 'run');
  const env = { ...pythonTraceEnv(traceDir, workspace, { params, base: cleanBase() }), ...extra };
  const r = spawnSync(python(version), [...PYTEST, ...args], { cwd: workspace, env, encoding: 'utf8', timeout: 300_000 });
  if (r.error) throw r.error;
  const lines: Line[] = [];
  for (const file of readdirSync(traceDir).filter((f) => f.endsWith('.ndjson')).sort()) {
    const text = readFileSync(join(traceDir, file), 'utf8');
    assert.ok(text.endsWith('\n'), `${file} ends with a complete line`);
    text
      .slice(0, -1)
      .split('\n')
      .forEach((raw, i) => {
        let value: Json;
        try {
          value = JSON.parse(raw) as Json;
        } catch {
          assert.fail(`${file}:${i + 1} is not JSON: ${raw.slice(0, 200)}`);
        }
        lines.push({ file, lineNo: i + 1, value });
      });
  }
  return { label: `${version}, TXLENS_PARAMS=${params}`, code: r.status, stdout: r.stdout, stderr: r.stderr, traceDir, lines };
}

function agentLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('txlens:'));
}

describe('real traces of the Python agent validate against the schema', () => {
  let runs: AgentRun[];
  let fault: AgentRun;

  before(() => {
    runs = [runFixture('sa20', 'values', []), runFixture('sa14', 'types', [])];
    // A fault inside the agent: the one way to see a real agent_error line.
    fault = runFixture('sa20', 'off', ['-k', 'test_commit_and_identity_hit'], { TXLENS_FAULT_INJECT: 'commit' });
  });

  it('ran the scenario: every test ended as written, the agent said nothing', () => {
    for (const run of runs) {
      assert.match(run.stdout, /1 failed, 9 passed, 1 skipped/, run.label);
      assert.equal(run.code, 1, run.label);
      assert.deepEqual(agentLines(run.stderr), [], run.label);
    }
    assert.match(fault.stdout, /1 passed, 10 deselected/);
    assert.equal(fault.code, 0);
    assert.equal(agentLines(fault.stderr).length, 1, fault.stderr);
  });

  it('every line matches the schema', () => {
    let checked = 0;
    for (const run of [...runs, fault]) {
      for (const line of run.lines) {
        const errors = validate(schema as JsonSchema, line.value);
        assert.deepEqual(errors, [], `${run.label} ${line.file}:${line.lineNo}: ${show(errors)}\n${JSON.stringify(line.value)}`);
        checked++;
      }
    }
    assert.ok(checked > 200, `checked ${checked} lines`);
  });

  it('every field the agent writes is declared in the schema (top level, db, err)', () => {
    const undeclared = new Set<string>();
    const collect = (where: string, value: unknown, declared: Json | undefined) => {
      if (value === null || typeof value !== 'object') return;
      for (const name of Object.keys(value)) if (!declared || !Object.hasOwn(declared, name)) undeclared.add(`${where}.${name}`);
    };
    for (const run of [...runs, fault]) {
      for (const { value } of run.lines) {
        const kind = String(value.k);
        collect(kind, value, branchOf(kind)?.properties as Json | undefined);
        if (kind === 'connect') collect('connect.db', value.db, defs.db.properties as Json);
        if (kind === 'stmt' && value.err) collect('stmt.err', value.err, defs.error.properties as Json);
      }
    }
    assert.deepEqual([...undeclared].sort(), []);
  });

  it('exercised every event kind and every rollback cause with real lines', () => {
    const all = [...runs, fault].flatMap((r) => r.lines.map((l) => l.value));
    assert.deepEqual(sorted(new Set(all.map((v) => String(v.k)))), sorted(['header', ...EVENT_KINDS]));
    const causes = new Set(all.filter((v) => v.k === 'rollback').map((v) => String(v.cause)));
    assert.deepEqual(sorted(causes), sorted(Object.keys(ROLLBACK_CAUSES)));
    const outcomes = new Set(all.filter((v) => v.k === 'test_end').map((v) => String(v.outcome)));
    for (const o of ['passed', 'failed', 'skipped']) assert.ok(outcomes.has(o), `a ${o} test_end`);
    const actions = new Set(all.filter((v) => v.k === 'savepoint').map((v) => String(v.action)));
    assert.deepEqual(sorted(actions), sorted(Object.keys(SAVEPOINT_ACTIONS)));
  });

  it('files are named py-<pid>-<6 hex>.ndjson and start with their only header', () => {
    for (const run of [...runs, fault]) {
      const files = new Set(run.lines.map((l) => l.file));
      assert.ok(files.size >= (run === fault ? 1 : 2), `${run.label}: the pytest process and the child it started`);
      for (const file of files) {
        const lines = run.lines.filter((l) => l.file === file);
        assert.equal(lines[0].value.k, 'header', `${file} starts with its header`);
        assert.equal(lines.filter((l) => l.value.k === 'header').length, 1, `${file} has one header`);
        const m = /^py-(\d+)-[0-9a-f]{6}\.ndjson$/.exec(file);
        assert.ok(m, `${file} is named py-<pid>-<6 hex>.ndjson`);
        assert.equal(Number(m[1]), lines[0].value.pid);
        for (const l of lines.slice(1)) assert.equal(l.value.pid, lines[0].value.pid, `${file}:${l.lineNo} pid`);
      }
    }
  });

  it('the child process started by a test inherits its id in header.test', () => {
    for (const run of runs) {
      const child = run.lines.find((l) => l.value.k === 'header' && l.value.test !== undefined);
      assert.equal(child?.value.test, 'test_kinds.py::test_child_process_left_open', run.label);
    }
  });

  it('params follow TXLENS_PARAMS: values, type names, or no field at all', () => {
    const leaves = (v: unknown): unknown[] => (v !== null && typeof v === 'object' ? Object.values(v).flatMap(leaves) : [v]);
    const paramsOf = (run: AgentRun) => run.lines.filter((l) => l.value.k === 'stmt' && l.value.params !== undefined).map((l) => l.value.params);
    const [values, types] = runs;
    assert.ok(paramsOf(values).flatMap(leaves).some((v) => typeof v === 'number'), 'values mode writes values');
    const typeLeaves = paramsOf(types).flatMap(leaves);
    assert.ok(typeLeaves.length > 0);
    assert.ok(typeLeaves.every((v) => typeof v === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(v)), JSON.stringify(typeLeaves));
    assert.ok(fault.lines.some((l) => l.value.k === 'stmt'), 'statements before the fault');
    assert.deepEqual(paramsOf(fault), [], 'off mode writes no params');
  });

  it("the project's reader accepts every line the agent wrote", () => {
    for (const run of [...runs, fault]) {
      const read = readTrace(run.traceDir);
      assert.equal(read.skipped.total, 0, `${run.label}: ${read.skipped.examples.join(', ')}`);
      const events = read.processes.reduce((n, p) => n + 1 + p.events.length, 0);
      assert.equal(events, run.lines.length, run.label);
    }
  });
});
