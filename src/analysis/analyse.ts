/**
 * Runs the dynamic rules over a run's model. Each rule lives in its own module
 * under ./rules and is listed in ./rules/index.ts; a rule that throws is
 * reported as a note and the others still run, so one bug never hides every
 * finding.
 */
import type { ModelRun } from '../model/model';
import { byCodePoint } from '../present/paths';
import type { DynamicRule, Finding } from './findings';
import { DYNAMIC_RULES } from './rules';

export interface Analysis {
  findings: Finding[];
  /** Rules that failed, with their error; shown to the user as notes. */
  ruleErrors: string[];
}

const SEVERITY_ORDER = { error: 0, warning: 1, info: 2 } as const;

export function analyse(model: ModelRun, rules: readonly DynamicRule[] = DYNAMIC_RULES): Analysis {
  const findings: Finding[] = [];
  const ruleErrors: string[] = [];
  for (const rule of rules) {
    try {
      findings.push(...rule.check(model));
    } catch (e) {
      ruleErrors.push(`rule ${rule.id} failed: ${(e as Error).message}`);
    }
  }
  findings.sort(
    (a, b) =>
      SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity] ||
      byCodePoint(a.location.file, b.location.file) ||
      a.location.line - b.location.line ||
      byCodePoint(a.rule, b.rule),
  );
  return { findings, ruleErrors };
}
