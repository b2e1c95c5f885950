/**
 * Findings: what the analyser tells people. The JSON shape here is public
 * (CLI `--json`, SARIF, the editor), so fields are only ever added.
 */
import type { ModelRun } from '../model/model';

export type Severity = 'error' | 'warning' | 'info';

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
  id: string;
  check(model: ModelRun): Finding[];
}

/** A dynamic rule reads the model of one run. */
export interface DynamicRule {
  /** Stable public id, e.g. 'missing-commit'. */
  id: string;
  check(model: ModelRun): Finding[];
}
