/**
 * Which stretches of the run's axis the chart shows, and where each position of
 * the axis lands in pixels: the whole run, one test, or the tests that failed or
 * have findings side by side.
 */
import { offset } from '../../present/wording';
import type { TimelineAxisMark, TimelineView } from '../timeline/view';
import { LABEL_W, SEGMENT_GAP } from './geometry';
import { FOCUS, type PageState } from './state';

/** A stretch of the axis, in the view's [0, 1] positions. */
export interface Segment {
  x0: number;
  x1: number;
}

export interface Scale {
  /** Pixel of an axis position. */
  sx(x: number): number;
  /** Whether anything between `a` and `b` is on screen. */
  inRange(a: number, b: number): boolean;
  /** Left pixel of each segment. */
  offs: number[];
  /** Width of each segment. */
  each: number;
}

/** A test's window with a little room either side. */
function padded(t: Segment): Segment {
  const pad = Math.max((t.x1 - t.x0) * 0.02, 0.0005);
  return { x0: Math.max(0, t.x0 - pad), x1: Math.min(1, t.x1 + pad) };
}

/** Test ids the chart is limited to: one test, the focus tests, or none (the whole run). */
export function shownTests(page: PageState): Set<string> | undefined {
  if (!page.test) return undefined;
  return new Set(page.test === FOCUS ? page.view.focus ?? [] : [page.test]);
}

/** The stretches of the axis on screen, side by side: the whole run, one test, or each focus test. */
export function visibleSegments(view: TimelineView, ids: Set<string> | undefined): Segment[] {
  if (!ids) return [{ x0: 0, x1: 1 }];
  const wins = view.tests
    .filter((t) => ids.has(t.id))
    .map(padded)
    .sort((a, b) => a.x0 - b.x0);
  if (!wins.length) return [{ x0: 0, x1: 1 }];
  const out = [wins[0]];
  for (let i = 1; i < wins.length; i++) {
    const last = out[out.length - 1];
    if (wins[i].x0 <= last.x1) last.x1 = Math.max(last.x1, wins[i].x1);
    else out.push({ x0: wins[i].x0, x1: wins[i].x1 });
  }
  return out;
}

/**
 * A monotone map from the axis to pixels over `segments`, each given an equal share of
 * the width (a failing test is as readable as the longest one); positions between two
 * segments fall in the gap between them.
 */
export function segmentScale(segments: Segment[], plotW: number): Scale {
  const gaps = (segments.length - 1) * SEGMENT_GAP;
  const each = (plotW - gaps) / segments.length;
  const offs = segments.map((_sg, i) => LABEL_W + i * (each + SEGMENT_GAP));
  const sx = (x: number): number => {
    for (let i = 0; i < segments.length; i++) {
      const sg = segments[i];
      if (x < sg.x0) return i === 0 ? offs[0] + ((x - sg.x0) / (sg.x1 - sg.x0)) * each : offs[i] - SEGMENT_GAP / 2;
      if (x <= sg.x1) return offs[i] + ((x - sg.x0) / (sg.x1 - sg.x0)) * each;
    }
    const lastSeg = segments[segments.length - 1];
    const lastOff = offs[offs.length - 1];
    return lastOff + ((x - lastSeg.x0) / (lastSeg.x1 - lastSeg.x0)) * each;
  };
  const inRange = (a: number, b: number): boolean => {
    for (let i = 0; i < segments.length; i++) if (b >= segments[i].x0 && a <= segments[i].x1) return true;
    return false;
  };
  return { sx, inRange, offs, each };
}

/** Axis marks over `range`: the view's own on the whole axis; zoomed in, interpolated between them. */
export function axisMarks(view: TimelineView, range: Segment, steps: number): TimelineAxisMark[] {
  const marks = view.axis;
  if (range.x0 === 0 && range.x1 === 1) return marks;
  const out: TimelineAxisMark[] = [];
  for (let k = 0; k <= steps; k++) {
    const x = range.x0 + ((range.x1 - range.x0) * k) / steps;
    let j = 0;
    while (j < marks.length - 2 && marks[j + 1].x < x) j++;
    const a = marks[j];
    const b = marks[j + 1] || a;
    const f = b.x > a.x ? (x - a.x) / (b.x - a.x) : 0;
    const time = a.time + (b.time - a.time) * f;
    out.push({ x, time, label: offset(time) });
  }
  return out;
}
