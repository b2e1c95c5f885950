// Ctrl-C and termination of a traced run, with real processes: Ctrl-C in a real
// terminal (a pseudo-terminal driven from Python, ^C written to it, so the line
// discipline signals the whole foreground process group as a shell's terminal
// does) reaches the test command once; txlens exits with the command's own
// status, still prints what was traced, and an interrupted test is never
// recorded as passed. A signal sent to txlens alone is passed on, once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../../src/model/model';
import { cliPath, python, tempDir } from '../support/env';

const py = python('sa20');

/** Runs argv on a pseudo-terminal, types ^C once `marker` exists, and returns the exit status and what the terminal showed. */
const PTY_DRIVER = `
import json, os, pty, select, sys, time
marker, argv = sys.argv[1], sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
out = []
def pump(seconds):
    end = time.time() + seconds
    while time.time() < end:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                data = os.read(fd, 65536)
            except OSError:
                return False
            if not data:
                return False
            out.append(data)
    return True
deadline = time.time() + 60
while not os.path.exists(marker) and time.time() < deadline:
    pump(0.05)
pump(0.3)
os.write(fd, b"\\x03")
while pump(0.2) and time.time() < deadline + 60:
    pass
_, status = os.waitpid(pid, 0)
code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
print(json.dumps({"status": code, "out": b"".join(out).decode("utf-8", "replace")}))
`;

function onTerminal(cwd: string, marker: string, argv: string[]): { status: number; out: string } {
  const r = spawnSync(py, ['-c', PTY_DRIVER, marker, ...argv], { cwd, encoding: 'utf8', timeout: 180_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

/** Counts the signals it gets; ends 1.5 s after the last one (or 30 s without any), writing the counts. */
const COUNTER = `
import json, os, signal, sys, time
marker, counts_file = sys.argv[1], sys.argv[2]
counts = {"INT": 0, "TERM": 0}
last = [None]
def on(name):
    def handler(signum, frame):
        counts[name] += 1
        last[0] = time.time()
    return handler
signal.signal(signal.SIGINT, on("INT"))
signal.signal(signal.SIGTERM, on("TERM"))
open(marker, "w").close()
start = time.time()
while time.time() - start < 30 and (last[0] is None or time.time() - last[0] < 1.5):
    time.sleep(0.05)
with open(counts_file, "w") as f:
    json.dump(counts, f)
`;

const SLOW_SUITE = `
import os, sqlite3, time

def test_quick(tmp_path):
    db = sqlite3.connect(str(tmp_path / "a.sqlite"))
    db.execute("CREATE TABLE t (x INTEGER)")
    db.commit()

def test_interrupted(tmp_path):
    db = sqlite3.connect(str(tmp_path / "b.sqlite"))
    db.execute("CREATE TABLE t (x INTEGER)")
    db.execute("INSERT INTO t VALUES (1)")
    db.commit()
    open(os.environ["MARKER"], "w").close()
    time.sleep(30)

def test_never_started():
    pass
`;

test('Ctrl-C in a terminal under `txlens run -- pytest`: pytest\'s own status, the report, and the interrupted test not passed', () => {
  const cwd = tempDir('ctrl-c-pytest');
  writeFileSync(join(cwd, 'test_slow.py'), SLOW_SUITE);
  const statuses: number[] = [];
  for (let i = 0; i < 3; i++) {
    const marker = join(cwd, `started-${i}`);
    const trace = join(cwd, `trace-${i}`);
    const r = onTerminal(cwd, marker, [
      'env',
      `MARKER=${marker}`,
      process.execPath,
      cliPath,
      'run',
      '--trace',
      trace,
      '--',
      py,
      '-m',
      'pytest',
      '-q',
      '-p',
      'no:cacheprovider',
      'test_slow.py',
    ]);
    statuses.push(r.status);
    // The report after the interrupt: what was traced is there.
    assert.match(r.out, /txlens: 2 tests \(0 failed, 1 unfinished\) · no findings · 1 process/, r.out);
    assert.match(r.out, /test_slow\.py::test_interrupted\s+unfinished/, r.out);
    // One interrupt: pytest handled it as one (a second would break into its own handling).
    assert.equal((r.out.match(/KeyboardInterrupt/g) ?? []).length >= 1, true, r.out);
    assert.doesNotMatch(r.out, /Traceback \(most recent call last\)/, r.out);
    const model = loadModel(trace);
    const byId = new Map(model.tests.map((t) => [t.id.split('::').pop(), t]));
    assert.equal(byId.get('test_quick')?.outcome, 'passed');
    assert.equal(byId.get('test_interrupted')?.outcome, undefined, 'an interrupted test must not be recorded with an outcome');
    assert.equal(byId.has('test_never_started'), false);
    assert.equal(model.statements.filter((s) => s.sql.startsWith('INSERT')).length, 1);
  }
  // pytest's own status for an interrupted session (ExitCode.INTERRUPTED), every time.
  assert.deepEqual(statuses, [2, 2, 2]);
});

test('Ctrl-C in a terminal reaches the test command exactly once', () => {
  const cwd = tempDir('ctrl-c-once');
  const marker = join(cwd, 'started');
  const counts = join(cwd, 'counts.json');
  const r = onTerminal(cwd, marker, [process.execPath, cliPath, 'run', '--trace', join(cwd, 't'), '--', py, '-c', COUNTER, marker, counts]);
  assert.equal(r.status, 0, r.out);
  assert.deepEqual(JSON.parse(readFileSync(counts, 'utf8')), { INT: 1, TERM: 0 });
});

test('a command killed by Ctrl-C makes txlens exit 130, as a shell reports it', () => {
  const cwd = tempDir('ctrl-c-130');
  const marker = join(cwd, 'started');
  const script = `import os, signal, time\nsignal.signal(signal.SIGINT, signal.SIG_DFL)\nopen(${JSON.stringify(marker)}, 'w').close()\ntime.sleep(30)\n`;
  const r = onTerminal(cwd, marker, [process.execPath, cliPath, 'run', '--trace', join(cwd, 't'), '--', py, '-c', script]);
  assert.equal(r.status, 130, r.out);
  assert.match(r.out, /txlens: 0 tests \(0 failed\) · no findings · 1 process/);
});

async function signalTxlensAlone(signal: NodeJS.Signals): Promise<{ code: number | null; counts: { INT: number; TERM: number } }> {
  const cwd = tempDir(`alone-${signal}`);
  const marker = join(cwd, 'started');
  const counts = join(cwd, 'counts.json');
  // No terminal, own process group: only what txlens passes on reaches the command.
  const child = spawn(process.execPath, [cliPath, 'run', '--trace', join(cwd, 't'), '--', py, '-c', COUNTER, marker, counts], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  child.stdout.resume();
  child.stderr.resume();
  const end = Date.now() + 60_000;
  while (!existsSync(marker) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  child.kill(signal);
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  return { code, counts: JSON.parse(readFileSync(counts, 'utf8')) };
}

test('SIGINT sent to txlens alone is passed on once', async () => {
  const r = await signalTxlensAlone('SIGINT');
  assert.equal(r.code, 0);
  assert.deepEqual(r.counts, { INT: 1, TERM: 0 });
});

test('SIGTERM sent to txlens alone is passed on once', async () => {
  const r = await signalTxlensAlone('SIGTERM');
  assert.equal(r.code, 0);
  assert.deepEqual(r.counts, { INT: 0, TERM: 1 });
});
