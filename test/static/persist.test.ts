// Static results kept between runs (src/static/persist.ts): a re-run over unchanged sources
// loads no parser and parses nothing, and is never wrong: what comes from the cache equals a
// fresh check, a changed file is parsed again (alone) and what depends on it follows it, and a
// cache of another build, a corrupt one or none at all only costs the parse.
import assert from 'node:assert/strict';
import { cpSync, existsSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import type { Finding } from '../../src/analysis/findings';
import { staticStore } from '../../src/cli/run-static';
import { StaticChecker } from '../../src/static/checker';
import { fingerprint, pruneResults, shapeOf, storeName, type PersistOptions } from '../../src/static/persist';
import { dependencyOverrides } from '../../src/static/python/overrides';
import { pythonPlugin } from '../../src/static/python/plugin';
import type { LanguagePlugin } from '../../src/static/types';
import { typescriptPlugin } from '../../src/static/typescript/plugin';
import { python, repoRoot, runCli, tempDir } from '../support/env';
import { copyFixture } from './python-support';

const BUILD = 'a'.repeat(64);
const staticFixtures = join(repoRoot, 'test', 'fixtures', 'static');

/** The plugins, counting what costs: loading a parser and parsing a file. */
function counted() {
  const counts = { init: 0, analyze: 0 };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each plugin keeps its own per-file data type
  const wrap = (p: LanguagePlugin<any>): LanguagePlugin<any> => ({
    ...p,
    init: () => (counts.init++, p.init()),
    analyze: (file, ws) => (counts.analyze++, p.analyze(file, ws)),
  });
  return { counts, plugins: [wrap(pythonPlugin()), wrap(typescriptPlugin())] };
}

function store(name = 'cache'): PersistOptions {
  const dir = join(tempDir('static-store'), name);
  return { file: join(tempDir('static-store-dir'), storeName(dir)), build: BUILD };
}

/** Findings as a report sees them (a cached finding went through JSON once). */
const plain = (findings: Finding[]) => JSON.parse(JSON.stringify(findings)) as unknown;

/** Every fixture workspace of the static rules (buggy, fixed and the projects without variants). */
function fixtureWorkspaces(): string[] {
  const out: string[] = [];
  for (const lang of ['python', 'ts']) {
    for (const rule of readdirSync(join(staticFixtures, lang))) {
      const dir = join(staticFixtures, lang, rule);
      const variants = readdirSync(dir).filter((v) => /buggy|fixed/.test(v));
      out.push(...(variants.length ? variants.map((v) => join(dir, v)) : [dir]));
    }
  }
  return out;
}

test('static results from the cache equal a fresh check on every static fixture, with no parser loaded and no file parsed', async () => {
  const workspaces = fixtureWorkspaces();
  assert.ok(workspaces.length >= 15, `found ${workspaces.length} fixture workspaces`);
  for (const ws of workspaces) {
    const persist = store();
    const fresh = await new StaticChecker(ws).check();
    const cold = counted();
    const first = await new StaticChecker(ws, { plugins: cold.plugins, persist }).check();
    assert.ok(cold.counts.analyze > 0, ws);
    assert.ok(existsSync(persist.file), `${ws}: results written`);
    const warm = counted();
    const second = await new StaticChecker(ws, { plugins: warm.plugins, persist }).check();
    assert.deepEqual(warm.counts, { init: 0, analyze: 0 }, `${ws}: nothing parsed on the second run`);
    assert.deepEqual(plain(first.findings), plain(fresh.findings), ws);
    assert.deepEqual(plain(second.findings), plain(fresh.findings), ws);
    assert.deepEqual(second.notes, fresh.notes, ws);
    // What a plugin keeps beside a finding (the files that prove an override) comes back too.
    assert.deepEqual(second.findings.map((f) => dependencyOverrides.get(f)), fresh.findings.map((f) => dependencyOverrides.get(f)), ws);
    // A scoped check after a warm start (the run's own files) is the same as a fresh one.
    const scope = fresh.findings[0]?.location.file;
    if (scope) {
      const scoped = await new StaticChecker(ws, { plugins: counted().plugins, persist }).check([scope]);
      assert.deepEqual(plain(scoped.findings), plain((await new StaticChecker(ws).check([scope])).findings), ws);
    }
  }
});

test('a changed file is parsed again, alone, and a cross-file finding that depends on it follows it', async () => {
  const ws = copyFixture('stale-import-patch', 'buggy');
  const persist = store();
  const relatedOf = (findings: Finding[]) => [...new Set(findings.flatMap((f) => f.related.map((r) => `${relative(ws, r.file)}:${r.line}`)))].sort();
  const first = await new StaticChecker(ws, { persist }).check();
  assert.deepEqual(relatedOf(first.findings), ['src/jobs/stats.py:5', 'src/jobs/worker.py:2']);
  // stats.py now looks SessionLocal up at call time: the patch in the test file (unchanged) no longer misses it there.
  cpSync(join(staticFixtures, 'python', 'stale-import-patch', 'fixed', 'src', 'jobs', 'stats.py'), join(ws, 'src', 'jobs', 'stats.py'));
  const again = counted();
  const second = await new StaticChecker(ws, { plugins: again.plugins, persist }).check();
  assert.deepEqual(again.counts, { init: 1, analyze: 1 }, 'one parser, one file');
  assert.deepEqual(relatedOf(second.findings), ['src/jobs/worker.py:2']);
  assert.deepEqual(plain(second.findings), plain((await new StaticChecker(ws).check()).findings));
  // And the next run starts from the new state.
  const third = counted();
  assert.deepEqual(plain((await new StaticChecker(ws, { plugins: third.plugins, persist }).check()).findings), plain(second.findings));
  assert.deepEqual(third.counts, { init: 0, analyze: 0 });
});

test('a new file, or results of another txlens build, are never reused: every file is parsed again', async () => {
  const ws = copyFixture('stale-import-patch', 'buggy');
  const persist = store();
  const cold = counted();
  await new StaticChecker(ws, { plugins: cold.plugins, persist }).check();
  const files = cold.counts.analyze;
  const otherBuild = counted();
  await new StaticChecker(ws, { plugins: otherBuild.plugins, persist: { ...persist, build: 'b'.repeat(64) } }).check();
  assert.equal(otherBuild.counts.analyze, files);
  // The file now holds the other build's results: this build parses again too.
  const back = counted();
  await new StaticChecker(ws, { plugins: back.plugins, persist }).check();
  assert.equal(back.counts.analyze, files);
  // A new module changes the workspace's shape (module names, what imports resolve to).
  writeFileSync(join(ws, 'src', 'jobs', 'extra.py'), 'from .db import SessionLocal\n');
  const grown = counted();
  const r = await new StaticChecker(ws, { plugins: grown.plugins, persist }).check();
  assert.equal(grown.counts.analyze, files + 1);
  assert.deepEqual(plain(r.findings), plain((await new StaticChecker(ws).check()).findings));
});

test('fingerprints tell apart workspaces and shapes that differ in one character, one file or one stamp', () => {
  assert.match(fingerprint(''), /^[0-9a-f]{32}$/);
  assert.equal(fingerprint('/project/a'), fingerprint('/project/a'));
  // Roots one character apart, and texts that differ only in order or length, get other names.
  const texts = ['/project/a', '/project/b', '/project/ab', '/project/ba', '/project/a\0', 'a', '', '\u00e9', 'e\u0301'];
  assert.equal(new Set(texts.map(fingerprint)).size, texts.length);
  assert.equal(new Set(Array.from({ length: 2000 }, (_, i) => storeName(`/home/u/project-${i}`))).size, 2000);
  for (const name of texts.map(storeName)) assert.match(name, /^static-[0-9a-f]{24}\.json$/);
  // A shape changes with any folder, source file, or config file's stamp.
  const base = shapeOf('b1', '/w', ['/w/src'], ['/w/src/a.py'], [['/w/package.json', 10, 1000]]);
  assert.equal(base, shapeOf('b1', '/w', ['/w/src'], ['/w/src/a.py'], [['/w/package.json', 10, 1000]]));
  const others = [
    shapeOf('b2', '/w', ['/w/src'], ['/w/src/a.py'], [['/w/package.json', 10, 1000]]),
    shapeOf('b1', '/w', ['/w/src', '/w/lib'], ['/w/src/a.py'], [['/w/package.json', 10, 1000]]),
    shapeOf('b1', '/w', ['/w/src'], ['/w/src/a.py', '/w/src/b.py'], [['/w/package.json', 10, 1000]]),
    shapeOf('b1', '/w', ['/w/src'], ['/w/src/a.py'], [['/w/package.json', 11, 1000]]),
    shapeOf('b1', '/w', ['/w/src'], ['/w/src/a.py'], [['/w/package.json', 10, 1001]]),
    shapeOf('b1', '/w', ['/w/src'], ['/w/src/a.py'], []),
  ];
  assert.equal(new Set([base, ...others]).size, others.length + 1);
});

test('the results of the least recently checked workspaces are removed, and nothing else in the cache folder', () => {
  const dir = tempDir('txlens-static-prune-');
  const names = Array.from({ length: 6 }, (_, i) => storeName(`/project-${i}`));
  names.forEach((name, i) => {
    writeFileSync(join(dir, name), '{}');
    utimesSync(join(dir, name), 1000 + i, 1000 + i); // project-5 is the newest
  });
  writeFileSync(join(dir, 'engine.js-0123.cache'), 'code cache');
  pruneResults(dir, 4);
  assert.deepEqual(readdirSync(dir).sort(), [...names.slice(2), 'engine.js-0123.cache'].sort());
  pruneResults(dir, 4);
  assert.equal(readdirSync(dir).length, 5);
});

test('a corrupt or foreign cache file is ignored without a word, and replaced', async () => {
  const ws = copyFixture('stale-import-patch', 'buggy');
  const fresh = await new StaticChecker(ws).check();
  const persist = store();
  const corrupt = [
    '{"format":1,"build":"' + BUILD, // cut short
    'not json at all',
    JSON.stringify({ format: 1, build: BUILD, root: ws, shape: 'x', files: { [join(ws, 'a.py')]: { plugin: 'python', mtimeMs: 'soon', size: 1 } } }),
    'null',
    '\u0000\u0001binary',
  ];
  for (const text of corrupt) {
    writeFileSync(persist.file, text);
    const c = counted();
    const r = await new StaticChecker(ws, { plugins: c.plugins, persist }).check();
    assert.deepEqual(plain(r.findings), plain(fresh.findings), text);
    assert.deepEqual(r.notes, fresh.notes, text);
    assert.ok(c.counts.analyze > 0);
    assert.doesNotThrow(() => JSON.parse(readFileSync(persist.file, 'utf8')), 'rewritten whole');
  }
  // A valid-looking file whose findings are not findings is refused too.
  const good = JSON.parse(readFileSync(persist.file, 'utf8'));
  for (const f of Object.values(good.files) as Array<{ analysis?: { findings: unknown[] } }>) if (f.analysis) f.analysis.findings = [{ rule: 1 }];
  writeFileSync(persist.file, JSON.stringify(good));
  const c = counted();
  assert.deepEqual(plain((await new StaticChecker(ws, { plugins: c.plugins, persist }).check()).findings), plain(fresh.findings));
  assert.ok(c.counts.analyze > 0);
});

test('txlens run keeps the static results in the cache folder, the next run reports the same from them; TXLENS_CACHE_DIR=off keeps nothing', async () => {
  assert.equal(staticStore('/x', BUILD, { TXLENS_CACHE_DIR: 'off' }), undefined);
  assert.equal(staticStore('/x', undefined, { TXLENS_CACHE_DIR: tempDir('static-store-nohash') }), undefined, 'no build hash, no store');
  const ws = copyFixture('stale-import-patch', 'buggy');
  const runEnv = { JOBS_DATABASE_URL: `sqlite:///${join(ws, 'jobs_dev.db')}` };
  const run = async (env: NodeJS.ProcessEnv) => {
    const r = await runCli(['run', '--json', '--', python('sa20'), '-m', 'pytest', '-q', '-p', 'no:cacheprovider'], { cwd: ws, env: { ...runEnv, ...env } });
    assert.ok(r.stdout.trim(), r.stderr);
    const doc = JSON.parse(r.stdout) as { findings: Array<{ rule: string; severity: string; location: { file: string; line: number } }> };
    return doc.findings.map((f) => `${f.rule} ${f.severity} ${f.location.file}:${f.location.line}`).sort();
  };
  const cache = join(tempDir('static-store-cli'), 'cache');
  const first = await run({ TXLENS_CACHE_DIR: cache });
  assert.ok(first.some((f) => f.startsWith('stale-import-patch')), first.join('\n'));
  assert.equal(readdirSync(cache).filter((n) => /^static-.*\.json$/.test(n)).length, 1, readdirSync(cache).join(', '));
  assert.deepEqual(await run({ TXLENS_CACHE_DIR: cache }), first);
  const home = tempDir('static-store-home');
  assert.deepEqual(await run({ TXLENS_CACHE_DIR: 'off', XDG_CACHE_HOME: join(home, 'cache'), HOME: home }), first);
  assert.deepEqual(readdirSync(home), [], 'nothing written with the cache off');
});
