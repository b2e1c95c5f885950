/**
 * Loads dist/engine.js on first use. The extension bundle stays small because
 * nothing heavy is imported statically: the engine's types are imported with
 * `import type` only, and its code arrives through this one require().
 */
import { join } from 'node:path';

export type Engine = typeof import('../engine');

let engine: Engine | undefined;

export function loadEngine(extensionPath: string): Engine {
  // A computed path keeps esbuild from bundling the engine into the extension.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded lazily, at a path known only at run time
  engine ??= require(join(extensionPath, 'dist', 'engine.js')) as Engine;
  return engine;
}

export function engineLoaded(): boolean {
  return engine !== undefined;
}
