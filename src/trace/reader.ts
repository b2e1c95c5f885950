/**
 * Reads a run folder: run.json plus one NDJSON file per process. Bad input
 * never stops a read: every line that cannot be used is counted with its
 * reason, so the report can say "N lines skipped" and why.
 */
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import {
  EVENT_KINDS,
  HeaderEvent,
  PROCESS_FILE_SUFFIX,
  REQUIRED_FIELDS,
  ProcessStatus,
  RUN_FILE,
  RunInfo,
  STATUS_FILE_SUFFIX,
  TRACE_FORMAT_VERSION,
  TraceEvent,
} from './schema';

export class TraceError extends Error {}

export type SkipReason =
  | 'not JSON'
  | 'not an object'
  | 'unknown event kind'
  | 'missing fields'
  | 'unknown format version'
  | 'no header'
  | 'truncated line';

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
}

const CHUNK = 1 << 20;

/** Calls `onLine` for each line of a file, reading it in chunks so large traces never sit in memory as one string. */
export function forEachLine(path: string, onLine: (line: string, lineNo: number, complete: boolean) => void): void {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    // StringDecoder keeps a multi-byte character split across two chunks whole.
    const decoder = new StringDecoder('utf8');
    let carry = '';
    let lineNo = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, CHUNK, null);
      if (n === 0) break;
      const text = carry + decoder.write(buf.subarray(0, n));
      let start = 0;
      for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
        onLine(text.slice(start, nl), ++lineNo, true);
        start = nl + 1;
      }
      carry = text.slice(start);
    }
    carry += decoder.end();
    if (carry.length > 0) onLine(carry, lineNo + 1, false);
  } finally {
    closeSync(fd);
  }
}

function tally(skipped: SkipTally, reason: SkipReason, where: string): void {
  skipped.total++;
  skipped.byReason[reason] = (skipped.byReason[reason] ?? 0) + 1;
  if (skipped.examples.length < 10) skipped.examples.push(`${where}: ${reason}`);
}

function hasFields(obj: Record<string, unknown>, fields: readonly string[]): boolean {
  for (const f of fields) if (obj[f] === undefined) return false;
  return true;
}

function isHeader(obj: Record<string, unknown>): obj is Record<string, unknown> & HeaderEvent {
  return obj.k === 'header';
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
  ) {}

  line(line: string, lineNo: number, complete: boolean): void {
    if (line.length === 0) return;
    const where = `${this.name}:${lineNo}`;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch {
      // The last line of a process killed mid-write is cut short; say so precisely.
      tally(this.skipped, complete ? 'not JSON' : 'truncated line', where);
      return;
    }
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
      tally(this.skipped, 'not an object', where);
      return;
    }
    const rec = obj as Record<string, unknown>;
    if (isHeader(rec)) {
      if (this.header || this.headerRejected) {
        tally(this.skipped, 'unknown event kind', where);
      } else if (rec.v !== TRACE_FORMAT_VERSION) {
        this.headerRejected = true;
        tally(this.skipped, 'unknown format version', where);
      } else if (typeof rec.pid !== 'number' || typeof rec.t0 !== 'string' || !/^\d+$/.test(rec.t0)) {
        this.headerRejected = true;
        tally(this.skipped, 'missing fields', where);
      } else {
        this.header = rec;
      }
      return;
    }
    if (!this.header) {
      tally(this.skipped, this.headerRejected ? 'unknown format version' : 'no header', where);
      return;
    }
    const k = rec.k;
    if (typeof k !== 'string' || !EVENT_KINDS.has(k)) {
      tally(this.skipped, 'unknown event kind', where);
      return;
    }
    if (typeof rec.t !== 'number' || !hasFields(rec, REQUIRED_FIELDS[k as TraceEvent['k']])) {
      tally(this.skipped, 'missing fields', where);
      return;
    }
    if (typeof rec.pid !== 'number') rec.pid = this.header.pid;
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
export function readProcessFile(path: string, skipped: SkipTally, onEvent?: (ev: TraceEvent) => void): ProcessTrace | undefined {
  const events: TraceEvent[] = [];
  const lines = new ProcessLines(fileName(path), skipped, onEvent ?? ((ev: TraceEvent) => events.push(ev)));
  forEachLine(path, (line, lineNo, complete) => lines.line(line, lineNo, complete));
  if (!lines.header) return undefined;
  return { file: path, header: lines.header, events };
}

export function readRunInfo(dir: string): RunInfo | undefined {
  const path = join(dir, RUN_FILE);
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as RunInfo;
  } catch {
    return undefined;
  }
}

export function processFiles(dir: string): string[] {
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw new TraceError(`trace folder not found: ${dir}`);
  }
  if (!st.isDirectory()) throw new TraceError(`not a trace folder: ${dir}`);
  return readdirSync(dir)
    .filter((name) => name.endsWith(PROCESS_FILE_SUFFIX))
    .sort()
    .map((name) => join(dir, name));
}

/** Reads a whole run folder into memory. Throws TraceError only when there is no folder to read. */
export function readTrace(dir: string): TraceRead {
  const skipped: SkipTally = { total: 0, byReason: {}, examples: [] };
  const processes: ProcessTrace[] = [];
  for (const file of processFiles(dir)) {
    const p = readProcessFile(file, skipped);
    if (p) processes.push(p);
  }
  return { dir, run: readRunInfo(dir), processes, skipped };
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
}

/** An in-memory trace as an event source (tests, and callers that already hold one). */
export function traceSource(trace: TraceRead): EventSource {
  return {
    dir: trace.dir,
    run: trace.run,
    processes: trace.processes.map((p) => ({ header: p.header, file: p.file })),
    events: (index, onEvent) => trace.processes[index].events.forEach(onEvent),
    skipped: trace.skipped,
  };
}

/** The first line of a file, without reading the rest. */
function firstLine(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(64 * 1024);
    const n = readSync(fd, buf, 0, buf.length, 0);
    const text = buf.toString('utf8', 0, n);
    const nl = text.indexOf('\n');
    return nl < 0 ? text : text.slice(0, nl);
  } catch {
    return '';
  } finally {
    closeSync(fd);
  }
}

function peekHeader(path: string): HeaderEvent | undefined {
  try {
    const h = JSON.parse(firstLine(path)) as HeaderEvent;
    if (h && h.k === 'header' && h.v === TRACE_FORMAT_VERSION && typeof h.pid === 'number' && /^\d+$/.test(String(h.t0))) return h;
  } catch {
    // reported as skipped lines when the file is streamed
  }
  return undefined;
}

/**
 * A run folder as a streaming event source: headers are read up front, events
 * only when the model asks for them, one file at a time. Files without a
 * usable header are still read once so their lines are counted as skipped.
 */
export function openTrace(dir: string): EventSource {
  const skipped: SkipTally = { total: 0, byReason: {}, examples: [] };
  const processes: { header: HeaderEvent; file: string }[] = [];
  for (const file of processFiles(dir)) {
    const header = peekHeader(file);
    if (header) processes.push({ header, file });
    else readProcessFile(file, skipped, () => undefined);
  }
  return {
    dir,
    run: readRunInfo(dir),
    processes,
    events: (index, onEvent) => {
      readProcessFile(processes[index].file, skipped, onEvent);
    },
    skipped,
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
