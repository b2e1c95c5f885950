// What the Node agent costs a statement-heavy node:test suite, and what
// OpenTelemetry's pg instrumentation costs the same suite.
//
// bench/node-capture/ is a node:test suite of four files (customers, orders,
// inventory, reports: inserts, selects, updates, orders placed in transactions,
// some rolled back; a pg Pool on Postgres, prepared statements and
// db.transaction() on better-sqlite3), about 11,000 statements. It runs, interleaved
// in each round (the order rotates from round to round, so drift on a shared
// machine hits every side alike):
//
//   untraced   node --test tests/*.test.mjs (the files listed: Node 22 takes a directory for a module)
//   agent      the same with the txlens Node agent preloaded (NODE_OPTIONS=--require
//              dist/agents/node/preload.js) and a trace folder: in-process capture
//              alone, what the 1.1x (Postgres) and 1.3x (better-sqlite3) targets are about
//   txlens     txlens run --json -- node --test <the same files>: capture plus the CLI's start-up,
//              trace reading, static check, analysis and report
//   otel       @opentelemetry/instrumentation-pg with the trace SDK's BatchSpanProcessor,
//              exporting spans to NDJSON files (bench/node-capture/otel.cjs), preloaded
//              the same way; Postgres only (there is no OpenTelemetry instrumentation of
//              better-sqlite3)
//
// and prints, per database, the median wall time of each side, the median of the
// paired ratios (side / untraced of the same round) with their spread, the time added
// per statement, and what each side recorded: txlens's statements, transactions,
// commits, rollbacks, tests and source lines; OpenTelemetry's spans and source lines.
//
// TXLENS_BENCH_MODE=instructions (or `both`) counts instructions instead of (or besides)
// wall time: each side once under valgrind's cachegrind, every process of the command
// (`--trace-children=yes --cache-sim=no`; the Postgres server is not counted), on a
// smaller suite (TXLENS_BENCH_IR_SCALE, default 0.25), since wall time on a busy machine
// is noisy and instructions are not; it prints the instructions each side adds per statement,
// and, when NODE_EXTRA_CA_CERTS is set (every Node start then parses those certificates),
// counts the untraced and agent sides without it too. The load average is printed with both.
//
// Then, in a project that has drizzle-orm installed (bench/node-start/, its node_modules holding
// drizzle-orm and better-sqlite3), what the agent costs each Node process at start-up, where it
// hooks Drizzle's ES module build: the median of TXLENS_BENCH_STARTS starts (default 20) of a
// script that does nothing (`node start.cjs`, `node start.mjs`, `node -e 0`), untraced and with
// the agent, interleaved; and a Drizzle suite there (node:test, better-sqlite3, through Drizzle's
// ES module build), untraced and with the agent, with what the trace holds (Drizzle transactions
// as sessions, statements). With TXLENS_BENCH_MODE=instructions or both, each start and the suite
// are counted under cachegrind as well.
//
// A measurement, not a test: exits 0 whatever the verdict (2 when it could not measure).
// Results also go to bench/results/node-capture-<time>.json.
//
// Environment:
//   TXLENS_BENCH_ROUNDS    rounds of wall-time measurement (default 5)
//   TXLENS_BENCH_DBS       comma list of postgres, sqlite (default both)
//   TXLENS_BENCH_MODE      wall (default), instructions, both
//   TXLENS_BENCH_SCALE     scales the suite's rounds of work (default 1)
//   TXLENS_BENCH_IR_SCALE  the same for the instruction count (default 0.25)
//   TXLENS_BENCH_BUILD     0 skips the build (dist/ must be current)
//   TXLENS_BENCH_STARTS    starts of each script, each side, in the Drizzle project (default 20; 0 skips it)
//   TXLENS_BENCH_SIDES     comma list of the sides to run besides untraced and agent (default
//                          txlens,otel; empty: those two alone)
//   TXLENS_BENCH_NODE_AGENT  the agent preload to measure (default dist/agents/node/preload.js;
//                          the txlens side always runs dist/cli.js with its own agent)
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { benchPostgres, build, cleanEnv, resultsDir, root, say as benchSay, scratchFolder, stopBenchPostgres } from './setup.mjs';

