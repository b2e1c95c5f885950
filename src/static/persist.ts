/**
 * The static checker's results kept between processes, so that `txlens run`
 * over unchanged sources neither loads a parser nor parses a file.
 *
 * One JSON file per workspace root holds, per source file, its stamp (size and
 * mtime) with what `analyze` returned, and what `link` returned for it. What a
 * file's analysis may depend on besides its own text is the workspace's shape
 * (which files and folders exist: module names, imports that resolve), the
 * config files a plugin reads (package.json, tsconfig.json) and the txlens
 * build; these make the `shape` fingerprint. So:
 * - another build or another shape: nothing is reused, every file is parsed;
 * - same shape: a file whose stamp is unchanged keeps its analysis, a changed
 *   one is parsed again;
 * - link results (cross-file rules) of a plugin are reused only when none of
 *   that plugin's files changed: a change re-links every file of the plugin
 *   from the analyses, so a finding that depends on a changed file follows it.
 * A cache is only a speed-up: a file that is missing, unreadable, corrupt or
 * of another format is ignored (and rewritten), silently.
 *
 * No node:crypto here: loading that module costs a warm `txlens run` more than
 * everything else the static checker does then. The names and fingerprints below
 * need no secrecy (the file is in the user's own txlens cache folder, src/cache/folder.ts,
 * and names the root it was made for), only to tell workspaces and shapes apart:
 * fingerprint() does that.
 */
import { readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Finding } from '../analysis/findings';
import type { FileAnalysis } from './types';

/** Bumped when the layout below changes: an older file is then ignored. */
const FORMAT = 1;

/**
 * Workspaces whose results are kept: every project folder (and every temporary
 * one a test suite traces) leaves a file, so the least recently written go.
 */
export const KEEP_WORKSPACES = 32;

/** What `link` returned for one file, after its fixes were vetted. */
export interface StoredLink {
  findings: Finding[];
  notes?: string[];
  /** Per finding (same index), what its plugin keeps beside it (LanguagePlugin.findingExtras). */
  extras?: unknown[];
}

export interface StoredFile {
  plugin: string;
  mtimeMs: number;
  size: number;
  analysis?: FileAnalysis<unknown>;
  note?: string;
  linked?: StoredLink;
}

export interface StoredResults {
  format: number;
  build: string;
  root: string;
  shape: string;
  files: Record<string, StoredFile>;
}

/** Where the results of one workspace live, and the build they must come from. */
export interface PersistOptions {
  /** The cache file (in a folder the caller made sure is the user's own). */
  file: string;
  /** The txlens build: results of another build are never reused. */
  build: string;
}

/**
 * A 128-bit fingerprint of a text: four 32-bit lanes, each an FNV-1a-style pass with
 * its own multiplier, each finished with murmur3's avalanche. Not a cryptographic hash:
 * chance collisions between two shapes of one workspace are what it must rule out.
 */
export function fingerprint(text: string): string {
  let a = 0x811c9dc5;
  let b = 0x2f6b7a39;
  let c = 0x9e3779b9;
  let d = 0x7f4a7c15;
  for (let i = 0; i < text.length; i++) {
    const u = text.charCodeAt(i);
    a = Math.imul(a ^ u, 0x01000193);
    b = Math.imul(b ^ u, 0x5bd1e995);
    c = Math.imul(c ^ u, 0x85ebca6b);
    d = Math.imul(d ^ u, 0xc2b2ae35);
  }
  const len = text.length;
  return [a, b ^ len, c, d ^ Math.imul(len, 0x27d4eb2d)]
    .map((h) => (avalanche(h) >>> 0).toString(16).padStart(8, '0'))
    .join('');
}

