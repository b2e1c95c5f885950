// Faults around the Node agent under `txlens run -- node --test`, each run
// traced and untraced: a test process killed mid-test (SIGKILL, so nothing of
// the process runs after it), a worker thread that throws, and a `pg` of a major
// version the agent does not hook. The runner reports the same outcomes and
// exits the same way with and without the agent, and txlens analyses the rest.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { loadModel } from '../../src/model/model';
import { createDatabase, repoRoot, runCli, tempDir } from '../support/env';
import { readProcessFiles } from '../support/trace-files';

interface Line {
  k: string;
  id?: string;
  sql?: string;
  driver?: string;
  thread?: number;
}

interface Traced {
  dir: string;
  code: number | null;
  stderr: string;
  trace: string;
  lines: Line[];
}

const fixtures = join(repoRoot, 'test', 'fixtures', 'node', 'faults');

function copy(name: string): string {
  const dir = realpathSync(tempDir(`node-fault-${name}`));
  cpSync(join(fixtures, name), dir, { recursive: true });
  return dir;
}

function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  // This suite runs under node --test itself: the fixture's run must not think it is one of its children.
  return { NODE_PATH: join(repoRoot, 'node_modules'), NODE_TEST_CONTEXT: undefined, NODE_OPTIONS: undefined, ...extra };
}

const COMMAND = [process.execPath, '--test', 'test/'];

async function traced(dir: string, extra: NodeJS.ProcessEnv = {}): Promise<Traced> {
  const traceDir = join(tempDir('node-fault-trace'), 'run');
  const result = await runCli(['run', '--json', '--trace', traceDir, '--', ...COMMAND], { cwd: dir, env: env(extra) });
  let trace: string;
  try {
    trace = (JSON.parse(result.stdout) as { trace: string }).trace;
  } catch {
    throw new Error(`txlens run printed no JSON report (exit ${result.code}):\n${result.stderr}`);
  }
  const run = JSON.parse(readFileSync(join(trace, 'run.json'), 'utf8')) as { exitCode: number | null };
  return { dir, code: run.exitCode, stderr: result.stderr, trace, lines: readProcessFiles<Line>(trace).flat() };
}

function untraced(dir: string, extra: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(COMMAND[0], COMMAND.slice(1), { cwd: dir, env: { ...process.env, ...env(extra) }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

/** node:test's TAP verdicts, with the project's folder left out (the two runs use two copies). */
function verdicts(output: string, dir: string): string[] {
  return output
    .split('\n')
    .filter((l) => /^\s*(not ok|ok) \d+ - /.test(l))
    .map((l) => l.split(dir).join('<project>').replace(/\s+#.*$/, '').trimEnd());
}

async function both(name: string, extra: NodeJS.ProcessEnv = {}): Promise<[Traced, { code: number | null; out: string }]> {
  const dir = copy(name);
  const plainDir = copy(name);
  return [await traced(dir, extra), await untraced(plainDir, extra).then((r) => ({ ...r, out: r.out.split(plainDir).join(dir) }))];
}

describe('Node agent faults', () => {
  test('a test process killed mid-test: same outcomes, the other file analysed, the killed test listed as unfinished', async () => {
    const [run, plain] = await both('killed');
    assert.deepEqual(verdicts(run.stderr, run.dir), verdicts(plain.out, run.dir));
    assert.equal(run.code, plain.code);
    assert.notEqual(run.code, 0);
    const model = loadModel(run.trace);
    const kept = model.tests.find((t) => t.id === 'test/a-notes.test.js > a note is stored');
    assert.equal(kept?.outcome, 'passed');
    assert.deepEqual(
      model.statements.filter((s) => s.test === kept.id).map((s) => s.sql.split(' ')[0]),
      ['CREATE', 'INSERT', 'SELECT'],
    );
    // The killed test's start reached the disk before its test ran; its end never happened.
    const starts = run.lines.filter((l) => l.k === 'test_start').map((l) => l.id);
    assert.ok(starts.includes('test/b-killed.test.js > a batch interrupted by the kernel'), starts.join(', '));
    assert.ok(!run.lines.some((l) => l.k === 'test_end' && l.id?.startsWith('test/b-killed')));
    const killed = model.tests.find((t) => t.id === 'test/b-killed.test.js > a batch interrupted by the kernel');
    assert.ok(killed, 'the killed test is not in the model');
    assert.equal(killed.outcome, undefined);
    assert.doesNotMatch(run.stderr, /txlens: capture/);
  });

  test("a worker thread that throws: the test's outcome unchanged, the worker's statement in the test that started it", async () => {
    const [run, plain] = await both('worker');
    assert.deepEqual(verdicts(run.stderr, run.dir), verdicts(plain.out, run.dir));
    assert.equal(run.code, 0, run.stderr);
    assert.equal(plain.code, 0);
    const model = loadModel(run.trace);
    const worker = model.processes.find((p) => p.header.thread !== undefined);
    assert.ok(worker, 'no worker thread file');
    assert.equal(worker.parent?.header.thread, undefined);
    assert.equal(worker.parent?.pid, worker.pid);
    assert.deepEqual(
      model.statements.map((s) => [s.sql, s.test]),
      [['SELECT 1 AS one', 'test/worker.test.js > a failing worker is reported']],
    );
  });

  test('an unsupported pg major version: reported once, its queries run untraced, the rest traced, outcomes unchanged', async () => {
    const url = await createDatabase('node_fault_pg7');
    const dir = copy('unsupported-pg');
    const plainDir = copy('unsupported-pg');
    // The real pg, under a major version the agent does not hook (its dependencies still resolve through NODE_PATH).
    const real = join(repoRoot, 'node_modules', 'pg');
    for (const project of [dir, plainDir]) {
      const fake = join(project, 'node_modules', 'pg');
      mkdirSync(fake, { recursive: true });
      for (const part of ['package.json', 'lib']) cpSync(join(real, part), join(fake, part), { recursive: true });
      const manifest = JSON.parse(readFileSync(join(fake, 'package.json'), 'utf8'));
      writeFileSync(join(fake, 'package.json'), JSON.stringify({ ...manifest, version: '7.0.0' }));
    }
    const run = await traced(dir, { DATABASE_URL: url });
    const plain = await untraced(plainDir, { DATABASE_URL: url });
    assert.deepEqual(verdicts(run.stderr, dir), verdicts(plain.out.split(plainDir).join(dir), dir));
    assert.equal(run.code, 0, run.stderr);
    assert.equal(plain.code, 0, plain.out);
    assert.equal(run.stderr.match(/txlens: pg 7\.0\.0 is not supported/g)?.length, 1, run.stderr);
    const drivers = run.lines.filter((l) => l.k === 'connect').map((l) => l.driver);
    assert.deepEqual(drivers, ['better-sqlite3']);
    assert.deepEqual(
      run.lines.filter((l) => l.k === 'stmt').map((l) => l.sql),
      ['SELECT 3 AS three'],
    );
    const tests = run.lines.filter((l) => l.k === 'test_start').map((l) => l.id);
    assert.equal(tests.length, 3, tests.join(', '));
  });
});