const suiteSource = join(root, 'bench', 'node-capture');
const cli = join(root, 'dist', 'cli.js');
// TXLENS_BENCH_NODE_AGENT: another build of the agent's preload to measure (an older one, to compare).
const preload = process.env.TXLENS_BENCH_NODE_AGENT ? resolve(process.env.TXLENS_BENCH_NODE_AGENT) : join(root, 'dist', 'agents', 'node', 'preload.js');

/** Paired median of the agent alone over untraced, at most. */
const TARGETS = { postgres: 1.1, sqlite: 1.3 };
const ALL_SIDES = { postgres: ['untraced', 'agent', 'txlens', 'otel'], sqlite: ['untraced', 'agent', 'txlens'] };

function intEnv(name, fallback) {
  const n = Number.parseInt(process.env[name] ?? '', 10);
  return Number.isFinite(n) && n > 0 ? n : fallback;
}
function numEnv(name, fallback) {
  const n = Number(process.env[name] ?? '');
  return Number.isFinite(n) && n > 0 ? n : fallback;
}

const rounds = intEnv('TXLENS_BENCH_ROUNDS', 5);
const dbs = (process.env.TXLENS_BENCH_DBS ?? 'postgres,sqlite')
  .split(',')
  .map((s) => s.trim())
  .filter((s) => s in TARGETS);
const mode = ['wall', 'instructions', 'both'].includes(process.env.TXLENS_BENCH_MODE) ? process.env.TXLENS_BENCH_MODE : 'wall';
const scale = numEnv('TXLENS_BENCH_SCALE', 1);
const irScale = numEnv('TXLENS_BENCH_IR_SCALE', 0.25);
const starts = process.env.TXLENS_BENCH_STARTS === '0' ? 0 : intEnv('TXLENS_BENCH_STARTS', 20);
// TXLENS_BENCH_SIDES: the sides to run besides untraced and agent (which every figure is relative to).
const extraSides = process.env.TXLENS_BENCH_SIDES === undefined ? undefined : process.env.TXLENS_BENCH_SIDES.split(',').map((s) => s.trim());
const SIDES = Object.fromEntries(
  Object.entries(ALL_SIDES).map(([db, sides]) => [db, sides.filter((side) => extraSides === undefined || side === 'untraced' || side === 'agent' || extraSides.includes(side))]),
);

function say(message) {
  benchSay(`node capture: ${message}`);
}

// ---- set-up ---------------------------------------------------------------------

if (process.env.TXLENS_BENCH_BUILD !== '0') build();
if (!existsSync(preload) || !existsSync(cli)) {
  say('dist/ has no CLI or Node agent: build first (node esbuild.mjs)');
  process.exit(2);
}
if (mode !== 'wall' && spawnSync('valgrind', ['--version'], { encoding: 'utf8' }).status !== 0) {
  say('valgrind is not installed (apt-get install valgrind); no instruction count');
  process.exit(2);
}

