/**
 * Analysis cost: reading a run folder, building the model and running every
 * dynamic rule, against the floor of only parsing the same files' JSON lines.
 * Prints, for each size, the median of both over TXLENS_BENCH_ROUNDS
 * interleaved rounds (default 5), their ratio and the peak memory of the
 * analysis; each measurement runs in a fresh child process so memory and JIT
 * state do not leak from one to the next. The ratio of median CPU times (the
 * process's user and system time, garbage collector threads included) and the
 * load average are printed beside it: on a busy machine wall time swings with
 * the load, and the verdict, on wall time, is only as good as the machine is quiet.
 *
 *   node out/bench/analysis.js [events ...]      (default: 100000 1000000)
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyse } from '../src/analysis/analyse';
import { loadModel } from '../src/model/model';
import { forEachLine } from '../src/trace/reader';
import { generateTrace } from './trace-generator';

const TARGET_RATIO = 2.5;
const MEMORY_LIMIT_MB = 1024;
const ROUNDS = Number(process.env.TXLENS_BENCH_ROUNDS ?? 5);

interface Sample {
  ms: number;
  /** User and system CPU time of the measured part, all threads. */
  cpuMs: number;
  maxRssMb: number;
  findings?: number;
  statements?: number;
}

/** Child mode: do one measurement and print it as JSON. */
function child(mode: string, dir: string): void {
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  const out: Sample = { ms: 0, cpuMs: 0, maxRssMb: 0 };
  if (mode === 'parse') {
    let n = 0;
    for (const name of readdirSync(dir)) {
      if (!name.endsWith('.ndjson')) continue;
      forEachLine(join(dir, name), (line) => {
        if (line) {
          JSON.parse(line);
          n++;
        }
      });
    }
    out.statements = n;
  } else {
    const model = loadModel(dir);
    const { findings } = analyse(model);
    out.findings = findings.length;
    out.statements = model.statements.length;
  }
  out.ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpu = process.cpuUsage(cpu0);
  out.cpuMs = (cpu.user + cpu.system) / 1000;
  out.maxRssMb = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(JSON.stringify(out));
}

function measure(mode: string, dir: string): Sample {
  const r = spawnSync(process.execPath, ['--max-old-space-size=4096', __filename, '--child', mode, dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${mode} run failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Sample;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function main(): void {
  const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
  if (sizes.length === 0) sizes.push(100_000, 1_000_000);
  const root = mkdtempSync(join(tmpdir(), 'txlens-bench-analysis-'));
  const rows: Record<string, unknown>[] = [];
  try {
    console.log(`analysis vs JSON-parse-only, ${ROUNDS} interleaved rounds each (targets: ratio ≤ ${TARGET_RATIO}, memory < ${MEMORY_LIMIT_MB} MB)`);
    let perEventPrev: number | undefined;
    for (const events of sizes) {
      const dir = join(root, String(events));
      mkdirSync(dir);
      const written = generateTrace(dir, events);
      const parse: Sample[] = [];
      const full: Sample[] = [];
      const loadBefore = loadavg()[0];
      for (let i = 0; i < ROUNDS; i++) {
        parse.push(measure('parse', dir));
        full.push(measure('analyse', dir));
      }
      const parseMs = median(parse.map((s) => s.ms));
      const fullMs = median(full.map((s) => s.ms));
      const ratio = fullMs / parseMs;
      const cpuRatio = median(full.map((s) => s.cpuMs)) / median(parse.map((s) => s.cpuMs));
      const load = `load ${loadBefore.toFixed(2)} → ${loadavg()[0].toFixed(2)}`;
      const rss = Math.max(...full.map((s) => s.maxRssMb));
      const perEvent = (fullMs * 1e6) / written.events;
      const verdict = ratio <= TARGET_RATIO && rss < MEMORY_LIMIT_MB ? 'PASS' : 'FAIL';
      console.log(
        `${String(written.events).padStart(9)} events (${written.mb.toFixed(0)} MB): parse ${parseMs.toFixed(0)} ms, analyse ${fullMs.toFixed(0)} ms, ` +
          `ratio ${ratio.toFixed(2)}, peak RSS ${rss.toFixed(0)} MB, ${perEvent.toFixed(0)} ns/event, ` +
          `${full[0].findings} findings  ${verdict}`,
      );
      console.log(`           CPU-time ratio ${cpuRatio.toFixed(2)}, ${load} (on ${availableParallelism()} cores)`);
      if (perEventPrev !== undefined) console.log(`           cost per event vs the previous size: ${(perEvent / perEventPrev).toFixed(2)}x (1.00 = linear)`);
      perEventPrev = perEvent;
      rows.push({ events: written.events, bytes: written.mb * 1048576, parseMs, analyseMs: fullMs, ratio, cpuRatio, peakRssMb: rss, loadBefore, loadAfter: loadavg()[0], verdict });
      rmSync(dir, { recursive: true, force: true });
    }
    mkdirSync('bench/results', { recursive: true });
    writeFileSync(join('bench', 'results', 'analysis.json'), JSON.stringify(rows, null, 2) + '\n');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') child(process.argv[3], process.argv[4]);
else main();
