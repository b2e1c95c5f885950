/**
 * The warped time axis: every gap between two consecutive events is drawn with
 * a width that grows with the logarithm of its duration. Order is what tells the
 * story (the read came after the INSERT and before the COMMIT), and a linear axis
 * would squash a test's statements into a pixel next to one slow fixture. The
 * axis labels carry the real times.
 */
import type { ModelRun } from '../../model/model';
import { offset } from '../../present/wording';
import type { LaneActivity } from './lanes';
import type { TimelineAxisMark } from './view';

/** Gaps shorter than this are drawn almost linearly; longer ones logarithmically. */
const WARP_UNIT_NS = 20_000;
/** Labelled marks along the whole axis; the page interpolates between them when zoomed in. */
const AXIS_STEPS = 10;

/** Maps run times (ns) onto [0, 1], keeping order and shrinking long gaps. */
export class TimeWarp {
  private readonly times: Float64Array;
  private readonly pos: Float64Array;

  constructor(raw: number[]) {
    const sorted = Float64Array.from(raw).sort();
    let n = 0;
    for (let i = 0; i < sorted.length; i++) if (i === 0 || sorted[i] !== sorted[n - 1]) sorted[n++] = sorted[i];
    this.times = sorted.slice(0, Math.max(n, 1));
    this.pos = new Float64Array(this.times.length);
    for (let i = 1; i < this.times.length; i++) this.pos[i] = this.pos[i - 1] + Math.log1p((this.times[i] - this.times[i - 1]) / WARP_UNIT_NS);
    const total = this.pos[this.times.length - 1] || 1;
    for (let i = 0; i < this.pos.length; i++) this.pos[i] /= total;
  }

  get first(): number {
    return this.times[0];
  }

  get last(): number {
    return this.times[this.times.length - 1];
  }

  x(time: number): number {
    const t = this.times;
    if (time <= t[0]) return 0;
    if (time >= t[t.length - 1]) return 1;
    let lo = 0;
    let hi = t.length - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (t[mid] <= time) lo = mid;
      else hi = mid;
    }
    const span = t[hi] - t[lo];
    return this.pos[lo] + (span > 0 ? ((this.pos[hi] - this.pos[lo]) * (time - t[lo])) / span : 0);
  }

  /** The time drawn at `x`, for axis labels. */
  timeAt(x: number): number {
    const p = this.pos;
    if (x <= 0) return this.times[0];
    if (x >= 1) return this.last;
    let lo = 0;
    let hi = p.length - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (p[mid] <= x) lo = mid;
      else hi = mid;
    }
    const span = p[hi] - p[lo];
    return this.times[lo] + (span > 0 ? ((this.times[hi] - this.times[lo]) * (x - p[lo])) / span : 0);
  }
}

/** The axis over every time the view draws: lanes' lives, transactions, statements, identity-map hits, tests. */
export function runWarp(model: ModelRun, lanes: Iterable<LaneActivity>): TimeWarp {
  const times: number[] = [];
  for (const info of lanes) times.push(info.first, info.last);
  for (const tx of model.transactions) {
    times.push(tx.start);
    if (tx.end !== undefined) times.push(tx.end);
  }
  for (const st of model.statements) times.push(st.time);
  for (const h of model.identityHits) times.push(h.time);
  for (const t of model.tests) {
    times.push(t.start);
    if (t.end !== undefined) times.push(t.end);
  }
  if (times.length === 0) times.push(0);
  return new TimeWarp(times);
}

/** Real times at evenly spaced positions of the warped axis. */
export function axisMarks(warp: TimeWarp): TimelineAxisMark[] {
  const axis: TimelineAxisMark[] = [];
  for (let i = 0; i <= AXIS_STEPS; i++) {
    const x = i / AXIS_STEPS;
    const time = warp.timeAt(x) - warp.first;
    axis.push({ x, time, label: i === 0 ? '0' : offset(time) });
  }
  return axis;
}