const work = scratchFolder('txlens-node-bench-');
// The suite runs as the project it is: a copy whose node_modules holds only what it imports (pg,
// better-sqlite3, and OpenTelemetry for its side), not inside this repository, whose node_modules has
// every ORM txlens is tested with. The agent does more in a project where some ORMs are installed
// (Drizzle's ES module build takes Node's loader hooks, a thread per process): that is not this suite.
const suiteDir = join(work, 'suite');
cpSync(suiteSource, suiteDir, { recursive: true });
mkdirSync(join(suiteDir, 'node_modules'));
for (const pkg of ['pg', 'better-sqlite3', '@opentelemetry']) symlinkSync(join(root, 'node_modules', pkg), join(suiteDir, 'node_modules', pkg), 'dir');
const otelSetup = join(suiteDir, 'otel.cjs');
// The start-up measurement's project: drizzle-orm installed, as in a project that uses it, whatever a process imports.
const startDir = join(work, 'drizzle-project');
cpSync(join(root, 'bench', 'node-start'), startDir, { recursive: true });
mkdirSync(join(startDir, 'node_modules'));
for (const pkg of ['drizzle-orm', 'better-sqlite3']) symlinkSync(join(root, 'node_modules', pkg), join(startDir, 'node_modules', pkg), 'dir');
// Nothing from an outer traced run, an outer node:test or the caller's OpenTelemetry set-up may leak into any side.
const baseEnv = Object.fromEntries(Object.entries(cleanEnv(['NODE_TEST_CONTEXT'])).filter(([k]) => !k.startsWith('OTEL_')));
const extraCa = baseEnv.NODE_EXTRA_CA_CERTS;
/**
 * The agent's V8 code caches (src/agents/node/preload.ts) and the CLI's, in the scratch folder, one
 * folder per database (as a project using one driver has them), the agent's plain cache written by
 * one start that hooks nothing before anything is measured: every side sees what a second run sees
 * once each side has run (the agent's statements cache is written by its first run).
 */
function codeCaches(name) {
  baseEnv.TXLENS_CACHE_DIR = join(work, `code-cache-${name}`);
  spawnSync(process.execPath, ['-e', '0'], { env: { ...baseEnv, NODE_OPTIONS: `--require ${preload}`, TXLENS_TRACE_DIR: join(work, 'warm-up-trace') } });
}

// ---- one run ---------------------------------------------------------------------

function run(cmd, args, env, cwd = suiteDir) {
  return new Promise((resolveRun, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolveRun({ code, ms: Number(process.hrtime.bigint() - start) / 1e6, stdout, stderr }));
  });
}

let runCounter = 0;
// The files themselves, sorted: Node 22 takes a directory given to --test for a module to run.
const testCommand = ['--test', ...readdirSync(join(suiteDir, 'tests')).filter((f) => f.endsWith('.test.mjs')).sort().map((f) => `tests/${f}`)];

function lastLines(text) {
  return text.trim().split('\n').slice(-5).join(' | ');
}

/** The command and environment of one side; `folder` receives its trace or spans. */
function sideCommand(side, db, dbUrl, runScale) {
  const folder = join(work, `${side}-${++runCounter}`);
  mkdirSync(folder);
  const env = { ...baseEnv, TXLENS_BENCH_DB: db, TXLENS_BENCH_SCALE: String(runScale) };
  if (db === 'postgres') env.TXLENS_BENCH_PG_URL = dbUrl;
  else {
    env.TXLENS_BENCH_SQLITE_DIR = join(folder, 'db');
    mkdirSync(env.TXLENS_BENCH_SQLITE_DIR);
  }
  const traceDir = join(folder, 'trace');
  switch (side) {
    case 'untraced':
      return { folder, cmd: process.execPath, args: testCommand, env };
    case 'agent':
      // What `txlens run` sets for a Node command (src/capture/env.ts), without the CLI around it.
      return {
        folder,
        traceDir,
        cmd: process.execPath,
        args: testCommand,
        env: { ...env, NODE_OPTIONS: `--require ${preload}`, TXLENS_TRACE_DIR: traceDir, TXLENS_WORKSPACE: suiteDir, TXLENS_PARAMS: 'values' },
      };
    case 'txlens':
      return { folder, traceDir, cmd: process.execPath, args: [cli, 'run', '--json', '--trace', traceDir, '--', process.execPath, ...testCommand], env };
    case 'otel': {
      const spanDir = join(folder, 'spans');
      mkdirSync(spanDir);
      return { folder, spanDir, cmd: process.execPath, args: testCommand, env: { ...env, NODE_OPTIONS: `--require ${otelSetup}`, OTEL_BENCH_SPAN_DIR: spanDir } };
    }
  }
  throw new Error(`unknown side ${side}`);
}

