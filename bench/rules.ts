/**
 * Per-rule cost of the dynamic rules: builds the model of a generated run folder once, then times
 * each rule's `check` (and the whole `analyse`) over it, several rounds, and prints the median of
 * each, with how many findings (errors and warnings) each rule made: every rule should make some
 * on a generated run (bench/trace-generator.ts), or its time says nothing. Reading and modelling
 * are not measured here (bench/analysis.ts measures the whole). Times are CPU time (user and
 * system, all threads), which a loaded machine moves much less than wall time.
 *
 *   node out/bench/rules.js [events|run-folder ...]      (default: 100000; rounds: TXLENS_BENCH_ROUNDS, default 5)
 *   TXLENS_BENCH_FINDINGS=out.json node out/bench/rules.js 100000   also writes the findings, to compare
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { analyse } from '../src/analysis/analyse';
import type { Finding } from '../src/analysis/findings';
import { DYNAMIC_RULES } from '../src/analysis/rules';
import { statementIndex } from '../src/analysis/statement-index';
import { loadModel } from '../src/model/model';
import { generateTrace } from './trace-generator';

const ROUNDS = Number(process.env.TXLENS_BENCH_ROUNDS ?? 5);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * CPU time (user and system, all threads of the process) of `f`, in ms: on a shared machine wall
 * time moves with the load, CPU time much less. TXLENS_BENCH_WALL=1 times wall clock instead.
 */
function timeMs(f: () => unknown): number {
  if (process.env.TXLENS_BENCH_WALL) {
    const t0 = process.hrtime.bigint();
    f();
    return Number(process.hrtime.bigint() - t0) / 1e6;
  }
  const cpu0 = process.cpuUsage();
  f();
  const cpu = process.cpuUsage(cpu0);
  return (cpu.user + cpu.system) / 1000;
}

function main(): void {
  const sizes = process.argv.slice(2);
  if (sizes.length === 0) sizes.push('100000');
  const root = mkdtempSync(join(tmpdir(), 'txlens-bench-rules-'));
  try {
    for (const events of sizes) {
      // A run folder is read as it is; a number is the size of a generated one.
      const given = existsSync(events);
      const dir = given ? events : join(root, events);
      if (!given) {
        mkdirSync(dir);
        generateTrace(dir, Number(events));
      }
      const model = loadModel(dir);
      // Round 0 runs each rule once, in the analyser's order, on a fresh model as the CLI does
      // (cold: no compiled code, no per-model caches); later rounds time the whole, then each rule, warm.
      // The pass over the statements the rules share, timed apart from the first rule that asks for it.
      const indexMs = timeMs(() => statementIndex(model));
      const perRule = new Map<string, number[]>(DYNAMIC_RULES.map((r) => [r.id, []]));
      const found = new Map<string, Finding[]>();
      const whole: number[] = [];
      let findings = 0;
      for (let round = 0; round <= ROUNDS; round++) {
        if (round > 0) whole.push(timeMs(() => (findings = analyse(model).findings.length)));
        for (const rule of DYNAMIC_RULES) perRule.get(rule.id)!.push(timeMs(() => found.set(rule.id, rule.check(model))));
      }
      const cold = [...perRule.values()].reduce((sum, ms) => sum + ms[0], indexMs);
      console.log(`${events} events, ${model.statements.length} statements, ${findings} findings, load ${loadavg()[0].toFixed(2)}`);
      console.log(`  ${'all rules'.padEnd(32)} cold ${cold.toFixed(1).padStart(7)} ms   warm ${median(whole).toFixed(1).padStart(7)} ms`);
      console.log(`  ${'(shared statement index)'.padEnd(32)} cold ${indexMs.toFixed(1).padStart(7)} ms`);
      for (const [id, ms] of perRule) {
        const of = found.get(id) ?? [];
        const errors = of.filter((f) => f.severity === 'error').length;
        console.log(`  ${id.padEnd(32)} cold ${ms[0].toFixed(1).padStart(7)} ms   warm ${median(ms.slice(1)).toFixed(1).padStart(7)} ms   ${String(errors).padStart(4)} errors ${String(of.length - errors).padStart(4)} warnings`);
      }
      if (process.env.TXLENS_BENCH_FINDINGS) {
        writeFileSync(`${process.env.TXLENS_BENCH_FINDINGS}.${basename(events)}`, JSON.stringify(analyse(model), null, 1));
      }
      if (!given) rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

main();
