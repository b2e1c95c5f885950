// Picking the test command from what a workspace holds, and narrowing it to
// one file or one test for each runner.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { LocatedTest } from '../../src/editor/present/locate';
import { commandForSelection, detectTestCommand, runnerOf, splitCommand, WorkspaceProbe } from '../../src/editor/present/testCommand';
import { tempDir } from '../support/env';

/** A real folder with the given files, probed the way the extension probes a workspace. */
function workspace(files: Record<string, string>, platform: NodeJS.Platform = 'linux'): WorkspaceProbe {
  const root = tempDir('detect');
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    writeFileSync(join(root, rel), text);
  }
  return {
    has: (rel) => existsSync(join(root, rel)),
    read: (rel) => (existsSync(join(root, rel)) ? readFileSync(join(root, rel), 'utf8') : undefined),
    platform,
  };
}

test('a pytest project runs pytest from its virtual environment when it has one', () => {
  assert.deepEqual(detectTestCommand(workspace({ 'pytest.ini': '[pytest]\n', '.venv/bin/python': '' })), { command: '.venv/bin/python -m pytest -q', runner: 'pytest', why: 'pytest in .venv' });
  assert.equal(detectTestCommand(workspace({ 'pyproject.toml': '[tool.pytest.ini_options]\n' }))?.command, 'python3 -m pytest -q');
  assert.equal(detectTestCommand(workspace({ 'tests/conftest.py': '' }, 'win32'))?.command, 'python -m pytest -q');
  assert.equal(detectTestCommand(workspace({ 'setup.cfg': '[tool:pytest]\n', 'venv/bin/python': '' }))?.command, 'venv/bin/python -m pytest -q');
  assert.equal(detectTestCommand(workspace({ 'pyproject.toml': '[project]\nname="x"\n' })), undefined, 'a pyproject without pytest says nothing');
});

test('a node project runs the runner its package.json names', () => {
  const pkg = (o: object) => ({ 'package.json': JSON.stringify(o) });
  assert.equal(detectTestCommand(workspace(pkg({ scripts: { test: 'vitest' } })))?.command, 'npx vitest run');
  assert.equal(detectTestCommand(workspace(pkg({ devDependencies: { jest: '^29' } })))?.command, 'npx jest');
  assert.equal(detectTestCommand(workspace(pkg({ scripts: { test: 'mocha --recursive' } })))?.runner, 'mocha');
  assert.equal(detectTestCommand(workspace(pkg({ scripts: { test: 'node --test test/' } })))?.command, 'node --test');
  assert.equal(detectTestCommand(workspace(pkg({ scripts: { test: 'tsx --test test/*.test.ts' } })))?.command, 'npx tsx --test');
  assert.equal(detectTestCommand(workspace(pkg({ scripts: { test: 'node --import tsx --test test/a.test.ts' } })))?.command, 'node --import tsx --test');
  assert.equal(detectTestCommand(workspace(pkg({ scripts: { test: 'node --import=tsx --test' } })))?.runner, 'node:test');
  assert.equal(detectTestCommand(workspace(pkg({ scripts: { test: 'make check' } })))?.command, 'npm test');
  assert.equal(detectTestCommand(workspace(pkg({ scripts: { test: 'echo "Error: no test specified" && exit 1' } }))), undefined);
  assert.equal(detectTestCommand(workspace({ 'package.json': '{ not json' })), undefined);
});

test('command lines split like a shell would split them', () => {
  assert.deepEqual(splitCommand(`  python -m pytest -q  -k "not slow" 'a b'`), ['python', '-m', 'pytest', '-q', '-k', 'not slow', 'a b']);
  assert.deepEqual(splitCommand('a\\ b "c \\"d\\"" ""'), ['a b', 'c "d"', '']);
  assert.equal(runnerOf(['/venv/bin/python', '-m', 'pytest']), 'pytest');
  assert.equal(runnerOf(['node', '--test']), 'node:test');
  assert.equal(runnerOf(['node', '--import', 'tsx', '--test']), 'node:test');
  assert.equal(runnerOf(['npx', 'tsx', '--test']), 'node:test');
  assert.equal(runnerOf(['npx', 'tsx', 'script.ts']), 'npm');
  assert.equal(runnerOf(['npm', 'test']), 'npm');
});

