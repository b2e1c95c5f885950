// A small JSON Schema (draft 2020-12) validator for the keywords the project's
// schemas use: type, required, properties, additionalProperties, enum, const,
// items, prefixItems, minItems, oneOf, minimum, pattern and local $ref.
// A keyword outside that list makes it throw instead of silently passing, so a
// schema can never look validated by keywords this code does not check.

export type JsonSchema = boolean | { [keyword: string]: unknown };

export interface SchemaError {
  /** JSON Pointer of the offending value ('' is the root). */
  path: string;
  message: string;
}

export class UnsupportedSchemaError extends Error {}

// Keywords that carry no assertion; `$defs` only holds targets for $ref.
const ANNOTATIONS = new Set(['$schema', '$id', '$comment', '$defs', 'title', 'description', 'default', 'examples']);
const ASSERTIONS = new Set([
  'type',
  'required',
  'properties',
  'additionalProperties',
  'enum',
  'const',
  'items',
  'prefixItems',
  'minItems',
  'oneOf',
  'minimum',
  'pattern',
  '$ref',
]);

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value; // 'object' | 'string' | 'number' | 'boolean'
}

function hasType(value: unknown, type: string): boolean {
  switch (type) {
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'null':
    case 'boolean':
    case 'object':
    case 'array':
    case 'string':
      return jsonType(value) === type;
    default:
      throw new UnsupportedSchemaError(`unknown type '${type}'`);
  }
}

