// JSON Schema (draft 2020-12) validation for tests, by Ajv: the whole standard,
// not a subset. Ajv runs in strict mode, so a schema that is not valid 2020-12,
// or uses a keyword Ajv does not know, is an error when it is first used instead
// of a schema that silently checks less than it says.
//
// What this adds to Ajv is the explanation of a failure: each error at the JSON
// Pointer of the offending value, and for a oneOf of event kinds (the trace
// schema's top level) the errors of the branch the value was meant for, the one
// that shares its `const` properties (its `k`), instead of every branch's.
import Ajv2020 from 'ajv/dist/2020';
import type { ErrorObject, ValidateFunction } from 'ajv';

export type JsonSchema = boolean | { [keyword: string]: unknown };

export interface SchemaError {
  /** JSON Pointer of the offending value ('' is the root). */
  path: string;
  message: string;
}

// allErrors: a test failure lists every problem of a line, not the first one.
// verbose: errors carry the offending value, which the messages quote.
const ajv = new Ajv2020({ strict: true, allErrors: true, verbose: true });

/** Key under which each schema object was added to `ajv`, so its branches can be looked up by JSON Pointer. */
const keys = new WeakMap<object, string>();
let added = 0;

function compiled(schema: JsonSchema): { check: ValidateFunction; key?: string } {
  if (typeof schema === 'boolean') return { check: ajv.compile(schema) };
  let key = keys.get(schema);
  if (key === undefined) {
    key = `test-schema-${++added}`;
    ajv.addSchema(schema, key); // checks the schema against the 2020-12 meta-schema (throws if it is not valid)
    keys.set(schema, key);
  }
  const check = ajv.getSchema(key);
  if (!check) throw new Error(`schema ${key} did not compile`);
  return { check, key };
}

function quote(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function explain(e: ErrorObject): string {
  switch (e.keyword) {
    case 'const':
      return `${e.message} ${quote(e.params.allowedValue)}, got ${quote(e.data)}`;
    case 'enum':
      return `${e.message} ${quote(e.params.allowedValues)}, got ${quote(e.data)}`;
    case 'oneOf':
      return Array.isArray(e.params.passingSchemas) ? `${e.message}, matches branches ${e.params.passingSchemas.join(' and ')}` : `${e.message}, matches none`;
    case 'required':
    case 'additionalProperties':
    case 'minItems':
    case 'maxItems':
    case 'items':
      return e.message ?? e.keyword;
    default:
      return `${e.message}, got ${quote(e.data)}`;
  }
}

const toSchemaError = (e: ErrorObject): SchemaError => ({ path: e.instancePath, message: explain(e) });

/** How many of `branch`'s `const` properties `value` has (for trace lines: 1 when it is the branch of its `k`). */
function constsMatched(branch: unknown, value: unknown): number {
  if (branch === null || typeof branch !== 'object' || value === null || typeof value !== 'object' || Array.isArray(value)) return 0;
  const props = ((branch as Record<string, unknown>).properties ?? {}) as Record<string, unknown>;
  let matched = 0;
  for (const [name, p] of Object.entries(props)) {
    if (p === null || typeof p !== 'object' || !('const' in p) || !Object.hasOwn(value, name)) continue;
    if (JSON.stringify((value as Record<string, unknown>)[name]) === JSON.stringify((p as { const: unknown }).const)) matched++;
  }
  return matched;
}

/** Every way `value` breaks `schema` (empty when it is valid). Throws when the schema itself is not valid 2020-12. */
export function validate(schema: JsonSchema, value: unknown): SchemaError[] {
  const { check, key } = compiled(schema);
  if (check(value)) return [];
  const errors = check.errors ?? [];
  const branches = typeof schema === 'object' && Array.isArray(schema.oneOf) ? (schema.oneOf as unknown[]) : [];
  const rootOneOf = errors.find((e) => e.keyword === 'oneOf' && e.schemaPath === '#/oneOf' && e.params.passingSchemas === null);
  if (key === undefined || rootOneOf === undefined) return errors.map(toSchemaError);
  // No branch matched: explain with the branch(es) the value was meant for, those that share the
  // most `const` properties with it (a header with the wrong `v` is still meant for the header), checked alone.
  const matched = branches.map((branch) => constsMatched(branch, value));
  const most = Math.max(0, ...matched);
  const meant = most === 0 ? [] : matched.flatMap((n, i) => (n === most ? [i] : []));
  const explained = meant.flatMap((i) => {
    const branch = ajv.getSchema(`${key}#/oneOf/${i}`)!;
    branch(value);
    return branch.errors ?? [];
  });
  // Errors of the schema's other top-level keywords stay; those of the branches (theirs, or of the
  // $defs they refer to) are replaced by the meant branch's own.
  const ofTopLevel = errors.filter((e) => !/^#\/(oneOf|\$defs)(\/|$)/.test(e.schemaPath));
  return [rootOneOf, ...ofTopLevel, ...explained].map(toSchemaError);
}

/** Where `schema` itself breaks the draft 2020-12 meta-schema (empty when it is a valid schema). */
export function schemaErrors(schema: JsonSchema): SchemaError[] {
  if (ajv.validateSchema(schema)) return [];
  return (ajv.errors ?? []).map((e) => ({ path: e.instancePath, message: e.message ?? e.keyword }));
}
