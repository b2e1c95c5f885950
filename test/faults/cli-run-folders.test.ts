// The run-folder lifecycle under concurrent and careless use, with real
// `txlens run` processes and real Python: rotation never deletes a run in
// progress, a run whose folder vanished still reports, a reused --trace folder
// holds only the new run and a user's files are never deleted, and the
// environment's refusals are one-line errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeRuns } from '../../src/capture/run-list';
import { listRuns, newRunDir, RUN_LOCK_FILE, runsRoot, terminalRunDir } from '../../src/capture/runs';
import { cliPath, python, tempDir } from '../support/env';

const py = python('sa20');

function txlens(args: string[], cwd: string) {
  return spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', cwd, timeout: 120_000 });
}

/** A traced Python program that writes, then waits for `go` to appear before it commits and ends. */
const LONG_RUN = `
import os, sqlite3, sys, time
go = sys.argv[1]
db = sqlite3.connect(os.path.join(os.getcwd(), 'long.sqlite'))
db.execute('CREATE TABLE IF NOT EXISTS jobs (id INTEGER)')
db.execute('INSERT INTO jobs VALUES (1)')
db.commit()
deadline = time.time() + 60
while not os.path.exists(go) and time.time() < deadline:
    time.sleep(0.05)
db.execute('INSERT INTO jobs VALUES (2)')
db.commit()
`;

function startLongRun(cwd: string, go: string, extra: string[] = []) {
  const child = spawn(process.execPath, [cliPath, 'run', '--json', ...extra, '--', py, '-c', LONG_RUN, go], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, stdout, stderr })),
  );
  return { child, done };
}

async function until(cond: () => boolean, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The live run's process file has its first statement: the run is well under way. */
function traced(dir: string): boolean {
  try {
    return readdirSync(dir).some((n) => n.endsWith('.ndjson') && readFileSync(join(dir, n), 'utf8').includes('INSERT INTO jobs VALUES (1)'));
  } catch {
    return false;
  }
}

test('ten quick runs beside a long one never rotate the live run away; it reports everything it traced', async () => {
  const cwd = tempDir('rotation');
  const go = join(cwd, 'go');
  const long = startLongRun(cwd, go);
  await until(() => listRuns(cwd).some((r) => r.live && traced(r.dir)), 'the long run to start');
  const liveDir = listRuns(cwd).find((r) => r.live)!.dir;
  for (let i = 0; i < 10; i++) {
    const quick = txlens(['run', '--', py, '-c', 'pass'], cwd);
    assert.equal(quick.status, 0, quick.stderr);
  }
  assert.ok(existsSync(join(liveDir, 'run.json')), 'the live run folder was rotated away');
  writeFileSync(go, '');
  const r = await long.done;
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout);
  assert.equal(doc.summary.statements >= 3, true, JSON.stringify(doc.summary));
  assert.equal(doc.summary.commits >= 2, true);
  // The lock goes with the run: the folder is an ordinary finished run now, and at most ten are kept.
  assert.equal(existsSync(join(liveDir, RUN_LOCK_FILE)), false);
  // Ten kept by rotation, plus the run that was live meanwhile.
  const runs = listRuns(cwd);
  assert.equal(runs.length, 11);
  assert.ok(runs.some((x) => x.dir === liveDir));
  // Finished now, it is the oldest: the next run's rotation removes it like any other.
  txlens(['run', '--', py, '-c', 'pass'], cwd);
  assert.equal(listRuns(cwd).length, 10);
  assert.equal(existsSync(liveDir), false);
});

