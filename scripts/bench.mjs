// `npm run bench`: what capture costs a statement-heavy pytest suite.
//
// Runs bench/capture (an ORM test suite of 20,000+ statements) untraced and
// under `txlens run`, paired and interleaved, on a SQLite file and on a
// throwaway PostgreSQL, and prints per database: median wall times, the ratio
// of medians, the median and spread of the paired ratios, the statements the
// trace holds, and the verdict against the targets (1.3 SQLite, 1.15 Postgres).
//
// A traced run's time is split into the test command itself (run.json's
// startedWall/endedWall, written by the CLI around the child process) and what
// the CLI adds around it (node start-up before, reading and analysing the
// trace after), so in-process capture cost and CLI cost are seen apart.
//
// A measurement, not a test: exits 0 whatever the verdict (2 when it could not
// measure at all). Results also go to bench/results/<time>.json.
//
// Environment:
//   TXLENS_BENCH_ROUNDS   pairs per database (default 5)
//   TXLENS_BENCH_DBS      comma list of sqlite, postgres (default both)
//   TXLENS_BENCH_PYENV    sa20 (default) or sa14
//   TXLENS_BENCH_PARAMS   values (default), types, off
//   TXLENS_BENCH_STATIC   0 skips the static checker step (bench/static.ts), run after capture
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { benchPostgres, build, captureSuite as suiteDir, cleanEnv, pythonEnv, resultsDir, root, say, scratchFolder, stopBenchPostgres } from '../bench/setup.mjs';

const cli = join(root, 'dist', 'cli.js');

const TARGETS = { sqlite: 1.3, postgres: 1.15 };
const MIN_STATEMENTS = 20_000;
const rounds = Math.max(1, Number.parseInt(process.env.TXLENS_BENCH_ROUNDS ?? '5', 10) || 5);
const dbs = (process.env.TXLENS_BENCH_DBS ?? 'sqlite,postgres')
  .split(',')
  .map((s) => s.trim())
  .filter((s) => s in TARGETS);
const pyenv = process.env.TXLENS_BENCH_PYENV === 'sa14' ? 'sa14' : 'sa20';
const params = ['values', 'types', 'off'].includes(process.env.TXLENS_BENCH_PARAMS) ? process.env.TXLENS_BENCH_PARAMS : 'values';
const pytestArgs = ['-m', 'pytest', '-q', '-p', 'no:cacheprovider'];

// ---- set-up ---------------------------------------------------------------------

build();
const python = pythonEnv(pyenv);
const work = scratchFolder('txlens-bench-');

// Nothing from an outer traced run or the caller's shell may leak into either side. Byte-code
// caches are allowed (as on a developer's machine), so the warm-up leaves both sides compiled.
const baseEnv = cleanEnv();

// ---- one run ---------------------------------------------------------------------

function run(cmd, args, env) {
  return new Promise((resolveRun, reject) => {
    const startWall = Date.now();
    const start = process.hrtime.bigint();
    const child = spawn(cmd, args, { cwd: suiteDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      resolveRun({ code, ms, startWall, endWall: Date.now(), stdout, stderr });
    });
  });
}

let runCounter = 0;

function sqliteUrl() {
  // A fresh file per run, so neither side inherits the other's file growth.
  return `sqlite:///${join(work, `shop-${++runCounter}.db`)}`;
}

