/**
 * Reads a run folder: run.json plus one NDJSON file per process. Bad input
 * never stops a read: every line that cannot be used is counted with its
 * reason, so the report can say "N lines skipped" and why.
 */
import { closeSync, constants as fsConstants, fstatSync, lstatSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { MASKED_VALUE, maskSqlLiterals, redactArgv, redactSecrets, scrubValues } from './redact';
import {
  HeaderEvent,
  PROCESS_FILE_SUFFIX,
  ProcessStatus,
  RUN_FILE,
  RunInfo,
  STATUS_FILE_SUFFIX,
  TRACE_FORMAT_VERSION,
  TraceEvent,
} from './schema';
import { cleanHeader, EVENT_VALIDATORS, isRunInfo } from './validate';

export class TraceError extends Error {}

export type SkipReason =
  | 'not JSON'
  | 'not an object'
  | 'unknown event kind'
  | 'missing fields'
  | 'unknown format version'
  | 'no header'
  | 'truncated line'
  | 'wrong field type'
  | 'line too long'
  | 'not a regular file';

export interface SkipTally {
  total: number;
  byReason: Partial<Record<SkipReason, number>>;
  /** A few examples (file:line: reason) to show with --debug. */
  examples: string[];
}

export interface ProcessTrace {
  file: string;
  header: HeaderEvent;
  events: TraceEvent[];
}

export interface TraceRead {
  dir: string;
  run?: RunInfo;
  processes: ProcessTrace[];
  skipped: SkipTally;
  /** What the trace is known to lack (see captureGaps). */
  gaps: string[];
}

const CHUNK = 1 << 20;

/**
 * The longest line the reader takes in. Agents keep lines far shorter (SQL and
 * parameters are capped); a longer one is streamed past and counted, never held
 * whole in memory.
 */
export const MAX_LINE_BYTES = 16 * 1024 * 1024;

/**
 * Splits bytes into lines as they arrive. Lines are cut at the newline byte,
 * which never occurs inside a multi-byte UTF-8 character, so each line decodes
 * on its own. A line past `maxBytes` is dropped as it streams in and reported
 * once to `onTooLong`.
 *
 * The complete lines of a chunk are decoded in one go and cut as text: one
 * decode per chunk instead of one per line (each line is then a slice of that
 * text, which JSON.parse copies what it keeps from). Only the piece of a line
 * that spans chunks is copied out of the caller's buffer.
 */
export class LineSplitter {
  lineNo = 0;
  private parts: Buffer[] = [];
  private partBytes = 0;
  private overflow = false;

  constructor(
    private readonly onLine: (line: string, lineNo: number, complete: boolean) => void,
    private readonly onTooLong: (lineNo: number) => void,
    private readonly maxBytes = MAX_LINE_BYTES,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    if (this.pending) {
      const nl = chunk.indexOf(10);
      if (nl < 0) {
        this.keep(chunk);
        return;
      }
      this.keep(chunk.subarray(0, nl));
      this.flush(true);
      start = nl + 1;
    }
    const last = chunk.lastIndexOf(10);
    if (last >= start) {
      // Lines no longer than the span that holds them all cannot be too long.
      if (last - start <= this.maxBytes) this.splitText(chunk.toString('utf8', start, last));
      else this.splitBytes(chunk, start, last);
      start = last + 1;
    }
    if (start < chunk.length) this.keep(chunk.subarray(start));
  }

  /** Complete lines, joined by newlines (the last one's newline not included). */
  private splitText(text: string): void {
    let from = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', from)) {
      this.onLine(text.slice(from, nl), ++this.lineNo, true);
      from = nl + 1;
    }
    this.onLine(from === 0 ? text : text.slice(from), ++this.lineNo, true);
  }

  /** Complete lines from `start` up to the newline at `last`, each measured before it is decoded. */
  private splitBytes(chunk: Buffer, start: number, last: number): void {
    for (let nl = chunk.indexOf(10, start); start <= last; nl = chunk.indexOf(10, start)) {
      this.lineNo++;
      if (nl - start > this.maxBytes) this.onTooLong(this.lineNo);
      else this.onLine(chunk.toString('utf8', start, nl), this.lineNo, true);
      start = nl + 1;
    }
  }

  /** The input ended: a last line without its newline is handed over as incomplete. */
  end(): void {
    if (this.partBytes > 0 || this.overflow) this.flush(false);
  }

  /** Whether part of a line is waiting for its newline. */
  get pending(): boolean {
    return this.partBytes > 0 || this.overflow;
  }

  private keep(piece: Buffer): void {
    if (this.overflow) return;
    if (this.partBytes + piece.length > this.maxBytes) {
      this.overflow = true;
      this.parts = [];
      this.partBytes = 0;
      return;
    }
    // Copied: the caller reuses its read buffer.
    this.parts.push(Buffer.from(piece));
    this.partBytes += piece.length;
  }

  private flush(complete: boolean): void {
    this.lineNo++;
    if (this.overflow) this.onTooLong(this.lineNo);
    else this.onLine(Buffer.concat(this.parts, this.partBytes).toString('utf8'), this.lineNo, complete);
    this.parts = [];
    this.partBytes = 0;
    this.overflow = false;
  }
}

