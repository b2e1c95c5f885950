// Hostile and broken trace input: every malformed line is skipped and counted by
// reason, never fatal; only regular files are read (a folder, a link loop or a
// FIFO named *.ndjson neither fails nor hangs the report); a line of 200 MB is
// streamed past within the analysis budget; random lines never make the
// pipeline throw.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { analyse } from '../../src/analysis/analyse';
import { buildModelFrom, ModelRun } from '../../src/model/model';
import { reportDocument, textReport } from '../../src/report/render';
import { timelineView } from '../../src/report/timeline';
import { EventSource, openTrace, ProcessLines, SkipTally } from '../../src/trace/reader';
import type { EventKind, SourceFrame, TraceEvent } from '../../src/trace/schema';
import { cliPath, tempDir } from '../support/env';
import { header, trace, traceDir } from '../support/trace-builder';

const txlens = (args: string[], opts: { cwd?: string; timeout?: number } = {}) =>
  spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', cwd: opts.cwd, timeout: opts.timeout ?? 60_000 });

const at: SourceFrame = ['/proj/app/jobs.py', 12, 'create'];

/** One sound event of every kind, each with every field the format knows. */
const SOUND: { [K in EventKind]: Extract<TraceEvent, { k: K }> } = {
  connect: { k: 'connect', t: 1, pid: 7, th: 1, task: 2, conn: 'c1', at, db: { system: 'sqlite', name: 'x', url: 'sqlite:///x', memory: false, file: '/x', host: 'h', port: 1 }, driver: 'sqlite3', pool: 'p1', engine: 'e1', engineAt: at },
  checkout: { k: 'checkout', t: 2, pid: 7, conn: 'c1', pool: 'p1', at },
  begin: { k: 'begin', t: 3, pid: 7, conn: 'c1', tx: 't1', implicit: true, iso: 'SERIALIZABLE', sess: 's1', at },
  session_open: { k: 'session_open', t: 3, pid: 7, sess: 's1', cls: 'Session', at },
  test_start: { k: 'test_start', t: 3, pid: 7, id: 'tests/t.py::t', name: 't', file: '/proj/tests/t.py', line: 3 },
  stmt: { k: 'stmt', t: 4, pid: 7, conn: 'c1', tx: 't1', sess: 's1', sql: 'INSERT INTO jobs VALUES (1)', params: [1], op: 'write', tables: ['jobs'], rows: 1, dur: 5, err: { type: 'E', message: 'm', code: '1', detail: 'd' }, many: 1, at, flushAt: at, alsoAt: [at] },
  savepoint: { k: 'savepoint', t: 5, pid: 7, conn: 'c1', tx: 't1', action: 'begin', name: 'sp1', at },
  identity_hit: { k: 'identity_hit', t: 6, pid: 7, sess: 's1', entity: 'Job', table: 'jobs', key: ['1'], pk: ['id'], at },
  commit: { k: 'commit', t: 7, pid: 7, conn: 'c1', tx: 't1', at },
  rollback: { k: 'rollback', t: 8, pid: 7, conn: 'c1', tx: 't1', cause: 'explicit', at },
  reset: { k: 'reset', t: 9, pid: 7, conn: 'c1', rolledBack: false },
  checkin: { k: 'checkin', t: 9, pid: 7, conn: 'c1', pool: 'p1', txOpen: false },
  session_close: { k: 'session_close', t: 10, pid: 7, sess: 's1', pending: [{ op: 'insert', entity: 'Job', table: 'jobs', count: 1 }], at },
  close: { k: 'close', t: 10, pid: 7, conn: 'c1' },
  test_end: { k: 'test_end', t: 11, pid: 7, id: 'tests/t.py::t', outcome: 'failed', message: 'boom' },
  agent_error: { k: 'agent_error', t: 12, pid: 7, message: 'x' },
};

/** Values of the wrong type for a field whose sound value is `good`. */
function wrongValues(field: string, good: unknown): unknown[] {
  const common: unknown[] = [true, [1, 2, 3], {}, []];
  if (typeof good === 'string') return [42, ...common];
  if (typeof good === 'number') return ['text', ...common, ...(field === 't' || field === 'dur' ? [-1] : [])];
  if (typeof good === 'boolean') return ['text', 42, [1, 2, 3], {}, []];
  // A list of frames (alsoAt) takes [['a', 1, 'f']]; any other list does not.
  if (Array.isArray(good)) return ['text', 42, true, {}, [1, 2, 3], ...(field === 'alsoAt' ? [] : [[['a', 1, 'f']]]), ...(field === 'at' || field === 'engineAt' || field === 'flushAt' ? [[]] : [])];
  return ['text', 42, true, [1, 2, 3], [], {}];
}

