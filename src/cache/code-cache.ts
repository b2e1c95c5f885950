/**
 * Loads a CommonJS bundle with V8's code cache. Compiling dist/engine.js
 * (14 MB) costs a fresh `txlens` process about as much as the rest of a short
 * report, and compiling the Node agent (dist/agents/node/agent.js) is most of
 * what the agent costs each traced process at start; with the cache V8 reads
 * back the code it compiled last time instead. The CLI loads the engine
 * through it, the Node agent's preload the agent.
 * Node 20 has no module.enableCompileCache, so this does what it does by hand:
 * vm.Script with `cachedData`, the cache written after use so that it holds the
 * functions the command ran.
 *
 * The cache is named by the bundle's content hash (taken when it is built:
 * hashing 14 MB at each start would cost more than the cache saves), its size
 * and time, the V8 version and the architecture, so a rebuilt or upgraded
 * bundle never meets an old cache, and V8 rejects (and we rewrite) one it
 * cannot use. It lives in the user's own txlens cache folder (./folder.ts),
 * never in a shared one: another user's file there would be code we run. A
 * cache is only ever a speed-up: any failure to read or write it loads the
 * bundle the plain way, and nothing is printed.
 */
import { isAscii } from 'node:buffer';
import { closeSync, fstatSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, type Stats, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { Script } from 'node:vm';
import { cacheDir, ownFolder } from './folder';

/** Caches kept per bundle: a few builds side by side (an upgrade, two installs) each keep theirs. */
const KEEP_CACHES = 4;

/** A variant's name in a cache file's (see `requireBundle`): `.statements.cache`; the plain cache's ends in `-<arch>[-<flags>].cache`. */
const VARIANT = /\.[a-z]+\.cache$/;

/** Removes all but the newest caches of one bundle and variant: those of earlier builds are of no more use. */
function pruneOldCaches(dir: string, bundle: string, variant: string): void {
  const caches = readdirSync(dir)
    .filter((name) => name.startsWith(`${bundle}-`) && (variant ? name.endsWith(`.${variant}.cache`) : name.endsWith('.cache') && !VARIANT.test(name)))
    .map((name) => ({ path: join(dir, name), mtimeMs: statSync(join(dir, name)).mtimeMs }))
    .sort((a, b) => b.mtimeMs - a.mtimeMs);
  for (const old of caches.slice(KEEP_CACHES)) rmSync(old.path, { force: true });
}

/** V8 flags as part of a file name: `--a=1 --b` becomes `a=1+b`. */
function flagsName(v8Flags: string): string {
  return v8Flags
    .split(/\s+/)
    .filter(Boolean)
    .map((flag) => flag.replace(/^-+/, '').replace(/[^A-Za-z0-9=_-]/g, '_'))
    .join('+');
}

/**
 * The bundle's bytes inside Module.wrap's function (both halves of which are ASCII), read in
 * one piece, and the file's stat from the same read. Decoded in one piece, an ASCII bundle's
 * text (esbuild.mjs makes the engine one) is one-byte text that Node keeps outside V8's heap
 * (it is that long), and V8 compiles it where it is. Wrapped as strings, the text was a
 * concatenation, which V8 copies into its heap to compile: 14 MB that brought a short run's
 * heap to a full collection of its own.
 */
function readWrapped(file: string): { bytes: Buffer; stat: Stats } {
  const [head, tail] = Module.wrap('\0').split('\0');
  const fd = openSync(file, 'r');
  try {
    const stat = fstatSync(fd);
    const bytes = Buffer.allocUnsafe(head.length + stat.size + tail.length);
    let at = bytes.write(head, 0, 'latin1');
    for (let n = -1; n !== 0 && at < head.length + stat.size; at += n) n = readSync(fd, bytes, at, head.length + stat.size - at, null);
    at += bytes.write(tail, at, 'latin1');
    return { bytes: bytes.subarray(0, at), stat };
  } finally {
    closeSync(fd);
  }
}

export interface LoadedBundle<T> {
  exports: T;
  /** Whether V8 took its code from the cache. */
  fromCache: boolean;
  /** The variant of the cache V8 took ('' for the plain cache), undefined when it took none. */
  cacheVariant: string | undefined;
  /**
   * Writes the cache (`variant`'s, the plain one by default) unless V8 took its code from that
   * one, with what has been compiled by now. Never throws.
   */
  saveCache(variant?: string): void;
}

/**
 * Requires `file` (a CommonJS bundle) through the code cache in `dir`; without `dir` or
 * without `buildHash` (the bundle's content hash, recorded when it was built), a plain require.
 * `v8Flags` are set first, with or without a cache: V8 stamps a code cache with the flags
 * it was made under and rejects it under any others, so flags that are set at all must be
 * set before every load, and they are part of the cache's name.
 *
 * `variants` (lower-case names, preferred first) are caches of the same bundle written by
 * processes that ran more of it (`saveCache(variant)`): a cache holds only the functions that
 * had run when it was written, so one written by a process that ran little leaves the rest
 * to be compiled again by every process that uses it. The first of them found is read, else
 * the plain cache.
 */
export function requireBundle<T>(file: string, buildHash: string | undefined, dir: string | undefined = cacheDir(), v8Flags?: string, variants: readonly string[] = []): LoadedBundle<T> {
  // node:v8 only when there are flags to set: loading it costs a Node start several million
  // instructions, which the Node agent's preload (src/agents/node/preload.ts), in every process, would pay for nothing.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  if (v8Flags) (require('node:v8') as typeof import('node:v8')).setFlagsFromString(v8Flags);
  const plain = (): LoadedBundle<T> => ({
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a bundle beside this one, found at run time
    exports: require(file) as T,
    fromCache: false,
    cacheVariant: undefined,
    saveCache: () => undefined,
  });
  if (!dir || !buildHash || !/^[0-9a-f]{16,}$/.test(buildHash) || !ownFolder(dir)) return plain();
  let wrapped: Buffer;
  let identity: string;
  try {
    const { bytes, stat } = readWrapped(file);
    wrapped = bytes;
    // Size and time too: a bundle edited after the build must not meet the build's cache.
    identity = `${buildHash.slice(0, 32)}-${stat.size}-${Math.trunc(stat.mtimeMs)}`;
  } catch {
    return plain(); // require says why
  }
  const flagsTag = v8Flags ? `-${flagsName(v8Flags)}` : '';
  const cacheStem = join(dir, `${basename(file)}-${identity}-${process.versions.v8}-${process.arch}${flagsTag}`);
  const cacheFile = (variant: string): string => (variant ? `${cacheStem}.${variant}.cache` : `${cacheStem}.cache`);
  let cachedData: Buffer | undefined;
  let readVariant: string | undefined;
  for (const variant of [...variants, '']) {
    try {
      cachedData = readFileSync(cacheFile(variant));
      readVariant = variant;
      break;
    } catch {
      cachedData = undefined;
    }
  }
  // Module.wrap: the same function Node wraps a CommonJS file in, so the bundle sees its usual scope.
  // No import() in the bundle: Node 20 resolves one in a vm.Script only behind an experimental
  // flag (or warning). test/engine/code-cache.test.ts holds the engine bundle to that.
  // An ASCII bundle is read as one-byte text: no UTF-8 decoding of 14 MB, and V8 keeps it one byte per character.
  const text = isAscii(wrapped) ? wrapped.toString('latin1') : wrapped.toString('utf8');
  const script = new Script(text, { filename: file, cachedData });
  const fromCache = cachedData !== undefined && !script.cachedDataRejected;
  const mod = new Module(file, module);
  mod.filename = file;
  mod.paths = (Module as unknown as { _nodeModulePaths(dir: string): string[] })._nodeModulePaths(dirname(file));
  const fn = script.runInThisContext() as (exports: unknown, require: NodeJS.Require, module: Module, filename: string, dirname: string) => void;
  fn.call(mod.exports, mod.exports, createRequire(file), mod, file, dirname(file));
  mod.loaded = true;
  const cacheVariant = fromCache ? readVariant : undefined;
  return {
    exports: mod.exports as T,
    fromCache,
    cacheVariant,
    saveCache(variant = '') {
      if (cacheVariant === variant) return;
      const target = cacheFile(variant);
      const tmp = `${target}.${process.pid}.tmp`;
      try {
        writeFileSync(tmp, script.createCachedData(), { mode: 0o600 });
        renameSync(tmp, target); // whole or not at all: a concurrent reader never sees half a cache
        pruneOldCaches(dir, basename(file), variant);
      } catch {
        try {
          rmSync(tmp, { force: true });
        } catch {
          // nothing more to do: the next run loads the bundle the plain way again
        }
      }
    },
  };
}