/** murmur3's fmix32: every input bit reaches every output bit. */
function avalanche(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** The cache file's name for a workspace root (a fingerprint: roots are paths of any length). */
export function storeName(root: string): string {
  return `static-${fingerprint(root).slice(0, 24)}.json`;
}

/** The fingerprint of a workspace's shape: its folders, source files, and config files with their stamps. */
export function shapeOf(build: string, root: string, dirs: Iterable<string>, sources: Iterable<string>, configs: Iterable<[string, number, number]>): string {
  const parts = [`${FORMAT}\0${build}\0${root}\0`];
  for (const d of [...dirs].sort()) parts.push(`d\0${d}\0`);
  for (const s of [...sources].sort()) parts.push(`f\0${s}\0`);
  for (const [path, size, mtimeMs] of [...configs].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) parts.push(`c\0${path}\0${size}\0${mtimeMs}\0`);
  return fingerprint(parts.join(''));
}

/** The stored results for `root` from `build`, or undefined (none, unreadable, corrupt, another build or root). */
export function loadResults(opts: PersistOptions, root: string): StoredResults | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(opts.file, 'utf8'));
  } catch {
    return undefined;
  }
  const r = parsed as Partial<StoredResults> | null;
  if (!r || typeof r !== 'object' || r.format !== FORMAT || r.build !== opts.build || r.root !== root) return undefined;
  if (typeof r.shape !== 'string' || !r.files || typeof r.files !== 'object') return undefined;
  for (const f of Object.values(r.files)) if (!validFile(f)) return undefined;
  return r as StoredResults;
}

/** Enough of a stored file's shape that using it cannot throw. */
function validFile(f: unknown): f is StoredFile {
  if (!f || typeof f !== 'object') return false;
  const s = f as Partial<StoredFile>;
  if (typeof s.plugin !== 'string' || typeof s.mtimeMs !== 'number' || typeof s.size !== 'number') return false;
  if (s.note !== undefined && typeof s.note !== 'string') return false;
  if (s.analysis !== undefined) {
    const a = s.analysis as Partial<FileAnalysis<unknown>> | null;
    if (!a || !Array.isArray(a.findings) || !a.findings.every(validFinding) || !Array.isArray(a.keys) || (a.links !== undefined && !Array.isArray(a.links))) return false;
    if (a.notes !== undefined && !Array.isArray(a.notes)) return false;
  } else if (s.note === undefined) return false;
  if (s.linked !== undefined) {
    const l = s.linked as Partial<StoredLink> | null;
    if (!l || !Array.isArray(l.findings) || !l.findings.every(validFinding) || (l.notes !== undefined && !Array.isArray(l.notes)) || (l.extras !== undefined && !Array.isArray(l.extras))) return false;
  }
  return true;
}

function validFinding(f: unknown): boolean {
  const x = f as Partial<Finding> | null;
  return !!x && typeof x.rule === 'string' && typeof x.message === 'string' && !!x.location && typeof x.location.file === 'string' && typeof x.location.line === 'number' && Array.isArray(x.related) && Array.isArray(x.fixes);
}

/** Writes the results whole or not at all (a concurrent reader never sees half a file); never throws. */
export function saveResults(opts: PersistOptions, results: Omit<StoredResults, 'format'>): void {
  const tmp = `${opts.file}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, JSON.stringify({ format: FORMAT, ...results }), { mode: 0o600 });
    renameSync(tmp, opts.file);
    pruneResults(dirname(opts.file));
  } catch {
    try {
      rmSync(tmp, { force: true });
    } catch {
      // nothing more to do: the next run parses again
    }
  }
}

/** Removes all but the KEEP_WORKSPACES most recently written results files of `dir`. */
export function pruneResults(dir: string, keep = KEEP_WORKSPACES): void {
  const stored = readdirSync(dir).filter((name) => /^static-[0-9a-f]{24}\.json$/.test(name));
  if (stored.length <= keep) return;
  const byAge = stored
    .map((name) => {
      try {
        return { path: join(dir, name), mtimeMs: statSync(join(dir, name)).mtimeMs };
      } catch {
        return undefined; // removed meanwhile by another run's pruning
      }
    })
    .filter((f) => f !== undefined)
    .sort((a, b) => b.mtimeMs - a.mtimeMs);
  for (const old of byAge.slice(keep)) rmSync(old.path, { force: true });
}
