/**
 * CommonJS files a loader hands over as source. A loader registered with
 * `module.register` (jiti/register, which node-pg-migrate's CI runs its
 * TypeScript runners under) may answer Node's ES module loader for a CommonJS
 * file with its own (transpiled) source: Node then evaluates it, and every file
 * it requires, without Module#load, so pg's Client was never hooked and the
 * whole process ran untraced, with nothing said.
 *
 * When the app registers such hooks, the agent registers one more load hook
 * after them (hooks run the most recently registered first): it asks the chain
 * for the module and, where that is a hooked CommonJS file with its source,
 * appends a line handing `module` to the agent in the thread evaluating it,
 * which hooks its exports as Module#load would have. A process that registers
 * no hooks starts no hooks thread for this: it only pays the wrapped
 * `register`. Node's in-thread hooks (`module.registerHooks`) cannot be used
 * here: beside off-thread ones, Node 22 fails every load.
 */
import { HOOKED_FILES, hookedBy, hookModule } from './modules';
import * as rt from './runtime';

/* eslint-disable prefer-rest-params, @typescript-eslint/no-explicit-any, @typescript-eslint/no-require-imports */

/** The global the epilogue calls, if it is there (a process without the agent runs the module unchanged). */
export const CJS_RECEIVER = 'txlens.cjs.loaded';

/** Marks a source already given the epilogue (the agent's hook registered again after a later loader). */
export const CJS_EPILOGUE_MARK = '/*txlens-cjs*/';

/**
 * How the paths of the hooked CommonJS files end (modules.ts's HOOKED_FILES): the hooks thread
 * cannot reach the agent's modules, so it gets these as its data. The receiver asks hookedBy itself.
 */
export const CJS_SUFFIXES: readonly string[] = HOOKED_FILES.map(([suffix]) => suffix);

/**
 * The hooks module, as a data: URL (no file of the agent's is a module the
 * hooks thread could import by name). Its load hook appends the epilogue after
 * the last line, so no line moves; anything unexpected passes through as loaded.
 */
export const HOOKS_SOURCE = `
let suffixes = [];
export function initialize(data) { suffixes = Array.isArray(data?.suffixes) ? data.suffixes : []; }
export async function load(url, context, nextLoad) {
  const result = await nextLoad(url, context);
  try {
    if (result?.format !== 'commonjs' || result.source == null || !url.startsWith('file:')) return result;
    const path = decodeURIComponent(new URL(url).pathname);
    if (!suffixes.some((s) => path.endsWith(s))) return result;
    const text = typeof result.source === 'string' ? result.source : Buffer.from(result.source).toString('utf8');
    if (text.includes(${JSON.stringify(CJS_EPILOGUE_MARK)})) return result;
    return { ...result, source: text + ${JSON.stringify(`\n${CJS_EPILOGUE_MARK} globalThis[Symbol.for(${JSON.stringify(CJS_RECEIVER)})]?.(__filename, module);\n`)} };
  } catch {
    return result;
  }
}
`;

const WRAPPED = Symbol.for('txlens.cjs.register');

/** Wrap `module.register` so that the agent's hook follows every loader the app registers. */
export function followLoaderHooks(): void {
  const Module: any = require('node:module');
  const original = Module.register;
  if (typeof original !== 'function' || original[WRAPPED]) return;
  const url = 'data:text/javascript,' + encodeURIComponent(HOOKS_SOURCE);
  let receiving = false;
  const wrapped = function register(this: unknown) {
    const result = original.apply(this, arguments as any);
    try {
      if (!receiving) {
        Object.defineProperty(globalThis, Symbol.for(CJS_RECEIVER), { value: receive, configurable: true });
        receiving = true;
      }
      original.call(Module, url, { data: { suffixes: CJS_SUFFIXES } });
    } catch (e) {
      rt.fail(e);
    }
    return result;
  };
  Object.defineProperty(wrapped, WRAPPED, { value: true });
  Object.defineProperty(wrapped, 'length', { value: original.length });
  Module.register = wrapped;
}

/** Called by the epilogue as a hooked file finishes evaluating: hook its exports as Module#load would have. */
function receive(filename: unknown, module: any): void {
  if (!rt.ACTIVE || typeof filename !== 'string' || module === null || typeof module !== 'object') return;
  const name = hookedBy(filename);
  if (name === '') return;
  try {
    module.exports = hookModule(name, filename, module.exports);
  } catch (e) {
    rt.fail(e);
  }
}