/** Opens a file for reading only if it is a regular file: never follows a link, never waits on a FIFO. */
export function openRegular(path: string): number {
  const fd = openSync(path, fsConstants.O_RDONLY | (fsConstants.O_NOFOLLOW ?? 0) | (fsConstants.O_NONBLOCK ?? 0));
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw Object.assign(new Error(`not a regular file: ${path}`), { code: 'ENOTREG' });
  }
  return fd;
}

let spareReadBuffer: Buffer | undefined;

/**
 * Lends the reader's one read buffer (a fresh one only while it is lent out).
 * A run folder can hold thousands of small process files: a new megabyte for
 * each is external memory that pushes the garbage collector into needless
 * collections.
 */
function withReadBuffer<T>(use: (buf: Buffer) => T): T {
  const buf = spareReadBuffer ?? Buffer.allocUnsafe(CHUNK);
  spareReadBuffer = undefined;
  try {
    return use(buf);
  } finally {
    spareReadBuffer = buf;
  }
}

/** Calls `onLine` for each line of a file, reading it in chunks so large traces never sit in memory as one string. */
export function forEachLine(
  path: string,
  onLine: (line: string, lineNo: number, complete: boolean) => void,
  onTooLong: (lineNo: number) => void = () => undefined,
): void {
  const fd = openRegular(path);
  try {
    withReadBuffer((buf) => {
      const lines = new LineSplitter(onLine, onTooLong);
      for (;;) {
        const n = readSync(fd, buf, 0, CHUNK, null);
        if (n === 0) break;
        lines.push(buf.subarray(0, n));
      }
      lines.end();
    });
  } finally {
    closeSync(fd);
  }
}

export function tally(skipped: SkipTally, reason: SkipReason, where: string): void {
  skipped.total++;
  skipped.byReason[reason] = (skipped.byReason[reason] ?? 0) + 1;
  if (skipped.examples.length < 10) skipped.examples.push(`${where}: ${reason}`);
}

function validHeaderClock(rec: Record<string, unknown>): boolean {
  return typeof rec.pid === 'number' && Number.isFinite(rec.pid) && typeof rec.t0 === 'string' && /^\d{1,30}$/.test(rec.t0);
}

/** Drops what `--params off` keeps out: parameters, literals in SQL, primary keys, and values quoted by failure messages. */
function withoutValues(rec: Record<string, unknown>): void {
  if (rec.k === 'stmt') {
    delete rec.params;
    if (typeof rec.sql === 'string') rec.sql = maskSqlLiterals(rec.sql);
    const err = rec.err as { message: string; detail?: string } | undefined;
    if (err) {
      err.message = scrubValues(err.message);
      if (err.detail !== undefined) err.detail = scrubValues(err.detail);
    }
  } else if (rec.k === 'test_end' && typeof rec.message === 'string') {
    rec.message = scrubValues(rec.message);
  } else if (rec.k === 'identity_hit' && Array.isArray(rec.key)) {
    rec.key = rec.key.map(() => MASKED_VALUE);
  }
}

/**
 * Checks the lines of one process file, in order: the header first, then
 * events. Usable events go to `take`; every other line is tallied in `skipped`
 * with its reason. Shared by the whole-file reader and the live tail, so both
 * judge a line alike.
 */
