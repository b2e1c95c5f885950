// Runs a rule fixture (test/fixtures/rules/<rule>/<variant>) under `txlens run --json`
// on one Python environment and one database, and reads the findings back.
import assert from 'node:assert/strict';
import { cpSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { createDatabase, python, repoRoot, runCli, tempDir, type PythonEnvName } from '../support/env';

export type Backend = 'sqlite' | 'postgres';
/** The fixture folder under the rule: 'buggy', 'fixed', or a named twin such as 'autoflush' (a lost write sent by an ORM autoflush). */
export type Variant = 'buggy' | 'fixed' | 'autoflush' | string;

export interface RelatedJson {
  file: string;
  line: number;
  message: string;
}

export interface FindingJson {
  rule: string;
  severity: 'error' | 'warning' | 'info';
  message: string;
  location: { file: string; line: number };
  related: RelatedJson[];
  test?: string;
  fixes: unknown[];
}

export interface RuleRun {
  project: string;
  trace: string;
  findings: FindingJson[];
  /** pytest's own output (txlens sends the command's output to stderr). */
  output: string;
  exitCode: number | null;
  /** What the model noted about the trace (events out of order, lines lost). */
  notes: string[];
}

export const COMBINATIONS: { env: PythonEnvName; backend: Backend }[] = [
  { env: 'sa14', backend: 'sqlite' },
  { env: 'sa14', backend: 'postgres' },
  { env: 'sa20', backend: 'sqlite' },
  { env: 'sa20', backend: 'postgres' },
];

export async function runFixture(
  rule: string,
  variant: Variant,
  env: PythonEnvName,
  backend: Backend,
  opts: { runArgs?: string[]; pytestArgs?: string[] } = {},
): Promise<RuleRun> {
  return runProject(join('rules', rule, variant), `${rule}-${variant}`, env, backend, opts);
}

/** Runs any fixture project under test/fixtures (`dir` relative to it) like a rule fixture. */
export async function runProject(
  dir: string,
  name: string,
  env: PythonEnvName,
  backend: Backend,
  opts: { runArgs?: string[]; pytestArgs?: string[] } = {},
): Promise<RuleRun> {
  const label = `${name}-${env}-${backend}`;
  const project = realpathSync(tempDir(label));
  cpSync(join(repoRoot, 'test', 'fixtures', dir), project, {
    recursive: true,
    filter: (src) => !/(__pycache__|\.pytest_cache|\.pyc$)/.test(src),
  });
  const dbUrl = backend === 'sqlite' ? `sqlite:///${join(project, 'rule.db')}` : await createDatabase(label.replace(/-/g, '_'));
  const trace = join(realpathSync(tempDir(`${label}-trace`)), 'run');
  const result = await runCli(['run', '--json', ...(opts.runArgs ?? []), '--trace', trace, '--', python(env), '-m', 'pytest', '-q', '-p', 'no:cacheprovider', ...(opts.pytestArgs ?? [])], {
    cwd: project,
    env: { RULE_DB_URL: dbUrl },
  });
  assert.ok(result.code !== 2 && result.stdout.trim() !== '', `txlens run failed (exit ${result.code}):\n${result.stderr.slice(-3000)}`);
  const doc = JSON.parse(result.stdout) as { findings: FindingJson[]; trace: string; notes?: string[] };
  return { project, trace: doc.trace, findings: doc.findings, output: result.stderr, exitCode: result.code, notes: doc.notes ?? [] };
}

/** `txlens report --json` on a kept trace, from the project folder so paths read the same. */
export async function reportAgain(run: RuleRun): Promise<FindingJson[]> {
  const result = await runCli(['report', '--json', run.trace], { cwd: run.project });
  assert.ok(result.code === 0 || result.code === 1, `txlens report failed (exit ${result.code}): ${result.stderr}`);
  return (JSON.parse(result.stdout) as { findings: FindingJson[] }).findings;
}

export function ofRule(findings: FindingJson[], rule: string): FindingJson[] {
  return findings.filter((f) => f.rule === rule);
}

export function describeFindings(findings: FindingJson[]): string {
  return findings.map((f) => `${f.severity} ${f.rule} ${f.location.file}:${f.location.line} [${f.test}] ${f.message}`).join('\n') || '(none)';
}

/** The one finding of `rule` at file:line, with its severity and test. */
export function expectFinding(
  findings: FindingJson[],
  want: { rule: string; severity: FindingJson['severity']; file: string; line: number; test: string; related?: [string, number][] },
): FindingJson {
  const at = findings.filter((f) => f.rule === want.rule && f.location.file === want.file && f.location.line === want.line);
  assert.equal(at.length, 1, `expected one ${want.rule} at ${want.file}:${want.line}, got:\n${describeFindings(findings)}`);
  const f = at[0];
  assert.equal(f.severity, want.severity, f.message);
  assert.equal(f.test, want.test);
  for (const [file, line] of want.related ?? []) {
    assert.ok(
      f.related.some((r) => r.file === file && r.line === line),
      `expected a related location ${file}:${line} in ${JSON.stringify(f.related)}`,
    );
  }
  return f;
}

export function expectNoErrors(findings: FindingJson[]): void {
  const errors = findings.filter((f) => f.severity === 'error');
  assert.deepEqual(errors, [], `the fixed twin must have no error finding:\n${describeFindings(errors)}`);
}

/** Pytest's summary line must show the failures the story is about. */
export function expectPytestFailed(run: RuleRun, tests: string[]): void {
  for (const t of tests) assert.match(run.output, new RegExp(`FAILED ${t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`), run.output.slice(-2000));
}
