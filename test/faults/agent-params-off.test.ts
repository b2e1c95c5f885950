// `--params off` keeps no value: a suite that fails on purpose with errors and
// assertions quoting a unique marker (Postgres 22P02 and DETAIL lines through
// psycopg2, psycopg 3, asyncpg and SQLAlchemy; a pytest assertion), the marker as
// a literal in the app's SQL and as the row of an identity-map hit, plus the
// marker as a password on the test command line, run through the real CLI.
// The marker must appear nowhere: not in any file under the trace folder, not
// in the report's text, JSON or HTML.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createDatabase, python, runCli, tempDir } from '../support/env';
import { copyFixture, readTrace } from '../agent/harness';
import { filesUnder, leaks } from '../support/leaks';

let cliPlaces: Array<[string, string]> = [];
let cliMarker = '';

describe('--params off never keeps a value', () => {
  it('a marker quoted by database errors, assertions and the command line appears nowhere', async () => {
    const marker = `TXLSECRET${randomBytes(6).toString('hex')}`;
    const workspace = copyFixture('agent-params-off');
    const url = await createDatabase('params_off');
    const traceDir = join(tempDir('params-off'), 'run');
    const htmlFile = join(tempDir('params-off-html'), 'report.html');
    const env = { SECRET_MARKER: marker, DATABASE_URL: url, PYTHONDONTWRITEBYTECODE: '1' };
    const run = await runCli(
      [
        'run', '--params', 'off', '--trace', traceDir, '--json', '--cwd', workspace, '--',
        python('sa20'), '-m', 'pytest', '-q', '-p', 'no:randomly',
        `--dsn=postgresql://app:${marker}@db.example/app`, '--conn', `host=db.example password=${marker} user=app`,
      ],
      { env, timeoutMs: 180_000 },
    );
    // The suite fails on purpose; its own output (stderr) is the user's and may quote anything.
    assert.match(run.stderr, /8 failed/);
    assert.ok(run.stdout.trim().startsWith('{'), run.stdout + run.stderr);

    // The failures really were captured: each error and failed test is in the trace.
    const events = readTrace(traceDir).flatMap((p) => p.events);
    const errs = events.filter((e) => e.k === 'stmt' && e.err);
    assert.ok(errs.some((e) => e.err.code === '22P02'), JSON.stringify(errs));
    assert.ok(errs.some((e) => e.err.code === '23505' && e.err.detail?.startsWith('Key (email)=(')), JSON.stringify(errs));
    assert.ok(errs.some((e) => e.err.type === 'asyncpg.exceptions.UniqueViolationError'), JSON.stringify(errs.map((e) => e.err.type)));
    assert.equal(events.filter((e) => e.k === 'test_end' && e.outcome === 'failed').length, 8);
    assert.ok(events.some((e) => e.k === 'test_end' && e.message === 'AssertionError'));
    // A literal in the SQL and an identity-map key were captured, masked.
    assert.ok(events.some((e) => e.k === 'stmt' && e.sql === 'select count(*) from acct where email = \u2026'), 'the literal read, masked');
    assert.ok(events.some((e) => e.k === 'identity_hit' && e.table === 'acct' && e.key.length === 1), 'the identity-map hit');

    const text = await runCli(['report', traceDir], { env });
    const json = await runCli(['report', '--json', '--html', htmlFile, traceDir], { env });
    const agentFiles = filesUnder(traceDir).filter((f) => f.endsWith('.ndjson') || f.endsWith('.status'));
    assert.ok(agentFiles.length >= 2);
    const places: Array<[string, string]> = [
      ['run --json output', run.stdout],
      ['report text', text.stdout + text.stderr],
      ['report JSON', json.stdout + json.stderr],
      ...agentFiles.map((f): [string, string] => [f, readFileSync(f, 'latin1')]),
    ];
    assert.deepEqual(leaks(places, marker), []);
    // What the CLI writes itself (run.json's command, shown again in the HTML) is checked the same way below.
    cliPlaces = [
      ['report HTML', readFileSync(htmlFile, 'utf8')],
      ...filesUnder(traceDir).map((f): [string, string] => [f, readFileSync(f, 'latin1')]),
    ];
    cliMarker = marker;
  });

  it('nor does anything the CLI writes (run.json, the HTML)', () => {
    assert.ok(cliPlaces.length > 0, 'the run above did not get this far');
    assert.deepEqual(leaks(cliPlaces, cliMarker), []);
  });
});
