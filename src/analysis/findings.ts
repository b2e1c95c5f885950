/**
 * Findings: what the analyser tells people. The JSON shape here is public
 * (CLI `--json`, SARIF, the editor), so fields are only ever added.
 */
import type { ModelRun } from '../model/model';

/**
 * How much a finding matters, by what the run showed (docs/rules/severity.md):
 * 'error' when the trace shows the consequence (a failed test, a read that missed
 * or got an older state of the row, a collision, data written outside the test
 * database); 'warning' for a real defect whose consequence this run did not show;
 * 'info' for the rest. A static finding alone is at most a warning.
 */
export type Severity = 'error' | 'warning' | 'info';

/** Every severity, most severe first: the order reports count and sort them in. */
export const SEVERITIES: readonly Severity[] = ['error', 'warning', 'info'];

/** `--fail-on`: the least severe finding that makes the command exit 1; 'never' ignores findings. */
export type FailOn = 'error' | 'warning' | 'never';
export const FAIL_ON_VALUES: readonly FailOn[] = ['error', 'warning', 'never'];
export const DEFAULT_FAIL_ON: FailOn = 'error';

/** The `--fail-on` value `v`, or undefined when it is none of FAIL_ON_VALUES (then say FAIL_ON_EXPECTED). */
export function failOnValue(v: string | undefined): FailOn | undefined {
  return FAIL_ON_VALUES.find((x) => x === v);
}
export const FAIL_ON_EXPECTED = `--fail-on takes one of: ${FAIL_ON_VALUES.join(', ')}`;

/** Findings by severity, every severity present (0 when none). */
export function severityCounts(findings: readonly { severity: Severity }[]): Record<Severity, number> {
  const counts: Record<Severity, number> = { error: 0, warning: 0, info: 0 };
  for (const f of findings) counts[f.severity]++;
  return counts;
}

/** Whether these findings make the command fail under `failOn`; info never does. */
export function failsOn(findings: readonly { severity: Severity }[], failOn: FailOn): boolean {
  if (failOn === 'never') return false;
  return findings.some((f) => f.severity === 'error' || (failOn === 'warning' && f.severity === 'warning'));
}

export interface Location {
  /** Relative to the working directory in CLI output; absolute inside the engine. */
  file: string;
  /** 1-based. */
  line: number;
  column?: number;
}

export interface RelatedLocation {
  file: string;
  line: number;
  message: string;
}

export interface TextEdit {
  file: string;
  startLine: number;
  startColumn: number;
  endLine: number;
  endColumn: number;
  newText: string;
}

export interface Fix {
  title: string;
  edits: TextEdit[];
  preferred?: boolean;
}

export interface Finding {
  rule: string;
  severity: Severity;
  message: string;
  location: Location;
  related: RelatedLocation[];
  test?: string;
  fixes: Fix[];
}

/** A dynamic rule reads the model of one run. */
export interface DynamicRule {
  /** Stable public id, e.g. 'missing-commit'. */
  id: string;
  check(model: ModelRun): Finding[];
}
