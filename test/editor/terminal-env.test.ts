// Terminal tracing: the environment changes VS Code applies to new terminals
// are enough for a plain `python -m pytest` typed there to be traced.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, readdirSync, realpathSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { test } from 'node:test';
import { loadModel } from '../../src/model/model';
import { applyEnvMutations, terminalEnvMutations } from '../../src/editor/present/terminalEnv';
import { distAgentDir, python, repoRoot, tempDir } from '../support/env';

const agentDir = join(distAgentDir, '..');

test('mutations keep the shell’s own PYTHONPATH and plugins, and never leave an empty entry', () => {
  const opts = { traceDir: '/w/.txlens/runs/x-terminal', workspace: '/w', agentDir: '/ext/dist/agents' };
  const bare = terminalEnvMutations({}, opts);
  assert.deepEqual(bare.find((m) => m.name === 'PYTHONPATH'), { name: 'PYTHONPATH', op: 'replace', value: join('/ext/dist/agents', 'python') });
  // pytest finds the plugin through the agent's entry point: the shell's PYTEST_PLUGINS is left alone.
  assert.equal(bare.find((m) => m.name === 'PYTEST_PLUGINS'), undefined);
  assert.equal(bare.find((m) => m.name === 'TXLENS_TRACE_DIR')?.value, '/w/.txlens/runs/x-terminal');
  const busy = applyEnvMutations({ PYTHONPATH: '/mine', PYTEST_PLUGINS: 'a.plugin' }, terminalEnvMutations({ PYTHONPATH: '/mine', PYTEST_PLUGINS: 'a.plugin' }, opts));
  assert.equal(busy.PYTHONPATH, `${join('/ext/dist/agents', 'python')}${delimiter}/mine`);
  assert.equal(busy.PYTEST_PLUGINS, 'a.plugin');
});

test('pytest started in a terminal with those changes writes a trace the editor can open', () => {
  const work = realpathSync(tempDir('terminal'));
  cpSync(join(repoRoot, 'examples', 'quickstart'), work, { recursive: true });
  const traceDir = join(work, '.txlens', 'runs', 'now-terminal');
  const hostEnv = { ...process.env };
  delete hostEnv.PYTHONPATH;
  delete hostEnv.PYTEST_PLUGINS;
  const env = applyEnvMutations(hostEnv, terminalEnvMutations(hostEnv, { traceDir, workspace: work, agentDir }));
  const r = spawnSync(python('sa20'), ['-m', 'pytest', '-q', '-p', 'no:cacheprovider'], { cwd: work, env, encoding: 'utf8' });
  assert.equal(r.status, 1, r.stderr);
  assert.ok(readdirSync(traceDir).some((f) => f.endsWith('.ndjson')));
  const model = loadModel(traceDir);
  assert.equal(new Set(model.tests.map((t) => t.id)).size, 4);
  assert.ok(model.statements.length > 10);
});

test('the Node agent’s preload is appended to the shell’s own NODE_OPTIONS', () => {
  const opts = { traceDir: '/w/.txlens/runs/x-terminal', workspace: '/w', agentDir: '/ext/dist/agents' };
  const preload = join('/ext/dist/agents', 'node', 'preload.js');
  assert.equal(applyEnvMutations({}, terminalEnvMutations({}, opts)).NODE_OPTIONS?.trim(), `--require ${preload}`);
  const mine = applyEnvMutations({ NODE_OPTIONS: '--max-old-space-size=4096' }, terminalEnvMutations({}, opts));
  assert.equal(mine.NODE_OPTIONS, `--max-old-space-size=4096 --require ${preload}`);
});

test('a Node test typed in a terminal with those changes writes a trace the editor can open', () => {
  const work = realpathSync(tempDir('terminal-node'));
  cpSync(join(repoRoot, 'test', 'fixtures', 'node', 'sqlite', 'fixed'), work, { recursive: true });
  const traceDir = join(work, '.txlens', 'runs', 'now-terminal');
  const hostEnv: NodeJS.ProcessEnv = { ...process.env, NODE_PATH: join(repoRoot, 'node_modules') };
  // This suite runs under node --test: the typed command must not think it is one of its children.
  delete hostEnv.NODE_TEST_CONTEXT;
  delete hostEnv.NODE_OPTIONS;
  const env = applyEnvMutations(hostEnv, terminalEnvMutations(hostEnv, { traceDir, workspace: work, agentDir }));
  const r = spawnSync(process.execPath, ['--test', 'test/'], { cwd: work, env, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const model = loadModel(traceDir);
  assert.equal(model.tests.length, 3);
  assert.ok(model.statements.length > 10);
});
