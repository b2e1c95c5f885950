/**
 * `txlens check`: the static rules from the command line (the static half of
 * `txlens run` is in ./run-static.ts).
 */
import { existsSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { DEFAULT_FAIL_ON, FAIL_ON_EXPECTED, type FailOn, failOnValue, type Finding, failsOn } from '../analysis/findings';
import { relPath } from '../present/paths';
import { plural } from '../present/wording';
import { relFinding, REPORT_VERSION } from '../report/render';
import { forTerminal } from '../report/terminal';
import { StaticChecker } from '../static/checker';
import { type AppliedFix, applyPreferredFixes } from '../static/apply-fixes';

class CheckUsageError extends Error {}

interface CheckOptions {
  json: boolean;
  fix: boolean;
  failOn: FailOn;
  root?: string;
  paths: string[];
}

function parseCheck(args: string[]): CheckOptions {
  const opts: CheckOptions = { json: false, fix: false, failOn: DEFAULT_FAIL_ON, paths: [] };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--json') opts.json = true;
    else if (a === '--fix') opts.fix = true;
    else if (a === '--debug') continue;
    else if (a === '--fail-on') {
      const level = failOnValue(args[++i]);
      if (!level) throw new CheckUsageError(FAIL_ON_EXPECTED);
      opts.failOn = level;
    }
    else if (a === '--root') {
      const v = args[++i];
      if (v === undefined || v.startsWith('--')) throw new CheckUsageError('--root needs a folder');
      opts.root = v;
    } else if (a === '--') {
      opts.paths.push(...args.slice(i + 1));
      break;
    }
    else if (a.startsWith('-') && a !== '-') throw new CheckUsageError(`unknown option ${a}`);
    else opts.paths.push(a);
  }
  return opts;
}

const ZERO_SUMMARY = { processes: 0, sessions: 0, transactions: 0, commits: 0, rollbacks: 0, statements: 0, tests: 0 };

/** The JSON document of `txlens check --json`: the same shape as `txlens run --json`, with no trace. */
export function checkDocument(findings: Finding[], notes: string[], cwd: string, applied?: AppliedFix[]) {
  const doc: Record<string, unknown> = { version: REPORT_VERSION, findings: findings.map((f) => relFinding(f, cwd)), summary: { ...ZERO_SUMMARY }, trace: '' };
  if (notes.length) doc.notes = notes;
  if (applied) doc.applied = applied.map((a) => ({ ...a, files: a.files.map((f) => relPath(f, cwd)) }));
  return doc;
}

export function checkText(findings: Finding[], notes: string[], cwd: string): string {
  const lines: string[] = [];
  const byFile = new Map<string, Finding[]>();
  for (const f of findings) (byFile.get(f.location.file) ?? byFile.set(f.location.file, []).get(f.location.file)!).push(f);
  for (const [file, fs] of byFile) {
    lines.push(relPath(file, cwd));
    for (const f of fs) {
      lines.push(`  ${f.location.line}:${f.location.column ?? 1}  ${f.severity}  ${f.rule}  ${f.message}`);
      for (const r of f.related) lines.push(`      - ${relPath(r.file, cwd)}:${r.line} ${r.message}`);
      for (const fix of f.fixes) lines.push(`      fix${fix.preferred ? ' (preferred)' : ''}: ${fix.title}`);
    }
    lines.push('');
  }
  const count = (s: string) => findings.filter((f) => f.severity === s).length;
  lines.push(
    findings.length === 0
      ? 'txlens check: no findings'
      : `txlens check: ${plural(findings.length, 'finding')} (${plural(count('error'), 'error')}, ${plural(count('warning'), 'warning')}, ${count('info')} info) in ${plural(byFile.size, 'file')}`,
  );
  for (const n of notes) lines.push(`note: ${n}`);
  return lines.join('\n') + '\n';
}

export async function cmdCheck(args: string[]): Promise<number> {
  let opts: CheckOptions;
  try {
    opts = parseCheck(args);
  } catch (e) {
    process.stderr.write(`txlens: ${(e as Error).message}\n`);
    return 2;
  }
  const cwd = process.cwd();
  const root = resolve(opts.root ?? cwd);
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    process.stderr.write(`txlens: --root folder not found: ${root}\n`);
    return 2;
  }
  const paths = opts.paths.map((p) => (isAbsolute(p) ? p : resolve(cwd, p)));
  for (const p of paths) {
    if (!existsSync(p)) {
      process.stderr.write(`txlens: path not found: ${p}\n`);
      return 2;
    }
  }
  const checker = new StaticChecker(root);
  let applied: AppliedFix[] | undefined;
  if (opts.fix) {
    applied = await applyPreferredFixes(checker, paths.length ? paths : undefined);
    if (!opts.json) {
      for (const a of applied) {
        const where = a.files.map((f) => relPath(f, cwd)).join(', ');
        if (a.withheld) process.stdout.write(forTerminal(`not fixed ${a.rule}: ${a.title} (${where}): the edited code would not parse\n`));
        else process.stdout.write(forTerminal(`fixed ${a.rule}: ${a.title} (${where})\n`));
      }
      if (!applied.some((a) => !a.withheld)) process.stdout.write('txlens check: no fix to apply\n');
    }
  }
  const { findings, notes } = await checker.check(paths.length ? paths : undefined);
  if (opts.json) process.stdout.write(JSON.stringify(checkDocument(findings, notes, cwd, applied)) + '\n');
  else process.stdout.write(forTerminal(checkText(findings, notes, cwd)));
  return failsOn(findings, opts.failOn) ? 1 : 0;
}