/** Structural equality of JSON values (key order does not matter). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  const ta = jsonType(a);
  if (ta !== jsonType(b)) return false;
  if (ta === 'array') {
    const x = a as unknown[];
    const y = b as unknown[];
    return x.length === y.length && x.every((v, i) => jsonEqual(v, y[i]));
  }
  if (ta === 'object') {
    const x = a as Record<string, unknown>;
    const y = b as Record<string, unknown>;
    const kx = Object.keys(x);
    return kx.length === Object.keys(y).length && kx.every((k) => Object.hasOwn(y, k) && jsonEqual(x[k], y[k]));
  }
  return false;
}

function escapePointer(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

function resolveRef(root: JsonSchema, ref: string): JsonSchema {
  if (!ref.startsWith('#')) throw new UnsupportedSchemaError(`only local $ref is supported: ${ref}`);
  let node: unknown = root;
  const pointer = ref.slice(1);
  if (pointer === '') return root;
  if (!pointer.startsWith('/')) throw new UnsupportedSchemaError(`only JSON Pointer $ref is supported: ${ref}`);
  for (const raw of pointer.slice(1).split('/')) {
    const token = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node as object, token)) {
      throw new UnsupportedSchemaError(`$ref target not found: ${ref}`);
    }
    node = (node as Record<string, unknown>)[token];
  }
  if (typeof node !== 'boolean' && (node === null || typeof node !== 'object' || Array.isArray(node))) {
    throw new UnsupportedSchemaError(`$ref target is not a schema: ${ref}`);
  }
  return node as JsonSchema;
}

function constsMatch(branch: JsonSchema, value: unknown): boolean {
  if (typeof branch === 'boolean' || jsonType(value) !== 'object') return false;
  const props = (branch.properties as Record<string, JsonSchema> | undefined) ?? {};
  const obj = value as Record<string, unknown>;
  return Object.entries(props).every(
    ([name, p]) => typeof p === 'boolean' || p.const === undefined || (Object.hasOwn(obj, name) && jsonEqual(obj[name], p.const)),
  );
}

function check(schema: JsonSchema, value: unknown, path: string, root: JsonSchema, errors: SchemaError[]): void {
  if (schema === true) return;
  if (schema === false) {
    errors.push({ path, message: 'no value is allowed here' });
    return;
  }
  for (const keyword of Object.keys(schema)) {
    if (!ASSERTIONS.has(keyword) && !ANNOTATIONS.has(keyword)) {
      throw new UnsupportedSchemaError(`keyword '${keyword}' is not supported by this validator`);
    }
  }
  const s = schema as Record<string, unknown>;

  if (s.$ref !== undefined) check(resolveRef(root, String(s.$ref)), value, path, root, errors);

  if (s.type !== undefined) {
    const types = Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
    if (!types.some((t) => hasType(value, t))) {
      errors.push({ path, message: `expected ${types.join(' or ')}, got ${jsonType(value)}` });
      return; // the remaining keywords would only repeat the same mistake
    }
  }
  if (s.const !== undefined && !jsonEqual(value, s.const)) {
    errors.push({ path, message: `expected ${JSON.stringify(s.const)}, got ${JSON.stringify(value)}` });
  }
  if (s.enum !== undefined) {
    const options = s.enum as unknown[];
    if (!options.some((o) => jsonEqual(value, o))) {
      errors.push({ path, message: `expected one of ${JSON.stringify(options)}, got ${JSON.stringify(value)}` });
    }
  }
  if (s.minimum !== undefined && typeof value === 'number' && value < (s.minimum as number)) {
    errors.push({ path, message: `${value} is below the minimum ${s.minimum}` });
  }
  if (s.pattern !== undefined && typeof value === 'string' && !new RegExp(s.pattern as string, 'u').test(value)) {
    errors.push({ path, message: `${JSON.stringify(value)} does not match /${s.pattern}/` });
  }

  if (jsonType(value) === 'object') {
    const obj = value as Record<string, unknown>;
    for (const name of (s.required as string[] | undefined) ?? []) {
      if (!Object.hasOwn(obj, name)) errors.push({ path, message: `missing required field '${name}'` });
    }
    const props = (s.properties as Record<string, JsonSchema> | undefined) ?? {};
    for (const [name, v] of Object.entries(obj)) {
      const childPath = `${path}/${escapePointer(name)}`;
      if (Object.hasOwn(props, name)) check(props[name], v, childPath, root, errors);
      else if (s.additionalProperties !== undefined) check(s.additionalProperties as JsonSchema, v, childPath, root, errors);
    }
  }

  if (Array.isArray(value)) {
    const prefix = (s.prefixItems as JsonSchema[] | undefined) ?? [];
    if (s.minItems !== undefined && value.length < (s.minItems as number)) {
      errors.push({ path, message: `expected at least ${s.minItems} items, got ${value.length}` });
    }
    value.forEach((item, i) => {
      const itemSchema = i < prefix.length ? prefix[i] : (s.items as JsonSchema | undefined);
      if (itemSchema !== undefined) check(itemSchema, item, `${path}/${i}`, root, errors);
    });
  }

  if (s.oneOf !== undefined) {
    const branches = s.oneOf as JsonSchema[];
    const results = branches.map((b) => {
      const branchErrors: SchemaError[] = [];
      check(b, value, path, root, branchErrors);
      return branchErrors;
    });
    const matching = results.filter((r) => r.length === 0).length;
    if (matching === 0) {
      // Explain with the branch the value was meant for: one whose `const` properties it matches (for
      // trace lines, the branch of its `k`), the one with the fewest errors among those.
      const meant = results.filter((_, i) => constsMatch(branches[i], value));
      const pool = meant.length > 0 ? meant : results;
      const closest = pool.reduce((best, r) => (r.length < best.length ? r : best));
      errors.push({ path, message: `matches none of the ${branches.length} oneOf branches` }, ...closest);
    } else if (matching > 1) {
      errors.push({ path, message: `matches ${matching} oneOf branches, exactly one is allowed` });
    }
  }
}

/** Every way `value` breaks `schema` (empty when it is valid). Throws UnsupportedSchemaError for keywords it does not implement. */
export function validate(schema: JsonSchema, value: unknown): SchemaError[] {
  const errors: SchemaError[] = [];
  check(schema, value, '', schema, errors);
  return errors;
}
