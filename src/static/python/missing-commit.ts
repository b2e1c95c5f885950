/**
 * missing-commit, static side: a function writes through a session or
 * connection it opened itself and some path leaves the function without a
 * commit, outside a block that commits for it (`with Session.begin()`,
 * `with session.begin()`, `with engine.begin()`, a DB-API `with conn:`).
 *
 * Who must commit: the function that opened the session. One that receives
 * the session (a repository method, a dependency-injected `db`), keeps it on
 * `self` (unit of work), or hands it on (returns, yields or passes it to
 * another call) is not the place, so it gets no finding, except an `info`
 * for FastAPI endpoints whose injected session is never committed anywhere in
 * the endpoint. Exceptions paths are not judged (rolling back there is right),
 * and neither is test code (fixtures often leave the commit out on purpose).
 *
 * What counts as a write: DML, delete, bulk writes, attribute sets on an object
 * the function loaded, and `add`/`merge` of an object that is new (made here) or
 * changed here. `session.add(obj)` of an object that came from elsewhere and is
 * left as it was only attaches it (to lazy-load a relationship of a detached
 * object, say): no write, no finding.
 */
import type { Finding, Severity, TextEdit } from '../../analysis/findings';
import { callParts, field, indentOf, insertAt, isAsyncDef, kids, named, walkTypes, type Node } from './syntax';

const RULE = 'missing-commit';

const WRITE_METHODS = new Set(['add', 'add_all', 'delete', 'merge', 'bulk_save_objects', 'bulk_insert_mappings', 'bulk_update_mappings', 'executemany']);
/** Write methods that write only when the object they get is new or changed (see `addsChanges`). */
const ATTACH_METHODS = new Set(['add', 'merge']);
const LOAD_METHODS = new Set(['get', 'first', 'one', 'one_or_none', 'scalar', 'scalar_one', 'scalar_one_or_none', 'get_one']);
const SESSION_NAME = /^(db|session|sess|s|conn|connection|cur|cursor|tx|db_?session|.*_session|.*_db|.*_conn)$/i;
const DML = /^\s*(insert|update|delete|replace|upsert|merge)\b/i;

type Origin = 'local' | 'param' | 'injected';
type SessionKind = 'sync' | 'async';

// Node kinds each walk below looks at, and the nested bodies it does not enter.
const NESTED_SCOPES = new Set(['function_definition', 'class_definition', 'lambda']);
const NESTED_FUNCTIONS = new Set(['function_definition', 'lambda']);
const BINDING_TYPES = new Set(['assignment', 'with_item']);
const USE_TYPES = new Set(['await', 'call', 'return_statement', 'yield', 'assignment', 'augmented_assignment']);
const EFFECT_TYPES = new Set(['call', 'assignment', 'augmented_assignment']);
const IDENTIFIER = new Set(['identifier']);
const YIELD = new Set(['yield']);
const WITH = new Set(['with_statement']);
const CALL_TYPE = new Set(['call']);

interface Receiver {
  name: string;
  /** Receivers that commit together (a cursor commits through its connection). */
  group: string;
  origin: Origin;
  /** sqlalchemy Connection from engine.connect(): 1.4's legacy autocommit may have committed DML. */
  saConnection?: boolean;
  /** Sync or async, from its declared type or where it came from (see `kindAt` for the rest). */
  kind?: SessionKind;
  /** asyncpg connections have no commit(): their transactions are `conn.transaction()` blocks. */
  noCommitMethod?: boolean;
  /** Text of the commit call's receiver. */
  committer: string;
  /** For an injected session: the dependency's callee as written (`get_db` in `Depends(get_db)`). */
  provider?: string;
}

interface FnFacts {
  fn: Node;
  receivers: Map<string, Receiver>;
  loaded: Map<string, string>;
  escaped: Set<string>;
  everCommits: Set<string>;
  /** Names bound to a newly made object in this function (`order = Order(...)`): adding one is an INSERT. */
  constructed: Set<string>;
  /** Names whose attributes this function sets (`obj.status = ...`, `setattr(obj, ...)`): adding one may be an UPDATE. */
  modified: Set<string>;
}

interface State {
  dirty: Map<string, Node>;
}

interface Flow {
  out?: State;
  exits: Array<{ state: State; at: Node }>;
}

const clone = (s: State): State => ({ dirty: new Map(s.dirty) });

function merge(a: State | undefined, b: State | undefined): State | undefined {
  if (!a) return b && clone(b);
  if (!b) return clone(a);
  const dirty = new Map(a.dirty);
  for (const [g, n] of b.dirty) {
    const cur = dirty.get(g);
    if (!cur || n.startIndex > cur.startIndex) dirty.set(g, n);
  }
  return { dirty };
}

function lastSeg(callee: string | undefined): string {
  return callee ? callee.slice(callee.lastIndexOf('.') + 1) : '';
}

