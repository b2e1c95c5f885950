/**
 * missing-commit (static): a function opens a transaction on a connection it
 * controls, writes through it, and some path leaves the function without
 * COMMIT. Recognised transaction handles:
 *   - node-postgres and friends: `client.query('BEGIN')` … `client.query('COMMIT')`
 *   - TypeORM QueryRunner: `qr.startTransaction()` … `qr.commitTransaction()`
 *   - Knex and Sequelize unmanaged transactions:
 *     `const trx = await knex.transaction()` … `trx.commit()`
 * Managed forms (`knex.transaction(async trx => …)`, `sequelize.transaction(async t => …)`,
 * `dataSource.transaction(cb)`, `manager.transaction(cb)`) commit for the caller and are never
 * handles here: only a `transaction()` call without a callback starts one.
 *
 * Which paths are bugs:
 *   - leaving normally (falling off the end, or `return`) after a write with neither
 *     COMMIT nor ROLLBACK: the writes never become visible, and a pooled
 *     connection goes back with the transaction open (error);
 *   - an explicit `throw` after a write that no enclosing catch/finally rolls back:
 *     the writes are meant to be dropped, but the transaction stays open on the
 *     connection until someone else's COMMIT lands them (warning; fix: ROLLBACK);
 *   - exceptions an awaited call might raise are not paths here: modelling
 *     every await as a throw would flag every function without a try.
 * A path that explicitly rolls back, or hands the handle to someone else
 * (returns it, stores it, passes it to a commit-ish helper, names it anew with
 * `const t = t0`), is the code's choice. A Sequelize transaction nested in
 * another (`sequelize.transaction({ transaction: t1 })`) is a savepoint that
 * t1's COMMIT or ROLLBACK ends: it is no handle of its own. Nor is one stored
 * where the function does not own it (`this.t = …`, an enclosing scope's variable).
 *
 * A `const` flag tested by several `if`s takes one value on a path: code that
 * begins only when no caller's transaction is open and commits under the same
 * test (TypeORM's own query runners: `if (!isAnotherTransactionActive) await
 * this.startTransaction()` … `if (!isAnotherTransactionActive) await
 * this.commitTransaction()`) has no path that begins and skips the commit.
 */
import type { Finding, TextEdit } from '../../analysis/findings';
import { edit, indentAt, isFunctionLike, startOf, stringValue, unwrap } from './syntax';
import type { TS, ts } from './ts';

const RULE = 'missing-commit';

type HandleKind = 'sql' | 'runner' | 'trx';

interface Handle {
  kind: HandleKind;
  /** Receiver text: `client`, `this.client`, `queryRunner`, `trx`. */
  name: string;
  begin: ts.Node;
}

type Ev = 'begin' | 'commit' | 'rollback' | 'write' | 'escape';

interface State {
  /** 0 not begun, 1 open, 2 committed, 3 rolled back or handed off. */
  phase: 0 | 1 | 2 | 3;
  lastWrite?: ts.Node;
  firstWrite?: ts.Node;
  /** The truth of the function's const flags that `if`s on this path tested (see `constFlag`). */
  flags?: ReadonlyMap<string, boolean>;
}

interface Exit {
  kind: 'end' | 'return' | 'throw';
  node: ts.Node;
  state: State;
}

const WRITE_SQL = /^\s*(?:\/\*[\s\S]*?\*\/\s*|--[^\n]*\n\s*)*(insert|update|delete|merge|upsert|replace|truncate|create|drop|alter|copy|with\b[\s\S]*\b(insert|update|delete)\b)/i;
const BEGIN_SQL = /^\s*(begin|start\s+transaction)\b/i;
const COMMIT_SQL = /^\s*(commit|end)\b(?!\s+if)/i;
const ROLLBACK_SQL = /^\s*rollback\b(?!\s+to\b)/i;
const WRITE_METHODS = new Set([
  'insert', 'update', 'del', 'delete', 'destroy', 'truncate', 'upsert', 'save', 'remove', 'softDelete', 'softRemove',
  'restore', 'create', 'bulkCreate', 'increment', 'decrement', 'insertMany', 'updateMany', 'deleteMany', 'createMany',
]);
const READ_PREFIX = /^(find|count|get|sum|max|min|aggregate|select|first|pluck|exists|describe)/;

/**
 * Every handle starts with one of these words in the text (BEGIN / START
 * TRANSACTION in SQL, possibly in a const; startTransaction; transaction()):
 * files and functions without one are not walked.
 */
