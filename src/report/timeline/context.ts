/** What every part of the view model reads while it is built: the run, the options, and the shared helpers. */
import type { Finding } from '../../analysis/findings';
import type { ModelRun } from '../../model/model';
import { relPath } from '../../present/paths';
import type { SourceFrame } from '../../trace/schema';
import type { TimelineOptions, TimelinePlace } from './view';

export const DEFAULTS = {
  maxLanes: 250,
  maxTicks: 12_000,
  maxBars: 12_000,
  maxArrows: 400,
  nominalWidth: 1200,
  minTickGap: 4,
  maxSql: 2000,
};

export type Options = Required<TimelineOptions>;

export interface ViewBuild {
  model: ModelRun;
  findings: Finding[];
  opt: Options;
  /** What was left out or merged; each part adds its own. */
  notes: string[];
  /** Position of a run time (ns) on the warped axis, in [0, 1]. */
  x(time: number): number;
  /** The run's first time (ns): the view's times count from it. */
  origin: number;
  place(at: SourceFrame | undefined): TimelinePlace | undefined;
}

/** `file\0line`: a source place as a map key. */
export function frameKey(file: string, line: number): string {
  return `${file}\u0000${line}`;
}

/** Source places for the view, one object per place (the view repeats a few places very often). */
export function placeMaker(cwd: string): ViewBuild['place'] {
  const cache = new Map<string, TimelinePlace>();
  return (at) => {
    if (!at) return undefined;
    const k = frameKey(at[0], at[1]);
    let p = cache.get(k);
    if (!p) cache.set(k, (p = { file: at[0], line: at[1], path: relPath(at[0], cwd) }));
    return p;
  };
}
