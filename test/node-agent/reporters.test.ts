// Observe, never disturb: what each test runner reports is the same with the
// agent as without it. node:test puts each test's location (the file:line:col
// of its test()/it() call) and a failure's stack in its reporters' output, jest
// and vitest put locations and failure messages in their JSON results, mocha
// the failure's stack in its TAP output. The fixture project
// (test/fixtures/node/reporters/) runs under each runner untraced, then traced
// in the same folder; the outputs, timings aside, must be identical, and the
// trace must hold each test at that same line.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { traceEnv } from '../../src/capture/env';
import { repoRoot, tempDir } from '../support/env';

const modules = join(repoRoot, 'node_modules');
const RESULTS = 'results.json';

interface Case {
  runner: string;
  command: string[];
  /** The runner's report, timings left out. */
  report: (dir: string, output: string) => unknown;
}

/** TAP without its timings. */
const tap = (_dir: string, output: string): string[] => output.split('\n').filter((l) => !/duration_ms/.test(l));

/** jest's and vitest's JSON results: per test, what a reporter or editor shows (its timings left out). */
function jsonResults(dir: string): unknown {
  const results = JSON.parse(readFileSync(join(dir, RESULTS), 'utf8')) as {
    testResults: Array<{ name: string; message?: string; assertionResults: Array<Record<string, unknown>> }>;
  };
  return results.testResults.map((file) => ({
    name: file.name,
    message: file.message,
    tests: file.assertionResults.map(({ duration: _duration, startAt: _startAt, ...rest }) => rest),
  }));
}

const CASES: Case[] = [
  { runner: 'node:test', command: ['--test', '--test-reporter=tap', 'test/ledger.test.js', 'test/ledger.test.mjs'], report: tap },
  { runner: 'node:test under tsx', command: ['--import', 'tsx', '--test', '--test-reporter=tap', 'test/typed.test.ts'], report: tap },
  { runner: 'mocha', command: [join(modules, 'mocha', 'bin', 'mocha.js'), '--reporter', 'tap', 'spec/'], report: tap },
  {
    runner: 'jest',
    command: [join(modules, 'jest', 'bin', 'jest.js'), '--ci', '--json', '--testLocationInResults', '--cacheDirectory', '.jest-cache', '--outputFile', RESULTS],
    report: jsonResults,
  },
  { runner: 'vitest', command: [join(modules, 'vitest', 'vitest.mjs'), 'run', '--reporter', 'json', '--outputFile', RESULTS, 'vitest/'], report: jsonResults },
];

function run(dir: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.stderr.setEncoding('utf8').on('data', () => undefined);
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

interface TraceLine {
  k: string;
  id?: string;
  file?: string;
  line?: number;
  outcome?: string;
}

for (const c of CASES) {
  describe(`${c.runner} reports the same traced and untraced`, () => {
    test('the same report, and each test in the trace at the line its runner names', async () => {
      const dir = realpathSync(tempDir(`node-reporters-${c.runner.replace(/\W+/g, '-')}`));
      cpSync(join(repoRoot, 'test', 'fixtures', 'node', 'reporters'), dir, { recursive: true });
      mkdirSync(join(dir, 'node_modules'));
      for (const name of ['better-sqlite3', 'vitest', 'tsx']) symlinkSync(join(modules, name), join(dir, 'node_modules', name), 'dir');
      const base = { ...process.env, NODE_PATH: modules, NODE_OPTIONS: undefined, NODE_TEST_CONTEXT: undefined, FORCE_COLOR: '0', NO_COLOR: '1' };

      const plain = await run(dir, c.command, base);
      const plainReport = c.report(dir, plain.output);
      if (existsSync(join(dir, RESULTS))) rmSync(join(dir, RESULTS));

      const traceDir = join(tempDir('node-reporters-trace'), 'run');
      const traced = await run(dir, c.command, traceEnv(base, { traceDir, workspace: dir, agentDir: join(repoRoot, 'dist', 'agents') }));
      const tracedReport = c.report(dir, traced.output);

      // Each fixture has a failing test: the report shows a location and a stack.
      assert.equal(plain.code, 1, plain.output);
      assert.equal(traced.code, plain.code);
      assert.deepEqual(tracedReport, plainReport);

      const lines = readdirSync(traceDir)
        .filter((f) => f.endsWith('.ndjson'))
        .flatMap((f) => readFileSync(join(traceDir, f), 'utf8').split('\n').filter(Boolean))
        .map((l) => JSON.parse(l) as TraceLine);
      assert.ok(!lines.some((l) => l.k === 'agent_error'), JSON.stringify(lines.filter((l) => l.k === 'agent_error')));
      const starts = lines.filter((l) => l.k === 'test_start');
      const ends = lines.filter((l) => l.k === 'test_end');
      assert.ok(starts.length >= 2, `tests in the trace: ${starts.map((s) => s.id).join(', ')}`);
      assert.equal(ends.length, starts.length);
      assert.ok(ends.some((e) => e.outcome === 'failed'));
      for (const s of starts) {
        // The trace's line is the test's own: its test()/it() call names it.
        const source = readFileSync(s.file!, 'utf8').split('\n');
        const name = s.id!.split(' > ').pop()!;
        assert.ok(s.line && /\b(test|it)(\.\w+)?\(/.test(source[s.line - 1]) && source[s.line - 1].includes(name), `${s.id} at ${s.file}:${s.line}`);
      }
    });
  });
}

test('node:test with --test-name-pattern: only the selected test is in the trace, as pytest -k records only what it selected', async () => {
  const dir = realpathSync(tempDir('node-reporters-pattern'));
  cpSync(join(repoRoot, 'test', 'fixtures', 'node', 'reporters'), dir, { recursive: true });
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(join(modules, 'better-sqlite3'), join(dir, 'node_modules', 'better-sqlite3'), 'dir');
  const base = { ...process.env, NODE_PATH: modules, NODE_OPTIONS: undefined, NODE_TEST_CONTEXT: undefined, FORCE_COLOR: '0', NO_COLOR: '1' };
  const command = ['--test', '--test-reporter=tap', '--test-name-pattern=^a posting moves the balance$', 'test/ledger.test.js'];

  const plain = await run(dir, command, base);
  const traceDir = join(tempDir('node-reporters-pattern-trace'), 'run');
  const traced = await run(dir, command, traceEnv(base, { traceDir, workspace: dir, agentDir: join(repoRoot, 'dist', 'agents') }));
  assert.equal(plain.code, 0, plain.output);
  assert.equal(traced.code, plain.code);
  assert.deepEqual(tap(dir, traced.output), tap(dir, plain.output));

  const lines = readdirSync(traceDir)
    .filter((f) => f.endsWith('.ndjson'))
    .flatMap((f) => readFileSync(join(traceDir, f), 'utf8').split('\n').filter(Boolean))
    .map((l) => JSON.parse(l) as TraceLine);
  assert.deepEqual(
    lines.filter((l) => l.k === 'test_end').map((l) => `${l.id}: ${l.outcome}`),
    ['test/ledger.test.js > a posting moves the balance: passed'],
  );
});