function malformedTable(): { lines: string[]; cases: string[] } {
  const lines: string[] = [];
  const cases: string[] = [];
  for (const [kind, sound] of Object.entries(SOUND)) {
    for (const [field, good] of Object.entries(sound)) {
      if (field === 'k') continue;
      if (field === 'params') continue; // any JSON value is a parameter list
      for (const bad of wrongValues(field, good)) {
        lines.push(JSON.stringify({ ...sound, [field]: bad }));
        cases.push(`${kind}.${field}=${JSON.stringify(bad)}`);
      }
    }
  }
  // Nested shapes: each field of db, err, pending and at.
  const nested: Array<[string, Record<string, unknown>]> = [
    ['connect.db.system', { ...SOUND.connect, db: { system: 1 } }],
    ['connect.db.port', { ...SOUND.connect, db: { system: 'pg', port: 'x' } }],
    ['connect.db.memory', { ...SOUND.connect, db: { system: 'sqlite', memory: 'yes' } }],
    ['stmt.err.message', { ...SOUND.stmt, err: { type: 'E', message: 5 } }],
    ['stmt.err.type', { ...SOUND.stmt, err: { message: 'm' } }],
    ['stmt.tables.item', { ...SOUND.stmt, tables: ['jobs', 3] }],
    ['stmt.at.len', { ...SOUND.stmt, at: ['/a', 1] }],
    ['stmt.at.line', { ...SOUND.stmt, at: ['/a', '1', 'f'] }],
    ['stmt.at.obj', { ...SOUND.stmt, at: { 0: '/a', 1: 1, 2: 'f' } }],
    ['session_close.pending.op', { ...SOUND.session_close, pending: [{ op: 'merge', entity: 'Job', count: 1 }] }],
    ['identity_hit.key.item', { ...SOUND.identity_hit, key: [{}] }],
    ['rollback.cause', { ...SOUND.rollback, cause: 'whim' }],
    ['test_end.outcome', { ...SOUND.test_end, outcome: 'fine' }],
    ['savepoint.action', { ...SOUND.savepoint, action: 'jump' }],
  ];
  for (const [name, ev] of nested) {
    lines.push(JSON.stringify(ev));
    cases.push(name);
  }
  // Missing required fields, and lines that are not events at all.
  for (const [kind, sound] of Object.entries(SOUND)) {
    const { t: _t, ...noTime } = sound;
    lines.push(JSON.stringify(noTime));
    cases.push(`${kind} without t`);
  }
  for (const junk of ['garbage', '[1,2,3]', '"text"', '42', 'null', '{"k": 5, "t": 1}', '{"k": "nope", "t": 1}', '{"k": "header", "v": 1, "pid": 1, "t0": "0"}']) {
    lines.push(junk);
    cases.push(junk);
  }
  return { lines, cases };
}

test('every malformed line of every event kind is skipped and counted by reason, and the report goes on', () => {
  const { lines, cases } = malformedTable();
  assert.ok(cases.length > 150, `a table of ${cases.length} cases`);
  // Each bad line alone is rejected (not merely survived): checked one at a time against the reader.
  for (let i = 0; i < lines.length; i++) {
    const skipped: SkipTally = { total: 0, byReason: {}, examples: [] };
    const taken: TraceEvent[] = [];
    const reader = new ProcessLines('p.ndjson', skipped, (ev) => taken.push(ev));
    reader.line(JSON.stringify(header(7, 0n)), 1, true);
    reader.line(lines[i], 2, true);
    assert.equal(taken.length, 0, `taken: ${cases[i]}`);
    assert.equal(skipped.total, 1, `not counted: ${cases[i]}`);
  }
  // The sound events all pass (the table's bad lines are bad for the reason given).
  {
    const skipped: SkipTally = { total: 0, byReason: {}, examples: [] };
    const taken: TraceEvent[] = [];
    const reader = new ProcessLines('p.ndjson', skipped, (ev) => taken.push(ev));
    reader.line(JSON.stringify(header(7, 0n)), 1, true);
    Object.values(SOUND).forEach((ev, i) => reader.line(JSON.stringify(ev), i + 2, true));
    assert.equal(skipped.total, 0, JSON.stringify(skipped.examples));
    assert.equal(taken.length, Object.keys(SOUND).length);
  }
  // Through the CLI, mixed with sound events: one report, every bad line counted.
  const dir = traceDir({ 'py-7-a.ndjson': [header(7, 0n), ...Object.values(SOUND), ...lines] });
  const r = txlens(['report', '--json', dir], { cwd: dir });
  assert.ok(r.status === 0 || r.status === 1, r.stderr);
  const doc = JSON.parse(r.stdout);
  assert.equal(doc.skippedLines, lines.length);
  assert.match(doc.notes[0], /wrong field type/);
  assert.match(doc.notes[0], /missing fields/);
  const text = txlens(['report', dir], { cwd: dir });
  assert.doesNotMatch(text.stderr, /internal error/);
  assert.match(text.stdout, new RegExp(`${lines.length} lines skipped`));
});