export class ProcessLines {
  header: HeaderEvent | undefined;
  private headerRejected = false;

  constructor(
    private readonly name: string,
    private readonly skipped: SkipTally,
    private readonly take: (ev: TraceEvent) => void,
    /** `--params off`: parameters, and the values failures quote, never get past the reader. */
    private readonly paramsOff = false,
  ) {}

  /** Where a skipped line is (`file:line`), made only for lines that are skipped: most are not. */
  private where(lineNo: number): string {
    return `${this.name}:${lineNo}`;
  }

  /** A line past MAX_LINE_BYTES, streamed past unread. */
  tooLong(lineNo: number): void {
    tally(this.skipped, 'line too long', `${this.name}:${lineNo}`);
  }

  line(line: string, lineNo: number, complete: boolean): void {
    if (line.length === 0) return;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch {
      // The last line of a process killed mid-write is cut short; say so precisely.
      tally(this.skipped, complete ? 'not JSON' : 'truncated line', this.where(lineNo));
      return;
    }
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
      tally(this.skipped, 'not an object', this.where(lineNo));
      return;
    }
    const rec = obj as Record<string, unknown>;
    // The kind is read once: events of every kind pass here, so each property read is a generic one.
    const k = rec.k;
    if (k === 'header') {
      if (this.header || this.headerRejected) {
        tally(this.skipped, 'unknown event kind', this.where(lineNo));
      } else if (rec.v !== TRACE_FORMAT_VERSION) {
        this.headerRejected = true;
        tally(this.skipped, 'unknown format version', this.where(lineNo));
      } else if (!validHeaderClock(rec)) {
        this.headerRejected = true;
        tally(this.skipped, 'missing fields', this.where(lineNo));
      } else {
        const header = rec as Record<string, unknown> & HeaderEvent;
        cleanHeader(header);
        header.argv = redactArgv(header.argv);
        this.header = header;
      }
      return;
    }
    if (!this.header) {
      tally(this.skipped, this.headerRejected ? 'unknown format version' : 'no header', this.where(lineNo));
      return;
    }
    const validate = typeof k === 'string' ? EVENT_VALIDATORS.get(k) : undefined;
    if (!validate) {
      tally(this.skipped, 'unknown event kind', this.where(lineNo));
      return;
    }
    // A sound event without a pid of its own gets its process's from the validator.
    const problem = validate(rec, this.header.pid);
    if (problem) {
      tally(this.skipped, problem.missing ? 'missing fields' : 'wrong field type', this.where(lineNo));
      return;
    }
    if (k === 'connect') {
      const db = rec.db as { url?: string };
      if (db.url !== undefined) db.url = redactSecrets(db.url);
    }
    if (this.paramsOff) withoutValues(rec);
    this.take(rec as unknown as TraceEvent);
  }
}

export function fileName(path: string): string {
  return path.split(/[\\/]/).pop() ?? path;
}

/**
 * Reads one process file. Events keep the order they were written in (the
 * model orders by time). With `onEvent`, events are handed over one by one
 * instead of collected, so a large trace never sits in memory as raw events.
 */