/** The method a call invokes: `first` for `s.query(M).first()`. */
function methodName(call: Node): string {
  const f = field(call, 'function');
  return f?.type === 'attribute' ? (field(f, 'attribute')?.text ?? '') : (f?.text ?? '');
}

/** The identifier a call chain starts from: `s` for `(await s.execute(q)).scalars().first()`. */
function chainRoot(n: Node | undefined): string | undefined {
  for (let cur = n; cur; ) {
    if (cur.type === 'identifier') return cur.text;
    if (cur.type === 'call') cur = field(cur, 'function');
    else if (cur.type === 'attribute') cur = field(cur, 'object');
    else if (cur.type === 'await' || cur.type === 'parenthesized_expression') cur = named(cur)[0];
    else return undefined;
  }
  return undefined;
}

function isSessionFactoryCall(callee: string | undefined): boolean {
  const last = lastSeg(callee);
  return /session/i.test(last) || /^(Session|SessionLocal|AsyncSessionLocal|sessionmaker)$/.test(last) || last === 'get_db';
}

function dbapiConnect(callee: string | undefined): boolean {
  return !!callee && /^(sqlite3|psycopg2|psycopg|pymysql|MySQLdb|mysql\.connector|aiosqlite|asyncpg)\.connect$/.test(callee);
}

/**
 * Sync or async from a type annotation: `AsyncSession`, `AsyncConnection` → async;
 * `Session`, `Connection`, `scoped_session` → sync; a union of both, or nothing → unknown.
 */
function declaredKind(type: string): SessionKind | undefined {
  const isAsync = /\bAsync(Session|Connection|Engine)\b|\basync_scoped_session\b/.test(type);
  const isSync = /(?<![\w.]Async)\b(Session|Connection|scoped_session|Cursor)\b/.test(type.replace(/\bAsync(Session|Connection)\b/g, ''));
  return isAsync === isSync ? undefined : isAsync ? 'async' : 'sync';
}

function dbapiKind(callee: string): SessionKind {
  return callee.startsWith('aiosqlite.') || callee.startsWith('asyncpg.') ? 'async' : 'sync';
}

/**
 * What a session factory call makes: `AsyncSession(...)` or `Session(...)` by class, a
 * factory defined in this module by its definition (`async_sessionmaker(...)`,
 * `sessionmaker(..., class_=AsyncSession)`, `sessionmaker(...)`), else unknown. A name that
 * merely contains "async" is taken at its word only as `AsyncSession...` / `async_session...`.
 */
function factoryKind(callee: string | undefined, factories: Map<string, SessionKind>): SessionKind | undefined {
  if (!callee) return undefined;
  const last = lastSeg(callee);
  const known = factories.get(callee) ?? (callee.includes('.') ? undefined : factories.get(last));
  if (known) return known;
  if (last === 'AsyncSession' || /^(Async[A-Z]\w*Session|AsyncSession\w*|async_session\w*)$/.test(last)) return 'async';
  if (last === 'Session') return 'sync';
  return undefined;
}

/** Module-level session factories and what they make: `SessionLocal = sessionmaker(...)` → sync. */
export function sessionFactories(root: Node): Map<string, SessionKind> {
  const out = new Map<string, SessionKind>();
  for (const stmt of named(root)) {
    const a = stmt.type === 'expression_statement' ? named(stmt)[0] : undefined;
    if (a?.type !== 'assignment') continue;
    const left = field(a, 'left');
    const right = field(a, 'right');
    if (left?.type !== 'identifier' || right?.type !== 'call') continue;
    const made = factoryDefinitionKind(right);
    if (made) out.set(left.text, made);
  }
  return out;
}

function factoryDefinitionKind(call: Node): SessionKind | undefined {
  const parts = callParts(call);
  const last = lastSeg(parts.callee);
  if (last === 'async_sessionmaker' || last === 'async_scoped_session') return 'async';
  if (last === 'scoped_session') {
    const inner = parts.positional[0] ?? parts.keywords.get('session_factory');
    return inner?.type === 'call' ? factoryDefinitionKind(inner) : 'sync';
  }
  if (last === 'sessionmaker') {
    const cls = parts.keywords.get('class_')?.text;
    return cls ? (/Async/.test(cls) ? 'async' : declaredKind(cls)) : 'sync';
  }
  return undefined;
}

/** Methods that are coroutines on AsyncSession / AsyncConnection: awaited means async, called bare means sync. */
const COROUTINE_METHODS = new Set([
  'execute', 'scalar', 'scalars', 'get', 'get_one', 'flush', 'commit', 'rollback', 'close', 'refresh', 'delete', 'merge',
  'stream', 'stream_scalars', 'run_sync', 'invalidate', 'connection',
]);
/** Methods only a sync Session has. */
const SYNC_ONLY_METHODS = new Set(['query', 'bulk_save_objects', 'bulk_insert_mappings', 'bulk_update_mappings']);

