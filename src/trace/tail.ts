/**
 * Reads a run folder while the run is still writing it, so the parsing is done
 * by the time the test command exits and the report only waits for the model
 * and the rules. Lines are judged exactly as the whole-file reader judges them
 * (ProcessLines); only complete lines are taken until the run has ended, when
 * a cut-short last line counts as truncated.
 *
 * A process file's header is judged as soon as it is read (the source lists
 * the processes before the model asks for any event); the lines after it are
 * held as text and judged when the model takes that file's events. So each
 * event is parsed into objects the model consumes at once, as the streaming
 * reader's are, instead of thousands of them living through the run: in a
 * short-lived process the garbage collector copied every held event from the
 * young generation to the old one, and the old generation they filled was then
 * marked and swept. Past `maxBytes` of trace, the tail lets go of everything
 * and `finish()` falls back to the streaming reader, which never holds a large
 * trace whole.
 */
import { closeSync, fstatSync, readSync } from 'node:fs';
import { captureGaps, EventSource, fileName, LineSplitter, openRegular, openTrace, ProcessLines, processFiles, readRunInfo, SkipTally, tally } from './reader';
import type { RunInfo, TraceEvent } from './schema';

const READ_CHUNK = 1 << 20;
/** Process files held open between polls; past this many, the rest are opened for each read. */
const MAX_OPEN_FILES = 64;
// About 200k events: held as text until the model takes them, well inside the analysis's memory budget.
const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

interface TailedFile {
  path: string;
  offset: number;
  /** Kept open (up to MAX_OPEN_FILES): a file removed with its folder mid-run can still be read to its end. */
  fd?: number;
  splitter: LineSplitter;
  lines: ProcessLines;
  /** Lines after the header, with their numbers, not judged yet; the last one cut short when `lastCut`. */
  held: string[];
  heldNumbers: number[];
  lastCut: boolean;
  /** Where judged events go: the model's callback while it takes this file's events. */
  deliver: (ev: TraceEvent) => void;
}

function dropEvent(): void {
  // No event is judged outside events(): lines before the header never make one.
}

export class TraceTail {
  private readonly files = new Map<string, TailedFile>();
  private readonly skipped: SkipTally = { total: 0, byReason: {}, examples: [] };
  private bytes = 0;
  private run: RunInfo | undefined;
  private runRead = false;
  /** Names already counted as not regular files. */
  private readonly irregular = new Set<string>();
  /** Past the byte limit, or a read failed: finish() reads the folder again the streaming way. */
  private gaveUp = false;
  private finished = false;

  constructor(
    readonly dir: string,
    private readonly maxBytes = DEFAULT_MAX_BYTES,
  ) {}

  /** Takes in the whole lines appended since the last call. Never throws: a failure only ends tailing. */
  poll(): void {
    if (this.gaveUp || this.finished) return;
    try {
      let names: string[];
      try {
        names = processFiles(this.dir, (name) => {
          if (this.irregular.has(name)) return;
          this.irregular.add(name);
          tally(this.skipped, 'not a regular file', name);
        });
      } catch {
        // Not made yet; or removed under the run: the files already open can still be read.
        names = [...this.files.values()].filter((f) => f.fd !== undefined).map((f) => f.path);
      }
      for (const path of names) {
        try {
          this.readNew(this.fileFor(path));
        } catch (e) {
          // Removed since the listing (with its folder, perhaps): what was read of it stays.
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        }
      }
    } catch {
      this.giveUp();
    }
  }

  /**
   * The run has ended: read the rest (a cut-short last line is a truncated line)
   * and hand the trace over as an event source, in the same process order as the
   * streaming reader's.
   */
  finish(): EventSource {
    this.poll();
    this.finished = true;
    this.closeAll();
    if (this.gaveUp) return openTrace(this.dir);
    const tailed = [...this.files.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    for (const f of tailed) f.splitter.end();
    const withHeader = tailed.filter((f) => f.lines.header !== undefined);
    const run = readRunInfo(this.dir) ?? this.run;
    return {
      dir: this.dir,
      run,
      processes: withHeader.map((f) => ({ header: f.lines.header!, file: f.path })),
      events: (index, onEvent) => {
        const f = withHeader[index];
        const { held, heldNumbers } = f;
        // Handed over once: the model keeps what it needs, the lines and raw events can go.
        f.held = [];
        f.heldNumbers = [];
        f.deliver = onEvent;
        try {
          const last = held.length - 1;
          for (let i = 0; i <= last; i++) f.lines.line(held[i], heldNumbers[i], !(f.lastCut && i === last));
        } finally {
          f.deliver = dropEvent;
        }
      },
      skipped: this.skipped,
      gaps: captureGaps(run, withHeader.length),
    };
  }

  private fileFor(path: string): TailedFile {
    let f = this.files.get(path);
    if (!f) {
      if (!this.runRead) {
        // Written before the command started: it says whether parameters are kept out.
        this.run = readRunInfo(this.dir);
        this.runRead = true;
      }
      const file: TailedFile = {
        path,
        offset: 0,
        splitter: undefined!,
        lines: new ProcessLines(fileName(path), this.skipped, (ev) => file.deliver(ev), this.run?.params === 'off'),
        held: [],
        heldNumbers: [],
        lastCut: false,
        deliver: dropEvent,
      };
      const lines = file.lines;
      file.splitter = new LineSplitter(
        (line, lineNo, complete) => {
          // Until a header is taken, lines are judged now (they are tallied, or one is the header).
          if (lines.header === undefined) {
            lines.line(line, lineNo, complete);
            return;
          }
          file.held.push(line);
          file.heldNumbers.push(lineNo);
          if (!complete) file.lastCut = true;
        },
        (lineNo) => lines.tooLong(lineNo),
      );
      f = file;
      this.files.set(path, f);
    }
    return f;
  }

  private openCount = 0;

  private readNew(f: TailedFile): void {
    if (f.fd === undefined && this.openCount < MAX_OPEN_FILES) {
      f.fd = openRegular(f.path);
      this.openCount++;
    }
    const fd = f.fd ?? openRegular(f.path);
    try {
      const size = fstatSync(fd).size;
      if (size <= f.offset) return;
      this.bytes += size - f.offset;
      if (this.bytes > this.maxBytes) {
        this.giveUp();
        return;
      }
      const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, size - f.offset));
      while (f.offset < size) {
        const n = readSync(fd, buf, 0, Math.min(buf.length, size - f.offset), f.offset);
        if (n === 0) break;
        f.offset += n;
        f.splitter.push(buf.subarray(0, n));
      }
    } finally {
      if (fd !== f.fd) closeSync(fd);
    }
  }

  private closeAll(): void {
    for (const f of this.files.values()) {
      if (f.fd === undefined) continue;
      try {
        closeSync(f.fd);
      } catch {
        // already closed
      }
      f.fd = undefined;
    }
    this.openCount = 0;
  }

  private giveUp(): void {
    this.gaveUp = true;
    this.closeAll();
    this.files.clear();
  }
}
