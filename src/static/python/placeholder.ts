/**
 * placeholder-session: a stand-in for a database session (a Fake/Stub/Dummy
 * class, a MagicMock) defined in or used by non-test code. Nothing reaches the
 * database, canned rows come back, and every record says created_by UUID(0).
 * The class itself is a warning (it may be dead code); handing it out as the
 * application's session (a get_db() provider, a module-level `db = ...`) is
 * an error.
 */
import type { Finding } from '../../analysis/findings';
import { resolveExprName } from './plugin-util';
import { callParts, dottedName, field, named, walkTypes, type Node } from './syntax';

const CALL = new Set(['call']);
const EXITS = new Set(['yield', 'return_statement']);

const RULE = 'placeholder-session';
const SESSION_METHODS = new Set(['add', 'add_all', 'commit', 'rollback', 'execute', 'query', 'close', 'flush', 'refresh', 'get', 'scalars', 'scalar', 'delete', 'merge', 'cursor', 'fetchall', 'fetchone']);
const FAKE_WORD = /fake|mock|dummy|stub|placeholder|in_?memory|null|noop/i;
const DB_WORD = /session|db|database|conn|connection|cursor|engine/i;
const MOCK_FACTORIES = new Set(['MagicMock', 'Mock', 'AsyncMock', 'NonCallableMagicMock', 'create_autospec']);
const PROVIDER_NAME = /(^|_)(db|session|database|conn|connection|uow)(_|$)/i;
const SESSION_VAR = /^(db|session|sess|conn|connection|db_session|.*_session)$/i;

export interface PlaceholderClass {
  name: string;
  line: number;
  column: number;
  why: string;
}

export interface PlaceholderUse {
  /** Dotted name of the class the code instantiates, resolved through imports. */
  qualified: string;
  line: number;
  column: number;
  how: string;
}

function isTrivial(body: Node | undefined): boolean {
  if (!body) return true;
  const stmts = named(body).filter((s) => s.type !== 'comment');
  if (stmts.length > 3) return false;
  for (const s of stmts) {
    // Delegation to a real session (self._session.commit()) is not a stand-in.
    for (const n of walkTypes(s, CALL)) if (/^self\.\w+\.\w+$/.test(callParts(n).callee ?? '')) return false;
  }
  return true;
}

export function placeholderClass(cls: Node): string | undefined {
  const name = field(cls, 'name')?.text ?? '';
  const supers = field(cls, 'superclasses')?.text ?? '';
  if (/(^|[.(,\s])(Async)?(Session|Connection)\b/.test(supers)) return undefined;
  const body = field(cls, 'body');
  const methods = (body ? named(body) : [])
    .map((m) => (m.type === 'decorated_definition' ? field(m, 'definition') : m))
    .filter((m): m is Node => m?.type === 'function_definition');
  const sessionMethods = methods.filter((m) => SESSION_METHODS.has(field(m, 'name')?.text ?? ''));
  const trivial = sessionMethods.filter((m) => isTrivial(field(m, 'body')));
  if (FAKE_WORD.test(name) && (DB_WORD.test(name) || sessionMethods.length >= 2)) {
    return `its name and ${sessionMethods.length ? `its ${sessionMethods.map((m) => field(m, 'name')!.text).slice(0, 4).join('/')} methods` : 'purpose'} say it stands in for a session`;
  }
  if (sessionMethods.length >= 3 && trivial.length === sessionMethods.length && DB_WORD.test(name)) {
    return `its ${sessionMethods.map((m) => field(m, 'name')!.text).slice(0, 4).join('/')} methods do nothing with a database`;
  }
  return undefined;
}

/** How an instantiation is used: handed out by a provider, or bound to a module-level session name. */
function useContext(call: Node): string | undefined {
  let n = call;
  if (n.parent?.type === 'await') n = n.parent;
  const p = n.parent;
  const fn = (() => {
    for (let q = p; q; q = q.parent) if (q.type === 'function_definition') return q;
    return undefined;
  })();
  const fnName = fn ? (field(fn, 'name')?.text ?? '') : '';
  if (p?.type === 'yield' || p?.type === 'return_statement') {
    if (fn && PROVIDER_NAME.test(fnName)) return `handed out by ${fnName}()`;
  }
  if (p?.type === 'assignment' && field(p, 'right')?.id === n.id) {
    const left = field(p, 'left');
    if (left?.type === 'identifier' && SESSION_VAR.test(left.text)) {
      if (!fn) return `bound to the module's ${left.text}`;
      // db = FakeSession(); yield db
      if (PROVIDER_NAME.test(fnName)) {
        for (const x of walkTypes(field(fn, 'body')!, EXITS)) {
          if ((x.type === 'yield' || x.type === 'return_statement') && named(x).some((c) => c.type === 'identifier' && c.text === left.text)) return `handed out by ${fnName}()`;
        }
      }
    }
  }
  return undefined;
}

export function placeholderFacts(
  root: Node,
  file: string,
  table: Map<string, string>,
): { findings: Finding[]; classes: PlaceholderClass[]; uses: PlaceholderUse[] } {
  const findings: Finding[] = [];
  const classes: PlaceholderClass[] = [];
  const uses: PlaceholderUse[] = [];
  const local = new Map<string, PlaceholderClass>();
  for (const n of root.descendantsOfType('class_definition')) {
    if (!n) continue;
    const why = placeholderClass(n);
    if (!why) continue;
    const c = { name: field(n, 'name')!.text, line: n.startPosition.row + 1, column: n.startPosition.column + 1, why };
    classes.push(c);
    local.set(c.name, c);
    findings.push({
      rule: RULE,
      severity: 'warning',
      message: `${c.name} is a stand-in for a database session in non-test code (${why}). Move it under tests/ so the application can only get a real session.`,
      location: { file, line: c.line, column: c.column },
      related: [],
      fixes: [],
    });
  }
  for (const n of root.descendantsOfType('call')) {
    if (!n) continue;
    const callee = dottedName(field(n, 'function'));
    if (!callee) continue;
    const last = callee.slice(callee.lastIndexOf('.') + 1);
    const how = (MOCK_FACTORIES.has(last) || local.has(callee) || resolveExprName(callee, table)) && useContext(n);
    if (!how) continue;
    const at = { file, line: n.startPosition.row + 1, column: n.startPosition.column + 1 };
    if (MOCK_FACTORIES.has(last)) {
      findings.push({
        rule: RULE,
        severity: 'warning',
        message: `A ${last}() is ${how} in non-test code: the application gets a mock instead of a database session, so nothing is stored and reads return canned values.`,
        location: at,
        related: [],
        fixes: [],
      });
    } else if (local.has(callee)) {
      const c = local.get(callee)!;
      findings.push({
        rule: RULE,
        severity: 'warning',
        message: `${c.name}() is ${how}: the application gets a stand-in instead of a database session, so nothing is stored and reads return canned values.`,
        location: at,
        related: [{ file, line: c.line, message: `${c.name} defined here` }],
        fixes: [],
      });
    } else {
      uses.push({ qualified: resolveExprName(callee, table)!, line: at.line, column: at.column, how });
    }
  }
  return { findings, classes, uses };
}