test("a stmt whose 'at' is [1,2,3] or {} is a skipped line, not an internal error", () => {
  const dir = traceDir({
    'py-7-a.ndjson': [
      header(7, 0n),
      SOUND.connect,
      SOUND.begin,
      { ...SOUND.stmt, at: [1, 2, 3] },
      { ...SOUND.stmt, at: {} },
      { ...SOUND.stmt, t: 6 },
      SOUND.commit,
    ],
  });
  const r = txlens(['report', '--json', dir], { cwd: dir });
  assert.doesNotMatch(r.stderr, /internal error/);
  const doc = JSON.parse(r.stdout);
  assert.equal(doc.skippedLines, 2);
  assert.equal(doc.summary.statements, 1);
});

// A flushAt or alsoAt that is not a frame would reach the report, which reads them as frames.
test(
  "a stmt whose 'flushAt' or 'alsoAt' is not a frame is a skipped line, not an internal error",
  () => {
    const wrong = [{ flushAt: 42 }, { flushAt: [] }, { flushAt: 'x' }, { alsoAt: 'x' }, { alsoAt: [1, 2, 3] }, { alsoAt: [at, 7] }];
    const p = trace().process(7).testStart('tests/t.py::t').connect('c1', { system: 'sqlite', file: '/proj/x.db' }).begin('t1');
    for (const fields of wrong) p.raw({ ...SOUND.stmt, ...fields });
    const dir = p.execute('INSERT INTO jobs VALUES (2)', { at, flushAt: at, alsoAt: [at] }).rollback('session-close').testEnd('failed').write();
    const r = txlens(['report', '--json', dir], { cwd: dir });
    assert.doesNotMatch(r.stderr, /internal error/);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.skippedLines, wrong.length);
    assert.equal(doc.summary.statements, 1);
  },
);

test('a folder, a symbolic link loop and a FIFO named *.ndjson are skipped and counted, and nothing hangs', () => {
  const dir = traceDir({ 'py-7-a.ndjson': [header(7, 0n), SOUND.connect, SOUND.begin, SOUND.stmt, SOUND.commit] });
  mkdirSync(join(dir, 'py-8-dir.ndjson'));
  symlinkSync(join(dir, 'py-9-loop-b.ndjson'), join(dir, 'py-9-loop-a.ndjson'));
  symlinkSync(join(dir, 'py-9-loop-a.ndjson'), join(dir, 'py-9-loop-b.ndjson'));
  symlinkSync(join(dir, 'py-7-a.ndjson'), join(dir, 'py-9-link.ndjson'));
  const fifo = spawnSync('mkfifo', [join(dir, 'py-10-fifo.ndjson')]);
  assert.equal(fifo.status, 0, 'mkfifo');
  // Also as run.json: a FIFO there must not block the read either.
  spawnSync('mkfifo', [join(dir, 'run.json')]);
  const started = Date.now();
  const r = txlens(['report', '--json', dir], { cwd: dir, timeout: 30_000 });
  assert.equal(r.signal, null, 'the report hung');
  assert.ok(Date.now() - started < 30_000);
  assert.equal(r.status, 0, r.stderr);
  const doc = JSON.parse(r.stdout);
  assert.equal(doc.summary.processes, 1);
  assert.equal(doc.summary.statements, 1);
  assert.equal(doc.skippedLines, 5);
  assert.match(doc.notes[0], /5 not a regular file/);
});

test('a 200 MB line is streamed past and counted, within the analysis budget (under 1 GB, seconds)', () => {
  const dir = tempDir('long-line');
  const file = join(dir, 'py-7-a.ndjson');
  const fd = openSync(file, 'w');
  const write = (s: string) => writeSync(fd, s);
  write(JSON.stringify(header(7, 0n)) + '\n');
  write(JSON.stringify(SOUND.connect) + '\n');
  write(JSON.stringify(SOUND.begin) + '\n');
  // {"k":"stmt",...,"sql":"SELECT 'xxxx…'"} of 200 MB, written in 1 MB pieces.
  write('{"k":"stmt","t":4,"pid":7,"conn":"c1","tx":"t1","sql":"SELECT \'');
  const piece = 'x'.repeat(1 << 20);
  for (let i = 0; i < 200; i++) write(piece);
  write('\'"}\n');
  write(JSON.stringify(SOUND.stmt) + '\n');
  write(JSON.stringify(SOUND.commit) + '\n');
  closeSync(fd);
  // Measured in a process of its own: wall time and peak RSS of the whole report.
  const probe = `
    const t = process.hrtime.bigint();
    const out = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = (s) => (out.push(String(s)), true);
    require(${JSON.stringify(cliPath)}).main(['report', '--json', ${JSON.stringify(dir)}]).then((code) => {
      const ms = Number(process.hrtime.bigint() - t) / 1e6;
      write(JSON.stringify({ code, ms, maxRssKb: process.resourceUsage().maxRSS, doc: JSON.parse(out.join('')) }));
    });`;
  const r = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8', cwd: dir, timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  const m = JSON.parse(r.stdout) as { code: number; ms: number; maxRssKb: number; doc: { skippedLines: number; notes: string[]; summary: { statements: number } } };
  process.stdout.write(`# 200 MB line: report in ${Math.round(m.ms)} ms, peak RSS ${Math.round(m.maxRssKb / 1024)} MB\n`);
  assert.equal(m.doc.skippedLines, 1);
  assert.match(m.doc.notes[0], /1 line too long/);
  assert.equal(m.doc.summary.statements, 1);
  assert.ok(m.maxRssKb < 1024 * 1024, `peak RSS ${m.maxRssKb} KB`);
  assert.ok(m.ms < 10_000, `${m.ms} ms`);
});