export function readProcessFile(
  path: string,
  skipped: SkipTally,
  onEvent?: (ev: TraceEvent) => void,
  paramsOff = false,
): ProcessTrace | undefined {
  const events: TraceEvent[] = [];
  const lines = new ProcessLines(fileName(path), skipped, onEvent ?? ((ev: TraceEvent) => events.push(ev)), paramsOff);
  try {
    forEachLine(
      path,
      (line, lineNo, complete) => lines.line(line, lineNo, complete),
      (lineNo) => lines.tooLong(lineNo),
    );
  } catch (e) {
    // Replaced by something else, or removed, since the folder was listed.
    tally(skipped, 'not a regular file', `${fileName(path)}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
  if (!lines.header) return undefined;
  return { file: path, header: lines.header, events };
}

const MAX_RUN_FILE_BYTES = 1024 * 1024;

export function readRunInfo(dir: string): RunInfo | undefined {
  const path = join(dir, RUN_FILE);
  try {
    const fd = openRegular(path);
    let text: string;
    try {
      text = withReadBuffer((buf) => buf.toString('utf8', 0, readSync(fd, buf, 0, Math.min(buf.length, MAX_RUN_FILE_BYTES), 0)));
    } finally {
      closeSync(fd);
    }
    const info = JSON.parse(text) as unknown;
    if (!isRunInfo(info)) return undefined;
    const run = info as RunInfo;
    run.command = redactArgv(run.command);
    return run;
  } catch {
    return undefined;
  }
}

/**
 * The process files of a run folder, sorted. Only regular files count: a
 * folder, a link or a FIFO named like one is reported to `onIrregular` (never
 * opened, so it cannot hang or fail the read).
 */
export function processFiles(dir: string, onIrregular?: (name: string) => void): string[] {
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw new TraceError(`trace folder not found: ${dir}`);
  }
  if (!st.isDirectory()) throw new TraceError(`not a trace folder: ${dir}`);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    throw new TraceError(`cannot read the trace folder ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const files: string[] = [];
  for (const name of names.filter((n) => n.endsWith(PROCESS_FILE_SUFFIX)).sort()) {
    const path = join(dir, name);
    let regular: boolean;
    try {
      regular = lstatSync(path).isFile();
    } catch {
      continue; // removed since the listing
    }
    if (regular) files.push(path);
    else onIrregular?.(name);
  }
  return files;
}

function irregularTally(skipped: SkipTally): (name: string) => void {
  return (name) => tally(skipped, 'not a regular file', name);
}

/**
 * What a trace is known to lack, for the report's notes. The one place such
 * notes are made from what the reader saw.
 */
export function captureGaps(run: RunInfo | undefined, processCount: number): string[] {
  const gaps: string[] = [];
  if (processCount === 0) {
    gaps.push(
      run
        ? 'nothing was traced: no process of the command wrote a trace (a command that starts neither Python nor Node; a Node process that loads neither pg nor better-sqlite3, whose agent writes nothing; a Python interpreter that skips sitecustomize, such as python -S or -I)'
        : 'nothing was traced: the folder holds no process trace',
    );
  }
  return gaps;
}

/** Reads a whole run folder into memory. Throws TraceError only when there is no folder to read. */
export function readTrace(dir: string): TraceRead {
  const skipped: SkipTally = { total: 0, byReason: {}, examples: [] };
  const processes: ProcessTrace[] = [];
  const run = readRunInfo(dir);
  for (const file of processFiles(dir, irregularTally(skipped))) {
    const p = readProcessFile(file, skipped, undefined, run?.params === 'off');
    if (p) processes.push(p);
  }
  return { dir, run, processes, skipped, gaps: captureGaps(run, processes.length) };
}

/**
 * What the model is built from: every process's header first (together they
 * fix the run's shared clock), then each process's events in file order.
 */
export interface EventSource {
  dir: string;
  run?: RunInfo;
  processes: { header: HeaderEvent; file: string }[];
  /** Hands every usable event of process `index` to `onEvent`, in file order. */
  events(index: number, onEvent: (ev: TraceEvent) => void): void;
  /** Filled in as files are read: complete once every process's events were read. */
  skipped: SkipTally;
  /**
   * What the trace is known to lack (nothing traced, a folder removed mid-run, events an
   * agent could not write): notes that say the run was not fully traced. Complete, like
   * `skipped`, once every process's events were read.
   */
  gaps?: string[];
}

/** An in-memory trace as an event source (tests, and callers that already hold one). */
export function traceSource(trace: TraceRead): EventSource {
  return {
    dir: trace.dir,
    run: trace.run,
    processes: trace.processes.map((p) => ({ header: p.header, file: p.file })),
    events: (index, onEvent) => trace.processes[index].events.forEach(onEvent),
    skipped: trace.skipped,
    gaps: trace.gaps,
  };
}

const FIRST_LINE_BYTES = 64 * 1024;

/** The first line of a file (up to FIRST_LINE_BYTES), without reading the rest. */
function firstLine(path: string): string {
  let fd: number;
  try {
    fd = openRegular(path);
  } catch {
    return '';
  }
  try {
    return withReadBuffer((buf) => {
      const n = readSync(fd, buf, 0, Math.min(buf.length, FIRST_LINE_BYTES), 0);
      const nl = buf.subarray(0, n).indexOf(10);
      return buf.toString('utf8', 0, nl >= 0 ? nl : n);
    });
  } catch {
    return '';
  } finally {
    closeSync(fd);
  }
}

function peekHeader(path: string): HeaderEvent | undefined {
  try {
    const h = JSON.parse(firstLine(path)) as Record<string, unknown>;
    if (h && typeof h === 'object' && h.k === 'header' && h.v === TRACE_FORMAT_VERSION && validHeaderClock(h)) {
      cleanHeader(h);
      h.argv = redactArgv(h.argv as string[]);
      return h as unknown as HeaderEvent;
    }
  } catch {
    // reported as skipped lines when the file is streamed
  }
  return undefined;
}

/**
 * A run folder as a streaming event source: headers are read up front, events
 * only when the model asks for them, one file at a time. A file whose first
 * line is not a usable header is read whole at once: its lines are counted as
 * skipped, and when a header follows the stray lines (as readTrace and the
 * live tail accept), its events are held for the model instead of lost.
 */
export function openTrace(dir: string): EventSource {
  const skipped: SkipTally = { total: 0, byReason: {}, examples: [] };
  const processes: { header: HeaderEvent; file: string }[] = [];
  // Events of the files read whole already, by process index: reading them again would count their skipped lines twice.
  const held = new Map<number, TraceEvent[]>();
  const run = readRunInfo(dir);
  const paramsOff = run?.params === 'off';
  for (const file of processFiles(dir, irregularTally(skipped))) {
    const header = peekHeader(file);
    if (header) {
      processes.push({ header, file });
      continue;
    }
    const late = readProcessFile(file, skipped, undefined, paramsOff);
    if (late) {
      held.set(processes.length, late.events);
      processes.push({ header: late.header, file });
    }
  }
  return {
    dir,
    run,
    processes,
    events: (index, onEvent) => {
      const events = held.get(index);
      if (events === undefined) readProcessFile(processes[index].file, skipped, onEvent, paramsOff);
      else {
        held.delete(index);
        for (const ev of events) onEvent(ev);
      }
    },
    skipped,
    gaps: captureGaps(run, processes.length),
  };
}

/** A process's status record (STATUS_FILE_SUFFIX), or undefined when it has none or it cannot be read. */
export function readProcessStatus(path: string): ProcessStatus | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const rec = JSON.parse(text) as ProcessStatus;
    if (rec && typeof rec === 'object' && Number.isInteger(rec.lost) && rec.lost >= 0) {
      return { lost: rec.lost, ...(typeof rec.error === 'string' ? { error: rec.error } : {}) };
    }
  } catch {
    // a record cut short or garbled says nothing reliable
  }
  return undefined;
}