test('a run whose folder is removed while it runs still reports all it traced, with a note, never a stack', async () => {
  const cwd = tempDir('vanished');
  const go = join(cwd, 'go');
  const long = startLongRun(cwd, go);
  await until(() => listRuns(cwd).some((r) => traced(r.dir)), 'the run to trace its first statement');
  // Give the report's tail time to read what is there (it polls while the engine loads).
  await new Promise((r) => setTimeout(r, 2500));
  rmSync(listRuns(cwd)[0].dir, { recursive: true, force: true });
  writeFileSync(go, '');
  const r = await long.done;
  assert.doesNotMatch(r.stderr, /internal error|ENOENT|\n\s+at /);
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout);
  // The files the report already had open are read to their end: the work done after the removal is there too.
  assert.equal(doc.summary.statements, 3, JSON.stringify(doc.summary));
  assert.equal(doc.summary.commits, 2);
  assert.match(doc.notes.join('\n'), /trace folder was removed while the command ran/);
});

test('--trace reused: the second report holds only the second run', () => {
  const cwd = tempDir('trace-reuse');
  const trace = join(cwd, 'trace');
  const write = (n: number) =>
    `import sqlite3\ndb = sqlite3.connect(':memory:')\nfor i in range(${n}):\n    db.execute('SELECT ' + str(i))\ndb.close()\n`;
  const first = txlens(['run', '--json', '--trace', trace, '--', py, '-c', write(5)], cwd);
  assert.equal(first.status, 0, first.stderr);
  assert.equal(JSON.parse(first.stdout).summary.statements, 5);
  const second = txlens(['run', '--json', '--trace', trace, '--', py, '-c', write(2)], cwd);
  assert.equal(second.status, 0, second.stderr);
  const doc = JSON.parse(second.stdout);
  assert.equal(doc.summary.processes, 1);
  assert.equal(doc.summary.statements, 2);
  assert.equal(readdirSync(trace).filter((n) => n.endsWith('.ndjson')).length, 1);
  // And `report` of the folder agrees.
  assert.equal(JSON.parse(txlens(['report', '--json', trace], cwd).stdout).summary.statements, 2);
});

test('--trace naming a folder with files that are not a txlens trace is refused, and nothing is deleted', () => {
  const cwd = tempDir('trace-foreign');
  for (const [name, content] of [
    ['notes.txt', 'mine'],
    ['events.ndjson', '{"mine": true}\n'],
  ]) {
    const dir = join(cwd, `d-${name}`);
    mkdirSync(dir);
    writeFileSync(join(dir, name), content);
    writeFileSync(join(dir, 'run.json'), '{}');
    const r = txlens(['run', '--trace', dir, '--', py, '-c', 'pass'], cwd);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`^txlens: --trace .* holds files that are not a txlens trace \\(${name.replace('.', '\\.')}\\)`));
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.equal(readFileSync(join(dir, name), 'utf8'), content);
    assert.ok(existsSync(join(dir, 'run.json')));
  }
});

test('environment refusals are one-line errors with exit 2: unwritable trace location, --cwd naming a file, a file in the way', () => {
  const cwd = tempDir('env-errors');
  const readOnly = txlens(['run', '--trace', '/proc/txlens-no-such/trace', '--', py, '-c', 'pass'], cwd);
  assert.equal(readOnly.status, 2);
  assert.match(readOnly.stderr, /^txlens: cannot create the trace folder \/proc\/txlens-no-such\/trace: .*\n$/);
  assert.doesNotMatch(readOnly.stderr, /internal error/);

  const file = join(cwd, 'file.txt');
  writeFileSync(file, 'x');
  const cwdFile = txlens(['run', '--cwd', file, '--', py, '-c', 'pass'], cwd);
  assert.equal(cwdFile.status, 2);
  assert.equal(cwdFile.stderr, `txlens: --cwd is not a folder: ${file}\n`);

  const blocked = tempDir('dot-txlens-file');
  writeFileSync(join(blocked, '.txlens'), 'not a folder');
  const inTheWay = txlens(['run', '--', py, '-c', 'pass'], blocked);
  assert.equal(inTheWay.status, 2);
  assert.match(inTheWay.stderr, /^txlens: cannot create the trace folder .*\.txlens\/runs: a file is in the way \(ENOTDIR\)\n$/);

  const html = txlens(['run', '--html', '/proc/txlens-no-such/t.html', '--', py, '-c', 'pass'], cwd);
  assert.equal(html.status, 2);
  assert.match(html.stderr, /txlens: cannot write --html \/proc\/txlens-no-such\/t\.html: ENOENT\n$/);
});

