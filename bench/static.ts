/**
 * Static checker cost on a generated workspace of 1,000 Python and 1,000
 * TypeScript/JavaScript files (bench/static-workspace.ts), against the floor
 * of a syntax-only parse of the same files (tree-sitter for .py,
 * ts.createSourceFile for the rest, files listed and read the same way).
 *
 * Both sides run in fresh processes, interleaved (the order alternates each
 * round), and are timed from inside the child (parsers' loading included,
 * node's own start-up not), so drift on a shared machine hits both alike;
 * medians are reported. Then one warm checker re-checks one changed file at
 * a time: 20 different files, half Python, half TypeScript, median and p90.
 *
 * Targets: full check <= 3 x parse-only; one-file re-check median <= 100 ms.
 * A measurement, not a test: exits 0 whatever the verdict.
 *
 *   node out/bench/static.js            (TXLENS_BENCH_ROUNDS, default 5)
 *   node out/bench/static.js --json     (also print the result as JSON)
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { StaticChecker } from '../src/static/checker';
import { typescript } from '../src/static/typescript/ts';
import { loadLanguage, newParser } from '../src/static/wasm';
import { generateStaticWorkspace } from './static-workspace';

const TARGET_RATIO = 3;
const TARGET_RECHECK_MS = 100;
const RECHECK_FILES = 20;
const ROUNDS = Math.max(1, Number(process.env.TXLENS_BENCH_ROUNDS ?? 5) || 5);

interface Sample {
  ms: number;
  cpuMs: number;
  files: number;
  findings?: number;
}

const PY = new Set(['.py']);
const TS_EXT = new Set(['.ts', '.tsx', '.mts', '.cts', '.js', '.jsx', '.mjs', '.cjs']);

function listFiles(dir: string, out: string[] = []): string[] {
  for (const d of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, d.name);
    if (d.isDirectory()) listFiles(path, out);
    else if (d.isFile()) out.push(path);
  }
  return out;
}

async function parseOnly(root: string): Promise<Sample> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const language = await loadLanguage('tree-sitter-python.wasm', 'tree-sitter-python');
  const parser = newParser();
  parser.setLanguage(language);
  const t = typescript();
  let files = 0;
  for (const path of listFiles(root)) {
    const ext = extname(path).toLowerCase();
    if (PY.has(ext)) {
      parser.parse(readFileSync(path, 'utf8'))?.delete();
      files++;
    } else if (TS_EXT.has(ext)) {
      t.createSourceFile(path, readFileSync(path, 'utf8'), t.ScriptTarget.Latest, true);
      files++;
    }
  }
  return { ms: performance.now() - t0, cpuMs: cpuSince(c0), files };
}

async function fullCheck(root: string): Promise<Sample> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const checker = new StaticChecker(root);
  const r = await checker.check();
  return { ms: performance.now() - t0, cpuMs: cpuSince(c0), files: checker.files().length, findings: r.findings.length };
}

/** Files to touch: spread over the workspace, half of each language. */
function recheckTargets(py: string[], ts: string[]): string[] {
  const pick = (xs: string[], n: number) => Array.from({ length: n }, (_, i) => xs[Math.floor(((i + 0.5) * xs.length) / n)]);
  const half = RECHECK_FILES / 2;
  const out: string[] = [];
  const a = pick(py, half);
  const b = pick(ts, half);
  for (let i = 0; i < half; i++) out.push(a[i], b[i]);
  return out;
}

async function recheck(root: string, targets: string[]): Promise<{ perFile: Array<{ file: string; ms: number; affected: number }>; noChangeMs: number; initialMs: number }> {
  const checker = new StaticChecker(root);
  const t0 = performance.now();
  await checker.check();
  const initialMs = performance.now() - t0;
  const t1 = performance.now();
  await checker.check();
  const noChangeMs = performance.now() - t1;
  const perFile: Array<{ file: string; ms: number; affected: number }> = [];
  for (const rel of targets) {
    const path = join(root, rel);
    // A real edit: new text, new size, new mtime.
    appendFileSync(path, rel.endsWith('.py') ? '\n# edited\n' : '\n// edited\n');
    const s = performance.now();
    const r = await checker.update(path);
    perFile.push({ file: rel, ms: performance.now() - s, affected: r.affected.length });
  }
  return { perFile, noChangeMs, initialMs };
}

function cpuSince(c0: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(c0);
  return (d.user + d.system) / 1000;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function p90(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(0.9 * s.length) - 1)];
}