const MAY_BEGIN = /begin|start\s+transaction|startTransaction|transaction\s*\(/i;

export function missingCommitFindings(t: TS, sf: ts.SourceFile, file: string): Finding[] {
  const findings: Finding[] = [];
  if (!MAY_BEGIN.test(sf.text)) return findings;
  // SQL may sit in a top-level const (`const START = 'BEGIN'`): then every function is a candidate.
  const viaConst = sf.statements.some((st) => t.isVariableStatement(st) && MAY_BEGIN.test(sf.text.slice(st.pos, st.end)));
  const visit = (n: ts.Node): void => {
    if (isFunctionLike(t, n) && n.body && (viaConst || MAY_BEGIN.test(sf.text.slice(n.pos, n.end)))) {
      try {
        findings.push(...checkFunction(t, sf, file, n));
      } catch {
        // A shape the walker did not expect must not cost the file its other findings.
      }
    }
    t.forEachChild(n, visit);
  };
  visit(sf);
  return findings;
}

/** SQL text of a query call's first argument: a literal, a template head, `{ text: '…' }`, or a const in the file. */
function sqlOf(t: TS, sf: ts.SourceFile, arg: ts.Expression | undefined): string | undefined {
  if (!arg) return undefined;
  const a = unwrap(t, arg);
  const lit = stringValue(t, a);
  if (lit !== undefined) return lit;
  if (t.isTemplateExpression(a)) return a.head.text;
  if (t.isTaggedTemplateExpression(a)) {
    const tpl = a.template;
    return t.isNoSubstitutionTemplateLiteral(tpl) ? tpl.text : tpl.head.text;
  }
  if (t.isObjectLiteralExpression(a)) {
    for (const p of a.properties) if (t.isPropertyAssignment(p) && p.name.getText(sf) === 'text') return sqlOf(t, sf, p.initializer);
  }
  if (t.isIdentifier(a)) {
    for (const st of sf.statements) {
      if (!t.isVariableStatement(st)) continue;
      for (const d of st.declarationList.declarations) if (t.isIdentifier(d.name) && d.name.text === a.text && d.initializer) return sqlOf(t, sf, d.initializer);
    }
  }
  return undefined;
}

/** The chain's root receiver text: `trx('users').where(...).update` → 'trx', `qr.manager.save` → 'qr'. */
function chainRoot(t: TS, sf: ts.SourceFile, expr: ts.Expression): string[] {
  const roots: string[] = [];
  let e: ts.Expression = expr;
  for (;;) {
    e = unwrap(t, e);
    if (t.isPropertyAccessExpression(e) || t.isElementAccessExpression(e)) {
      roots.push(e.expression.getText(sf));
      e = e.expression;
    } else if (t.isCallExpression(e)) {
      e = e.expression;
    } else {
      roots.push(e.getText(sf));
      return roots;
    }
  }
}

function methodName(t: TS, call: ts.CallExpression): string | undefined {
  const c = unwrap(t, call.expression);
  if (t.isPropertyAccessExpression(c)) return c.name.text;
  if (t.isIdentifier(c)) return c.text;
  return undefined;
}

function receiverText(t: TS, sf: ts.SourceFile, call: ts.CallExpression): string | undefined {
  const c = unwrap(t, call.expression);
  return t.isPropertyAccessExpression(c) ? unwrap(t, c.expression).getText(sf) : undefined;
}

/** Handles opened in this function's own body (not nested functions). */
function findHandles(t: TS, sf: ts.SourceFile, fn: ts.FunctionLikeDeclaration): Handle[] {
  const handles: Handle[] = [];
  const seen = new Set<string>();
  const add = (h: Handle) => {
    const key = h.kind + ':' + h.name;
    if (!seen.has(key)) {
      seen.add(key);
      handles.push(h);
    }
  };
  const visit = (n: ts.Node): void => {
    if (isFunctionLike(t, n)) return;
    if (t.isCallExpression(n)) {
      const m = methodName(t, n);
      const recv = receiverText(t, sf, n);
      if (recv && (m === 'query' || m === 'raw' || m === 'execute' || m === 'exec') && BEGIN_SQL.test(sqlOf(t, sf, n.arguments[0]) ?? '')) add({ kind: 'sql', name: recv, begin: n });
      if (recv && m === 'startTransaction' && !returnsTransaction(t, n)) add({ kind: 'runner', name: recv, begin: n });
    }
    const trx = unmanagedTransaction(t, sf, n);
    // Stored where the function does not own it (`this.t = …`, a variable of an enclosing scope, as a
    // beforeEach hook does for its afterEach to roll back): whoever reads it there ends it.
    if (trx && !(t.isBinaryExpression(n) && (!t.isIdentifier(n.left) || !locals.has(n.left.text)))) add({ kind: 'trx', name: trx, begin: n });
    t.forEachChild(n, visit);
  };
  const locals = localNames(t, fn);
  if (fn.body) t.forEachChild(fn.body, visit);
  return handles;
}

/** Names the function declares itself (parameters, and variables in its own body, not nested functions'). */
function localNames(t: TS, fn: ts.FunctionLikeDeclaration): Set<string> {
  const names = new Set<string>();
  for (const p of fn.parameters) if (t.isIdentifier(p.name)) names.add(p.name.text);
  const visit = (n: ts.Node): void => {
    if (isFunctionLike(t, n)) return;
    if (t.isVariableDeclaration(n) && t.isIdentifier(n.name)) names.add(n.name.text);
    t.forEachChild(n, visit);
  };
  if (fn.body) t.forEachChild(fn.body, visit);
  return names;
}

/**
 * A `startTransaction()` whose value the code takes (assigned, or handed to `.then(trx => …)`)
 * returns the transaction: Objection's `Model.startTransaction()` and `transaction.start(knex)`
 * give a Knex transaction, committed through that value, never through the model. TypeORM's
 * `queryRunner.startTransaction()` resolves to nothing and begins on the runner itself.
 */
function returnsTransaction(t: TS, call: ts.CallExpression): boolean {
  let n: ts.Node = call;
  while (t.isAwaitExpression(n.parent) || t.isYieldExpression(n.parent) || t.isParenthesizedExpression(n.parent)) n = n.parent;
  const p = n.parent;
  if (t.isVariableDeclaration(p) && p.initializer === n) return true;
  if (t.isBinaryExpression(p) && p.operatorToken.kind === t.SyntaxKind.EqualsToken && p.right === n) return true;
  if (t.isPropertyAccessExpression(p) && p.expression === n && p.name.text === 'then' && t.isCallExpression(p.parent)) {
    const cb = p.parent.arguments[0];
    return !!cb && (t.isArrowFunction(cb) || t.isFunctionExpression(cb)) && cb.parameters.length > 0;
  }
  return false;
}

/** `const trx = await knex.transaction()` / `t = await sequelize.transaction({…})`: no callback, so nobody commits for you. */
function unmanagedTransaction(t: TS, sf: ts.SourceFile, n: ts.Node): string | undefined {
  let name: string | undefined;
  let init: ts.Expression | undefined;
  if (t.isVariableDeclaration(n) && t.isIdentifier(n.name) && n.initializer) {
    name = n.name.text;
    init = n.initializer;
  } else if (t.isBinaryExpression(n) && n.operatorToken.kind === t.SyntaxKind.EqualsToken && (t.isIdentifier(n.left) || t.isPropertyAccessExpression(n.left))) {
    name = n.left.getText(sf);
    init = n.right;
  }
  if (!name || !init || !t.isAwaitExpression(init)) return undefined;
  const call = unwrap(t, init);
  if (!t.isCallExpression(call) || methodName(t, call) !== 'transaction' || !receiverText(t, sf, call)) return undefined;
  const managed = call.arguments.some((a) => t.isArrowFunction(a) || t.isFunctionExpression(a) || t.isIdentifier(a));
  // `sequelize.transaction({ transaction: t1 })`: a savepoint of t1, whose COMMIT or ROLLBACK ends it too.
  const nested = call.arguments.some(
    (a) =>
      t.isObjectLiteralExpression(a) &&
      a.properties.some(
        (p) =>
          (t.isShorthandPropertyAssignment(p) && p.name.text === 'transaction') ||
          (t.isPropertyAssignment(p) && p.name.getText(sf) === 'transaction' && !/^(null|undefined)$/.test(p.initializer.getText(sf))),
      ),
  );
  return managed || nested ? undefined : name;
}

/** What one call does to the handle. */
function callEvent(t: TS, sf: ts.SourceFile, h: Handle, call: ts.CallExpression): Ev | undefined {
  const m = methodName(t, call);
  const recv = receiverText(t, sf, call);
  if (h.kind === 'sql' && recv === h.name && m && ['query', 'raw', 'execute', 'exec'].includes(m)) {
    const sql = sqlOf(t, sf, call.arguments[0]);
    if (sql === undefined) return undefined;
    if (BEGIN_SQL.test(sql)) return 'begin';
    if (ROLLBACK_SQL.test(sql)) return 'rollback';
    if (COMMIT_SQL.test(sql)) return 'commit';
    if (WRITE_SQL.test(sql)) return 'write';
    return undefined;
  }
  if (h.kind === 'runner') {
    if (recv === h.name && m === 'startTransaction') return 'begin';
    if (recv === h.name && m === 'commitTransaction') return 'commit';
    if (recv === h.name && m === 'rollbackTransaction') return 'rollback';
  }
  if (h.kind === 'trx') {
    if (recv === h.name && m === 'commit') return 'commit';
    if (recv === h.name && m === 'rollback') return 'rollback';
  }
  if (!m) return undefined;
  const roots = chainRoot(t, sf, call.expression);
  const rooted = roots.some((r) => r === h.name || r.startsWith(h.name + '(') || r.startsWith(h.name + '.'));
  const viaOption =
    h.kind === 'trx' &&
    call.arguments.some(
      (a) =>
        t.isObjectLiteralExpression(a) &&
        a.properties.some(
          (p) => (t.isPropertyAssignment(p) && p.name.getText(sf) === 'transaction' && p.initializer.getText(sf) === h.name) || (t.isShorthandPropertyAssignment(p) && p.name.text === 'transaction' && h.name === 'transaction'),
        ),
    );
  const viaTransacting = h.kind === 'trx' && chainHasTransacting(t, sf, call.expression, h.name);
  if (rooted || viaOption || viaTransacting) {
    if (m === 'query' || m === 'raw') {
      const sql = sqlOf(t, sf, call.arguments[0]);
      return sql !== undefined && WRITE_SQL.test(sql) ? 'write' : undefined;
    }
    if (WRITE_METHODS.has(m) || chainHasWriteMethod(t, call.expression)) return READ_PREFIX.test(m) && !WRITE_METHODS.has(m) ? undefined : 'write';
    if (viaOption && !READ_PREFIX.test(m)) return 'write';
  }
  // The handle handed to a helper that finishes it: its caller no longer owns the ending.
  if (call.arguments.some((a) => unwrap(t, a).getText(sf) === h.name) && /commit|finish|complete|finalize|done/i.test(m)) return 'escape';
  return undefined;
}

function chainHasTransacting(t: TS, sf: ts.SourceFile, expr: ts.Expression, name: string): boolean {
  let e: ts.Expression = unwrap(t, expr);
  while (t.isPropertyAccessExpression(e) || t.isCallExpression(e) || t.isElementAccessExpression(e)) {
    if (t.isCallExpression(e)) {
      if (methodName(t, e) === 'transacting' && e.arguments[0]?.getText(sf) === name) return true;
      e = unwrap(t, e.expression);
    } else e = unwrap(t, e.expression);
  }
  return false;
}

function chainHasWriteMethod(t: TS, expr: ts.Expression): boolean {
  let e: ts.Expression = unwrap(t, expr);
  while (t.isPropertyAccessExpression(e) || t.isCallExpression(e) || t.isElementAccessExpression(e)) {
    if (t.isPropertyAccessExpression(e) && WRITE_METHODS.has(e.name.text)) return true;
    e = unwrap(t, e.expression);
  }
  return false;
}

/** The handle leaves this function's control: returned, stored, or yielded. */
function escapesHere(t: TS, sf: ts.SourceFile, h: Handle, n: ts.Node): boolean {
  if (t.isReturnStatement(n) && n.expression) {
    const e = unwrap(t, n.expression);
    if (e.getText(sf) === h.name) return true;
    if (t.isObjectLiteralExpression(e) && e.properties.some((p) => (t.isShorthandPropertyAssignment(p) && p.name.text === h.name) || (t.isPropertyAssignment(p) && p.initializer.getText(sf) === h.name))) return true;
  }
  if (t.isBinaryExpression(n) && n.operatorToken.kind === t.SyntaxKind.EqualsToken && n.right.getText(sf) === h.name && !t.isIdentifier(n.left)) return true;
  // `const t = t0`: the code goes on with the handle under another name, and ends it through that one.
  if (t.isVariableDeclaration(n) && n.initializer && unwrap(t, n.initializer).getText(sf) === h.name) return true;
  return false;
}

const MAX_STATES = 32;

function flagsKey(flags: ReadonlyMap<string, boolean> | undefined): string {
  return flags ? [...flags].map(([name, value]) => `${value ? '' : '!'}${name}`).join(',') : '';
}

function dedupe(states: State[]): State[] {
  const seen = new Map<string, State>();
  for (const s of states) {
    const key = `${s.phase}:${s.lastWrite?.pos ?? -1}:${s.firstWrite?.pos ?? -1}:${flagsKey(s.flags)}`;
    if (!seen.has(key)) seen.set(key, s);
  }
  const out = [...seen.values()];
  return out.length > MAX_STATES ? out.slice(0, MAX_STATES) : out;
}

interface Flow {
  /** States reaching the end of the statement normally. */
  next: State[];
  exits: Exit[];
  /** Explicit throws not yet caught. */
  throws: Exit[];
  /** break/continue: rejoin after the enclosing loop/switch. */
  jumps: State[];
}

function checkFunction(t: TS, sf: ts.SourceFile, file: string, fn: ts.FunctionLikeDeclaration): Finding[] {
  const handles = findHandles(t, sf, fn);
  const findings: Finding[] = [];
  for (const h of handles) findings.push(...checkHandle(t, sf, file, fn, h));
  return findings;
}

/** Names the function declares `const` in its own body (not in nested functions): their value never changes once set. */
function constNames(t: TS, fn: ts.FunctionLikeDeclaration): Set<string> {
  const names = new Set<string>();
  const visit = (n: ts.Node): void => {
    if (isFunctionLike(t, n)) return;
    if (t.isVariableDeclarationList(n) && n.flags & t.NodeFlags.Const) {
      for (const d of n.declarations) if (t.isIdentifier(d.name)) names.add(d.name.text);
    }
    t.forEachChild(n, visit);
  };
  if (fn.body) t.forEachChild(fn.body, visit);
  return names;
}

/**
 * An `if` condition that is one of the function's const flags, maybe negated
 * (`nested`, `!nested`): [its name, the flag's truth when the condition holds].
 */
function constFlag(t: TS, consts: Set<string>, cond: ts.Expression): [string, boolean] | undefined {
  let e = unwrap(t, cond);
  let holds = true;
  while (t.isPrefixUnaryExpression(e) && e.operator === t.SyntaxKind.ExclamationToken) {
    holds = !holds;
    e = unwrap(t, e.operand);
  }
  return t.isIdentifier(e) && consts.has(e.text) ? [e.text, holds] : undefined;
}

function checkHandle(t: TS, sf: ts.SourceFile, file: string, fn: ts.FunctionLikeDeclaration, h: Handle): Finding[] {
  const apply = (s: State, ev: Ev, node: ts.Node): State => {
    switch (ev) {
      case 'begin':
        return { phase: 1, flags: s.flags };
      case 'commit':
        return s.phase === 1 ? { phase: 2, flags: s.flags } : s;
      case 'rollback':
      case 'escape':
        return s.phase === 1 ? { phase: 3, flags: s.flags } : s;
      case 'write':
        return s.phase === 1 ? { phase: 1, lastWrite: node, firstWrite: s.firstWrite ?? node, flags: s.flags } : s;
    }
  };
  const consts = constNames(t, fn);
  /** The states that can take a branch where the const flag `name` is `value`, each now knowing it. */
  const assuming = (states: State[], name: string, value: boolean): State[] =>
    states.filter((s) => s.flags?.get(name) !== !value).map((s) => (s.flags?.get(name) === value ? s : { ...s, flags: new Map(s.flags ?? []).set(name, value) }));

  /** Events of an expression in evaluation order; inline callbacks count where they are passed. */
  const expr = (node: ts.Node, states: State[], inCallback: boolean): State[] => {
    let cur = states;
    const walk = (n: ts.Node): void => {
      if (isFunctionLike(t, n)) {
        // A callback passed inline usually runs as part of this statement (then chains, map over rows);
        // a function stored for later does not.
        if (n.body && t.isCallExpression(n.parent) && n.parent.arguments.includes(n as ts.Expression)) walk(n.body);
        return;
      }
      if (t.isCallExpression(n)) {
        walk(n.expression);
        for (const a of n.arguments) walk(a);
        const ev = callEvent(t, sf, h, n);
        if (ev && !(ev === 'begin' && inCallback)) cur = cur.map((s) => apply(s, ev, n));
        return;
      }
      if (t.isVariableDeclaration(n) && unmanagedTransaction(t, sf, n) === h.name) {
        if (n.initializer) walk(n.initializer);
        cur = cur.map((s) => apply(s, 'begin', n));
        return;
      }
      if (t.isBinaryExpression(n) && unmanagedTransaction(t, sf, n) === h.name) {
        walk(n.right);
        cur = cur.map((s) => apply(s, 'begin', n));
        return;
      }
      if (escapesHere(t, sf, h, n)) cur = cur.map((s) => apply(s, 'escape', n));
      t.forEachChild(n, walk);
    };
    walk(node);
    return dedupe(cur);
  };

  const block = (stmts: readonly ts.Statement[], states: State[]): Flow => {
    let cur = states;
    const exits: Exit[] = [];
    const throws: Exit[] = [];
    const jumps: State[] = [];
    for (const s of stmts) {
      if (cur.length === 0) break;
      const f = stmt(s, cur);
      cur = f.next;
      exits.push(...f.exits);
      throws.push(...f.throws);
      jumps.push(...f.jumps);
    }
    return { next: cur, exits, throws, jumps };
  };

  const stmt = (s: ts.Statement, states: State[]): Flow => {
    const none: Flow = { next: [], exits: [], throws: [], jumps: [] };
    if (t.isBlock(s)) return block(s.statements, states);
    if (t.isReturnStatement(s)) {
      let cur = states;
      if (s.expression) cur = expr(s.expression, cur, false);
      if (escapesHere(t, sf, h, s)) cur = cur.map((st) => apply(st, 'escape', s));
      return { ...none, exits: cur.map((state) => ({ kind: 'return', node: s, state })) };
    }
    if (t.isThrowStatement(s)) {
      const cur = expr(s.expression, states, false);
      return { ...none, throws: cur.map((state) => ({ kind: 'throw', node: s, state })) };
    }
    if (t.isIfStatement(s)) {
      const cond = expr(s.expression, states, false);
      const flag = constFlag(t, consts, s.expression);
      const thenStates = flag ? assuming(cond, flag[0], flag[1]) : cond;
      const elseStates = flag ? assuming(cond, flag[0], !flag[1]) : cond;
      const a = stmt(s.thenStatement, thenStates);
      const b = s.elseStatement ? stmt(s.elseStatement, elseStates) : { ...none, next: elseStates };
      return { next: dedupe([...a.next, ...b.next]), exits: [...a.exits, ...b.exits], throws: [...a.throws, ...b.throws], jumps: [...a.jumps, ...b.jumps] };
    }
    if (t.isTryStatement(s)) {
      const tryFlow = block(s.tryBlock.statements, states);
      let next = tryFlow.next;
      let exits = tryFlow.exits;
      let throws = tryFlow.throws;
      let jumps = tryFlow.jumps;
      if (s.catchClause) {
        const caught = dedupe(tryFlow.throws.map((x) => x.state));
        const c = caught.length ? block(s.catchClause.block.statements, caught) : { ...none };
        next = dedupe([...next, ...c.next]);
        exits = [...exits, ...c.exits];
        throws = c.throws;
        jumps = [...jumps, ...c.jumps];
      }
      if (s.finallyBlock) {
        const fin = s.finallyBlock.statements;
        const through = (xs: Exit[]): Exit[] =>
          xs.flatMap((x) => {
            const f = block(fin, [x.state]);
            return [...f.next.map((state) => ({ ...x, state })), ...f.exits, ...f.throws];
          });
        const normal = block(fin, next);
        exits = [...through(exits), ...normal.exits];
        const rethrown = through(throws);
        throws = [...rethrown.filter((x) => x.kind === 'throw'), ...normal.throws];
        exits = [...exits, ...rethrown.filter((x) => x.kind !== 'throw')];
        next = normal.next;
      }
      return { next, exits, throws, jumps };
    }
    if (t.isForStatement(s) || t.isForOfStatement(s) || t.isForInStatement(s) || t.isWhileStatement(s) || t.isDoStatement(s)) {
      let cur = states;
      if (t.isForStatement(s)) {
        if (s.initializer) cur = expr(s.initializer, cur, false);
        if (s.condition) cur = expr(s.condition, cur, false);
      } else if (t.isForOfStatement(s) || t.isForInStatement(s) || t.isWhileStatement(s)) {
        cur = expr(s.expression, cur, false);
      }
      const body = stmt(s.statement, cur);
      // Zero or one iteration: enough to see a write inside the loop reach the exit.
      const after = t.isDoStatement(s) ? [...body.next, ...body.jumps] : [...cur, ...body.next, ...body.jumps];
      return { next: dedupe(after), exits: body.exits, throws: body.throws, jumps: [] };
    }
    if (t.isSwitchStatement(s)) {
      const cur = expr(s.expression, states, false);
      let fall: State[] = [];
      const out: Flow = { next: [], exits: [], throws: [], jumps: [] };
      let hasDefault = false;
      for (const clause of s.caseBlock.clauses) {
        if (t.isDefaultClause(clause)) hasDefault = true;
        const f = block(clause.statements, dedupe([...cur, ...fall]));
        fall = f.next;
        out.exits.push(...f.exits);
        out.throws.push(...f.throws);
        out.next.push(...f.jumps);
      }
      out.next = dedupe([...out.next, ...fall, ...(hasDefault ? [] : cur)]);
      return out;
    }
    if (t.isBreakStatement(s) || t.isContinueStatement(s)) return { ...none, jumps: states };
    if (t.isLabeledStatement(s)) {
      const f = stmt(s.statement, states);
      return { ...f, next: dedupe([...f.next, ...f.jumps]), jumps: [] };
    }
    if (t.isFunctionDeclaration(s) || t.isClassDeclaration(s) || t.isInterfaceDeclaration(s) || t.isTypeAliasDeclaration(s)) return { ...none, next: states };
    return { ...none, next: expr(s, states, false) };
  };

  const body = fn.body!;
  const start: State[] = [{ phase: 0 }];
  let flow: Flow;
  if (t.isBlock(body)) flow = block(body.statements, start);
  else {
    const end = expr(body, start, false);
    flow = { next: [], exits: end.map((state) => ({ kind: 'return', node: body, state })), throws: [], jumps: [] };
  }
  const ends: Exit[] = [
    ...flow.next.map((state) => ({ kind: 'end' as const, node: body, state })),
    ...flow.jumps.map((state) => ({ kind: 'end' as const, node: body, state })),
    ...flow.exits,
    ...flow.throws,
  ];
  const open = ends.filter((x) => x.state.phase === 1 && x.state.lastWrite);
  if (open.length === 0) return [];
  return report(t, sf, file, fn, h, open);
}

const COMMIT_TEXT: Record<HandleKind, (name: string) => string> = {
  sql: (n) => `${n}.query('COMMIT')`,
  runner: (n) => `${n}.commitTransaction()`,
  trx: (n) => `${n}.commit()`,
};
const ROLLBACK_TEXT: Record<HandleKind, (name: string) => string> = {
  sql: (n) => `${n}.query('ROLLBACK')`,
  runner: (n) => `${n}.rollbackTransaction()`,
  trx: (n) => `${n}.rollback()`,
};
const BEGIN_TEXT: Record<HandleKind, string> = { sql: 'BEGIN', runner: 'startTransaction()', trx: 'transaction()' };

function report(t: TS, sf: ts.SourceFile, file: string, fn: ts.FunctionLikeDeclaration, h: Handle, open: Exit[]): Finding[] {
  const isAsync = !!fn.modifiers?.some((m) => m.kind === t.SyntaxKind.AsyncKeyword);
  const semi = /;\s*$/.test(statementOf(t, h.begin)?.getText(sf) ?? ';') ? ';' : '';
  const awaitText = isAsync ? 'await ' : '';
  const beginLine = startOf(sf, h.begin).line;
  const findings: Finding[] = [];
  const byNode = new Map<ts.Node, Exit[]>();
  for (const x of open) {
    const key = x.kind === 'end' ? x.state.lastWrite! : x.node;
    byNode.set(key, [...(byNode.get(key) ?? []), x]);
  }
  for (const [anchor, xs] of byNode) {
    const x = xs[0];
    const writes = [...new Set(xs.flatMap((e) => [e.state.firstWrite!, e.state.lastWrite!]))];
    const related = [
      { file, line: beginLine, message: `transaction opened here (${BEGIN_TEXT[h.kind]} on \`${h.name}\`)` },
      ...writes.filter((w) => w !== anchor).map((w) => ({ file, line: startOf(sf, w).line, message: 'write in this transaction' })),
    ];
    const fixes: Finding['fixes'] = [];
    if (x.kind === 'throw') {
      const e = insertBefore(t, sf, file, x.node, `${awaitText}${ROLLBACK_TEXT[h.kind](h.name)}${semi}`);
      if (e && isAsync) fixes.push({ title: `Roll back before throwing: ${awaitText}${ROLLBACK_TEXT[h.kind](h.name)}`, edits: [e], preferred: true });
      findings.push({
        rule: RULE,
        severity: 'warning',
        message: `\`${h.name}\` wrote in a transaction (line ${beginLine}) and this throw leaves it open: no ROLLBACK on this path, so the connection keeps the uncommitted writes until whoever uses it next commits or rolls back.`,
        location: { file, ...startOf(sf, x.node) },
        related,
        fixes,
      });
      continue;
    }
    const commit = `${awaitText}${COMMIT_TEXT[h.kind](h.name)}${semi}`;
    let editOne: TextEdit | undefined;
    if (x.kind === 'return') {
      const returnsWrite = x.node.getStart(sf) <= x.state.lastWrite!.getStart(sf) && x.state.lastWrite!.getEnd() <= x.node.getEnd();
      if (!returnsWrite) editOne = insertBefore(t, sf, file, x.node, commit);
    } else {
      editOne = insertAfterWrite(t, sf, file, fn, x.state.lastWrite!, commit);
    }
    if (editOne && isAsync) {
      const verb = x.kind === 'return' ? 'Commit before returning' : 'Commit after the last write';
      fixes.push({ title: `${verb}: ${commit.replace(/;$/, '')}`, edits: [editOne], preferred: true });
      // An early return may mean "give up": the code's intent decides, so offer the rollback too.
      const rollback = x.kind === 'return' ? insertBefore(t, sf, file, x.node, `${awaitText}${ROLLBACK_TEXT[h.kind](h.name)}${semi}`) : undefined;
      if (rollback) fixes.push({ title: `Roll back before returning: ${awaitText}${ROLLBACK_TEXT[h.kind](h.name)}`, edits: [rollback] });
    }
    const where = x.kind === 'return' ? 'this return leaves' : 'the function ends';
    findings.push({
      rule: RULE,
      severity: 'warning',
      message: `\`${h.name}\` opened a transaction (line ${beginLine}) and wrote, but ${where} without COMMIT: the writes are never committed (rolled back when the connection closes, or left open for the next user of a pooled connection).`,
      location: { file, ...startOf(sf, anchor) },
      related,
      fixes,
    });
  }
  return findings;
}

function statementOf(t: TS, node: ts.Node): ts.Statement | undefined {
  for (let n: ts.Node | undefined = node; n; n = n.parent) if (t.isExpressionStatement(n) || t.isVariableStatement(n) || t.isReturnStatement(n)) return n as ts.Statement;
  return undefined;
}

function insertBefore(t: TS, sf: ts.SourceFile, file: string, stmtNode: ts.Node, text: string): TextEdit | undefined {
  const start = stmtNode.getStart(sf);
  const p = stmtNode.parent;
  if (t.isBlock(p) || t.isSourceFile(p) || t.isCaseClause(p) || t.isDefaultClause(p)) {
    const indent = indentAt(sf, start);
    return edit(sf, file, start, start, `${text}\n${indent}`);
  }
  // `if (x) return y;` has no block to put a statement in: give it one.
  return edit(sf, file, start, stmtNode.getEnd(), `{ ${text} ${stmtNode.getText(sf)} }`);
}

/**
 * After the statement holding the last write, lifted out of loops and branches
 * (a COMMIT inside a loop would end the transaction on the first pass, and one
 * inside an `if` would miss the other branch), but kept inside a try block so
 * the catch that rolls back still covers it.
 */
function insertAfterWrite(t: TS, sf: ts.SourceFile, file: string, fn: ts.FunctionLikeDeclaration, write: ts.Node, text: string): TextEdit | undefined {
  let s: ts.Node | undefined = write;
  while (s && !(s.parent && (t.isBlock(s.parent) || t.isSourceFile(s.parent) || t.isCaseClause(s.parent) || t.isDefaultClause(s.parent)))) s = s.parent;
  if (!s) return undefined;
  for (;;) {
    const parentBlock: ts.Node = s.parent;
    if (parentBlock === fn.body) break;
    const owner: ts.Node = parentBlock.parent;
    if (t.isTryStatement(owner) && owner.tryBlock === parentBlock) break;
    if (t.isBlock(parentBlock) && !t.isTryStatement(owner) && !t.isCatchClause(owner) && !isFunctionLike(t, owner)) {
      // Lift to the construct (if/loop/switch/bare block) that owns this block.
      let up: ts.Node = owner;
      if (t.isIfStatement(up)) while (up.parent && t.isIfStatement(up.parent) && up.parent.elseStatement === up) up = up.parent;
      s = up;
    } else if (t.isCaseClause(parentBlock) || t.isDefaultClause(parentBlock)) {
      s = parentBlock.parent.parent;
    } else {
      break;
    }
    if (!s.parent || !(t.isBlock(s.parent) || t.isSourceFile(s.parent) || t.isCaseClause(s.parent) || t.isDefaultClause(s.parent))) {
      // Lifting landed on a statement without a block around it (`if (a) for (...) {...}`): give up.
      if (s.parent && (t.isIfStatement(s.parent) || t.isIterationStatement(s.parent, false))) {
        s = s.parent;
        continue;
      }
      return undefined;
    }
  }
  const end = s.getEnd();
  const indent = indentAt(sf, s.getStart(sf));
  return edit(sf, file, end, end, `\n${indent}${text}`);
}
