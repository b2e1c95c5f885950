// The Node agent honours the params mode as the Python agent does (test/agent/error-params.test.ts),
// through the real CLI: a node:test file that fails on purpose against a real PostgreSQL (pg) and
// SQLite (better-sqlite3), with a unique marker as the row value of a UNIQUE violation (whose DETAIL
// quotes the row), of a bad integer cast (whose message quotes the value), of SQL literals, of a
// SQLite syntax error that quotes a literal, of a failed assertion's message, and as the password of
// a `--dsn=` URL and a `password=` string on the test command line. Outside `--params values` the
// marker appears nowhere: not in any file of the run folder, the run's JSON, the text report or the
// HTML; the errors stay recognisable (type, SQLSTATE, constraint, the key columns of the DETAIL) and
// the statement with masked literals still reads as a read of its table. Under `values` the marker is
// where the values are, and never in the command line.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createDatabase, repoRoot, runCli, tempDir } from '../support/env';
import { readProcessFiles, type RecordedLine } from '../support/trace-files';
import { filesUnder, leaks } from '../support/leaks';

const TEST_FILE = `
const { test } = require('node:test');
const assert = require('node:assert');
const { Client } = require('pg');
const Database = require('better-sqlite3');

const MARKER = process.env.MARKER;

test('pg errors quote the value', async () => {
  const client = new Client({ connectionString: process.env.DATABASE_URL });
  await client.connect();
  try {
    await client.query('create table acct (id serial primary key, n integer, email text unique)');
    await client.query('insert into acct (n, email) values (1, $1)', [MARKER]);
    // The duplicate comes from the table itself: the marker reaches this statement only through the DETAIL.
    await assert.rejects(client.query('insert into acct (n, email) select n, email from acct'), { code: '23505' });
    await assert.rejects(client.query('select $1::text::int as via_cast', [MARKER]), { code: '22P02' });
    const found = await client.query("select count(*)::int as n from acct where email = '" + MARKER + "' and n = 1");
    assert.equal(found.rows[0].n, 1);
  } finally {
    await client.end();
  }
});

test('better-sqlite3 errors and literals', () => {
  const db = new Database(':memory:');
  db.exec('create table notes (id integer primary key, body text unique)');
  db.prepare('insert into notes (body) values (?)').run(MARKER);
  assert.throws(() => db.exec("insert into notes (body) values ('x' '" + MARKER + "')"), /syntax error/);
  assert.equal(db.prepare("select count(*) as n from notes where body = '" + MARKER + "'").get().n, 1);
  db.close();
});

test('an assertion quotes the value', () => {
  assert.strictEqual(MARKER, 'other', 'account ' + MARKER + ' was not found');
});
`;

function one(events: RecordedLine[], what: string, pick: (e: RecordedLine) => boolean): RecordedLine {
  const found = events.filter(pick);
  assert.equal(found.length, 1, `one ${what}: ${JSON.stringify(events.filter((e) => e.k === 'stmt' || e.k === 'test_end'))}`);
  return found[0];
}