/** How the code in `scope` (not in nested functions) calls `name`'s methods: awaited, bare, both or neither. */
function usedAs(scope: Node, name: string): { async: boolean; sync: boolean } {
  const seen = { async: false, sync: false };
  for (const c of walkTypes(scope, CALL_TYPE, NESTED_FUNCTIONS)) {
    const f = field(c, 'function');
    if (f?.type !== 'attribute' || field(f, 'object')?.text !== name) continue;
    const method = field(f, 'attribute')?.text ?? '';
    if (SYNC_ONLY_METHODS.has(method)) seen.sync = true;
    else if (COROUTINE_METHODS.has(method)) {
      if (c.parent?.type === 'await') seen.async = true;
      else seen.sync = true;
    }
  }
  return seen;
}

/** The type an `isinstance(name, T)` condition tests for, when the condition is exactly that. */
function isinstanceOf(cond: Node | undefined, name: string): string | undefined {
  const m = cond ? /^isinstance\(\s*([A-Za-z_]\w*)\s*,\s*([\w.]+)\s*\)$/.exec(cond.text) : null;
  return m && m[1] === name ? m[2] : undefined;
}

/**
 * Whether the commit of `r` placed after `at` must be awaited, from the code around that
 * point, nearest first: an `isinstance(session, AsyncSession)` branch; the `with` /
 * `async with` that opened it (an AsyncSession cannot be opened by a plain `with`); its
 * declared type or factory; how the branch itself calls it (`await session.get(...)` vs
 * `session.get(...)`). A plain `def` cannot await, so there it is sync. Otherwise unknown,
 * and no fix is offered: an `async def` alone says nothing about the session it uses.
 */
function kindAt(r: Receiver, at: Node, fn: Node): SessionKind | undefined {
  const name = r.committer;
  let prev: Node = at;
  for (let p = at.parent; p && p.id !== fn.id; prev = p, p = p.parent) {
    if (p.type === 'if_statement' || p.type === 'elif_clause') {
      const tested = isinstanceOf(field(p, 'condition'), name);
      if (tested && /Async/.test(tested)) return field(p, 'consequence')?.id === prev.id ? 'async' : p.type === 'if_statement' ? 'sync' : undefined;
      if (tested && declaredKind(tested) === 'sync') return field(p, 'consequence')?.id === prev.id ? 'sync' : undefined;
    }
    if (p.type === 'else_clause' && p.parent?.type === 'if_statement') {
      const tested = isinstanceOf(field(p.parent, 'condition'), name);
      if (tested && /Async/.test(tested)) return 'sync';
    }
    if (p.type === 'with_statement' && field(p, 'body')?.id === prev.id && opens(p, name)) return kids(p).some((c) => c.type === 'async') ? 'async' : 'sync';
  }
  if (r.kind) return r.kind;
  for (let p = at.parent; p; p = p.parent) {
    if (p.type === 'block') {
      const use = usedAs(p, name);
      if (use.async !== use.sync) return use.async ? 'async' : 'sync';
      if (use.async && use.sync) break;
    }
    if (p.id === fn.id) break;
  }
  return isAsyncDef(fn) ? undefined : 'sync';
}

/** Whether a `with` statement binds `name` (`with factory() as name`). */
function opens(withStmt: Node, name: string): boolean {
  const clause = named(withStmt).find((c) => c.type === 'with_clause');
  return (clause ? named(clause) : []).some((item) => {
    const v = field(item, 'value');
    return v?.type === 'as_pattern' && named(field(v, 'alias') ?? v).some((x) => x.type === 'identifier' && x.text === name);
  });
}

