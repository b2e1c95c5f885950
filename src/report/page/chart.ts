/**
 * The chart: one SVG with the time axis, a heading row per process with its
 * tests' windows, a row per lane, then the marks (./marks). Drawn again on every
 * change of the picker and on resize; the selection survives a redraw.
 *
 * Layers, back to front: `back` (grid, rows, separators), `plot` (bands, bars,
 * ticks, arrows, markers), the lane labels, `front` (names and tick labels, on
 * top of everything, clipped to the plot).
 */
import { plural } from '../../present/wording';
import type { TimelineView } from '../timeline/view';
import { clear, fit, fitMiddle, svg } from './dom';
import { itemNode } from './details';
import { AXIS_H, LABEL_W, PROC_H, RIGHT_PAD, ROW_H, SEGMENT_GAP, TEST_LABEL_CHAR_PX } from './geometry';
import { drawArrows, drawBars, drawMarkers, drawTickLabels, drawTicks, LabelRoom } from './marks';
import type { DrawnCounts } from './protocol';
import { axisMarks, type Scale, type Segment, segmentScale, shownTests, visibleSegments } from './segments';
import type { PageState } from './state';
import { failed, testMark, testTitle } from './text';

/** A row of the chart: a process's heading, or one of its lanes. */
type Row = { proc: number; y: number; lane?: undefined } | { lane: number; y: number; proc?: undefined };

/** One drawing of the chart: what is shown, where, and the layers marks go into. */
export interface Chart {
  view: TimelineView;
  scale: Scale;
  /** The tests the chart is limited to; undefined for the whole run. */
  shown?: Set<string>;
  plotW: number;
  width: number;
  height: number;
  rows: Row[];
  /** Top of each shown lane, by lane index. */
  laneY: Map<number, number>;
  back: SVGGElement;
  plot: SVGGElement;
  front: SVGGElement;
}

