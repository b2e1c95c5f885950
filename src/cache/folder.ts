/**
 * The user's txlens cache folder: where the V8 code caches of the engine and
 * the Node agent (./code-cache.ts) and the static results of a workspace
 * (src/static/persist.ts, placed by src/cli/run-static.ts) are kept between
 * runs. Everything in it is a speed-up that can be thrown away.
 *
 * This module is loaded by the Node agent's preload in every traced process,
 * so it needs nothing but a few of Node's built-ins.
 */
import { lstatSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Names the cache folder; `off` turns the cache off. */
export const CACHE_DIR_ENV = 'TXLENS_CACHE_DIR';

/** `$TXLENS_CACHE_DIR`, else `$XDG_CACHE_HOME/txlens`, else `~/.cache/txlens`; undefined when off. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const set = env[CACHE_DIR_ENV];
  if (set === 'off') return undefined;
  if (set) return set;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'txlens');
}

/** A folder of ours: made when missing, and a real folder owned by this user (not a link someone planted). */
export function ownFolder(dir: string): boolean {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = lstatSync(dir);
    return st.isDirectory() && (typeof process.getuid !== 'function' || st.uid === process.getuid());
  } catch {
    return false;
  }
}