/** Parses the function's parameters and local assignments into receivers. */
function collect(fn: Node, factories: Map<string, SessionKind>): FnFacts {
  const receivers = new Map<string, Receiver>();
  const loaded = new Map<string, string>();
  const escaped = new Set<string>();
  const everCommits = new Set<string>();
  const constructed = new Set<string>();
  const modified = new Set<string>();
  const params = field(fn, 'parameters');
  for (const p of params ? named(params) : []) {
    const nameNode = p.type === 'identifier' ? p : (field(p, 'name') ?? named(p).find((c) => c.type === 'identifier'));
    if (!nameNode) continue;
    const name = nameNode.text;
    const type = field(p, 'type')?.text ?? '';
    const dflt = field(p, 'value')?.text ?? '';
    if (!SESSION_NAME.test(name) && !/Session|Connection|Cursor/.test(type)) continue;
    const injected = /\bDepends\s*\(/.test(dflt) || /\bDepends\s*\(/.test(type);
    const provider = /\bDepends\s*\(\s*([A-Za-z_][\w.]*)\s*\)/.exec(`${dflt} ${type}`)?.[1];
    receivers.set(name, { name, group: name, origin: injected ? 'injected' : 'param', committer: name, kind: declaredKind(type), provider });
  }
  for (const n of walkTypes(field(fn, 'body')!, BINDING_TYPES, NESTED_SCOPES)) {
    if (n.type === 'assignment') {
      const left = field(n, 'left');
      const right = field(n, 'right');
      if (left?.type !== 'identifier' || !right) continue;
      // `session: AsyncSession = factory()`: the annotation says what it is.
      const annotated = declaredKind(field(n, 'type')?.text ?? '');
      const value = right.type === 'await' ? named(right)[0] : right;
      if (value?.type !== 'call') continue;
      const callee = callParts(value).callee;
      const recvName = chainRoot(value);
      const src = recvName ? receivers.get(recvName) : undefined;
      if (!src && makesNewObject(callee)) constructed.add(left.text);
      if (src && callee === `${recvName}.cursor`) {
        receivers.set(left.text, { name: left.text, group: src.group, origin: src.origin, committer: src.committer, kind: src.kind, noCommitMethod: src.noCommitMethod });
      } else if (src) {
        // obj = session.get(...) / session.query(M).filter(...).first() / (await s.execute(q)).scalar_one()
        if (LOAD_METHODS.has(methodName(value))) loaded.set(left.text, src.group);
      } else if (dbapiConnect(callee)) {
        receivers.set(left.text, { name: left.text, group: left.text, origin: 'local', committer: left.text, kind: dbapiKind(callee!), noCommitMethod: callee!.startsWith('asyncpg.') });
      } else if (callee?.endsWith('.connect') && /engine/i.test(callee)) {
        receivers.set(left.text, { name: left.text, group: left.text, origin: 'local', committer: left.text, saConnection: true, kind: annotated ?? (right.type === 'await' ? 'async' : undefined) });
      } else if (isSessionFactoryCall(callee)) {
        receivers.set(left.text, { name: left.text, group: left.text, origin: 'local', committer: left.text, kind: annotated ?? factoryKind(callee, factories) });
      }
    } else if (n.type === 'with_item') {
      const v = field(n, 'value');
      if (v?.type !== 'as_pattern') continue;
      const inner = named(v)[0];
      const target = named(field(v, 'alias') ?? v).find((x) => x.type === 'identifier');
      if (inner?.type !== 'call' || !target) continue;
      const callee = callParts(inner).callee;
      if (callee?.endsWith('.begin')) continue; // committed context, see `commitContexts`
      if (dbapiConnect(callee)) continue; // DB-API `with connect() as c` commits on exit
      if (callee?.endsWith('.connect') && /engine/i.test(callee)) {
        receivers.set(target.text, { name: target.text, group: target.text, origin: 'local', committer: target.text, saConnection: true });
      } else if (isSessionFactoryCall(callee)) {
        receivers.set(target.text, { name: target.text, group: target.text, origin: 'local', committer: target.text });
      }
    }
  }
  for (const n of walkTypes(field(fn, 'body')!, USE_TYPES, NESTED_FUNCTIONS)) {
    if (n.type === 'call') {
      const parts = callParts(n);
      const segs = parts.callee?.split('.') ?? [];
      const r = receivers.get(segs[0]);
      if (r && segs.length === 2 && segs[1] === 'commit') everCommits.add(r.group);
      // A session handed to another call: that callee may commit for it.
      const own = segs.length === 2 && receivers.has(segs[0]);
      if (!own && !['print', 'len', 'isinstance', 'repr', 'str', 'id', 'type'].includes(parts.callee ?? '')) {
        for (const a of [...parts.positional, ...parts.keywords.values()]) if (a.type === 'identifier' && receivers.has(a.text)) escaped.add(receivers.get(a.text)!.group);
      }
    }
    if (n.type === 'return_statement' || n.type === 'yield') {
      for (const x of walkTypes(n, IDENTIFIER)) if (receivers.has(x.text) && x.parent?.type !== 'attribute') escaped.add(receivers.get(x.text)!.group);
    }
    if ((n.type === 'assignment' || n.type === 'augmented_assignment') && field(n, 'left')?.type === 'attribute') {
      const r = field(n, 'right');
      if (n.type === 'assignment' && r?.type === 'identifier' && receivers.has(r.text)) escaped.add(receivers.get(r.text)!.group);
      const target = field(field(n, 'left')!, 'object');
      if (target?.type === 'identifier') modified.add(target.text);
    }
    if (n.type === 'call' && callParts(n).callee === 'setattr') {
      const target = callParts(n).positional[0];
      if (target?.type === 'identifier') modified.add(target.text);
    }
  }
  return { fn, receivers, loaded, escaped, everCommits, constructed, modified };
}

/**
 * Whether a callee makes a new object: a class (`Order(...)`, `models.Order(...)`, `cls(...)`)
 * or a factory by its name (`make_order`, `build_order`, `new_order`, `create_order`).
 */
function makesNewObject(callee: string | undefined): boolean {
  const last = lastSeg(callee);
  return /^[A-Z]/.test(last) || last === 'cls' || /^(make|build|new|create)_/.test(last) || /^(model_validate|from_orm|parse_obj)$/.test(last);
}

/**
 * `add`/`merge` write only what the object carries: a new object (INSERT) or changed
 * attributes (UPDATE). Adding an object loaded elsewhere and left as it was only
 * attaches it to the session (e.g. to lazy-load a relationship of a detached
 * object): nothing is written and nothing needs a commit. Without evidence either
 * way (an object from a parameter, an attribute) the call is not counted as a write.
 */
function addsChanges(arg: Node | undefined, facts: FnFacts): boolean {
  if (!arg) return false;
  if (arg.type === 'call') {
    const root = chainRoot(arg);
    return !(root && facts.receivers.has(root)) && makesNewObject(callParts(arg).callee);
  }
  if (arg.type === 'identifier') return facts.constructed.has(arg.text) || facts.modified.has(arg.text);
  return false;
}

function isDmlArgument(arg: Node | undefined): boolean {
  if (!arg) return false;
  if (arg.type === 'string') return DML.test(arg.text.replace(/^[rbuRBUfF]*("""|'''|"|')/, ''));
  if (arg.type === 'call') {
    const parts = callParts(arg);
    const last = lastSeg(parts.callee);
    if (last === 'text') return isDmlArgument(parts.positional[0]);
    if (['insert', 'update', 'delete'].includes(last)) return true;
    // insert(T).values(...).returning(...): follow the chain down to its root call.
    const fnNode = field(arg, 'function');
    if (fnNode?.type === 'attribute') return isDmlArgument(field(fnNode, 'object'));
  }
  return false;
}

/** Receiver group written or committed by a call, if any. */
function classifyCall(call: Node, facts: FnFacts): { write?: string; commit?: string } {
  const parts = callParts(call);
  const segs = parts.callee?.split('.') ?? [];
  if (segs.length === 2) {
    const r = facts.receivers.get(segs[0]);
    if (!r) return {};
    if (segs[1] === 'commit' || segs[1] === 'rollback') return { commit: r.group };
    if (ATTACH_METHODS.has(segs[1])) return addsChanges(parts.positional[0], facts) ? { write: r.group } : {};
    if (WRITE_METHODS.has(segs[1])) return { write: r.group };
    if (segs[1] === 'execute' && isDmlArgument(parts.positional[0])) return { write: r.group };
    return {};
  }
  // session.query(Model).filter(...).update({...}) / .delete()
  const last = methodName(call);
  if ((last === 'update' || last === 'delete') && /^\w+\.query\(/.test(call.text)) {
    const r = facts.receivers.get(chainRoot(call) ?? '');
    if (r) return { write: r.group };
  }
  return {};
}

/** Groups a `with` statement commits for: `with X.begin()`, `with session.begin()`, DB-API `with conn:`. */
function committedGroups(withStmt: Node, facts: FnFacts): { groups: Set<string>; all: boolean } {
  const groups = new Set<string>();
  let all = false;
  const clause = named(withStmt).find((c) => c.type === 'with_clause');
  for (const item of clause ? named(clause).filter((c) => c.type === 'with_item') : []) {
    const v = field(item, 'value');
    const inner = v?.type === 'as_pattern' ? named(v)[0] : v;
    if (inner?.type === 'call') {
      const callee = callParts(inner).callee ?? '';
      if (callee.endsWith('.begin')) {
        const r = facts.receivers.get(callee.split('.')[0]);
        if (r && callee.split('.').length === 2) groups.add(r.group);
        else all = true; // Session.begin() / engine.begin() as x: x is born committed
      }
    } else if (inner?.type === 'identifier') {
      // DB-API connections commit on leaving `with conn:`; a SQLAlchemy Session only closes.
      const r = facts.receivers.get(inner.text);
      if (r && !r.saConnection && r.origin === 'local' && /conn/i.test(r.name)) groups.add(r.group);
    }
  }
  return { groups, all };
}

class Interpreter {
  constructor(private readonly facts: FnFacts) {}

  block(block: Node, state: State, covered: Set<string>, coverAll: boolean): Flow {
    const exits: Flow['exits'] = [];
    let cur: State | undefined = state;
    for (const st of named(block)) {
      if (!cur) break;
      const f = this.statement(st, cur, covered, coverAll);
      exits.push(...f.exits);
      cur = f.out;
    }
    return { out: cur, exits };
  }

  private effects(node: Node, state: State, covered: Set<string>, coverAll: boolean): void {
    const events: Array<{ at: number; write?: string; commit?: string; node: Node }> = [];
    for (const n of walkTypes(node, EFFECT_TYPES, NESTED_SCOPES)) {
      if (n.type === 'call') {
        const c = classifyCall(n, this.facts);
        if (c.write || c.commit) events.push({ at: n.endIndex, ...c, node: n });
      } else if (n.type === 'assignment' || n.type === 'augmented_assignment') {
        const left = field(n, 'left');
        const obj = left?.type === 'attribute' ? field(left, 'object') : undefined;
        if (obj?.type === 'identifier' && this.facts.loaded.has(obj.text)) events.push({ at: n.endIndex, write: this.facts.loaded.get(obj.text), node: n });
      }
    }
    events.sort((a, b) => a.at - b.at);
    for (const e of events) {
      if (e.commit) state.dirty.delete(e.commit);
      else if (e.write && !coverAll && !covered.has(e.write)) state.dirty.set(e.write, e.node);
    }
  }

  statement(st: Node, state: State, covered: Set<string>, coverAll: boolean): Flow {
    const body = (n: Node | undefined, s: State, cov = covered, all = coverAll): Flow => (n ? this.block(n, s, cov, all) : { out: s, exits: [] });
    switch (st.type) {
      case 'function_definition':
      case 'class_definition':
      case 'decorated_definition':
        return { out: state, exits: [] };
      case 'return_statement': {
        const s = clone(state);
        this.effects(st, s, covered, coverAll);
        return { exits: [{ state: s, at: st }] };
      }
      case 'raise_statement':
        return { exits: [] };
      case 'if_statement': {
        const s = clone(state);
        const cond = field(st, 'condition');
        if (cond) this.effects(cond, s, covered, coverAll);
        const flows = [body(field(st, 'consequence'), clone(s))];
        let hasElse = false;
        for (const alt of st.childrenForFieldName('alternative')) {
          if (!alt) continue;
          if (alt.type === 'else_clause') hasElse = true;
          flows.push(body(field(alt, 'consequence') ?? field(alt, 'body'), clone(s)));
        }
        let out = hasElse ? undefined : s;
        for (const f of flows) out = merge(out, f.out);
        return { out, exits: flows.flatMap((f) => f.exits) };
      }
      case 'for_statement':
      case 'while_statement': {
        const s = clone(state);
        const head = field(st, st.type === 'for_statement' ? 'right' : 'condition');
        if (head) this.effects(head, s, covered, coverAll);
        const once = body(field(st, 'body'), clone(s));
        const twice = once.out ? body(field(st, 'body'), clone(once.out)) : { exits: [] };
        let out = merge(merge(s, once.out), twice.out);
        const alt = field(st, 'alternative');
        const exits = [...once.exits, ...twice.exits];
        if (alt && out) {
          const f = body(field(alt, 'body'), out);
          exits.push(...f.exits);
          out = f.out;
        }
        return { out, exits };
      }
      case 'try_statement': {
        const main = body(field(st, 'body'), clone(state));
        const exits = [...main.exits];
        let out: State | undefined;
        const handlerStart = merge(state, main.out);
        let finallyNode: Node | undefined;
        let elseFlow: Flow | undefined;
        for (const c of named(st)) {
          if (c.type === 'except_clause' || c.type === 'except_group_clause') {
            const blk = named(c).find((x) => x.type === 'block');
            const f = body(blk, clone(handlerStart!));
            exits.push(...f.exits);
            out = merge(out, f.out);
          } else if (c.type === 'else_clause') {
            elseFlow = main.out ? body(field(c, 'body'), clone(main.out)) : undefined;
          } else if (c.type === 'finally_clause') finallyNode = named(c).find((x) => x.type === 'block');
        }
        if (elseFlow) {
          exits.push(...elseFlow.exits);
          out = merge(out, elseFlow.out);
        } else out = merge(out, main.out);
        if (finallyNode) {
          // A commit in finally commits on every path, returns included.
          for (const e of exits) e.state = body(finallyNode, e.state).out ?? e.state;
          if (out) out = body(finallyNode, out).out;
        }
        return { out, exits };
      }
      case 'with_statement': {
        const s = clone(state);
        const clause = named(st).find((c) => c.type === 'with_clause');
        if (clause) this.effects(clause, s, covered, coverAll);
        const c = committedGroups(st, this.facts);
        const cov = new Set([...covered, ...c.groups]);
        const f = body(field(st, 'body'), s, cov, coverAll || c.all);
        // Leaving a committing block commits its groups.
        if (f.out) for (const g of c.groups) f.out.dirty.delete(g);
        return f;
      }
      case 'match_statement': {
        const blk = field(st, 'body');
        let out: State | undefined = clone(state);
        const exits: Flow['exits'] = [];
        for (const cs of blk ? named(blk).filter((c) => c.type === 'case_clause') : []) {
          const f = body(named(cs).find((x) => x.type === 'block'), clone(state));
          exits.push(...f.exits);
          out = merge(out, f.out);
        }
        return { out, exits };
      }
      default: {
        const s = clone(state);
        this.effects(st, s, covered, coverAll);
        return { out: s, exits: [] };
      }
    }
  }
}

/** The block of an `if` branch or of a `try` body that holds `n`, when `st` is such a statement. */
function branchHolding(st: Node, n: Node): Node | undefined {
  const blocks: Array<Node | undefined> = [];
  if (st.type === 'if_statement') {
    blocks.push(field(st, 'consequence'));
    for (const alt of st.childrenForFieldName('alternative')) if (alt) blocks.push(field(alt, 'consequence') ?? field(alt, 'body'));
  } else if (st.type === 'try_statement') blocks.push(field(st, 'body'));
  return blocks.find((b): b is Node => !!b && b.startIndex <= n.startIndex && n.endIndex <= b.endIndex);
}

/** The statement that holds `n` as a direct child of `block`. */
function childOf(block: Node, n: Node): Node | undefined {
  for (let cur: Node | null = n; cur; cur = cur.parent) if (cur.parent?.id === block.id) return cur;
  return undefined;
}

function blocksAbove(n: Node, stop: Node): Node[] {
  const out: Node[] = [];
  for (let p = n.parent; p && p.id !== stop.id; p = p.parent) if (p.type === 'block') out.push(p);
  return out;
}

/**
 * A function can only be reported when its text calls a write or load method
 * (the writes `classifyCall` and `effects` see): the rest are skipped before
 * any walk over their bodies.
 */
const MAY_WRITE = /\.\s*(add|add_all|delete|merge|bulk_save_objects|bulk_insert_mappings|bulk_update_mappings|executemany|execute|update|get|first|one|one_or_none|scalar|scalar_one|scalar_one_or_none|get_one)\b/;

/** `session.flush()` or `await session.flush()` as a statement of its own, on `receiver`. */
function isFlushOf(statement: Node, receiver: string): boolean {
  if (statement.type !== 'expression_statement') return false;
  const m = /^(?:await\s+)?([\w.]+)\s*\.\s*flush\s*\(\s*\)$/.exec(statement.text.trim());
  return m !== null && m[1] === receiver;
}

/**
 * Only a session the function opens (a factory or connect call) or has
 * injected (Depends) can be reported: one of these words is in its text.
 */
const MAY_OWN = /session|connect|get_db|Depends/i;

/**
 * `injected`, when given, receives the findings about injected sessions whose
 * dependency is named: they hold only if that dependency does not commit, which
 * the caller decides (the provider may live in another module).
 */
export function missingCommit(root: Node, file: string, text: string, isTest: boolean, injected?: Array<{ finding: Finding; provider: string }>): Finding[] {
  if (isTest) return [];
  const findings: Finding[] = [];
  if (!MAY_WRITE.test(text)) return findings;
  let lines: string[] | undefined;
  let factories: Map<string, SessionKind> | undefined;
  for (const fn of root.descendantsOfType('function_definition')) {
    if (!fn) continue;
    const fnText = text.slice(fn.startIndex, fn.endIndex);
    if (!MAY_WRITE.test(fnText) || !MAY_OWN.test(fnText)) continue;
    const bodyNode = field(fn, 'body');
    if (!bodyNode) continue;
    const facts = collect(fn, (factories ??= sessionFactories(root)));
    if (facts.receivers.size === 0) continue;
    const flow = new Interpreter(facts).block(bodyNode, { dirty: new Map() }, new Set(), false);
    const exits = [...flow.exits];
    if (flow.out) exits.push({ state: flow.out, at: bodyNode });
    const byGroup = new Map<string, Array<{ write: Node; at: Node }>>();
    for (const e of exits) for (const [g, w] of e.state.dirty) (byGroup.get(g) ?? byGroup.set(g, []).get(g)!).push({ write: w, at: e.at });
    for (const [group, misses] of byGroup) {
      const r = [...facts.receivers.values()].find((x) => x.group === group && x.committer === group) ?? [...facts.receivers.values()].find((x) => x.group === group)!;
      if (facts.escaped.has(group) || r.origin === 'param') continue;
      if (r.origin === 'injected' && facts.everCommits.has(group)) continue;
      // From the source alone at most a warning: the run confirms it (its missing-commit names the lost writes).
      const severity: Severity = r.origin === 'injected' ? 'info' : 'warning';
      const last = misses.reduce((a, b) => (b.write.startIndex > a.write.startIndex ? b : a));
      const fnName = field(fn, 'name')?.text ?? 'function';
      const edits: TextEdit[] = [];
      const commits = new Set<string>();
      // One insertion we cannot place or whose sync/async kind the code does not tell: no fix at all (half a fix misleads).
      let unsure = r.noCommitMethod === true;
      const seen = new Set<string>();
      for (const m of misses) {
        // Insert in the innermost block that holds both the write and the way out, after the statement holding the write.
        const exitBlocks = m.at.id === bodyNode.id ? [bodyNode] : blocksAbove(m.at, fn);
        const writeBlockList = blocksAbove(m.write, fn);
        const writeBlocks = new Set(writeBlockList.map((b) => b.id));
        let common = exitBlocks.find((b) => writeBlocks.has(b.id)) ?? bodyNode;
        // Inside the `with` that opened the session: a commit after it would find the session closed.
        const withBody = writeBlockList.find((b) => b.parent?.type === 'with_statement' && opens(b.parent, r.committer));
        const withIdx = withBody ? writeBlockList.indexOf(withBody) : -1;
        if (withIdx >= 0 && writeBlockList.findIndex((b) => b.id === common.id) > withIdx) common = withBody!;
        let anchor = childOf(common, m.write);
        // Into the branch or try body that holds the write: after an `if` the commit would
        // serve every branch (whose sessions may differ), after a `try ... finally: close()`
        // it would come after the close. (Loops are not entered: one commit after the loop.)
        for (let inner = anchor && branchHolding(anchor, m.write); inner; inner = anchor && branchHolding(anchor, m.write)) {
          common = inner;
          anchor = childOf(inner, m.write);
        }
        // `if ok: session.add(x)`: a new line would fall outside the one-line block.
        if (!anchor || (common.parent && common.startPosition.row === common.parent.startPosition.row)) {
          unsure = true;
          continue;
        }
        // A flush right after the write stays before the commit: flush, then commit reads as meant.
        for (let next = anchor.nextNamedSibling; next && isFlushOf(next, r.committer); next = next.nextNamedSibling) anchor = next;
        const key = `${anchor.endIndex}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const kind = kindAt(r, anchor, fn);
        if (!kind) {
          unsure = true;
          continue;
        }
        const commit = `${kind === 'async' ? 'await ' : ''}${r.committer}.commit()`;
        commits.add(commit);
        edits.push(insertAt(file, anchor.endPosition, `\n${indentOf(anchor, (lines ??= text.split('\n')))}${commit}`));
      }
      const exitLines = [...new Set(misses.map((m) => (m.at.id === bodyNode.id ? fn.endPosition.row + 1 : m.at.startPosition.row + 1)))];
      const who = r.origin === 'injected' ? `the injected session ${r.name}` : `${r.name}, opened in ${fnName}(),`;
      const message =
        r.origin === 'injected'
          ? `${fnName}() writes through ${who} and never commits: the writes persist only if the dependency that provides ${r.name} commits after the request.`
          : `${fnName}() writes through ${who} and can return without committing: the writes are rolled back when ${r.name} is closed or returned to the pool.` +
            (r.saConnection ? ' (Under SQLAlchemy 1.4 legacy autocommit a plain INSERT/UPDATE/DELETE may have committed by itself.)' : '');
      const finding: Finding = {
        rule: RULE,
        severity,
        message,
        location: { file, line: last.write.startPosition.row + 1, column: last.write.startPosition.column + 1 },
        related: exitLines.map((line) => ({ file, line, message: `leaves ${fnName}() here without ${r.committer}.commit()` })),
        fixes: edits.length && !unsure ? [{ title: `Commit after the last write: ${[...commits].join(' / ')}`, edits, preferred: true }] : [],
      };
      if (injected && r.origin === 'injected' && r.provider) injected.push({ finding, provider: r.provider });
      else findings.push(finding);
    }
  }
  return findings;
}

/**
 * Module-level functions that hand out a session and commit it themselves:
 * the yield sits inside `with ....begin()`, or a commit follows the yield.
 * An endpoint whose injected session comes from one of them needs no commit.
 */
export function committingProviders(root: Node, text: string): string[] {
  const out: string[] = [];
  if (!/\byield\b/.test(text)) return out;
  for (const stmt of root.namedChildren) {
    const fn = stmt?.type === 'decorated_definition' ? field(stmt, 'definition') : stmt;
    if (fn?.type !== 'function_definition') continue;
    const body = field(fn, 'body');
    const name = field(fn, 'name')?.text;
    if (!body || !name || !/\byield\b/.test(text.slice(fn.startIndex, fn.endIndex))) continue;
    const yields = [...walkTypes(body, YIELD, NESTED_SCOPES)];
    if (yields.length === 0) continue;
    let commits = false;
    for (const w of walkTypes(body, WITH, NESTED_SCOPES)) {
      const clause = named(w).find((c) => c.type === 'with_clause');
      const begins = (clause ? named(clause) : []).some((item) => {
        const v = field(item, 'value');
        const call = v?.type === 'as_pattern' ? named(v)[0] : v;
        return call?.type === 'call' && (callParts(call).callee ?? '').endsWith('.begin');
      });
      if (begins && yields.some((y) => y.startIndex >= w.startIndex && y.endIndex <= w.endIndex)) commits = true;
    }
    if (!commits) {
      const firstYield = yields[0].startIndex;
      for (const c of walkTypes(body, CALL_TYPE, NESTED_SCOPES)) if (c.startIndex > firstYield && (callParts(c).callee ?? '').endsWith('.commit')) commits = true;
    }
    if (commits) out.push(name);
  }
  return out;
}