function ndjson(dir) {
  const out = [];
  if (!dir || !existsSync(dir)) return out;
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.ndjson')) continue;
    for (const l of readFileSync(join(dir, f), 'utf8').split('\n')) {
      if (!l) continue;
      try {
        out.push(JSON.parse(l));
      } catch {
        // a torn last line counts as nothing
      }
    }
  }
  return out;
}

/** What a txlens trace holds. */
function traceRecords(dir) {
  const r = { statements: 0, withLine: 0, lines: new Set(), transactions: 0, commits: 0, rollbacks: 0, savepoints: 0, connections: 0, checkouts: 0, tests: 0, sessions: 0, errors: 0 };
  for (const e of ndjson(dir)) {
    switch (e.k) {
      case 'stmt':
        r.statements++;
        // pool.query's check-out is written with its statement (docs/trace-format.md, `pool`).
        if (e.pool !== undefined) r.checkouts++;
        if (Array.isArray(e.at)) {
          r.withLine++;
          r.lines.add(`${e.at[0]}:${e.at[1]}`);
        }
        break;
      case 'begin':
        r.transactions++;
        break;
      case 'commit':
        r.commits++;
        break;
      case 'rollback':
        r.rollbacks++;
        break;
      case 'savepoint':
        r.savepoints++;
        break;
      case 'connect':
        r.connections++;
        break;
      case 'checkout':
        r.checkouts++;
        break;
      case 'test_start':
        r.tests++;
        break;
      case 'session_open':
        r.sessions++;
        break;
      case 'agent_error':
        r.errors++;
        break;
    }
  }
  return { ...r, lines: r.lines.size };
}

/** What OpenTelemetry's spans hold: pg.query spans are its statements; code.* attributes would be source lines. */
function spanRecords(dir) {
  const r = { spans: 0, querySpans: 0, connectSpans: 0, withLine: 0, transactions: 0 };
  for (const s of ndjson(dir)) {
    r.spans++;
    if (String(s.name).startsWith('pg.query')) r.querySpans++;
    else if (String(s.name).includes('connect')) r.connectSpans++;
    if (Object.keys(s.attributes ?? {}).some((k) => k.startsWith('code.'))) r.withLine++;
  }
  return r;
}

async function runSide(side, db, dbUrl, runScale = scale) {
  const c = sideCommand(side, db, dbUrl, runScale);
  const r = await run(c.cmd, c.args, c.env);
  const outcome = { ms: r.ms };
  try {
    if (side === 'txlens') {
      let doc;
      try {
        doc = JSON.parse(r.stdout);
      } catch {
        throw new Error(`txlens run printed no JSON (exit ${r.code}): ${lastLines(r.stderr)}`);
      }
      const info = JSON.parse(readFileSync(join(c.traceDir, 'run.json'), 'utf8'));
      if (info.exitCode !== 0) throw new Error(`suite failed under txlens run (exit ${info.exitCode}): ${lastLines(r.stderr)}`);
      outcome.commandMs = info.endedWall - info.startedWall;
      outcome.findings = doc.findings.length;
    } else if (r.code !== 0) throw new Error(`${side} suite failed (exit ${r.code}): ${lastLines(r.stdout + r.stderr)}`);
    if (c.traceDir) outcome.records = traceRecords(c.traceDir);
    if (c.spanDir) outcome.records = spanRecords(c.spanDir);
  } finally {
    rmSync(c.folder, { recursive: true, force: true });
  }
  return outcome;
}

/**
 * One side under cachegrind: the instructions of every process of its command. `withoutCa`:
 * NODE_EXTRA_CA_CERTS unset (Node 20 parses the certificates it names at every start, in
 * each of node --test's processes, before any test or agent code runs).
 */