test('narrowing to a file or a test, per runner', () => {
  const t = (path: string[]): LocatedTest => ({ name: path[path.length - 1], path, kind: 'test', line: 1, endLine: 2 });
  const py = ['python', '-m', 'pytest', '-q'];
  assert.deepEqual(commandForSelection(py, undefined, undefined), py);
  assert.deepEqual(commandForSelection(py, 'tests/test_a.py', undefined), [...py, 'tests/test_a.py']);
  assert.deepEqual(commandForSelection(py, 'tests/test_a.py', t(['TestX', 'test_b'])), [...py, 'tests/test_a.py::TestX::test_b']);
  assert.deepEqual(commandForSelection(['npx', 'vitest', 'run'], 'src/a.test.ts', t(['jobs', 'creates (1)'])), ['npx', 'vitest', 'run', 'src/a.test.ts', '-t', 'jobs creates \\(1\\)']);
  assert.deepEqual(commandForSelection(['npx', 'jest'], 'a.test.js', t(['x'])), ['npx', 'jest', 'a.test.js', '-t', 'x']);
  assert.deepEqual(commandForSelection(['npx', 'mocha'], 'test/a.js', t(['s', 'x'])), ['npx', 'mocha', 'test/a.js', '--grep', 's x']);
  assert.deepEqual(commandForSelection(['node', '--test'], 'test/a.mjs', t(['s', 'x.y'])), ['node', '--test', '--test-name-pattern=x\\.y', 'test/a.mjs']);
  assert.deepEqual(commandForSelection(['npx', 'tsx', '--test'], 'test/a.test.ts', t(['s', 'x'])), ['npx', 'tsx', '--test', '--test-name-pattern=x', 'test/a.test.ts']);
  assert.deepEqual(commandForSelection(['npm', 'test'], 'test/a.js', t(['x'])), ['npm', 'test', '--', 'test/a.js']);
});

test('a script that names its test files runs the whole suite through npm test; one file or test still goes to the runner', () => {
  const pkg = (script: string, devDependencies: Record<string, string> = {}) => workspace({ 'package.json': JSON.stringify({ scripts: { test: script }, devDependencies }) });
  // node 20's --test alone finds no .ts file: the script's paths are what run the suite.
  const tsx = detectTestCommand(pkg('node --import tsx --test test/notes.test.ts', { tsx: '^4' }));
  assert.deepEqual(tsx, { command: 'node --import tsx --test', runner: 'node:test', why: 'node --import tsx --test in package.json', suiteCommand: 'npm test' });
  assert.equal(detectTestCommand(pkg('tsx --test "test/**/*.test.ts"'))?.suiteCommand, 'npm test');
  assert.equal(detectTestCommand(pkg('node --test test/'))?.suiteCommand, 'npm test');
  assert.equal(detectTestCommand(pkg('mocha spec/**/*.spec.js', { mocha: '^11' }))?.suiteCommand, 'npm test');
  assert.equal(detectTestCommand(pkg('tsc -p . && node --test'))?.suiteCommand, 'npm test', 'a build step before the tests stays');
  // Nothing but the runner and its options: the runner's own command finds the same tests.
  assert.equal(detectTestCommand(pkg('node --test'))?.suiteCommand, undefined);
  assert.equal(detectTestCommand(pkg('node --import tsx --test'))?.suiteCommand, undefined);
  assert.equal(detectTestCommand(pkg('mocha --recursive --timeout 5000'))?.suiteCommand, undefined);
  assert.equal(detectTestCommand(pkg('', { mocha: '^11' }))?.suiteCommand, undefined, 'mocha found only in the dependencies');
  assert.equal(detectTestCommand(pkg('vitest'))?.suiteCommand, undefined, 'vitest and jest find their tests from their config');
});