export function drawChart(page: PageState): DrawnCounts {
  const view = page.view;
  const host = page.chart;
  clear(host);
  const shown = shownTests(page);
  const segments = visibleSegments(view, shown);
  const available = Math.max(host.clientWidth || 0, 640);
  const plotW = Math.max(available - LABEL_W - RIGHT_PAD - 2, 360, segments.length * 120);
  const scale = segmentScale(segments, plotW);
  const { rows, laneY, height } = layoutRows(view, scale, shown);
  const width = LABEL_W + plotW + RIGHT_PAD;

  const s = svg('svg', { class: 'tl-svg', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': view.title });
  s.appendChild(chartDefs(plotW, height));
  const back = svg('g');
  const front = svg('g', { 'clip-path': 'url(#tl-plot-clip)' });
  const plot = svg('g', { 'clip-path': 'url(#tl-plot-clip)' });
  s.appendChild(back);
  s.appendChild(plot);
  const chart: Chart = { view, scale, shown, plotW, width, height, rows, laneY, back, plot, front };

  drawAxis(chart, segments);
  drawProcessRows(chart);
  s.appendChild(drawLanes(chart));
  const room = new LabelRoom();
  const counts: DrawnCounts = {
    lanes: laneY.size,
    bars: drawBars(chart),
    ticks: 0,
    arrows: 0,
    markers: 0,
  };
  const ticks = drawTicks(chart, room);
  counts.ticks = ticks.drawn;
  drawTickLabels(chart, room, ticks);
  counts.arrows = drawArrows(chart, ticks.at);
  counts.markers = drawMarkers(chart);
  s.appendChild(front);

  host.appendChild(s);
  if (page.selected) itemNode(page, page.selected.kind, page.selected.index)?.classList.add('tl-selected');
  return counts;
}

/** The lanes with something in range, grouped under their process's heading row as the view orders them. */
function layoutRows(view: TimelineView, scale: Scale, shown: Set<string> | undefined): { rows: Row[]; laneY: Map<number, number>; height: number } {
  let laneHas = view.lanes.map((l) => scale.inRange(l.x0, l.x1));
  if (shown) {
    // One test or a few: a lane is shown when something of those tests is on it.
    laneHas = view.lanes.map(() => false);
    for (const b of view.bars) if (scale.inRange(b.x0, b.x1) && b.test !== undefined && shown.has(b.test)) laneHas[b.lane] = true;
    for (const t of view.ticks) if (scale.inRange(t.x, t.x) && t.test !== undefined && shown.has(t.test)) laneHas[t.lane] = true;
  }
  const rows: Row[] = [];
  const laneY = new Map<number, number>();
  let y = AXIS_H;
  let lastProc = -1;
  view.lanes.forEach((l, i) => {
    if (!laneHas[i]) return;
    if (l.process !== lastProc) {
      rows.push({ proc: l.process, y });
      y += PROC_H;
      lastProc = l.process;
    }
    laneY.set(i, y);
    rows.push({ lane: i, y });
    y += ROW_H;
  });
  return { rows, laneY, height: y + 8 };
}

/** Arrowheads for the two kinds of arrow, and the clip that keeps marks inside the plot. */
function chartDefs(plotW: number, height: number): SVGDefsElement {
  const defs = svg('defs');
  for (const k of ['uncommitted', 'stale']) {
    const m = svg('marker', { id: `tl-head-${k}`, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
    m.appendChild(svg('path', { d: 'M0,0 L10,5 L0,10 z', class: `tl-arrowhead ${k}` }));
    defs.appendChild(m);
  }
  const clip = svg('clipPath', { id: 'tl-plot-clip' });
  clip.appendChild(svg('rect', { x: LABEL_W - 2, y: 0, width: plotW + RIGHT_PAD, height }));
  defs.appendChild(clip);
  return defs;
}

/** The axis: real times at evenly spaced positions of the warped axis, and the gaps between segments. */
function drawAxis(c: Chart, segments: Segment[]): void {
  const { back, scale, height, width } = c;
  back.appendChild(svg('line', { class: 'tl-axis-line', x1: LABEL_W, x2: LABEL_W + c.plotW, y1: AXIS_H - 4, y2: AXIS_H - 4 }));
  back.appendChild(svg('text', { class: 'tl-axis-label', x: 8, y: AXIS_H - 9 }, 'time since start (long gaps shortened)'));
  const marks = segments.flatMap((sg, i) => {
    if (i > 0) {
      const gapX = scale.offs[i] - SEGMENT_GAP / 2;
      back.appendChild(svg('line', { class: 'tl-segment-gap', x1: gapX, x2: gapX, y1: 4, y2: height - 4 }));
    }
    return axisMarks(c.view, sg, segments.length > 1 ? 3 : 8);
  });
  let lastLabelEnd = -Infinity;
  let lastLabel = '';
  for (const m of marks) {
    const x = scale.sx(m.x);
    back.appendChild(svg('line', { class: 'tl-grid', x1: x, x2: x, y1: AXIS_H - 4, y2: height - 4 }));
    const w = m.label.length * 5.6;
    // Where the axis is stretched, neighbouring marks round to the same time: say it once.
    if (m.label !== lastLabel && x - w / 2 > lastLabelEnd + 8 && x + w / 2 < width) {
      lastLabel = m.label;
      back.appendChild(svg('text', { class: 'tl-axis-label', x, y: AXIS_H - 9, 'text-anchor': 'middle' }, m.label));
      lastLabelEnd = x + w / 2;
    }
  }
}

/** Each process's heading row, and the windows of its tests behind its lanes. */
function drawProcessRows(c: Chart): void {
  const bottomOf = new Map<number, number>();
  for (const r of c.rows) if (r.lane !== undefined) bottomOf.set(c.view.lanes[r.lane].process, r.y + ROW_H);
  for (const r of c.rows) {
    if (r.proc === undefined) continue;
    const p = c.view.processes[r.proc];
    c.back.appendChild(svg('rect', { class: 'tl-proc-row', x: 0, y: r.y, width: c.width, height: PROC_H }));
    const label = `${p.label} · ${plural(p.lanes, 'lane')}`;
    c.back.appendChild(svg('text', { class: 'tl-proc-label', x: 8, y: r.y + 15 }, fit(label, LABEL_W - 14, 6.2)));
    drawTestBands(c, p.testsFrom, r.y, bottomOf.get(r.proc)!);
  }
}

/** The windows of the tests of process `proc`, from `top` to `bottom`, each named where it fits. */
function drawTestBands(c: Chart, proc: number, top: number, bottom: number): void {
  const { scale, plotW } = c;
  const mine = c.view.tests.filter((t) => t.process === proc && scale.inRange(t.x0, t.x1) && (!c.shown || c.shown.has(t.id)));
  // Hundreds of tests side by side are stripes, not information: then only the tests that
  // failed or have a finding get a band.
  const dense = mine.length > plotW / 12;
  const drawn = mine.filter((t) => !dense || t.attention);
  let prevEnd = LABEL_W;
  drawn.forEach((t, k) => {
    const x0 = Math.max(scale.sx(t.x0), LABEL_W);
    const x1 = Math.min(scale.sx(t.x1), LABEL_W + plotW);
    const bad = failed(t);
    const cls = `tl-band${bad ? ' tl-failed' : k % 2 ? ' tl-alt' : ''}`;
    const band = svg('rect', { class: cls, x: x0, y: top, width: Math.max(x1 - x0, 1), height: bottom - top });
    band.appendChild(svg('title', null, testTitle(t)));
    c.plot.appendChild(band);
    c.plot.appendChild(svg('line', { class: 'tl-band-edge', x1: x0, x2: x0, y1: top, y2: bottom }));
    // A name is only useful whole: it may run past a narrow band, rightwards up to the next
    // band or leftwards back to the previous name, whichever holds more of it.
    const next = drawn[k + 1];
    const full = testMark(t) + (t.label || t.name);
    const rightRoom = (next ? Math.max(scale.sx(next.x0), LABEL_W) : LABEL_W + plotW + RIGHT_PAD) - x0 - 8;
    const leftEdge = Math.max(x1, x0 + 4);
    const leftRoom = leftEdge - Math.max(prevEnd, LABEL_W) - 8;
    const toLeft = full.length * TEST_LABEL_CHAR_PX > rightRoom && leftRoom > rightRoom;
    const name = fitMiddle(full, toLeft ? leftRoom : rightRoom, TEST_LABEL_CHAR_PX);
    if (!name) return;
    // The title (the full id, outcome and findings) shows on hover over the name.
    const named = svg('g', { 'data-test': t.id });
    named.appendChild(svg('title', null, testTitle(t)));
    const at = toLeft ? { x: leftEdge - 4, 'text-anchor': 'end' } : { x: x0 + 4, 'text-anchor': undefined };
    named.appendChild(svg('text', { class: `tl-test-label${bad ? ' tl-failed' : ''}`, x: at.x, 'text-anchor': at['text-anchor'], y: top + 15 }, name));
    c.front.appendChild(named);
    prevEnd = toLeft ? leftEdge : x0 + 4 + name.length * TEST_LABEL_CHAR_PX;
  });
}

/** The lanes: a label column (id, detail, where opened), the lifetime line, separators. */
function drawLanes(c: Chart): SVGGElement {
  const lanesG = svg('g');
  for (const r of c.rows) {
    if (r.lane === undefined) continue;
    const l = c.view.lanes[r.lane];
    const g = svg('g', { class: 'tl-lane', 'data-lane': l.id, 'data-lane-kind': l.kind, 'data-kind': 'lane', 'data-index': r.lane, tabindex: 0 });
    g.appendChild(svg('rect', { class: 'tl-lane-bg', x: 0, y: r.y, width: LABEL_W - 4, height: ROW_H }));
    g.appendChild(svg('text', { class: 'tl-lane-id', x: 10, y: r.y + 16 }, l.id));
    g.appendChild(svg('text', { class: 'tl-lane-detail', x: 10 + l.id.length * 8 + 6, y: r.y + 16 }, fit(l.detail, LABEL_W - l.id.length * 8 - 30, 5.8)));
    if (l.at) g.appendChild(svg('text', { class: 'tl-lane-detail', x: 10, y: r.y + 30 }, fit(`${l.at.path}:${l.at.line}`, LABEL_W - 20, 5.8)));
    g.appendChild(svg('title', null, l.id + ' · ' + l.detail + (l.at ? `\nopened at ${l.at.path}:${l.at.line}` : '') + (l.test ? `\n${l.test}` : '')));
    lanesG.appendChild(g);
    c.back.appendChild(svg('line', { class: 'tl-lane-sep', x1: 0, x2: c.width, y1: r.y + ROW_H, y2: r.y + ROW_H }));
    if (c.scale.inRange(l.x0, l.x1)) {
      const mid = r.y + ROW_H / 2 + 4;
      c.plot.appendChild(svg('line', { class: 'tl-life', x1: Math.max(c.scale.sx(l.x0), LABEL_W), x2: Math.min(c.scale.sx(l.x1), LABEL_W + c.plotW), y1: mid, y2: mid }));
    }
  }
  return lanesG;
}