/**
 * One note per process that could not write all it captured ("process 4821:
 * 312 events were not written: no space left on device"), read from the
 * status records of a run folder. A folder that cannot be read has none.
 */
export function statusNotes(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith(STATUS_FILE_SUFFIX)).sort();
  } catch {
    return [];
  }
  const notes: string[] = [];
  for (const name of names) {
    const status = readProcessStatus(join(dir, name));
    if (!status || (status.lost === 0 && !status.error)) continue;
    const pid = /^[a-z]+-(\d+)-/.exec(name)?.[1];
    const who = pid ? `process ${pid}` : name.slice(0, -STATUS_FILE_SUFFIX.length);
    const why = status.error ? `: ${describeWriteError(status.error)}` : '';
    notes.push(
      status.lost === 0
        ? `${who} could not write its trace${why}`
        : `${who}: ${status.lost} event${status.lost === 1 ? ' was' : 's were'} not written${why}`,
    );
  }
  return notes;
}

function describeWriteError(error: string): string {
  // 'ENOSPC: No space left on device' reads as the system's own words, lower-cased.
  const m = /^E[A-Z]+:\s*(.+)$/.exec(error);
  const text = m ? m[1] : error;
  return text.charAt(0).toLowerCase() + text.slice(1);
}

export function describeSkipped(skipped: SkipTally): string {
  const parts = Object.entries(skipped.byReason).map(([reason, n]) => `${n} ${reason}`);
  return `${skipped.total} line${skipped.total === 1 ? '' : 's'} skipped (${parts.join(', ')})`;
}
