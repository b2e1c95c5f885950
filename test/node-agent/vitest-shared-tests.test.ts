// vitest tests defined in a module the test file imports, as Drizzle's integration
// suite defines them (tests/pg/pg-common.ts exports tests(), whose describe('common')
// holds some 180 tests, and each driver's test file calls it): vitest names no line
// (includeTaskLocation is off), and the test's name is in no test( call of its own
// file. Each such test is written at the module and line that define it, its id
// under the test file that ran it; a module of the same imports that holds a test
// of the same name in another describe() is not taken for it. Vitest 3 keeps the
// modules it ran in vite-node's cache, vitest 4 in Vite's module runner graph.
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { repoRoot, runCli, tempDir, vitest4Dir } from '../support/env';

function writeLines(path: string, lines: string[]): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, [...lines, ''].join('\n'));
}

interface TestStart {
  k: string;
  id?: string;
  file?: string;
  line?: number;
}

const VITESTS = [
  { version: 3, vitest: join(repoRoot, 'node_modules', 'vitest') },
  { version: 4, vitest: vitest4Dir },
];

for (const { version, vitest } of VITESTS) {
  test(`a vitest ${version} test defined in a module its file imports is placed at that module and line`, async () => {
    const dir = realpathSync(tempDir(`vitest${version}-shared-tests`));
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(vitest, join(dir, 'node_modules', 'vitest'), 'dir');
    writeLines(join(dir, 'package.json'), ['{ "type": "module" }']);
    writeLines(join(dir, 'tests', 'common.ts'), [
      "import { describe, expect, test } from 'vitest';",
      'export function tests() {',
      "  describe('common', () => {",
      "    test('shared', () => expect(1).toBe(1));",
      "    test('shared', () => expect(2).toBe(2));",
      '  });',
      '}',
    ]);
    writeLines(join(dir, 'tests', 'other.ts'), [
      "import { describe, test } from 'vitest';",
      'export function otherTests() {',
      "  describe('other', () => {",
      "    test('shared', () => {});",
      '  });',
      '}',
    ]);
    writeLines(join(dir, 'tests', 'a.test.ts'), [
      "import { test } from 'vitest';",
      "import { otherTests } from './other';",
      "import { tests } from './common';",
      "test('own', () => {});",
      'tests();',
      'otherTests();',
    ]);
    writeLines(join(dir, 'tests', 'b.test.ts'), ["import { tests } from './common';", 'tests();']);
    const trace = join(dir, 'trace');
    // One worker runs both files, one after the other: the module's lines are given again to the second.
    const run = await runCli(
      ['run', '--trace', trace, '--', process.execPath, join(dir, 'node_modules', 'vitest', 'vitest.mjs'), 'run', '--no-isolate', '--no-file-parallelism', 'tests/'],
      { cwd: dir },
    );
    assert.equal(run.code, 0, run.stderr);
    const started = readdirSync(trace)
      .filter((f) => f.endsWith('.ndjson'))
      .flatMap((f) => readFileSync(join(trace, f), 'utf8').split('\n'))
      .filter((l) => l.includes('"test_start"'))
      .map((l) => JSON.parse(l) as TestStart)
      .map((e) => [e.id, `${(e.file ?? '').slice(dir.length + 1)}:${e.line}`]);
    assert.deepEqual(started.sort(), [
      ['tests/a.test.ts > common > shared', 'tests/common.ts:4'],
      ['tests/a.test.ts > common > shared', 'tests/common.ts:5'],
      ['tests/a.test.ts > other > shared', 'tests/other.ts:4'],
      ['tests/a.test.ts > own', 'tests/a.test.ts:4'],
      ['tests/b.test.ts > common > shared', 'tests/common.ts:4'],
      ['tests/b.test.ts > common > shared', 'tests/common.ts:5'],
    ]);
  });
}
