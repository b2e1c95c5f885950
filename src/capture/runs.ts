/**
 * The run-folder lifecycle: where runs live (`<workspace>/.txlens/runs`), how
 * a run folder is named, listed, claimed while it is written, rotated, and
 * reused. The CLI and the editor both go through here, so a run in progress is
 * never deleted by another one's rotation, and a reused `--trace` folder never
 * mixes two runs.
 *
 * A run in progress holds a lock file naming its owner's pid; rotation skips
 * every folder whose owner is still alive. A lock left by a process that died
 * does not protect its folder. No child_process here: the editor's activation
 * path loads this module.
 */
import { closeSync, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { PROCESS_FILE_SUFFIX, RUN_FILE, STATUS_FILE_SUFFIX } from '../trace/schema';

/** Inside a run folder: the pid of the process that is writing it, while it does. */
export const RUN_LOCK_FILE = 'txlens.lock';
/** Kept by default, as the README says. */
export const DEFAULT_KEEP_RUNS = 10;
const TERMINAL_SUFFIX = '-terminal';

/** A run-folder operation the environment refused (read-only location, a file in the way): a one-line error. */
export class RunFolderError extends Error {}

export function txlensRoot(workspace: string): string {
  return join(workspace, '.txlens');
}

export function runsRoot(workspace: string): string {
  return join(txlensRoot(workspace), 'runs');
}

/** Names sort by time: an ISO timestamp, then who wrote it (a pid, or `terminal`). */
function runFolderName(owner: string | number, now = new Date()): string {
  return `${now.toISOString().replace(/[:.]/g, '-')}-${owner}`;
}

/** Whether a run folder was traced in the editor's integrated terminal (no run.json there). */
export function isTerminalRun(name: string): boolean {
  return name.endsWith(TERMINAL_SUFFIX);
}

function errorText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const reasons: Record<string, string> = {
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EROFS: 'read-only file system',
    ENOSPC: 'no space left on the device',
    ENOTDIR: 'a file is in the way',
    EEXIST: 'a file is in the way',
    ENOENT: 'no such file or directory',
  };
  return err?.code ? `${reasons[err.code] ?? err.code} (${err.code})` : String(err?.message ?? e);
}

function wrap<T>(what: string, path: string, body: () => T): T {
  try {
    return body();
  } catch (e) {
    if (e instanceof RunFolderError) throw e;
    throw new RunFolderError(`cannot ${what} ${path}: ${errorText(e)}`);
  }
}

/**
 * mkdir -p, one level at a time. Node's own recursive mkdir can spin forever
 * where a parent exists but refuses children with ENOENT (/proc).
 */