test('check reports, rather than skips in silence, a file whose name is not UTF-8', () => {
  const root = tempDir('non-utf8');
  writeFileSync(join(root, 'ok.py'), 'x = 1\n');
  writeFileSync(Buffer.concat([Buffer.from(`${root}/bad-`), Buffer.from([0xff, 0xfe]), Buffer.from('.py')]), 'x = 1\n');
  const r = txlens(['check', '--json', '--root', root], root);
  assert.equal(r.status, 0, r.stderr);
  const doc = JSON.parse(r.stdout);
  assert.ok(
    (doc.notes ?? []).some((n: string) => /bad-.*: skipped, its file name is not valid UTF-8/.test(n)),
    JSON.stringify(doc.notes),
  );
  const text = txlens(['check', '--root', root], root);
  assert.match(text.stdout, /note: bad-.*not valid UTF-8/);
});

test('rotation: a lock naming a live process protects its run, one left by a dead process does not', () => {
  const cwd = tempDir('rotation-locks');
  const root = runsRoot(cwd);
  const dead = spawnSync(py, ['-c', 'import os; print(os.getpid())'], { encoding: 'utf8' });
  const deadPid = Number(dead.stdout.trim());
  const sleeper = spawn(py, ['-c', 'import time; time.sleep(60)'], { stdio: 'ignore' });
  try {
    const names = ['2020-01-01T00-00-00-000Z-1', '2020-01-02T00-00-00-000Z-2', '2020-01-03T00-00-00-000Z-3', '2020-01-04T00-00-00-000Z-4'];
    for (const n of names) mkdirSync(join(root, n), { recursive: true });
    writeFileSync(join(root, names[0], RUN_LOCK_FILE), `${sleeper.pid}\n`); // oldest, but live
    writeFileSync(join(root, names[1], RUN_LOCK_FILE), `${deadPid}\n`); // its owner died
    mkdirSync(join(root, `.new-${deadPid}-1`)); // half-made by a txlens that died
    const dir = newRunDir(cwd, 2);
    const left = readdirSync(root).sort();
    assert.deepEqual(left, [names[0], names[3], dir.split('/').pop()!].sort());
  } finally {
    sleeper.kill('SIGKILL');
  }
});

test('the runs to open: newest first, each with the command it traced (password redacted), terminal runs marked', () => {
  const cwd = tempDir('describe-runs');
  const secret = 'hunter2-never-shown';
  const r = txlens(['run', '--json', '--', py, '-c', 'import sys', `postgresql://app:${secret}@localhost/db`], cwd);
  assert.equal(r.status, 0, r.stderr);
  const terminal = terminalRunDir(cwd);
  // A folder with a run.json that is no run description still lists, with no command.
  const odd = join(runsRoot(cwd), '2000-01-01T00-00-00-000Z-1');
  mkdirSync(odd);
  writeFileSync(join(odd, 'run.json'), '{"not": "a run"}');
  const runs = describeRuns(cwd);
  assert.deepEqual(
    runs.map((x) => x.dir),
    listRuns(cwd).map((x) => x.dir),
  );
  assert.equal(runs.length, 3);
  const traced = runs.find((x) => x.command)!;
  assert.equal(traced.terminal, false);
  assert.equal(traced.command![0], py);
  assert.ok(traced.command!.some((a) => a.startsWith('postgresql://app:')));
  assert.ok(!traced.command!.join(' ').includes(secret), traced.command!.join(' '));
  const inTerminal = runs.find((x) => x.dir === terminal)!;
  assert.deepEqual([inTerminal.terminal, inTerminal.command, inTerminal.live], [true, undefined, true]);
  const last = runs[runs.length - 1];
  assert.deepEqual([last.dir, last.command, last.terminal], [odd, undefined, false]);
});
