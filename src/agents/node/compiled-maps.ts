/**
 * Source maps of code a require hook compiled in memory: ts-node, @swc/register and
 * esbuild-register hand their output for a .ts file to Module#_compile with its map
 * inline at the end, which Node keeps only under --enable-source-maps, and the file on
 * disk is the source, with no map comment to read. Without them a mocha + ts-node suite
 * (pg-query-stream's) was cited at the compiled code's lines, several lines off its own.
 */
import * as rt from './runtime';

/* eslint-disable prefer-rest-params, @typescript-eslint/no-explicit-any, @typescript-eslint/no-require-imports */

/** File -> the data: URL its compiled code ended with; parsed only when a stack names the file. */
const inlineMaps = new Map<string, string>();

function noteCompiled(content: unknown, filename: unknown): void {
  // Plain JavaScript is what Node compiles from disk: its map comment, if any, is read from the file.
  if (typeof content !== 'string' || typeof filename !== 'string' || /\.(?:[cm]?js|json)$/i.test(filename)) return;
  const url = rt.trailingMapUrl(content);
  if (url !== undefined && url.startsWith('data:')) inlineMaps.set(filename, url);
}

function compiledMap(file: string): { sources?: unknown; sourceRoot?: unknown } | undefined {
  const url = inlineMaps.get(file);
  if (url === undefined) return undefined;
  inlineMaps.delete(file);
  return rt.dataUrlMap(url);
}

/** Wrap Module#_compile to keep the inline maps of compiled code (the code itself runs as given). */
export function watchCompiledMaps(): void {
  const proto = require('node:module').prototype;
  const compile = proto._compile;
  if (typeof compile !== 'function' || compile.__txlens) return;
  const traced = function _compile(this: any, content: unknown, filename: unknown) {
    try {
      noteCompiled(content, filename);
    } catch (e) {
      rt.fail(e);
    }
    return compile.apply(this, arguments as any);
  };
  Object.defineProperty(traced, '__txlens', { value: true });
  Object.defineProperty(traced, 'length', { value: compile.length });
  proto._compile = traced;
  rt.addSourceMapProvider(compiledMap);
}
