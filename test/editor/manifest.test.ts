// package.json is the extension's public face: it must agree with the code
// (command ids, settings, colours), activate only where tests live, and ship
// the documents it links to.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { DYNAMIC_RULES } from '../../src/analysis/rules';
import { Command, COMMAND_CATEGORY, COMMAND_TITLES } from '../../src/editor/commands';
import { COLORS } from '../../src/editor/colors';
import { configurationProperties, DEFAULT_SETTINGS, readSettings, SETTINGS } from '../../src/editor/settings';
import { repoRoot } from '../support/env';

const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));

test('every command id is contributed with its title in the TxLens category; the internal one is hidden', () => {
  const contributed = new Map<string, { title: string; category: string }>(pkg.contributes.commands.map((c: { command: string }) => [c.command, c]));
  for (const id of Object.values(Command)) {
    assert.equal(contributed.get(id)?.title, COMMAND_TITLES[id].title, id);
    assert.equal(contributed.get(id)?.category, COMMAND_CATEGORY, id);
  }
  assert.equal(contributed.size, Object.values(Command).length);
  const hidden = pkg.contributes.menus.commandPalette.filter((m: { when: string }) => m.when === 'false').map((m: { command: string }) => m.command);
  assert.deepEqual(hidden, [Command.State]);
  for (const id of ['txlens.traceTests', 'txlens.traceTestAtCursor', 'txlens.checkWorkspace', 'txlens.openTimeline', 'txlens.openTrace', 'txlens.clearTrace']) {
    assert.ok(contributed.has(id), id);
  }
});

test('settings: the manifest carries the typed schema, each with a scope and a markdown description', () => {
  assert.deepEqual(pkg.contributes.configuration.properties, JSON.parse(JSON.stringify(configurationProperties())));
  for (const [key, s] of Object.entries(SETTINGS)) {
    assert.ok(s.scope, key);
    assert.ok(s.markdownDescription.length > 20, key);
    assert.equal(typeof s.default, s.type, key);
  }
  assert.deepEqual(readSettings(() => undefined), DEFAULT_SETTINGS);
  assert.equal(readSettings((k) => (k === 'params' ? 'bogus' : k === 'keepRuns' ? 3 : undefined)).params, 'values', 'a value outside the enum falls back');
  assert.equal(readSettings((k) => (k === 'keepRuns' ? 3 : undefined)).keepRuns, 3);
});

test('activation waits for a workspace with tests or a command, never *', () => {
  assert.ok(!pkg.activationEvents.includes('*'));
  assert.ok(pkg.activationEvents.includes('workspaceContains:**/conftest.py'));
  assert.ok(pkg.activationEvents.some((e: string) => e.startsWith('workspaceContains:') && e.includes('{test,spec}')));
  for (const id of [Command.TraceTests, Command.OpenTrace]) assert.ok(pkg.activationEvents.includes(`onCommand:${id}`), id);
  assert.equal(pkg.main, './dist/extension.js');
});

test('untrusted workspaces are limited: the test command and terminal tracing are restricted', () => {
  const u = pkg.capabilities.untrustedWorkspaces;
  assert.equal(u.supported, 'limited');
  assert.match(u.description, /never runs a test command/);
  assert.deepEqual(u.restrictedConfigurations.sort(), ['txlens.testCommand', 'txlens.traceTerminal']);
});

test('the decoration colours are contributed with defaults for every theme kind', () => {
  const colors = new Map<string, { defaults: Record<string, unknown> }>(pkg.contributes.colors.map((c: { id: string }) => [c.id, c]));
  for (const id of Object.values(COLORS)) {
    const c = colors.get(id);
    assert.ok(c, id);
    assert.deepEqual(Object.keys(c.defaults).sort(), ['dark', 'highContrast', 'highContrastLight', 'light']);
  }
});

test('the walkthrough’s media and every rule’s documentation exist', () => {
  for (const w of pkg.contributes.walkthroughs) {
    for (const step of w.steps) assert.ok(existsSync(join(repoRoot, step.media.markdown)), step.media.markdown);
  }
  const designRules = [
    'stale-import-patch', 'missing-commit', 'uncommitted-read', 'stale-read', 'sqlite-memory-isolation', 'shared-connection-concurrency',
    'test-state-leak', 'commit-escapes-rollback', 'non-test-database', 'placeholder-session', 'lock-wait', 'pool-release-in-transaction',
  ];
  for (const rule of new Set([...designRules, ...DYNAMIC_RULES.map((r) => r.id)])) {
    const doc = join(repoRoot, 'docs', 'rules', `${rule}.md`);
    assert.ok(existsSync(doc), doc);
    assert.match(readFileSync(doc, 'utf8'), new RegExp(`^# ${rule}\\n`));
  }
});

test('packaging: npm run package builds for production, and .vscodeignore is an allow-list', () => {
  assert.match(pkg.scripts.package, /esbuild\.mjs --production && vsce package --no-dependencies/);
  const ignore = readFileSync(join(repoRoot, '.vscodeignore'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
  assert.equal(ignore[0], '**');
  assert.ok(existsSync(join(repoRoot, 'LICENSE')));
});

test('the package holds the extension, engine, CLI, both agents, wasm, rule docs and media, and nothing else', () => {
  const r = spawnSync(process.execPath, [join(repoRoot, 'node_modules', '@vscode', 'vsce', 'vsce'), 'ls', '--no-dependencies'], { cwd: repoRoot, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const files = r.stdout.trim().split('\n').map((l) => l.trim());
  const allowed = [/^package\.json$/, /^README\.md$/, /^LICENSE$/, /^media\//, /^dist\/(extension|engine|cli)\.js$/, /^dist\/[\w-]+\.wasm$/, /^dist\/agents\/python\/.*\.py$/, /^dist\/agents\/python\/txlens_agent-[\d.]+\.dist-info\/(METADATA|entry_points\.txt)$/, /^dist\/agents\/node\/(preload|agent)\.js$/, /^dist\/agents\/node\/package\.json$/, /^dist\/docs\/rules\/[\w-]+\.md$/];
  for (const f of files) assert.ok(allowed.some((a) => a.test(f)), `unexpected file in the package: ${f}`);
  for (const must of ['package.json', 'README.md', 'LICENSE', 'dist/extension.js', 'dist/engine.js', 'dist/cli.js', 'dist/agents/python/sitecustomize.py', 'dist/agents/python/txlens_agent/pytest_plugin.py', 'dist/agents/node/preload.js', 'dist/agents/node/agent.js', 'dist/agents/node/package.json', 'dist/docs/rules/missing-commit.md', 'media/walkthrough/trace.md', 'media/timeline.js', 'media/timeline.css']) {
    assert.ok(files.includes(must), `${must} missing from the package`);
  }
  assert.ok(files.some((f) => f.endsWith('.wasm')), 'the parsers’ wasm files ship');
  // pytest finds the plugin through this entry point: without it a packaged extension traces no test boundaries.
  assert.ok(files.some((f) => /^dist\/agents\/python\/txlens_agent-[\d.]+\.dist-info\/entry_points\.txt$/.test(f)), 'the pytest11 entry point ships');
});