/** A small deterministic PRNG (mulberry32): the fuzz is the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('random lines never make reading, modelling, the rules or the reports throw', () => {
  const rand = prng(20261203);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const kinds = Object.keys(SOUND) as EventKind[];
  const values: unknown[] = [
    0, 1, 2, -1, 1e300, Number.MAX_SAFE_INTEGER, 0.5, '', 'c1', 'c2', 't1', 't2', 's1', 'jobs', 'SELECT * FROM jobs', 'INSERT INTO jobs VALUES (1)',
    'COMMIT', 'ROLLBACK', 'BEGIN', '\u001b[31m', '\u0000', 'tests/t.py::t', null, true, false, [], {}, ['/p/a.py', 3, 'f'], [1, 2, 3],
    { system: 'sqlite', memory: true }, { system: 'postgresql', name: 'app', host: 'h' }, ['1'], [{ op: 'insert', entity: 'J', count: 2 }],
    'explicit', 'pool-reset', 'passed', 'failed', 'read', 'write', 'begin', 'release',
  ];
  const fields = [...new Set(Object.values(SOUND).flatMap((e) => Object.keys(e)))];
  for (let round = 0; round < 150; round++) {
    const skipped: SkipTally = { total: 0, byReason: {}, examples: [] };
    const byPid = new Map<number, TraceEvent[]>();
    const headers = [header(7, 1000n), header(8, 500n, { ppid: 7 })];
    for (const h of headers) {
      const events: TraceEvent[] = [];
      byPid.set(h.pid as number, events);
      const reader = new ProcessLines(`py-${h.pid}.ndjson`, skipped, (ev) => events.push(ev));
      reader.line(JSON.stringify(h), 1, true);
      for (let i = 0; i < 150; i++) {
        let line: string;
        const r = rand();
        if (r < 0.05) line = String.fromCharCode(...Array.from({ length: 20 }, () => Math.floor(rand() * 0x3000)));
        else {
          const ev: Record<string, unknown> = rand() < 0.5 ? { ...SOUND[pick(kinds)] } : { k: pick(kinds) };
          for (let j = Math.floor(rand() * 5); j > 0; j--) ev[pick(fields)] = pick(values);
          if (rand() < 0.8) ev.t = Math.floor(rand() * 100);
          line = JSON.stringify(ev);
          if (rand() < 0.05) line = line.slice(0, Math.floor(rand() * line.length));
        }
        reader.line(line, i + 2, rand() > 0.1);
      }
    }
    const source: EventSource = {
      dir: '/tmp/fuzz',
      processes: headers.map((h) => ({ header: h as never, file: `/tmp/fuzz/py-${h.pid}.ndjson` })),
      events: (index, onEvent) => byPid.get(headers[index].pid as number)!.forEach(onEvent),
      skipped,
      gaps: [],
    };
    let model: ModelRun;
    try {
      model = buildModelFrom(source);
      const { findings } = analyse(model);
      textReport(model, findings, '/proj');
      JSON.stringify(reportDocument(model, findings, '/proj'));
      timelineView(model, findings, { cwd: '/proj' });
    } catch (e) {
      assert.fail(`round ${round}: ${(e as Error).stack}`);
    }
  }
});

test('an empty run folder and a folder that is not one read without a stack', () => {
  const dir = tempDir('empty-run');
  const r = txlens(['report', '--json', dir], { cwd: dir });
  assert.equal(r.status, 0);
  assert.match(JSON.parse(r.stdout).notes[0], /nothing was traced/);
  const file = join(dir, 'plain.txt');
  writeFileSync(file, 'x');
  const bad = txlens(['report', file]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /^txlens: not a trace folder: .*plain\.txt\n$/);
  assert.equal(openTrace(dir).processes.length, 0);
});