describe('the Node agent keeps no row value outside --params values', () => {
  for (const mode of ['off', 'types', 'values'] as const) {
    it(`--params ${mode}: pg and better-sqlite3 errors, SQL literals, a failed assertion and the command line`, async () => {
      const marker = `TXLNODE${randomBytes(6).toString('hex')}`;
      const url = await createDatabase(`node_error_params_${mode}`);
      const workspace = tempDir(`node-error-params-${mode}`);
      writeFileSync(join(workspace, 'app.test.js'), TEST_FILE);
      const traceDir = join(tempDir(`node-error-params-${mode}-trace`), 'run');
      const htmlFile = join(tempDir(`node-error-params-${mode}-html`), 'report.html');
      const env = {
        MARKER: marker,
        DATABASE_URL: url,
        NODE_PATH: join(repoRoot, 'node_modules'),
        // This file runs under node --test itself; the traced file must not think it is a child of ours.
        NODE_TEST_CONTEXT: undefined,
        NODE_OPTIONS: undefined,
      };
      const run = await runCli(
        [
          'run', '--params', mode, '--trace', traceDir, '--json', '--html', htmlFile, '--cwd', workspace, '--',
          process.execPath, 'app.test.js', `--dsn=postgresql://app:${marker}@db.example/app`, '--conn', `host=db.example password=${marker} user=app`,
        ],
        { env, timeoutMs: 120_000 },
      );
      assert.ok(run.stdout.trim().startsWith('{'), run.stdout + run.stderr);
      const [header, ...events] = readProcessFiles(traceDir).flat();
      assert.equal(header.k, 'header', 'one Node process traced');
      assert.ok(header.argv.some((a) => a === '--dsn=postgresql://app:***@db.example/app'), JSON.stringify(header.argv));

      const unique = one(events, '23505', (e) => e.k === 'stmt' && e.err?.code === '23505').err;
      assert.match(unique.message, /duplicate key value violates unique constraint "acct_email_key"/, 'constraint names are kept');
      const cast = one(events, '22P02', (e) => e.k === 'stmt' && e.err?.code === '22P02').err;
      const syntax = one(events, 'the SQLite syntax error', (e) => e.k === 'stmt' && /syntax error/.test(e.err?.message ?? '')).err;
      assert.equal(syntax.type, 'SqliteError');
      const literalReads = events.filter((e) => e.k === 'stmt' && /^select count\(\*\)/.test(e.sql));
      assert.equal(literalReads.length, 2, JSON.stringify(literalReads));
      const failure = one(events, 'failed test', (e) => e.k === 'test_end' && e.outcome === 'failed');

      if (mode === 'values') {
        assert.equal(unique.detail, `Key (email)=(${marker}) already exists.`, "the server's DETAIL as it was");
        assert.ok(cast.message.includes(marker), cast.message);
        assert.equal(syntax.message, `near "'${marker}'": syntax error`);
        assert.ok(literalReads.every((e) => e.sql.includes(`'${marker}'`)), 'SQL as it was sent');
        assert.ok(failure.message.includes(marker), failure.message);
      } else {
        assert.equal(unique.detail, 'Key (email)=(\u2026) already exists.', 'only the key columns of the DETAIL');
        assert.equal(cast.message, 'invalid input syntax for type integer: "\u2026"');
        assert.equal(syntax.message, 'near "\u2026": syntax error');
        assert.deepEqual(
          literalReads.map((e) => e.sql),
          ["select count(*)::int as n from acct where email = \u2026 and n = \u2026", 'select count(*) as n from notes where body = \u2026'],
        );
        assert.equal(failure.message, 'AssertionError', "only the error's name");
      }

      // The masked statement still reads as what it is: the report knows the read and its table.
      const json = await runCli(['report', '--json', traceDir], { env });
      const report = JSON.parse(json.stdout) as { summary: { statements: number } };
      assert.ok(report.summary.statements >= 8, json.stdout.slice(0, 400));

      const text = await runCli(['report', traceDir], { env });
      const places: Array<[string, string]> = [
        ['run --json output', run.stdout],
        ['report text', text.stdout + text.stderr],
        ['report JSON', json.stdout + json.stderr],
        ['report HTML', readFileSync(htmlFile, 'utf8')],
        ...filesUnder(traceDir).map((f): [string, string] => [f, readFileSync(f, 'latin1')]),
      ];
      const found = leaks(places, marker);
      if (mode === 'values') {
        assert.ok(found.some((l) => /\.ndjson: /.test(l)), 'values mode keeps the values in the trace');
        assert.ok(!JSON.stringify(header).includes(marker), 'never a password in the header');
        assert.ok(!readFileSync(join(traceDir, 'run.json'), 'utf8').includes(marker), 'never a password in run.json');
      } else {
        assert.deepEqual(found, [], `--params ${mode} wrote a row value`);
      }
    });
  }
});