function runChild(args: string[]): unknown {
  const r = spawnSync(process.execPath, [__filename, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`child ${args[0]} failed (exit ${r.status}): ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

const ms = (x: number) => `${Math.round(x)} ms`;

async function main(): Promise<void> {
  const [mode, root, ...rest] = process.argv.slice(2);
  if (mode === 'parse') return void process.stdout.write(JSON.stringify(await parseOnly(root)) + '\n');
  if (mode === 'check') return void process.stdout.write(JSON.stringify(await fullCheck(root)) + '\n');
  if (mode === 'recheck') return void process.stdout.write(JSON.stringify(await recheck(root, rest)) + '\n');

  const wantJson = process.argv.includes('--json');
  const say = (m: string) => process.stderr.write(`static bench: ${m}\n`);
  const work = mkdtempSync(join(tmpdir(), 'txlens-static-bench-'));
  try {
    const root = join(work, 'ws');
    const ws = generateStaticWorkspace(root);
    say(`workspace: ${ws.python.length} Python + ${ws.typescript.length} TypeScript/JavaScript files`);
    const loadBefore = loadavg();
    say('warm-up (page cache, code caches)…');
    runChild(['parse', root]);
    runChild(['check', root]);
    const parse: Sample[] = [];
    const check: Sample[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const order = i % 2 === 0 ? ['parse', 'check'] : ['check', 'parse'];
      for (const m of order) (m === 'parse' ? parse : check).push(runChild([m, root]) as Sample);
      say(`round ${i + 1}/${ROUNDS}: parse ${ms(parse[i].ms)}, check ${ms(check[i].ms)}, ratio ${(check[i].ms / parse[i].ms).toFixed(2)}`);
    }
    const targets = recheckTargets(ws.python, ws.typescript);
    say(`re-checking ${targets.length} changed files in a warm checker…`);
    const re = runChild(['recheck', root, ...targets]) as Awaited<ReturnType<typeof recheck>>;

    const parseMs = median(parse.map((s) => s.ms));
    const checkMs = median(check.map((s) => s.ms));
    const ratio = checkMs / parseMs;
    const pairedRatios = parse.map((p, i) => check[i].ms / p.ms);
    const cpuRatio = median(check.map((s) => s.cpuMs)) / median(parse.map((s) => s.cpuMs));
    const reMs = re.perFile.map((f) => f.ms);
    const byLang = (ext: RegExp) => re.perFile.filter((f) => ext.test(f.file)).map((f) => f.ms);
    const reMedian = median(reMs);
    const result = {
      files: { python: ws.python.length, typescript: ws.typescript.length },
      rounds: ROUNDS,
      parseOnly: { medianMs: Math.round(parseMs), cpuMedianMs: Math.round(median(parse.map((s) => s.cpuMs))), samples: parse.map((s) => Math.round(s.ms)) },
      fullCheck: { medianMs: Math.round(checkMs), cpuMedianMs: Math.round(median(check.map((s) => s.cpuMs))), samples: check.map((s) => Math.round(s.ms)), findings: check[0].findings },
      ratio: Math.round(ratio * 100) / 100,
      pairedRatio: { median: Math.round(median(pairedRatios) * 100) / 100, min: Math.round(Math.min(...pairedRatios) * 100) / 100, max: Math.round(Math.max(...pairedRatios) * 100) / 100 },
      cpuRatio: Math.round(cpuRatio * 100) / 100,
      recheck: {
        medianMs: Math.round(reMedian * 10) / 10,
        p90Ms: Math.round(p90(reMs) * 10) / 10,
        pythonMedianMs: Math.round(median(byLang(/\.py$/)) * 10) / 10,
        typescriptMedianMs: Math.round(median(byLang(/\.[cm]?[jt]sx?$/)) * 10) / 10,
        noChangeCheckMs: Math.round(re.noChangeMs),
        perFile: re.perFile.map((f) => ({ ...f, ms: Math.round(f.ms * 10) / 10 })),
      },
      verdict: { ratio: ratio <= TARGET_RATIO ? 'PASS' : 'FAIL', recheck: reMedian <= TARGET_RECHECK_MS ? 'PASS' : 'FAIL' },
      loadBefore,
      loadAfter: loadavg(),
    };
    const lines = [
      ``,
      `== static checker: ${ws.python.length} Python + ${ws.typescript.length} TypeScript/JavaScript files, ${ROUNDS} interleaved rounds (fresh process each, medians)`,
      `   syntax-only parse   median ${ms(parseMs)}  (cpu ${ms(result.parseOnly.cpuMedianMs)}; samples ${result.parseOnly.samples.join(', ')})`,
      `   full check          median ${ms(checkMs)}  (cpu ${ms(result.fullCheck.cpuMedianMs)}; samples ${result.fullCheck.samples.join(', ')})`,
      `   ratio of medians    ${ratio.toFixed(2)}  (paired median ${result.pairedRatio.median.toFixed(2)}, min ${result.pairedRatio.min.toFixed(2)}, max ${result.pairedRatio.max.toFixed(2)}; cpu ${cpuRatio.toFixed(2)})   target <= ${TARGET_RATIO}: ${result.verdict.ratio}`,
      `   re-check one file   median ${reMedian.toFixed(1)} ms, p90 ${p90(reMs).toFixed(1)} ms over ${reMs.length} files (Python ${result.recheck.pythonMedianMs} ms, TS ${result.recheck.typescriptMedianMs} ms; no-change check ${ms(re.noChangeMs)})   target <= ${TARGET_RECHECK_MS} ms: ${result.verdict.recheck}`,
      `   load average before ${loadBefore.map((x) => x.toFixed(2)).join(' ')}, after ${result.loadAfter.map((x) => x.toFixed(2)).join(' ')} (a busy machine widens the spread)`,
      `   VERDICT static: ${result.verdict.ratio === 'PASS' && result.verdict.recheck === 'PASS' ? 'PASS' : 'FAIL'}`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
    if (wantJson) process.stdout.write(JSON.stringify(result) + '\n');
    const resultsDir = join(__dirname, '..', '..', 'bench', 'results');
    try {
      mkdirSync(resultsDir, { recursive: true });
      writeFileSync(join(resultsDir, `static-${new Date().toISOString().replace(/[:.]/g, '-')}.json`), JSON.stringify(result, null, 2) + '\n');
    } catch {
      // results are a convenience; the printout is the measurement
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`static bench: could not measure: ${(e as Error).message}\n`);
  process.exit(2);
});