async function countSide(side, db, dbUrl, withoutCa = false) {
  const c = sideCommand(side, db, dbUrl, irScale);
  if (withoutCa) delete c.env.NODE_EXTRA_CA_CERTS;
  const cgDir = join(c.folder, 'cg');
  mkdirSync(cgDir);
  try {
    const { instructions, processes, ms } = await cachegrind(c.cmd, c.args, c.env, cgDir, suiteDir, side);
    const records = c.traceDir ? traceRecords(c.traceDir) : c.spanDir ? spanRecords(c.spanDir) : undefined;
    return { instructions, processes, ms, records };
  } finally {
    rmSync(c.folder, { recursive: true, force: true });
  }
}

/** The instructions of every process of a command under cachegrind, its output files in `cgDir`. */
async function cachegrind(cmd, args, env, cgDir, cwd, what) {
  const r = await run(
    'valgrind',
    ['--tool=cachegrind', '--trace-children=yes', '--cache-sim=no', `--cachegrind-out-file=${join(cgDir, 'cg.%p')}`, '--log-file=/dev/null', cmd, ...args],
    env,
    cwd,
  );
  if (r.code !== 0) throw new Error(`${what} failed under cachegrind (exit ${r.code}): ${lastLines(r.stdout + r.stderr)}`);
  let instructions = 0;
  let processes = 0;
  for (const name of readdirSync(cgDir)) {
    const summary = /^summary:\s+(\d+)/m.exec(readFileSync(join(cgDir, name), 'utf8'));
    if (summary) {
      instructions += Number(summary[1]);
      processes++;
    }
  }
  return { instructions, processes, ms: r.ms };
}

// ---- statistics ------------------------------------------------------------------

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
const r3 = (x) => Math.round(x * 1000) / 1000;
const sec = (ms) => `${(ms / 1000).toFixed(2)}s`;
const pad = (s, n) => String(s).padEnd(n);

function describeRecords(side, rec) {
  if (!rec) return side === 'untraced' ? '' : 'nothing';
  if ('spans' in rec) return `${rec.spans} spans (${rec.querySpans} pg.query, ${rec.connectSpans} connect), ${rec.transactions} transactions, ${rec.withLine} with a source line`;
  return (
    `${rec.statements} statements (${rec.withLine} with a source line, ${rec.lines} lines), ${rec.transactions} transactions ` +
    `(${rec.commits} commits, ${rec.rollbacks} rollbacks), ${rec.connections} connections, ${rec.checkouts} checkouts, ${rec.tests} tests` +
    (rec.sessions ? `, ${rec.sessions} ORM sessions` : '') +
    (rec.errors ? `, ${rec.errors} AGENT ERRORS` : '')
  );
}

function summariseWall(db, roundsData) {
  const sides = SIDES[db];
  const statements = median(roundsData.map((r) => r.agent.records.statements));
  const untracedMedian = median(roundsData.map((r) => r.untraced.ms));
  const out = { db, target: TARGETS[db], rounds: roundsData.length, statements, sides: {} };
  for (const side of sides) {
    const ms = roundsData.map((r) => r[side].ms);
    const paired = roundsData.map((r) => r[side].ms / r.untraced.ms);
    const s = {
      medianMs: median(ms),
      minMs: Math.min(...ms),
      maxMs: Math.max(...ms),
      paired: { median: r3(median(paired)), min: r3(Math.min(...paired)), max: r3(Math.max(...paired)) },
      addedUsPerStatement: Math.round(((median(ms) - untracedMedian) * 1000) / statements * 10) / 10,
      records: roundsData[roundsData.length - 1][side].records,
    };
    if (side === 'txlens') {
      s.commandMs = median(roundsData.map((r) => r.txlens.commandMs));
      s.commandPaired = r3(median(roundsData.map((r) => r.txlens.commandMs / r.untraced.ms)));
    }
    out.sides[side] = s;
  }
  const agent = out.sides.agent.paired.median;
  const otel = out.sides.otel?.paired.median;
  out.verdict = {
    agentTarget: agent <= TARGETS[db] ? 'PASS' : 'FAIL',
    cheaperThanOtel: otel === undefined ? 'n/a' : agent < otel ? 'PASS' : 'FAIL',
  };
  return out;
}

