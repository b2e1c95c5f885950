// What the CLI says and writes when capture could not work, and what it must
// never write: a run that traced nothing says so once (text and JSON notes) and
// `--require-trace` turns that into exit 3; a password on the test command line
// never reaches run.json, the report, the JSON or the HTML; under `--params off`
// no statement parameter and no value quoted by a failure reaches any output;
// escape sequences from a trace reach the terminal escaped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliPath, createDatabase, python, tempDir } from '../support/env';
import { trace } from '../support/trace-builder';

const py = python('sa20');

function txlens(args: string[], cwd: string) {
  return spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', cwd, timeout: 120_000 });
}

const SQLITE_WORK = "import sqlite3; db = sqlite3.connect(':memory:'); db.execute('SELECT 1'); db.close()";

test('a run that traced nothing (python -S, python -I) says so once, and --require-trace exits 3', () => {
  const cwd = tempDir('nothing-traced');
  for (const flag of ['-S', '-I']) {
    const json = txlens(['run', '--json', '--', py, flag, '-c', SQLITE_WORK], cwd);
    assert.equal(json.status, 0, json.stderr);
    const doc = JSON.parse(json.stdout);
    assert.equal(doc.summary.processes, 0);
    assert.match(doc.notes[0], /^nothing was traced: no process of the command wrote a trace \(.*Node process that loads neither pg nor better-sqlite3.*python -S/);
    const text = txlens(['run', '--', py, flag, '-c', SQLITE_WORK], cwd);
    assert.equal(text.status, 0);
    assert.equal((text.stdout.match(/nothing was traced/g) ?? []).length, 1, text.stdout);
    const strict = txlens(['run', '--require-trace', '--', py, flag, '-c', SQLITE_WORK], cwd);
    assert.equal(strict.status, 3, strict.stdout);
  }
  // Traced fully: --require-trace changes nothing.
  const ok = txlens(['run', '--require-trace', '--json', '--', py, '-c', SQLITE_WORK], cwd);
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(JSON.parse(ok.stdout).notes, undefined);
  // The test command's own failure still wins over the missing trace.
  assert.equal(txlens(['run', '--require-trace', '--', py, '-S', '-c', 'raise SystemExit(5)'], cwd).status, 5);
});

test('a process whose agent could not start is noted, and --require-trace exits 3', () => {
  const cwd = tempDir('agent-not-started');
  // The parent is traced; its child gets a trace folder it cannot write, so its agent stands down.
  const script = [
    'import os, sqlite3, subprocess, sys',
    "sqlite3.connect(':memory:').execute('SELECT 1')",
    "env = dict(os.environ, TXLENS_TRACE_DIR='/proc/txlens-no-such/trace')",
    "subprocess.run([sys.executable, '-c', \"import sqlite3; sqlite3.connect(':memory:').execute('SELECT 2')\"], env=env, check=True)",
  ].join('\n');
  const r = txlens(['run', '--json', '--', py, '-c', script], cwd);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /txlens: capture disabled in this process/);
  const doc = JSON.parse(r.stdout);
  assert.equal(doc.summary.processes, 1);
  assert.deepEqual(doc.notes, ['1 process of the command ran without capture: the agent could not start there (see its message above)']);
  assert.equal(txlens(['run', '--require-trace', '--', py, '-c', script], cwd).status, 3);
});

test('report --require-trace: an empty folder and a trace with lost lines exit 3, a sound one 0', () => {
  const empty = tempDir('empty-trace');
  assert.equal(txlens(['report', '--require-trace', empty], empty).status, 3);
  const lossy = trace().process(1).close({ conn: 'c1' }).raw('{"k": "close", "t": 2, "pi').write();
  const r = txlens(['report', '--require-trace', lossy], lossy);
  assert.equal(r.status, 3, r.stdout);
  assert.match(r.stdout, /1 line skipped \(1 not JSON\)/);
  const sound = trace().process(1).close({ conn: 'c1' }).write();
  assert.equal(txlens(['report', '--require-trace', sound], sound).status, 0);
});

