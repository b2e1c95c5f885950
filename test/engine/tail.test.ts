import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildModel, buildModelFrom, loadModel, ModelRun, runCounts } from '../../src/model/model';
import { readTrace } from '../../src/trace/reader';
import { TraceTail } from '../../src/trace/tail';
import { tempDir } from '../support/env';
import type { SourceFrame } from '../../src/trace/schema';
import { trace } from '../support/trace-builder';

const at = (line: number): SourceFrame => ['/proj/app/jobs.py', line, 'create'];

function lines(pid: number, t0: bigint, sql: string[]): string[] {
  const p = trace().process(pid, { t0 }).connect('c1', { system: 'sqlite', file: '/proj/db.sqlite' }).begin('t1');
  sql.forEach((s, i) => p.execute(s, { at: at(10 + i) }));
  return p.commit({ t: 100 }).ndjson();
}

/** What a report depends on, from either reader. */
function essence(model: ModelRun) {
  return {
    counts: runCounts(model),
    statements: model.statements.map((s) => [s.process.pid, s.sql, s.time, s.at?.[1]]),
    skipped: model.skipped,
  };
}

test('a trace read while it is written equals the same trace read afterwards, bad and cut lines included', () => {
  const dir = join(tempDir('txlens-tail-'), 'run');
  const tail = new TraceTail(dir);
  tail.poll(); // the run has not made its folder yet: nothing to read, nothing thrown
  mkdirSync(dir);
  const a = join(dir, 'py-10-a.ndjson');
  const b = join(dir, 'py-11-b.ndjson');
  const first = lines(10, 1_000n, ["INSERT INTO jobs (name) VALUES ('é')", 'SELECT * FROM jobs']).join('') + 'not json\n';
  // Written in pieces that split a line and the two bytes of 'é'.
  const bytes = Buffer.from(first, 'utf8');
  const cut = bytes.indexOf(Buffer.from('é', 'utf8')) + 1;
  for (const [from, to] of [
    [0, 40],
    [40, cut],
    [cut, bytes.length],
  ]) {
    appendFileSync(a, bytes.subarray(from, to));
    tail.poll();
  }
  // A second process appears mid-run; its last line is cut short when the run ends.
  writeFileSync(b, lines(11, 1_500n, ['UPDATE jobs SET state = 1']).join('') + '{"k":"stmt","t":7');
  tail.poll();
  const live = buildModelFrom(tail.finish());
  const after = loadModel(dir);
  assert.deepEqual(essence(live), essence(after));
  assert.equal(live.statements.length, 3);
  assert.equal(live.statements[0].sql, "INSERT INTO jobs (name) VALUES ('é')");
  assert.deepEqual(live.skipped.byReason, { 'not JSON': 1, 'truncated line': 1 });
});

test('a header cut across polls, and the lines after it held across polls, are judged as the streaming reader judges them', () => {
  const dir = tempDir('txlens-tail-');
  const path = join(dir, 'py-30-a.ndjson');
  const tail = new TraceTail(dir);
  const [header, ...events] = lines(30, 9n, ['SELECT 1', 'SELECT 2']);
  // The header in two pieces, then the events a line at a time, each followed by a line missing its fields.
  writeFileSync(path, header.slice(0, 20));
  tail.poll();
  appendFileSync(path, header.slice(20));
  tail.poll();
  for (const ev of events) {
    appendFileSync(path, ev + '{"k":"stmt"}\n');
    tail.poll();
  }
  const source = tail.finish();
  assert.equal(source.processes.length, 1);
  const live = buildModelFrom(source);
  assert.deepEqual(essence(live), essence(loadModel(dir)));
  assert.equal(live.statements.length, 2);
  assert.deepEqual(live.skipped.byReason, { 'missing fields': events.length });
});

test('past its byte limit the tail lets go and the streaming reader reads the folder instead', () => {
  const dir = tempDir('txlens-tail-');
  const path = join(dir, 'py-20-a.ndjson');
  const tail = new TraceTail(dir, 200);
  writeFileSync(path, lines(20, 5n, ['SELECT 1']).join(''));
  tail.poll();
  appendFileSync(path, lines(21, 6n, ['SELECT 2']).slice(1).join(''));
  tail.poll();
  const live = buildModelFrom(tail.finish());
  assert.deepEqual(essence(live), essence(loadModel(dir)));
  assert.equal(live.statements.length, 2);
});

test('a file whose header comes after stray lines keeps its events, in the streaming reader, the whole-file reader and the tail alike', () => {
  const dir = tempDir('txlens-tail-');
  const path = join(dir, 'py-40-a.ndjson');
  const tail = new TraceTail(dir);
  // A line of junk and an event before the header (an agent that wrote before its header, a file appended to).
  const [header, ...events] = lines(40, 3n, ['SELECT 1', 'SELECT 2']);
  writeFileSync(path, 'garbage\n' + events[0] + header + events.join(''));
  tail.poll();
  const live = buildModelFrom(tail.finish());
  const streamed = loadModel(dir);
  const whole = buildModel(readTrace(dir));
  assert.equal(streamed.statements.length, 2);
  assert.deepEqual(streamed.skipped.byReason, { 'not JSON': 1, 'no header': 1 });
  assert.deepEqual(essence(streamed), essence(whole));
  assert.deepEqual(essence(live), essence(streamed));
});
