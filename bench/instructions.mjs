// `npm run bench:instructions`: what `txlens run` costs around a short suite, in
// instructions rather than wall time, so a busy machine does not move the result.
//
// A 6-test slice of bench/capture (the first round of each test, about 480
// statements; TXLENS_BENCH_SLICE_ROUNDS takes more rounds) runs three ways
// under valgrind's cachegrind, counting the instructions of every process of
// the command (`--trace-children=yes`; the cache simulation is off, only
// instructions are counted):
//   untraced      python -m pytest <slice>
//   agent alone   the same with the Python agent on PYTHONPATH and a trace folder:
//                 in-process capture without the CLI
//   txlens run    node dist/cli.js run --json -- python -m pytest <slice>: capture
//                 plus the CLI's start-up, trace reading, static check, analysis
//                 and report, twice:
//                   cold  the first run: an empty txlens cache folder (TXLENS_CACHE_DIR),
//                         so V8 compiles the engine bundle and the static checker
//                         parses every file;
//                   warm  a later run over unchanged sources: the engine's code cache
//                         and the static results of the run before are there
//                         (src/cache/code-cache.ts, src/static/persist.ts);
// on a SQLite file and on a throwaway PostgreSQL (psycopg2; the server runs
// outside valgrind: only the client side is counted). Prints each process's
// instructions and the ratios to the untraced run against the target (txlens run at
// most 1.25x, for the warm run: what a user sees from the second run on). A warm-up
// run of each kind first, unmeasured, leaves Python's byte-code as a developer's
// machine has it.
//
// NODE_EXTRA_CA_CERTS: Node 20 reads and parses the certificates it names when it
// starts, before any of txlens runs (about 0.4 G instructions for a system bundle),
// a cost the untraced Python run does not pay. When the variable is set the warm run
// is also measured without it, and a bare `node -e 0` both ways, so the report says
// what the environment costs and what txlens costs; the verdict is given for both.
//
// A measurement, not a test: exits 0 whatever the verdict (2 when it could not
// measure). Results also go to bench/results/instructions-<time>.json.
//
// Environment:
//   TXLENS_BENCH_ROUNDS   measured runs of each kind per database (default 1; the
//                         median is reported; instruction counts vary by about 1%)
//   TXLENS_BENCH_SLICE_ROUNDS  rounds of the six tests (default 1)
//   TXLENS_BENCH_DBS      comma list of sqlite, postgres (default both)
//   TXLENS_BENCH_PYENV    sa20 (default) or sa14
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchPostgres, build, captureSuite as suiteDir, cleanEnv, pythonEnv, resultsDir, root, say, scratchFolder, stopBenchPostgres } from './setup.mjs';

const cli = join(root, 'dist', 'cli.js');
const agentPython = join(root, 'dist', 'agents', 'python');

const TARGET = 1.25;
const TESTS = [
  'tests/test_orders.py::test_checkout_places_orders_and_moves_stock',
  'tests/test_orders.py::test_payment_and_shipping',
  'tests/test_orders.py::test_cancel_returns_stock',
  'tests/test_orders.py::test_out_of_stock_is_refused',
  'tests/test_reports.py::test_revenue_report_counts_live_orders',
  'tests/test_reports.py::test_units_sold_ignores_cancelled',
];
// Rounds of each of the six tests (their `round_` parameter): about 480 statements each.
const sliceRounds = Math.max(1, Number.parseInt(process.env.TXLENS_BENCH_SLICE_ROUNDS ?? '1', 10) || 1);
const SLICE = Array.from({ length: sliceRounds }, (_, r) => TESTS.map((t) => `${t}[${r}]`)).flat();
const DBS = ['sqlite', 'postgres'];
const rounds = Math.max(1, Number.parseInt(process.env.TXLENS_BENCH_ROUNDS ?? '1', 10) || 1);
const dbs = (process.env.TXLENS_BENCH_DBS ?? DBS.join(','))
  .split(',')
  .map((s) => s.trim())
  .filter((s) => DBS.includes(s));
const pyenv = process.env.TXLENS_BENCH_PYENV === 'sa14' ? 'sa14' : 'sa20';
const pytestArgs = ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', ...SLICE];

// ---- set-up ---------------------------------------------------------------------

if (spawnSync('valgrind', ['--version'], { encoding: 'utf8' }).status !== 0) {
  say('valgrind is not installed (apt-get install valgrind); nothing measured');
  process.exit(2);
}
build();
const python = pythonEnv(pyenv);
const work = scratchFolder('txlens-bench-ir-');

// Nothing from an outer traced run or the caller's shell may leak into any side.
const baseEnv = cleanEnv();

// ---- one run ---------------------------------------------------------------------

let runCounter = 0;

