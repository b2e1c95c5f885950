import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LineSplitter, readTrace } from '../../src/trace/reader';
import { trace } from '../support/trace-builder';

type Seen = [line: string, lineNo: number, complete: boolean] | [tooLong: number];

function split(bytes: Buffer, chunkSize: number, maxBytes: number): Seen[] {
  const seen: Seen[] = [];
  const lines = new LineSplitter(
    (line, lineNo, complete) => seen.push([line, lineNo, complete]),
    (lineNo) => seen.push([lineNo]),
    maxBytes,
  );
  // The reader reuses one buffer for every read: so does this, to catch a line kept by reference.
  const buf = Buffer.alloc(chunkSize);
  for (let at = 0; at < bytes.length; at += chunkSize) {
    const n = bytes.copy(buf, 0, at, at + chunkSize);
    lines.push(buf.subarray(0, n));
  }
  lines.end();
  return seen;
}

/** What the lines are by definition: cut at each newline byte, measured in bytes, decoded one by one. */
function expected(bytes: Buffer, maxBytes: number): Seen[] {
  const out: Seen[] = [];
  let start = 0;
  let lineNo = 0;
  for (;;) {
    const nl = bytes.indexOf(10, start);
    const end = nl < 0 ? bytes.length : nl;
    if (nl < 0 && start === bytes.length) break;
    lineNo++;
    if (end - start > maxBytes) out.push([lineNo]);
    else out.push([bytes.toString('utf8', start, end), lineNo, nl >= 0]);
    if (nl < 0) break;
    start = nl + 1;
  }
  return out;
}

test('lines are the same however the bytes are cut into chunks: multi-byte characters, empty lines, over-long lines, a last line without newline', () => {
  const text = [
    '{"k":"stmt","sql":"SELECT 1"}',
    '',
    '{"k":"stmt","sql":"SELECT \'é€𝄞\' FROM t"}',
    'x'.repeat(40),
    '',
    '',
    'ü'.repeat(11),
    '{"k":"commit"}',
    '{"k":"cut sh',
  ].join('\n');
  const bytes = Buffer.from(text, 'utf8');
  // A broken UTF-8 sequence right before a newline decodes alike whether a line is decoded alone or with its chunk.
  const broken = Buffer.concat([Buffer.from('ab'), Buffer.from([0xe2, 0x82]), Buffer.from('\ncd\n')]);
  for (const input of [bytes, broken, Buffer.concat([bytes, Buffer.from('\n')])]) {
    for (const maxBytes of [24, 1000]) {
      const want = expected(input, maxBytes);
      for (let chunkSize = 1; chunkSize <= input.length + 1; chunkSize++) {
        assert.deepEqual(split(input, chunkSize, maxBytes), want, `chunks of ${chunkSize} bytes, lines of at most ${maxBytes}`);
      }
    }
  }
});

test('under --params off the reader keeps no value a trace holds: parameters, SQL literals, identity-map keys', () => {
  // As an older agent, or a hand, could have written it.
  const dir = trace()
    .process(1)
    .connect('c1', { system: 'sqlite', file: '/proj/db.sqlite' })
    .sessionOpen('s1')
    .begin('t1')
    .execute("SELECT * FROM users WHERE email = 'Mk-secret' AND id = ?", { params: [7] })
    .identityHit('User', ["'Mk-secret'"], { table: 'users', pk: ['email'] })
    .commit()
    .write();
  const valuesRun = readTrace(dir).processes[0].events;
  assert.ok(JSON.stringify(valuesRun).includes('Mk-secret'), 'without run.json the trace reads as written');
  writeFileSync(join(dir, 'run.json'), JSON.stringify({ v: 1, command: ['pytest'], cwd: '/proj', startedWall: 1, params: 'off' }));
  const events = readTrace(dir).processes[0].events;
  assert.ok(!JSON.stringify(events).includes('Mk-secret'), JSON.stringify(events));
  const stmt = events.find((e) => e.k === 'stmt');
  assert.deepEqual(stmt && { sql: stmt.sql, params: stmt.params }, { sql: 'SELECT * FROM users WHERE email = \u2026 AND id = ?', params: undefined });
  const hit = events.find((e) => e.k === 'identity_hit');
  assert.deepEqual(hit?.key, ['\u2026']);
});