export function makeFolder(dir: string): void {
  const missing: string[] = [];
  for (let d = resolve(dir); ; d = dirname(d)) {
    try {
      if (lstatSync(d).isDirectory()) break;
      const e: NodeJS.ErrnoException = new Error(`not a folder: ${d}`);
      e.code = 'ENOTDIR';
      throw e;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    missing.push(d);
    if (dirname(d) === d) break;
  }
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
}

/** Whether a process with this pid is alive (EPERM: alive, owned by someone else). */
function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The live owner of a run folder, if one holds its lock. */
export function liveOwner(dir: string): number | undefined {
  let text: string;
  try {
    const lock = join(dir, RUN_LOCK_FILE);
    if (!lstatSync(lock).isFile()) return undefined;
    text = readFileSync(lock, 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number.parseInt(text.trim(), 10);
  return alive(pid) ? pid : undefined;
}

/** Marks a run folder as written by this process, so no rotation removes it meanwhile. */
export function claimRunDir(dir: string): void {
  wrap('write to the trace folder', dir, () => writeFileSync(join(dir, RUN_LOCK_FILE), `${process.pid}\n`));
}

/** The run is over: its folder may be rotated away like any other. Never throws (the folder may be gone). */
export function releaseRunDir(dir: string): void {
  try {
    if (liveOwner(dir) === process.pid) unlinkSync(join(dir, RUN_LOCK_FILE));
  } catch {
    // already gone with its folder
  }
}

export interface RunEntry {
  name: string;
  dir: string;
  /** A live process still writes it. */
  live: boolean;
}

/** The run folders of a workspace, newest first. */
export function listRuns(workspace: string): RunEntry[] {
  const root = runsRoot(workspace);
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return [];
  }
  const out: RunEntry[] = [];
  for (const name of names.sort().reverse()) {
    if (name.startsWith('.')) continue; // a folder being created
    const dir = join(root, name);
    try {
      if (!lstatSync(dir).isDirectory()) continue;
    } catch {
      continue;
    }
    out.push({ name, dir, live: liveOwner(dir) !== undefined });
  }
  return out;
}

/** Removes the oldest finished runs so that at most `keep` remain; runs in progress are never removed. */
export function rotateRuns(workspace: string, keep: number): void {
  // A folder left half-made by a txlens that died between creating and naming it.
  try {
    for (const name of readdirSync(runsRoot(workspace))) {
      const pending = /^\.new-(\d+)-/.exec(name);
      if (pending && !alive(Number(pending[1]))) rmSync(join(runsRoot(workspace), name), { recursive: true, force: true });
    }
  } catch {
    // nothing to tidy
  }
  const runs = listRuns(workspace);
  let kept = 0;
  for (const run of runs) {
    if (kept < keep) kept++;
    else if (!run.live) {
      try {
        rmSync(run.dir, { recursive: true, force: true });
      } catch {
        // Tidying old runs never stops a new one; the next rotation tries again.
      }
    }
  }
}

/** Creates `<workspace>/.txlens` with a .gitignore that keeps traces out of the user's commits. */
function ensureRunsRoot(workspace: string): string {
  const root = txlensRoot(workspace);
  const runs = runsRoot(workspace);
  wrap('create the trace folder', runs, () => makeFolder(runs));
  const ignore = join(root, '.gitignore');
  // Traces are local artefacts: keep them out of the user's commits without touching their .gitignore.
  if (!existsSync(ignore)) wrap('write', ignore, () => writeFileSync(ignore, '*\n'));
  return runs;
}

/**
 * A fresh run folder under `<workspace>/.txlens/runs`, claimed by this process
 * (release it with releaseRunDir when the run is over), keeping the most recent
 * `keep` runs. The folder appears under its final name with its lock already
 * inside, so a concurrent rotation never sees it unclaimed.
 */
export function newRunDir(workspace: string, keep = DEFAULT_KEEP_RUNS): string {
  const runs = ensureRunsRoot(workspace);
  const dir = join(runs, runFolderName(process.pid));
  const pending = join(runs, `.new-${process.pid}-${Date.now()}`);
  wrap('create the trace folder', dir, () => {
    mkdirSync(pending);
    claimRunDir(pending);
    renameSync(pending, dir);
  });
  // This run is one of the `keep`.
  rotateRuns(workspace, keep);
  return dir;
}

/**
 * The folder the editor's terminal tracing points new terminals at, claimed by
 * the editor's own process while it lives (processes in those terminals append
 * to it at any time).
 */
export function terminalRunDir(workspace: string, keep = DEFAULT_KEEP_RUNS): string {
  const runs = ensureRunsRoot(workspace);
  const dir = join(runs, runFolderName(TERMINAL_SUFFIX.slice(1)));
  wrap('create the trace folder', dir, () => makeFolder(dir));
  claimRunDir(dir);
  rotateRuns(workspace, keep);
  return dir;
}

/** The first bytes of a file already known to be regular (lstat), so the open cannot block on a FIFO. */
function firstBytes(path: string, n: number): string {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(n);
    const got = readSync(fd, buf, 0, n, 0);
    return buf.toString('utf8', 0, got);
  } finally {
    closeSync(fd);
  }
}

function isRegularFile(path: string): boolean {
  try {
    return lstatSync(path).isFile();
  } catch {
    return false;
  }
}

/** A process file some txlens agent wrote: a regular `*.ndjson` file whose first line is a trace header. */
function isTxlensProcessFile(path: string): boolean {
  try {
    return isRegularFile(path) && /^\{\s*"k"\s*:\s*"header"/.test(firstBytes(path, 64));
  } catch {
    return false;
  }
}

/**
 * Makes `dir` ready to hold a new run (`--trace DIR`): created when missing;
 * when it holds an earlier txlens trace, that trace's files are removed so the
 * report holds only the new run. Anything that is not txlens's own (a user's
 * file, a folder, an `.ndjson` file that is no trace) makes it refuse, deleting
 * nothing. Claims the folder like newRunDir.
 */
export function prepareTraceDir(dir: string): string {
  let isDir = false;
  try {
    // A link to a folder is the user's way of naming it: followed, unlike links inside it.
    isDir = statSync(dir).isDirectory();
    if (!isDir) throw new RunFolderError(`--trace ${dir} is not a folder`);
  } catch (e) {
    if (e instanceof RunFolderError) throw e;
  }
  if (!isDir) {
    wrap('create the trace folder', dir, () => makeFolder(dir));
    claimRunDir(dir);
    return dir;
  }
  const owner = liveOwner(dir);
  if (owner !== undefined && owner !== process.pid) throw new RunFolderError(`--trace ${dir} is being written by another txlens run (pid ${owner})`);
  const names = wrap('read the trace folder', dir, () => readdirSync(dir));
  const ours: string[] = [];
  const foreign: string[] = [];
  for (const name of names) {
    const path = join(dir, name);
    const own =
      ((name === RUN_LOCK_FILE || name === RUN_FILE || name.endsWith(STATUS_FILE_SUFFIX)) && isRegularFile(path)) ||
      (name.endsWith(PROCESS_FILE_SUFFIX) && isTxlensProcessFile(path));
    (own ? ours : foreign).push(name);
  }
  if (foreign.length > 0) {
    const shown = foreign.sort().slice(0, 3).join(', ') + (foreign.length > 3 ? `, … (${foreign.length} in all)` : '');
    throw new RunFolderError(`--trace ${dir} holds files that are not a txlens trace (${shown}); name an empty folder or an earlier trace folder`);
  }
  for (const name of ours) wrap('clear the earlier trace in', dir, () => rmSync(join(dir, name), { force: true }));
  claimRunDir(dir);
  return dir;
}
