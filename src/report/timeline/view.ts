/**
 * The timeline's view model: what src/report/timeline.ts builds from a run and
 * what the page (src/report/page/) draws. The editor's webview receives it by
 * postMessage and `txlens report --html` writes it into the page as JSON, so
 * it holds plain data only: indexes instead of references, positions on the
 * warped axis in [0, 1], times in ns from the start of the run.
 */
import type { Severity } from '../../analysis/findings';
import type { Counts } from '../../model/model';
import type { RollbackCause } from '../../trace/schema';

export const TIMELINE_VERSION = 1;
export const TIMELINE_TITLE = 'txlens: Session Timeline';

/** A place in the user's source: `file` absolute (for jumping), `path` for display. */
export interface TimelinePlace {
  file: string;
  line: number;
  path: string;
}

export interface TimelineProcess {
  pid: number;
  /** 'pid 1234 · python -m pytest -q'. */
  label: string;
  /** Index of the nearest process (itself or an ancestor) whose tests cover this one's lanes. */
  testsFrom: number;
  lanes: number;
}

export interface TimelineLane {
  /** 'S3' for a session, 'C2' for a connection's work outside any session. Unique in the view. */
  id: string;
  kind: 'session' | 'connection';
  process: number;
  /** Short description: the session class or driver, and the database. */
  detail: string;
  at?: TimelinePlace;
  test?: string;
  x0: number;
  x1: number;
  /** Indexes into `findings` of findings placed on this lane. */
  findings: number[];
}

export type BarOutcome = 'commit' | 'rollback' | 'open';

export interface TimelineBar {
  id: string;
  lane: number;
  x0: number;
  x1: number;
  outcome: BarOutcome;
  /** A rollback that lost nothing (no writes): drawn quietly. */
  quiet: boolean;
  cause?: RollbackCause;
  /** 'committed', 'rolled back: session closed without commit', 'never ended', ... */
  outcomeText: string;
  /** ns from the start of the run. */
  start: number;
  end?: number;
  begin?: TimelinePlace;
  endAt?: TimelinePlace;
  connection: string;
  isolation?: string;
  database?: string;
  statements: number;
  writes: number;
  test?: string;
}

export type TickKind = 'read' | 'write' | 'ddl' | 'tx' | 'other' | 'identity';

export interface TickItem {
  verb: string;
  tables: string[];
  sql?: string;
  at?: TimelinePlace;
}

export interface TimelineTick {
  lane: number;
  x: number;
  /** ns from the start of the run (the statement's completion). */
  time: number;
  kind: TickKind;
  verb: string;
  tables: string[];
  /** SQL text, truncated; absent for identity-map hits (no SQL was sent). */
  sql?: string;
  at?: TimelinePlace;
  /** Index of the transaction bar it ran in. */
  bar?: number;
  rows?: number;
  /** Duration in ns. */
  dur?: number;
  error?: string;
  test?: string;
  /** More than one when dense statements were merged into this tick; `items` lists the first few. */
  count: number;
  items?: TickItem[];
}

export type ArrowKind = 'uncommitted' | 'stale';

export interface TimelineArrow {
  /** Tick index of the write. */
  from: number;
  /** Tick index of the read that could not see it (or saw an older state). */
  to: number;
  kind: ArrowKind;
  /** Index into `findings` when a finding reports this very pair. */
  finding?: number;
  /** 'S8 tx16 INSERT jobs (uncommitted) → S9 SELECT jobs'. */
  text: string;
}

export interface TimelineFinding {
  rule: string;
  severity: Severity;
  message: string;
  at: TimelinePlace;
  related: (TimelinePlace & { message: string })[];
  test?: string;
  /** Where it sits on the timeline, when a statement, transaction end or session matches its place. */
  lane?: number;
  x?: number;
  tick?: number;
  bar?: number;
}

export interface TimelineTest {
  id: string;
  name: string;
  /** What people read on the chart: the id without its file ('test_b[1]', 'TestX::test_b'); `path` has the file. */
  label: string;
  /** The test's file for display, relative to the project root ('' when the id names none). */
  path: string;
  outcome?: string;
  message?: string;
  /** Findings attributed to this test. */
  findings: number;
  /** Failed, errored or has a finding: what the timeline opens on. */
  attention: boolean;
  process: number;
  x0: number;
  x1: number;
}

export interface TimelineAxisMark {
  x: number;
  /** ns from the start of the run. */
  time: number;
  label: string;
}

export interface TimelineView {
  version: number;
  title: string;
  /** What was traced, for the heading: the run's command when known. */
  subtitle: string;
  counts: Counts;
  processes: TimelineProcess[];
  lanes: TimelineLane[];
  bars: TimelineBar[];
  ticks: TimelineTick[];
  arrows: TimelineArrow[];
  findings: TimelineFinding[];
  tests: TimelineTest[];
  /** Ids of the tests that failed or have a finding, in run order, each once. */
  focus: string[];
  /**
   * What the page shows first: 'focus', the tests in `focus` side by side, when the
   * whole run would squeeze one of them narrower than a readable label; else 'run'.
   */
  opensOn: 'focus' | 'run';
  axis: TimelineAxisMark[];
  /** What was left out or merged to keep the picture bounded, and the model's own notes. */
  notes: string[];
}

export interface TimelineOptions {
  /** Display paths are made relative to this folder. */
  cwd: string;
  maxLanes?: number;
  maxTicks?: number;
  maxBars?: number;
  maxArrows?: number;
  /** Width the aggregation assumes, in pixels; ticks closer than `minTickGap` pixels merge. */
  nominalWidth?: number;
  minTickGap?: number;
  /** Longest SQL text kept per statement. */
  maxSql?: number;
}