function run(cmd, args, env) {
  return new Promise((resolveRun, reject) => {
    const child = spawn(cmd, args, { cwd: suiteDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolveRun({ code, stdout, stderr }));
  });
}

/** A process's name for the report: its program and first argument, short. */
function processName(cmdLine) {
  const [program, ...args] = cmdLine.trim().split(/\s+/);
  const first = args.find((a) => !a.startsWith('-')) ?? args[0] ?? '';
  return `${program.split('/').pop()} ${first.split('/').slice(-2).join('/')}`.trim();
}

/** Runs a command under cachegrind and returns the instructions of all its processes, and of each. */
async function counted(cmd, args, env) {
  const outDir = join(work, `cg-${++runCounter}`);
  mkdirSync(outDir);
  const r = await run(
    'valgrind',
    ['--tool=cachegrind', '--trace-children=yes', '--cache-sim=no', `--cachegrind-out-file=${join(outDir, 'cg.%p')}`, '--log-file=/dev/null', cmd, ...args],
    env,
  );
  let instructions = 0;
  const perProcess = [];
  for (const name of readdirSync(outDir).sort((a, b) => Number(a.split('.').pop()) - Number(b.split('.').pop()))) {
    const text = readFileSync(join(outDir, name), 'utf8');
    const summary = /^summary:\s+(\d+)/m.exec(text);
    if (summary) {
      instructions += Number(summary[1]);
      perProcess.push({ process: processName(/^cmd:\s*(.*)$/m.exec(text)?.[1] ?? name), instructions: Number(summary[1]) });
    }
  }
  rmSync(outDir, { recursive: true, force: true });
  return { ...r, instructions, processes: perProcess.length, perProcess };
}

function sqliteUrl() {
  return `sqlite:///${join(work, `shop-${++runCounter}.db`)}`;
}

function lastLine(text) {
  return text.trim().split('\n').slice(-1)[0] ?? '';
}

const KINDS = {
  async untraced(dbUrl, measure) {
    const env = { ...baseEnv, TXLENS_BENCH_DB_URL: dbUrl };
    const r = measure ? await counted(python, pytestArgs, env) : await run(python, pytestArgs, env);
    if (r.code !== 0) throw new Error(`untraced slice failed (exit ${r.code}): ${lastLine(r.stdout + r.stderr)}`);
    return r;
  },
  async agent(dbUrl, measure) {
    // The variables `txlens run` gives the command (src/capture/env.ts), without the CLI around it.
    const traceDir = join(work, `trace-${++runCounter}`);
    mkdirSync(traceDir);
    const env = { ...baseEnv, TXLENS_BENCH_DB_URL: dbUrl, PYTHONPATH: agentPython, TXLENS_TRACE_DIR: traceDir, TXLENS_WORKSPACE: suiteDir, TXLENS_PARAMS: 'values' };
    const r = measure ? await counted(python, pytestArgs, env) : await run(python, pytestArgs, env);
    rmSync(traceDir, { recursive: true, force: true });
    if (r.code !== 0) throw new Error(`slice with the agent failed (exit ${r.code}): ${lastLine(r.stdout + r.stderr)}`);
    return r;
  },
  /** `cacheFolder`: the txlens cache folder (an empty one for a first run); `withoutCa`: NODE_EXTRA_CA_CERTS unset. */
  async txlens(dbUrl, measure, cacheFolder, withoutCa = false) {
    const traceDir = join(work, `trace-${++runCounter}`);
    const args = [cli, 'run', '--json', '--trace', traceDir, '--', python, ...pytestArgs];
    const env = { ...baseEnv, TXLENS_BENCH_DB_URL: dbUrl, TXLENS_CACHE_DIR: cacheFolder };
    if (withoutCa) delete env.NODE_EXTRA_CA_CERTS;
    const r = measure ? await counted(process.execPath, args, env) : await run(process.execPath, args, env);
    rmSync(traceDir, { recursive: true, force: true });
    let doc;
    try {
      doc = JSON.parse(r.stdout);
    } catch {
      throw new Error(`txlens run printed no JSON (exit ${r.code}): ${lastLine(r.stderr)}`);
    }
    if (r.code !== 0) throw new Error(`txlens run failed (exit ${r.code}): ${lastLine(r.stderr)}`);
    return { ...r, statements: doc.summary.statements, tests: doc.summary.tests, findings: doc.findings.length };
  },
};

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const giga = (n) => `${(n / 1e9).toFixed(2)} G`;
const r3 = (x) => Math.round(x * 1000) / 1000;

// ---- main -----------------------------------------------------------------------

const startedAt = new Date();
const extraCa = baseEnv.NODE_EXTRA_CA_CERTS;
const results = [];
let nodeStart;
try {
  // What starting Node costs, before any of txlens: with the environment as it is, and without extra CAs.
  const bare = async (env) => (await counted(process.execPath, ['-e', '0'], env)).instructions;
  nodeStart = { asIs: await bare(baseEnv) };
  if (extraCa) {
    const { NODE_EXTRA_CA_CERTS: _, ...noCa } = baseEnv;
    nodeStart.withoutExtraCa = await bare(noCa);
  }
  for (const db of dbs) {
    const fixedUrl = db === 'postgres' ? await benchPostgres('postgresql+psycopg2') : undefined;
    const url = () => fixedUrl ?? sqliteUrl();
    say(`${db}: warm-up…`);
    const warmCache = join(work, `cache-${db}`);
    await KINDS.untraced(url(), false);
    await KINDS.agent(url(), false);
    // Leaves the code cache and the static results a second run finds.
    await KINDS.txlens(url(), false, warmCache);
    const sides = {
      untraced: (u) => KINDS.untraced(u, true),
      agent: (u) => KINDS.agent(u, true),
      cold: (u) => KINDS.txlens(u, true, join(work, `cache-cold-${++runCounter}`)),
      warm: (u) => KINDS.txlens(u, true, warmCache),
    };
    if (extraCa) sides.warmWithoutExtraCa = (u) => KINDS.txlens(u, true, warmCache, true);
    const counts = Object.fromEntries(Object.keys(sides).map((k) => [k, []]));
    const perProcess = {};
    let last;
    for (let i = 0; i < rounds; i++) {
      for (const [kind, measure] of Object.entries(sides)) {
        say(`${db} round ${i + 1}/${rounds}: ${kind} under cachegrind…`);
        const r = await measure(url());
        counts[kind].push(r.instructions);
        perProcess[kind] = r.perProcess;
        if (kind === 'warm') last = r;
      }
    }
    const m = Object.fromEntries(Object.entries(counts).map(([k, xs]) => [k, median(xs)]));
    const u = m.untraced;
    const ratio = Object.fromEntries(Object.entries(m).map(([k, v]) => [k, r3(v / u)]));
    const result = {
      db,
      rounds,
      statements: last.statements,
      tests: last.tests,
      findings: last.findings,
      instructions: m,
      ratio,
      perProcess,
      counts,
    };
    // What capture adds inside the test process, per statement the run reported: the figure to
    // watch when working on the agent (the untraced run's own count moves with the machine's load
    // far less than this difference does with the agent's code).
    result.agentPerStatement = last.statements ? Math.round((m.agent - u) / last.statements) : null;
    result.verdict = ratio.warm <= TARGET ? 'PASS' : 'FAIL';
    if (extraCa) result.verdictWithoutExtraCa = ratio.warmWithoutExtraCa <= TARGET ? 'PASS' : 'FAIL';
    results.push(result);
    const nodeOf = (kind) => perProcess[kind]?.find((p) => p.process.startsWith('node'))?.instructions ?? 0;
    const line = (label, kind, note = '') =>
      `   ${label.padEnd(40)}${giga(m[kind])}  ${ratio[kind].toFixed(3)}x${kind in counts && nodeOf(kind) ? `  (the CLI's node process: ${giga(nodeOf(kind))})` : ''}${note}`;
    const lines = [
      ``,
      `== ${db}: ${result.tests} tests, ${result.statements} statements, ${rounds} run${rounds === 1 ? '' : 's'} of each`,
      `   untraced                                ${giga(u)}`,
      line('agent alone', 'agent', result.agentPerStatement === null ? '' : `  (${(result.agentPerStatement / 1000).toFixed(0)} k per statement)`),
      line('txlens run, first run (cold)', 'cold'),
      line('txlens run, later runs (warm)', 'warm'),
    ];
    if (extraCa) lines.push(line('  the same without NODE_EXTRA_CA_CERTS', 'warmWithoutExtraCa'));
    lines.push(`   per process (last run of each):`);
    for (const [kind, procs] of Object.entries(perProcess)) lines.push(`     ${kind.padEnd(20)}${procs.map((p) => `${p.process} ${giga(p.instructions)}`).join(', ')}`);
    lines.push(`   VERDICT ${db}: ${result.verdict} (later runs of txlens run at most ${TARGET}x the untraced instructions${extraCa ? ', NODE_EXTRA_CA_CERTS as set' : ''})`);
    if (extraCa) lines.push(`   VERDICT ${db} without NODE_EXTRA_CA_CERTS: ${result.verdictWithoutExtraCa}`);
    process.stdout.write(lines.join('\n') + '\n');
    stopBenchPostgres();
  }
} catch (e) {
  say(`could not measure: ${e.message}`);
  process.exit(2);
}

if (extraCa) {
  process.stdout.write(
    `\nNODE_EXTRA_CA_CERTS=${extraCa}: node -e 0 costs ${giga(nodeStart.asIs)} with it, ${giga(nodeStart.withoutExtraCa)} without: ` +
      `${giga(nodeStart.asIs - nodeStart.withoutExtraCa)} of every txlens start goes to reading those certificates, before txlens runs.\n`,
  );
} else {
  process.stdout.write(`\nnode -e 0 costs ${giga(nodeStart.asIs)}\n`);
}
process.stdout.write(`overall: ${results.every((r) => r.verdict === 'PASS') ? 'PASS' : 'FAIL'}${extraCa ? `; without NODE_EXTRA_CA_CERTS: ${results.every((r) => r.verdictWithoutExtraCa === 'PASS') ? 'PASS' : 'FAIL'}` : ''}\n`);
mkdirSync(resultsDir, { recursive: true });
const file = join(resultsDir, `instructions-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify({ startedAt: startedAt.toISOString(), pyenv, slice: SLICE, nodeStart, extraCa: extraCa ?? null, results }, null, 2) + '\n');
say(`results written to ${file}`);