test('a password on the test command line reaches neither run.json nor the report, the JSON or the HTML', () => {
  const cwd = tempDir('argv-password');
  const trace = join(cwd, 'trace');
  const html = join(cwd, 'timeline.html');
  const secret = 'Pw-7319-secret';
  const args = [`--dsn=postgresql://app:${secret}@db.example/app`, `password=${secret}`];
  const r = txlens(['run', '--json', '--html', html, '--trace', trace, '--', py, '-c', SQLITE_WORK, ...args], cwd);
  assert.equal(r.status, 0, r.stderr);
  const runJson = readFileSync(join(trace, 'run.json'), 'utf8');
  assert.ok(!runJson.includes(secret), runJson);
  assert.match(runJson, /postgresql:\/\/app:\*\*\*@db\.example\/app/);
  assert.ok(!r.stdout.includes(secret));
  assert.ok(!readFileSync(html, 'utf8').includes(secret));
  const text = txlens(['report', trace], cwd);
  assert.ok(!text.stdout.includes(secret));
  // The timeline's process list is where argv shows: it is there, redacted.
  assert.match(readFileSync(html, 'utf8'), /app:\*\*\*@db\.example/);
});

test('--params off: no parameter and no value quoted by a failure reaches the text, the JSON or the HTML', async () => {
  const url = await createDatabase('params_off');
  const cwd = tempDir('params-off');
  const marker = 'Mk-5521-value';
  writeFileSync(
    join(cwd, 'test_values.py'),
    `
import psycopg2, pytest

URL = ${JSON.stringify(url)}

def test_bad_integer():
    conn = psycopg2.connect(URL)
    cur = conn.cursor()
    cur.execute("CREATE TABLE IF NOT EXISTS jobs (id integer PRIMARY KEY, name text)")
    cur.execute("INSERT INTO jobs VALUES (%s, %s)", (1, "${marker}-param"))
    conn.commit()
    with pytest.raises(psycopg2.errors.InvalidTextRepresentation):
        cur.execute("SELECT %s::integer", ("${marker}-cast",))
    conn.rollback()
    cur.execute("INSERT INTO jobs VALUES (%s, %s)", (1, "again"))

def test_assertion_quotes_a_value():
    assert "${marker}-assert" == "other"
`,
  );
  const trace = join(cwd, 'trace');
  const html = join(cwd, 'timeline.html');
  const r = txlens(['run', '--params', 'off', '--json', '--html', html, '--trace', trace, '--', py, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', 'test_values.py'], cwd);
  assert.equal(r.status, 1, r.stderr);
  const doc = JSON.parse(r.stdout);
  assert.ok(doc.summary.statements >= 4, JSON.stringify(doc.summary));
  assert.ok(!r.stdout.includes(marker), 'JSON');
  assert.ok(!readFileSync(html, 'utf8').includes(marker), 'HTML');
  const text = txlens(['report', trace], cwd);
  assert.ok(!text.stdout.includes(marker), text.stdout);
  // What stays of a failure is the error's name, not its values.
  assert.match(text.stdout, /✗ AssertionError\n/);
  // The run's own record agrees: parameters were off.
  assert.equal(JSON.parse(readFileSync(join(trace, 'run.json'), 'utf8')).params, 'off');
});

test('escape sequences in failure messages, table names and test ids reach the terminal escaped', () => {
  const esc = '\u001b';
  const dir = trace()
    .process(1)
    .testStart(`t.py::test_${esc}[2J`, { name: 'x', file: '/proj/t.py', line: 1 })
    .connect('c1', { system: 'sqlite', file: '/proj/db.sqlite' })
    .begin('t1')
    .execute(`INSERT INTO "jobs${esc}]0;pwned${'\u0007'}" VALUES (1)`, { at: ['/proj/t.py', 3, 'f'] })
    .rollback('explicit')
    .testEnd('failed', { message: `AssertionError: ${esc}[31mred${esc}[0m \u202eevil` })
    .write();
  const r = txlens(['report', dir], dir);
  // eslint-disable-next-line no-control-regex -- no control character may reach the terminal
  assert.ok(!/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e]/.test(r.stdout), JSON.stringify(r.stdout));
  assert.match(r.stdout, /\\e\[31mred\\e\[0m \\u202eevil/);
  assert.match(r.stdout, /t\.py::test_\\e\[2J/);
  // JSON keeps the text as it was (escaped by JSON itself).
  const json = txlens(['report', '--json', dir], dir);
  assert.ok(!json.stdout.includes(esc));
});
