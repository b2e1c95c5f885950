// The Node agent writes each event's line with its own encoder (runtime.ts encodeEvent), which
// reuses the JSON of SQL texts and source frames it has seen: the line must be the one
// JSON.stringify gives of the same event, field for field and in the same order.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeEvent, type PendingEvent } from '../../src/agents/node/runtime';
import type { SourceFrame } from '../../src/trace/schema';

/** What the agent wrote before it had its own encoder: JSON.stringify of the event with t, pid, th, at last. */
function reference(event: PendingEvent, t: number, at: SourceFrame | undefined): string {
  const copy: Record<string, unknown> = { ...event };
  delete copy._alt;
  delete copy.t;
  delete copy.pid;
  delete copy.th;
  copy.t = t;
  copy.pid = process.pid;
  copy.th = 0;
  if (at !== undefined) copy.at = at;
  return JSON.stringify(copy) + '\n';
}

const awkward = 'it\'s "quoted"\n\ttab \\ back \u0000 nul \u2028 sep \ud800 lone é 😀';

const events: [PendingEvent, SourceFrame | undefined][] = [
  [{ k: 'stmt', conn: 'c1', sql: 'SELECT 1', dur: 1234, tx: 't1', rows: 1 }, ['/w/app.test.ts', 12, 'places an order']],
  // The same SQL text and frame again: now from the encoder's caches.
  [{ k: 'stmt', conn: 'c1', sql: 'SELECT 1', dur: 99, tx: 't1', rows: 1 }, ['/w/app.test.ts', 12, 'places an order']],
  [{ k: 'stmt', conn: 'c2', sql: awkward, dur: 5, params: [awkward, 1.5, null, true, { a: [1, 'x'] }], err: { type: 'Error', message: awkward, code: '23505' } }, [`/w/${awkward}.ts`, 3, awkward]],
  [{ k: 'stmt', conn: 'c2', sql: awkward, dur: 5 }, undefined],
  [{ k: 'begin', conn: 'c1', tx: 't2', implicit: true, sess: 's1', _alt: { frame: ['/w/a.ts', 1, 'f'] } }, ['/w/a.ts', 1, 'f']],
  [{ k: 'checkin', conn: 'c1', pool: 'p1', txOpen: true }, undefined],
  // Left out as JSON.stringify leaves them out, or written as it writes them.
  [{ k: 'x', gone: undefined, fn: () => 1, n: Number.NaN, inf: -Infinity, neg: -0, big: 1e21, small: 5e-7, nil: null, empty: '', nested: { u: undefined, d: new Date(0) } }, undefined],
  // Fields the emitter sets itself are written once, at the end, with its values.
  [{ k: 'y', t: 1, pid: 2, th: 3, rows: 4 }, undefined],
  [{ k: 'test_start', id: 'a.test.ts > works', name: 'works', file: '/w/a.test.ts', line: 7 }, undefined],
  [{ k: 'stmt', conn: 'c1', sql: 'SELECT 2', dur: 1, at: ['/w/b.ts', 9, 'g'] }, undefined],
];

test('an event line is the text JSON.stringify gives of it', () => {
  let t = 1_000_000;
  for (const [event, at] of events) {
    t += 12_345;
    assert.equal(encodeEvent(event, t, at), reference(event, t, at));
    // Still parses to the same thing, for readers that never compare text.
    assert.deepEqual(JSON.parse(encodeEvent(event, t, at)), JSON.parse(reference(event, t, at)));
  }
});

test('an event the encoder cannot write throws, as JSON.stringify does, so that it alone is dropped', () => {
  assert.throws(() => encodeEvent({ k: 'stmt', conn: 'c1', sql: 'SELECT 1', rows: 10n as unknown as number }, 1, undefined), TypeError);
  assert.throws(() => encodeEvent({ k: 'stmt', conn: 'c1', sql: 'SELECT 1', params: [10n] }, 1, undefined), TypeError);
});