function removeSqlite(url) {
  if (!url.startsWith('sqlite:///')) return;
  const file = url.slice('sqlite:///'.length);
  for (const f of [file, `${file}-journal`, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
}

function lastLine(text) {
  return text.trim().split('\n').slice(-1)[0] ?? '';
}

async function untraced(dbUrl) {
  const r = await run(python, pytestArgs, { ...baseEnv, TXLENS_BENCH_DB_URL: dbUrl });
  if (r.code !== 0) throw new Error(`untraced suite failed (exit ${r.code}): ${lastLine(r.stdout + r.stderr)}`);
  return { ms: r.ms };
}

async function traced(dbUrl) {
  const traceDir = join(work, `trace-${++runCounter}`);
  const r = await run(
    process.execPath,
    [cli, 'run', '--json', '--params', params, '--trace', traceDir, '--', python, ...pytestArgs],
    { ...baseEnv, TXLENS_BENCH_DB_URL: dbUrl },
  );
  let doc;
  try {
    doc = JSON.parse(r.stdout);
  } catch {
    throw new Error(`traced run printed no JSON (exit ${r.code}): ${lastLine(r.stderr)}`);
  }
  const info = JSON.parse(readFileSync(join(traceDir, 'run.json'), 'utf8'));
  if (info.exitCode !== 0) throw new Error(`traced suite failed (exit ${info.exitCode}): ${lastLine(r.stderr)}`);
  const traceBytes = readdirSync(traceDir).reduce((n, f) => n + statSync(join(traceDir, f)).size, 0);
  rmSync(traceDir, { recursive: true, force: true });
  const commandMs = info.endedWall - info.startedWall;
  return {
    ms: r.ms,
    commandMs,
    cliStartMs: info.startedWall - r.startWall,
    cliReportMs: r.endWall - info.endedWall,
    statements: doc.summary.statements,
    tests: doc.summary.tests,
    findings: doc.findings.length,
    traceBytes,
  };
}

// ---- statistics ------------------------------------------------------------------

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const r3 = (x) => Math.round(x * 1000) / 1000;
const sec = (ms) => `${(ms / 1000).toFixed(2)}s`;

function summarise(db, pairs) {
  const u = pairs.map((p) => p.untraced.ms);
  const t = pairs.map((p) => p.traced.ms);
  const c = pairs.map((p) => p.traced.commandMs);
  const paired = pairs.map((p) => p.traced.ms / p.untraced.ms);
  const pairedCommand = pairs.map((p) => p.traced.commandMs / p.untraced.ms);
  const statements = median(pairs.map((p) => p.traced.statements));
  const untracedMedian = median(u);
  const target = TARGETS[db];
  const pairedMedian = median(paired);
  return {
    db,
    target,
    rounds: pairs.length,
    untracedMs: { median: untracedMedian, min: Math.min(...u), max: Math.max(...u) },
    tracedMs: { median: median(t), min: Math.min(...t), max: Math.max(...t) },
    ratioOfMedians: r3(median(t) / untracedMedian),
    pairedRatio: { median: r3(pairedMedian), min: r3(Math.min(...paired)), max: r3(Math.max(...paired)) },
    inProcess: {
      commandMs: median(c),
      pairedRatio: r3(median(pairedCommand)),
      perStatementUs: Math.round(((median(c) - untracedMedian) * 1000) / statements * 10) / 10,
    },
    cli: {
      startMs: median(pairs.map((p) => p.traced.cliStartMs)),
      reportMs: median(pairs.map((p) => p.traced.cliReportMs)),
    },
    statements,
    tests: median(pairs.map((p) => p.traced.tests)),
    traceBytes: median(pairs.map((p) => p.traced.traceBytes)),
    findings: median(pairs.map((p) => p.traced.findings)),
    verdict: statements >= MIN_STATEMENTS && pairedMedian <= target ? 'PASS' : 'FAIL',
    pairs,
  };
}

function print(s) {
  const lines = [
    ``,
    `== ${s.db}: ${s.tests} tests, ${s.statements} statements, ${s.rounds} pairs, trace ${(s.traceBytes / 1e6).toFixed(1)} MB`,
    `   untraced          median ${sec(s.untracedMs.median)}  (min ${sec(s.untracedMs.min)}, max ${sec(s.untracedMs.max)})`,
    `   traced (txlens)   median ${sec(s.tracedMs.median)}  (min ${sec(s.tracedMs.min)}, max ${sec(s.tracedMs.max)})`,
    `   ratio of medians  ${s.ratioOfMedians.toFixed(3)}`,
    `   paired ratios     median ${s.pairedRatio.median.toFixed(3)}  (min ${s.pairedRatio.min.toFixed(3)}, max ${s.pairedRatio.max.toFixed(3)})`,
    `   of which: in-process capture  ratio ${s.inProcess.pairedRatio.toFixed(3)}  (~${s.inProcess.perStatementUs} µs per statement)`,
    `             txlens CLI          start-up ${s.cli.startMs} ms + trace read/analysis/report ${s.cli.reportMs} ms`,
    `   statements ${s.statements >= MIN_STATEMENTS ? '>=' : '<'} ${MIN_STATEMENTS}; target paired median <= ${s.target}`,
    `   VERDICT ${s.db}: ${s.verdict}`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

// ---- main -----------------------------------------------------------------------

const startedAt = new Date();
const loadBefore = loadavg();
const summaries = [];
try {
  for (const db of dbs) {
    // SQLAlchemy names the driver in the scheme.
    const fixedUrl = db === 'postgres' ? await benchPostgres('postgresql+psycopg2') : undefined;
    const url = () => fixedUrl ?? sqliteUrl();
    say(`${db}: warm-up (byte-code caches, page cache)…`);
    for (const fn of [untraced, traced]) {
      const u = url();
      await fn(u);
      removeSqlite(u);
    }
    const pairs = [];
    for (let i = 0; i < rounds; i++) {
      // Alternate which side goes first, so drift on a shared machine hits both alike.
      const order = i % 2 === 0 ? ['untraced', 'traced'] : ['traced', 'untraced'];
      const pair = {};
      for (const side of order) {
        const u = url();
        pair[side] = await (side === 'untraced' ? untraced(u) : traced(u));
        removeSqlite(u);
      }
      say(
        `${db} pair ${i + 1}/${rounds}: untraced ${sec(pair.untraced.ms)}, traced ${sec(pair.traced.ms)} ` +
          `(command ${sec(pair.traced.commandMs)}), ratio ${(pair.traced.ms / pair.untraced.ms).toFixed(3)}`,
      );
      pairs.push(pair);
    }
    const s = summarise(db, pairs);
    summaries.push(s);
    print(s);
    stopBenchPostgres();
  }
} catch (e) {
  say(`could not measure: ${e.message}`);
  process.exit(2);
}

const loadAfter = loadavg();
process.stdout.write(
  `\nload average before ${loadBefore.map((x) => x.toFixed(2)).join(' ')}, after ${loadAfter.map((x) => x.toFixed(2)).join(' ')}` +
    ` (a busy machine widens the spread)\n`,
);
process.stdout.write(`overall: ${summaries.every((s) => s.verdict === 'PASS') ? 'PASS' : 'FAIL'}\n`);

mkdirSync(resultsDir, { recursive: true });
const file = join(resultsDir, `capture-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(
  file,
  JSON.stringify({ startedAt: startedAt.toISOString(), pyenv, params, rounds, loadBefore, loadAfter, results: summaries }, null, 2) + '\n',
);
say(`results written to ${file}`);

// ---- static checker ---------------------------------------------------------------
// bench/static.ts: full check vs syntax-only parse of a generated 2,000-file workspace, and
// one-file re-checks (targets: ratio <= 3, re-check median <= 100 ms). TXLENS_BENCH_STATIC=0 skips it;
// TXLENS_BENCH_DBS=none runs it alone.

if (process.env.TXLENS_BENCH_STATIC !== '0') {
  say('static checker: building bench/static.ts…');
  const esbuild = await import('esbuild');
  const staticOut = join(root, 'out', 'bench', 'static.js');
  await esbuild.build({
    entryPoints: [join(root, 'bench', 'static.ts')],
    outfile: staticOut,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    sourcemap: true,
    packages: 'external',
    logLevel: 'warning',
  });
  const r = spawnSync(process.execPath, [staticOut], { cwd: root, stdio: 'inherit', env: { ...baseEnv, TXLENS_BENCH_ROUNDS: String(rounds) } });
  if (r.status !== 0) say(`static checker benchmark could not measure (exit ${r.status})`);
}