function printWall(s) {
  const lines = [``, `== ${s.db} (wall time): ${s.statements} statements, ${s.rounds} rounds`];
  lines.push(`   ${pad('side', 10)} ${pad('median', 8)} ${pad('min-max', 14)} ${pad('paired median (min-max)', 26)} ${pad('µs/stmt', 8)} records`);
  for (const [side, x] of Object.entries(s.sides)) {
    const paired = side === 'untraced' ? '1' : `${x.paired.median.toFixed(3)} (${x.paired.min.toFixed(2)}-${x.paired.max.toFixed(2)})`;
    lines.push(
      `   ${pad(side, 10)} ${pad(sec(x.medianMs), 8)} ${pad(`${sec(x.minMs)}-${sec(x.maxMs)}`, 14)} ${pad(paired, 26)} ${pad(side === 'untraced' ? '' : x.addedUsPerStatement, 8)} ${describeRecords(side, x.records)}`,
    );
  }
  if (s.sides.txlens) lines.push(`   txlens run: the test command alone ${sec(s.sides.txlens.commandMs)}, paired ${s.sides.txlens.commandPaired.toFixed(3)}; the rest is the CLI`);
  lines.push(`   target: agent paired median <= ${s.target}: ${s.verdict.agentTarget}; agent cheaper than OpenTelemetry: ${s.verdict.cheaperThanOtel}`);
  process.stdout.write(lines.join('\n') + '\n');
}

/** Instructions a side adds per statement of its trace, over the untraced run. */
function perStatement(counts, side) {
  const statements = counts.agent?.records?.statements;
  if (!statements) return undefined;
  return Math.round((counts[side].instructions - counts.untraced.instructions) / statements);
}

