/**
 * Reads a run folder while the run is still writing it, so the parsing is done
 * by the time the test command exits and the report only waits for the model
 * and the rules. Lines are judged exactly as the whole-file reader judges them
 * (ProcessLines); only complete lines are taken until the run has ended, when
 * a cut-short last line counts as truncated.
 *
 * Parsed events are held in memory until the model takes them. Past `maxBytes`
 * of trace, the tail lets go of everything and `finish()` falls back to the
 * streaming reader, which never holds a large trace whole.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { EventSource, fileName, openTrace, ProcessLines, processFiles, readRunInfo, SkipTally } from './reader';
import type { TraceEvent } from './schema';

const READ_CHUNK = 1 << 20;
// About 200k events: held as objects until the model takes them, well inside the analysis's memory budget.
const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

interface TailedFile {
  path: string;
  offset: number;
  lineNo: number;
  carry: string;
  decoder: StringDecoder;
  lines: ProcessLines;
  events: TraceEvent[];
}

export class TraceTail {
  private readonly files = new Map<string, TailedFile>();
  private readonly skipped: SkipTally = { total: 0, byReason: {}, examples: [] };
  private bytes = 0;
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
        names = processFiles(this.dir);
      } catch {
        return; // the folder is made by the run; not there yet
      }
      for (const path of names) this.readNew(this.fileFor(path));
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
    if (this.gaveUp) return openTrace(this.dir);
    const tailed = [...this.files.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    for (const f of tailed) {
      const rest = f.carry + f.decoder.end();
      f.carry = '';
      if (rest.length > 0) f.lines.line(rest, f.lineNo + 1, false);
    }
    const withHeader = tailed.filter((f) => f.lines.header !== undefined);
    return {
      dir: this.dir,
      run: readRunInfo(this.dir),
      processes: withHeader.map((f) => ({ header: f.lines.header!, file: f.path })),
      events: (index, onEvent) => {
        const f = withHeader[index];
        const events = f.events;
        // Handed over once: the model keeps what it needs, the raw events can go.
        f.events = [];
        for (const ev of events) onEvent(ev);
      },
      skipped: this.skipped,
    };
  }

  private fileFor(path: string): TailedFile {
    let f = this.files.get(path);
    if (!f) {
      const events: TraceEvent[] = [];
      f = {
        path,
        offset: 0,
        lineNo: 0,
        carry: '',
        decoder: new StringDecoder('utf8'),
        lines: new ProcessLines(fileName(path), this.skipped, (ev) => events.push(ev)),
        events,
      };
      this.files.set(path, f);
    }
    return f;
  }

  private readNew(f: TailedFile): void {
    const size = statSync(f.path).size;
    if (size <= f.offset) return;
    this.bytes += size - f.offset;
    if (this.bytes > this.maxBytes) {
      this.giveUp();
      return;
    }
    const fd = openSync(f.path, 'r');
    try {
      const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, size - f.offset));
      while (f.offset < size) {
        const n = readSync(fd, buf, 0, Math.min(buf.length, size - f.offset), f.offset);
        if (n === 0) break;
        f.offset += n;
        const text = f.carry + f.decoder.write(buf.subarray(0, n));
        let start = 0;
        for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
          f.lines.line(text.slice(start, nl), ++f.lineNo, true);
          start = nl + 1;
        }
        f.carry = text.slice(start);
      }
    } finally {
      closeSync(fd);
    }
  }

  private giveUp(): void {
    this.gaveUp = true;
    this.files.clear();
  }
}
