// The agent installs no signal handler and its flush can never wait on the
// frame it interrupted, so no signal can hang a traced process. Probed the way
// it used to hang: multiprocessing pools (fork and spawn) that terminate their
// workers with SIGTERM, and SIGTERM sent to a process in the middle of a
// statement loop. Runs go a few at a time; one that outlives its deadline is a hang.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pythonTraceEnv, python, tempDir } from '../support/env';
import { describeSkipped, readTrace as readProductTrace } from '../../src/trace/reader';
import { copyFixture, markerLine, readTrace } from '../agent/harness';

const RUNS = 50;
const CONCURRENCY = 4;
const DEADLINE_MS = 30_000;

interface Outcome {
  hung: boolean;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  traceDir: string;
}

function traced(args: string[], cwd: string, onStdout?: (text: string, kill: (s: NodeJS.Signals) => void) => void): Promise<Outcome> {
  const traceDir = join(tempDir('signals'), 'run');
  const env = pythonTraceEnv(traceDir, cwd, { base: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
  return new Promise((resolve) => {
    // Its own process group, so a hung run is killed with every worker it left behind.
    const child = spawn(python('sa20'), args, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let hung = false;
    const killGroup = (s: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, s);
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      hung = true;
      killGroup('SIGKILL');
    }, DEADLINE_MS);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      onStdout?.(stdout, (s) => child.kill(s));
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      killGroup('SIGKILL');
      resolve({ hung, code, signal, stdout, stderr, traceDir });
    });
  });
}

async function many(count: number, run: (i: number) => Promise<Outcome>): Promise<Outcome[]> {
  const results: Outcome[] = [];
  let next = 0;
  const lanes = Array.from({ length: CONCURRENCY }, async () => {
    while (next < count) {
      const i = next++;
      results[i] = await run(i);
    }
  });
  await Promise.all(lanes);
  return results;
}

describe('signals never hang a traced process', () => {
  for (const method of ['fork', 'spawn'] as const) {
    it(`${RUNS} traced multiprocessing.Pool(2) runs (${method}) end, with every worker's commits on disk`, async () => {
      const workspace = copyFixture('agent-faults');
      const results = await many(RUNS, () => traced([join(workspace, 'pool_run.py'), method, tempDir('pool')], workspace));
      const hangs = results.filter((r) => r.hung).length;
      assert.equal(hangs, 0, `${hangs}/${RUNS} hangs`);
      for (const r of results) {
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout.trim(), '[0, 1, 2, 3]');
        // Pool workers end by SIGTERM (no atexit): each of the 4 tasks' commits was written as it happened.
        const commits = readTrace(r.traceDir).flatMap((p) => p.events.filter((e) => e.k === 'commit' && e.at?.[2] === 'work'));
        assert.equal(commits.length, 4, r.traceDir);
      }
    });
  }

  it(`${RUNS} SIGTERMs to a traced sqlite loop: each dies of SIGTERM, as untraced`, async () => {
    const workspace = copyFixture('agent-faults');
    const results = await many(RUNS, () =>
      traced([join(workspace, 'sigterm_loop.py'), tempDir('loop')], workspace, (out, kill) => {
        if (out.includes('ready')) kill('SIGTERM');
      }),
    );
    const hangs = results.filter((r) => r.hung).length;
    assert.equal(hangs, 0, `${hangs}/${RUNS} hangs`);
    for (const r of results) {
      assert.equal(r.signal, 'SIGTERM', `code ${r.code}: ${r.stderr}`);
      // Death by SIGTERM can cut the write under way short (the kernel ends a
      // write to a file early for a fatal signal): the reader drops that last
      // line, says so, and keeps everything before it.
      const trace = readProductTrace(r.traceDir);
      assert.equal(trace.processes.length, 1);
      assert.equal(trace.processes[0].header.k, 'header');
      assert.ok(trace.skipped.total <= 1, describeSkipped(trace.skipped));
      assert.equal(trace.skipped.total, trace.skipped.byReason['truncated line'] ?? 0, describeSkipped(trace.skipped));
    }
  });
});

describe('os.fork() + os._exit()', () => {
  it("the child's 100 inserts and its commit are all in its trace", async () => {
    const workspace = copyFixture('agent-faults');
    const script = join(workspace, 'fork_exit.py');
    const r = await traced([script, tempDir('fork')], workspace);
    assert.equal(r.hung, false);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '100');
    const procs = readTrace(r.traceDir);
    assert.equal(procs.length, 2);
    const child = procs.find((p) => p.header.ppid !== procs[0].header.ppid || p.events.some((e) => e.k === 'commit' && e.at?.[1] === markerLine(script, 'child-commit')));
    assert.ok(child, 'no trace of the child');
    const inserts = child.events.filter((e) => e.k === 'stmt' && /insert into item/i.test(e.sql));
    assert.equal(inserts.length, 100);
    const commits = child.events.filter((e) => e.k === 'commit' && e.at?.[1] === markerLine(script, 'child-commit'));
    assert.equal(commits.length, 1);
  });
});