function printInstructions(db, counts, title) {
  const base = counts.untraced.instructions;
  const lines = [``, `== ${db} (instructions, suite scale ${irScale}, every process counted${title})`];
  for (const [side, c] of Object.entries(counts)) {
    const added = perStatement(counts, side);
    const ratio = side === 'untraced' ? '' : `  ${(c.instructions / base).toFixed(3)}x, ${added === undefined ? '?' : `${(added / 1000).toFixed(1)} k`} per statement`;
    lines.push(`   ${pad(side, 10)} ${(c.instructions / 1e9).toFixed(3)} G in ${c.processes} processes${ratio}   ${describeRecords(side, c.records)}`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}

// ---- start-up in a Drizzle project ------------------------------------------------

/** What a process that never imports Drizzle starts, in the project that has it installed. */
const START_SCRIPTS = { 'node start.cjs': ['start.cjs'], 'node start.mjs': ['start.mjs'], 'node -e 0': ['-e', '0'] };
// The file itself: Node 22 takes a directory given to --test for a module to run.
const DRIZZLE_SUITE = ['--test', 'tests/notes.test.mjs'];

/**
 * The environment of a start: NODE_EXTRA_CA_CERTS unset, since Node 20 parses the certificates it
 * names at every start, before any agent code, which would hide what the agent adds.
 */
function startEnv(side, traceDir, runScale) {
  const env = { ...baseEnv, TXLENS_BENCH_SCALE: String(runScale) };
  delete env.NODE_EXTRA_CA_CERTS;
  if (side === 'agent') Object.assign(env, { NODE_OPTIONS: `--require ${preload}`, TXLENS_TRACE_DIR: traceDir, TXLENS_WORKSPACE: startDir, TXLENS_PARAMS: 'values' });
  return env;
}

/** One run of `args` in the Drizzle project; with `count`, under cachegrind. */
async function startRun(side, args, { count = false, runScale = scale } = {}) {
  const folder = join(work, `start-${side}-${++runCounter}`);
  mkdirSync(folder);
  const traceDir = join(folder, 'trace');
  const env = startEnv(side, traceDir, runScale);
  try {
    let outcome;
    if (count) {
      mkdirSync(join(folder, 'cg'));
      outcome = await cachegrind(process.execPath, args, env, join(folder, 'cg'), startDir, `${side} ${args.join(' ')}`);
    } else {
      const r = await run(process.execPath, args, env, startDir);
      if (r.code !== 0) throw new Error(`${side} ${args.join(' ')} failed (exit ${r.code}): ${lastLines(r.stdout + r.stderr)}`);
      outcome = { ms: r.ms };
    }
    if (side === 'agent') outcome.records = traceRecords(traceDir);
    return outcome;
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

const START_SIDES = ['untraced', 'agent'];
const ms1 = (ms) => `${ms.toFixed(1)} ms`;

async function measureStart() {
  const out = { starts, scripts: {}, suite: {} };
  const lines = [];
  if (mode !== 'instructions') {
    say(`start-up in a Drizzle project: ${starts} starts of each script, each side…`);
    lines.push('', `== start-up in a project with drizzle-orm installed (wall time: median of ${starts} starts, interleaved; NODE_EXTRA_CA_CERTS unset)`);
    for (const [name, args] of Object.entries(START_SCRIPTS)) {
      const ms = { untraced: [], agent: [] };
      await startRun('agent', args);
      for (let i = 0; i < starts; i++) {
        for (const side of i % 2 ? [...START_SIDES].reverse() : START_SIDES) ms[side].push((await startRun(side, args)).ms);
      }
      const added = ms.agent.map((a, i) => a - ms.untraced[i]);
      const s = { untracedMs: median(ms.untraced), agentMs: median(ms.agent), pairedAddedMs: median(added) };
      out.scripts[name] = { wall: s };
      lines.push(`   ${pad(name, 16)} untraced ${pad(ms1(s.untracedMs), 10)} agent ${pad(ms1(s.agentMs), 10)} added (paired median) ${ms1(s.pairedAddedMs)}`);
    }
    say(`start-up in a Drizzle project: the Drizzle suite, ${rounds} rounds…`);
    await startRun('untraced', DRIZZLE_SUITE);
    const suiteRounds = [];
    for (let i = 0; i < rounds; i++) {
      const round = {};
      for (const side of i % 2 ? [...START_SIDES].reverse() : START_SIDES) round[side] = await startRun(side, DRIZZLE_SUITE);
      suiteRounds.push(round);
    }
    const paired = suiteRounds.map((r) => r.agent.ms / r.untraced.ms);
    out.suite.wall = {
      untracedMs: median(suiteRounds.map((r) => r.untraced.ms)),
      agentMs: median(suiteRounds.map((r) => r.agent.ms)),
      paired: { median: r3(median(paired)), min: r3(Math.min(...paired)), max: r3(Math.max(...paired)) },
      records: suiteRounds.at(-1).agent.records,
    };
    const w = out.suite.wall;
    lines.push(
      `   Drizzle suite (node --test, its ES module build on better-sqlite3): untraced ${sec(w.untracedMs)}, agent ${sec(w.agentMs)}, ` +
        `paired ${w.paired.median.toFixed(3)} (${w.paired.min.toFixed(2)}-${w.paired.max.toFixed(2)})`,
      `     agent recorded ${describeRecords('agent', w.records)}`,
    );
  }
  if (mode !== 'wall') {
    say('start-up in a Drizzle project: instruction counts under cachegrind…');
    lines.push('', '== start-up in a project with drizzle-orm installed (instructions, every process counted; NODE_EXTRA_CA_CERTS unset)');
    for (const [name, args] of [...Object.entries(START_SCRIPTS), ['Drizzle suite', DRIZZLE_SUITE]]) {
      const counts = {};
      for (const side of START_SIDES) counts[side] = await startRun(side, args, { count: true, runScale: irScale });
      const target = name === 'Drizzle suite' ? out.suite : (out.scripts[name] ??= {});
      target.instructions = { untraced: counts.untraced.instructions, agent: counts.agent.instructions, processes: counts.agent.processes, records: counts.agent.records };
      const added = counts.agent.instructions - counts.untraced.instructions;
      lines.push(
        `   ${pad(name, 16)} untraced ${pad(`${(counts.untraced.instructions / 1e6).toFixed(1)} M`, 10)} agent ${pad(`${(counts.agent.instructions / 1e6).toFixed(1)} M`, 10)} ` +
          `added ${(added / 1e6).toFixed(1)} M (${(counts.agent.instructions / counts.untraced.instructions).toFixed(3)}x) in ${counts.agent.processes} process(es)` +
          (name === 'Drizzle suite' ? `, suite scale ${irScale}` : ''),
      );
    }
  }
  process.stdout.write(lines.join('\n') + '\n');
  return out;
}

// ---- main -----------------------------------------------------------------------

const startedAt = new Date();
const loadBefore = loadavg();
const results = [];
let startUp;
try {
  for (const db of dbs) {
    const dbUrl = db === 'postgres' ? await benchPostgres('postgres') : undefined;
    codeCaches(db);
    const sides = SIDES[db];
    const result = { db };
    if (mode !== 'instructions') {
      say(`${db}: warm-up (one run of each side)…`);
      for (const side of sides) await runSide(side, db, dbUrl);
      const roundsData = [];
      for (let i = 0; i < rounds; i++) {
        // Rotate the order: each side goes first, second... equally often.
        const order = sides.map((_, j) => sides[(i + j) % sides.length]);
        const round = {};
        for (const side of order) round[side] = await runSide(side, db, dbUrl);
        say(`${db} round ${i + 1}/${rounds}: ` + sides.map((s) => `${s} ${sec(round[s].ms)}`).join(', '));
        roundsData.push(round);
      }
      result.wall = summariseWall(db, roundsData);
      result.wall.roundsData = roundsData;
      printWall(result.wall);
    }
    if (mode !== 'wall') {
      // As the wall-time rounds are: each side once before it is counted, so the code caches are
      // those a second run finds (the agent's written by a process that recorded statements).
      if (mode === 'instructions') {
        say(`${db}: warm-up (one run of each side at the counted scale)…`);
        for (const side of sides) await runSide(side, db, dbUrl, irScale);
      }
      say(`${db}: instruction count under cachegrind (slow)…`);
      // With NODE_EXTRA_CA_CERTS set, every process's start parses certificates, which dilutes the ratios:
      // the untraced and agent sides are counted without it too.
      const variants = extraCa ? [['', false], [' without NODE_EXTRA_CA_CERTS', true]] : [['', false]];
      for (const [title, withoutCa] of variants) {
        const counts = {};
        for (const side of withoutCa ? ['untraced', 'agent'] : sides) {
          counts[side] = await countSide(side, db, dbUrl, withoutCa);
          say(`${db} ${side}${title}: ${(counts[side].instructions / 1e9).toFixed(3)} G instructions`);
        }
        for (const side of Object.keys(counts)) if (side !== 'untraced') counts[side].addedPerStatement = perStatement(counts, side);
        result[withoutCa ? 'instructionsWithoutExtraCa' : 'instructions'] = counts;
        printInstructions(db, counts, title);
      }
    }
    results.push(result);
    if (db === 'postgres') stopBenchPostgres();
  }
  if (starts > 0) {
    codeCaches('start');
    startUp = await measureStart();
  }
} catch (e) {
  say(`could not measure: ${e.message}`);
  process.exit(2);
}

const loadAfter = loadavg();
process.stdout.write(
  `\nload average before ${loadBefore.map((x) => x.toFixed(2)).join(' ')}, after ${loadAfter.map((x) => x.toFixed(2)).join(' ')}` +
    ` (wall time on a busy machine: read the paired spread and the instruction counts)\n`,
);
mkdirSync(resultsDir, { recursive: true });
const file = join(resultsDir, `node-capture-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify({ startedAt: startedAt.toISOString(), mode, rounds, scale, irScale, loadBefore, loadAfter, results, startUp }, null, 2) + '\n');
say(`results written to ${file}`);
