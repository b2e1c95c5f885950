/**
 * The ES module files the agent hooks, the epilogue appended to each where its
 * source is read, and what the preload (esm.ts) receives from that epilogue.
 *
 * An ES module's exports cannot be replaced from outside, but its classes'
 * prototypes can be patched, and the module itself can reassign a class it
 * declares: the epilogue hands the named classes to the agent in the thread
 * evaluating the module, and puts back the one it may replace (QueryPromise,
 * subclassed as in the CommonJS build) before any importer runs. The module
 * keeps its identity: one copy of each class, whoever imports it.
 */
import type { Hooked } from './modules';

/** The global the preload answers on; the epilogue calls it if it is there, so a process without the agent runs the module unchanged. */
export const ESM_RECEIVER = 'txlens.esm.loaded';

/** Marks a module source already given the epilogue (by a hooks chain that holds the loader twice). */
export const EPILOGUE_MARK = '/*txlens-esm*/';

/** The packages whose ES module build the agent hooks: only where one of them is installed does it watch module sources at all (esm.ts). */
export const ESM_PACKAGES = ['drizzle-orm', 'mocha'] as const;

export interface EsmHooked {
  /** The package the module is of. */
  pkg: (typeof ESM_PACKAGES)[number];
  /** How the module's URL ends. */
  suffix: string;
  /** The hook in modules.ts that patches it, as for its CommonJS twin. */
  hook: Extract<Hooked, `drizzle-${string}` | 'mocha-runner' | 'mocha-suite'>;
  /** The classes the module declares that the hook needs. */
  names: string[];
  /** Those the hook may hand back a replacement for. */
  replaced: string[];
}

/**
 * Drizzle's ES module build, and mocha's (mocha 12 is ES modules only): the same classes the
 * CommonJS hooks patch (modules.ts).
 */
export const ESM_HOOKED: readonly EsmHooked[] = [
  { pkg: 'drizzle-orm', suffix: '/node_modules/drizzle-orm/node-postgres/session.js', hook: 'drizzle-pg', names: ['NodePgSession'], replaced: [] },
  { pkg: 'drizzle-orm', suffix: '/node_modules/drizzle-orm/better-sqlite3/session.js', hook: 'drizzle-sqlite', names: ['BetterSQLiteSession'], replaced: [] },
  { pkg: 'drizzle-orm', suffix: '/node_modules/drizzle-orm/query-promise.js', hook: 'drizzle-query', names: ['QueryPromise'], replaced: ['QueryPromise'] },
  { pkg: 'drizzle-orm', suffix: '/node_modules/drizzle-orm/pg-core/query-builders/select.js', hook: 'drizzle-pg-select', names: ['PgSelectBuilder'], replaced: [] },
  { pkg: 'drizzle-orm', suffix: '/node_modules/drizzle-orm/sqlite-core/query-builders/select.js', hook: 'drizzle-sqlite-select', names: ['SQLiteSelectBuilder'], replaced: [] },
  { pkg: 'drizzle-orm', suffix: '/node_modules/drizzle-orm/pg-core/db.js', hook: 'drizzle-pg-db', names: ['PgDatabase'], replaced: [] },
  { pkg: 'drizzle-orm', suffix: '/node_modules/drizzle-orm/sqlite-core/db.js', hook: 'drizzle-sqlite-db', names: ['BaseSQLiteDatabase'], replaced: [] },
  { pkg: 'mocha', suffix: '/node_modules/mocha/lib/runner.js', hook: 'mocha-runner', names: ['Runner'], replaced: [] },
  { pkg: 'mocha', suffix: '/node_modules/mocha/lib/suite.js', hook: 'mocha-suite', names: ['Suite'], replaced: [] },
];

/** The hooked module a URL (or path) names, if any. */
export function esmHooked(url: string): EsmHooked | undefined {
  if (!url.includes('/node_modules/drizzle-orm/') && !url.includes('/node_modules/mocha/lib/')) return undefined;
  const path = url.split(/[?#]/)[0];
  return ESM_HOOKED.find((h) => path.endsWith(h.suffix));
}

/**
 * The line appended to the module's source (after its last line, so no line
 * moves): a getter and a setter of its classes, which the agent calls inside a
 * try of its own, so a layout it does not know (a renamed class, a `const`) is
 * reported and never breaks the module.
 */
export function epilogue(h: EsmHooked): string {
  const get = `() => ({ ${h.names.join(', ')} })`;
  const set = `(__txlens) => { ${h.replaced.map((n) => `${n} = __txlens.${n};`).join(' ')} }`;
  return `\n${EPILOGUE_MARK} globalThis[Symbol.for(${JSON.stringify(ESM_RECEIVER)})]?.(${JSON.stringify(h.hook)}, import.meta.url, ${get}, ${set});\n`;
}

/** The source as text, whichever form a loader handed it in (a string, a Buffer, an ArrayBuffer); undefined when it has none. */
function sourceText(source: unknown): string | undefined {
  if (typeof source === 'string') return source;
  if (source instanceof ArrayBuffer) return Buffer.from(source).toString('utf8');
  if (ArrayBuffer.isView(source)) return Buffer.from(source.buffer, source.byteOffset, source.byteLength).toString('utf8');
  return undefined;
}

/** The module's source with the epilogue appended, or undefined where it is not text or already has it (a chain that holds the agent twice). */
export function withEpilogue(h: EsmHooked, source: unknown): string | undefined {
  const text = sourceText(source);
  if (text === undefined || text.includes(EPILOGUE_MARK)) return undefined;
  return text + epilogue(h);
}
