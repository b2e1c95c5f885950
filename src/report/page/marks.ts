/**
 * The marks on the lanes: transaction bars, statement ticks and their labels,
 * arrows from a write to the reads that could not see it, and numbered finding
 * markers. Each function draws one kind into the chart and returns how many it drew.
 */
import type { TickKind } from '../timeline/view';
import { labelWidth, svg } from './dom';
import { BAR_H, LABEL_W, RIGHT_PAD, ROW_H } from './geometry';
import type { Chart } from './chart';
import { outcomeClass, placeText, verbText } from './text';

/** Where a finding's marker sits: right of its tick when it has one, so both stay visible. */
const MARKER_SHIFT = 12;
/** At most this many tick labels are tried: past that they could not be told apart anyway. */
const MAX_TICK_LABELS = 4000;
/** Which tick gets a label first when they compete for room: writes tell the story. */
const LABEL_WEIGHT: Record<TickKind, number> = { write: 5, ddl: 4, identity: 3, read: 2, other: 1, tx: 0 };

/** The vertical middle of a lane, where its ticks and bars sit. */
function laneMiddle(top: number): number {
  return top + ROW_H / 2 + 4;
}

/** Horizontal stretches of each lane's label line already taken, so labels never overlap. */
export class LabelRoom {
  private readonly taken = new Map<number, [number, number][]>();

  occupy(lane: number, a: number, b: number): void {
    const list = this.taken.get(lane);
    if (list) list.push([a, b]);
    else this.taken.set(lane, [[a, b]]);
  }

  free(lane: number, a: number, b: number): boolean {
    for (const [x0, x1] of this.taken.get(lane) ?? []) if (a < x1 + 3 && b > x0 - 3) return false;
    return true;
  }
}

/** Transaction bars, coloured by outcome; a rollback that lost writes ends in a stroke. */
export function drawBars(c: Chart): number {
  let drawn = 0;
  c.view.bars.forEach((b, i) => {
    const laneTop = c.laneY.get(b.lane);
    if (laneTop === undefined || !c.scale.inRange(b.x0, b.x1)) return;
    const top = laneMiddle(laneTop) - BAR_H / 2;
    const x0 = c.scale.sx(b.x0);
    const w = Math.max(c.scale.sx(b.x1) - x0, 3);
    const rect = svg('rect', {
      class: `tl-bar ${outcomeClass(b)}`,
      x: x0,
      y: top,
      width: w,
      height: BAR_H,
      rx: 3,
      'data-kind': 'bar',
      'data-index': i,
      'data-tx': b.id,
      'data-outcome': b.outcome,
      tabindex: 0,
    });
    rect.appendChild(svg('title', null, `${b.id}: ${b.outcomeText}${b.test ? `\n${b.test}` : ''}`));
    c.plot.appendChild(rect);
    if (b.outcome === 'rollback' && !b.quiet) c.plot.appendChild(svg('line', { class: 'tl-bar-end rollback', x1: x0 + w, x2: x0 + w, y1: top - 3, y2: top + BAR_H + 3 }));
    if (w > b.id.length * 5.5 + 4) c.plot.appendChild(svg('text', { class: 'tl-bar-label', x: x0 + w, y: top + BAR_H + 10, 'text-anchor': 'end' }, b.id));
    drawn++;
  });
  return drawn;
}

/** The ticks drawn: where each sits (by tick index), which want a label, which carry a finding's marker. */
export interface DrawnTicks {
  drawn: number;
  at: Map<number, { x: number; y: number }>;
  labelled: number[];
  marked: Set<number>;
}

/**
 * Statement ticks: a stroke per statement, a circle per identity-map hit. The room of
 * finding markers is reserved first, so no tick label covers one.
 */
export function drawTicks(c: Chart, room: LabelRoom): DrawnTicks {
  const out: DrawnTicks = { drawn: 0, at: new Map(), labelled: [], marked: new Set() };
  for (const f of c.view.findings) {
    if (f.tick !== undefined) out.marked.add(f.tick);
    if (f.lane !== undefined && f.x !== undefined && c.laneY.has(f.lane) && c.scale.inRange(f.x, f.x)) {
      const mx = c.scale.sx(f.x) + (f.tick !== undefined ? MARKER_SHIFT : 0);
      room.occupy(f.lane, mx - 8, mx + 8);
    }
  }
  c.view.ticks.forEach((t, i) => {
    const laneTop = c.laneY.get(t.lane);
    if (laneTop === undefined || !c.scale.inRange(t.x, t.x)) return;
    const x = c.scale.sx(t.x);
    const mid = laneMiddle(laneTop);
    out.at.set(i, { x, y: mid });
    const cls = `tl-tick ${t.kind}${t.error ? ' failed' : ''}${t.count > 1 ? ' merged' : ''}`;
    const g = svg('g', { class: cls, 'data-kind': 'tick', 'data-index': i, 'data-verb': t.verb, tabindex: 0 });
    if (t.kind === 'identity') g.appendChild(svg('circle', { class: 'tl-mark', cx: x, cy: mid, r: 4 }));
    else g.appendChild(svg('line', { class: 'tl-mark', x1: x, x2: x, y1: mid - 8, y2: mid + 8 }));
    g.appendChild(svg('rect', { class: 'tl-hit', x: x - 5, y: mid - 10, width: 10, height: 20 }));
    g.appendChild(svg('title', null, verbText(t) + (t.at ? `\n${placeText(t.at)}` : '')));
    c.plot.appendChild(g);
    out.drawn++;
    if (t.kind !== 'tx') out.labelled.push(i);
  });
  return out;
}

/** Verb labels above the ticks where there is room, strongest first; a merged tick shows its count. */
export function drawTickLabels(c: Chart, room: LabelRoom, ticks: DrawnTicks): void {
  const all = c.view.ticks;
  const order = [...ticks.labelled].sort((a, b) => LABEL_WEIGHT[all[b].kind] - LABEL_WEIGHT[all[a].kind] || all[a].x - all[b].x);
  const maxX = LABEL_W + c.plotW + RIGHT_PAD - 2;
  for (const i of order.slice(0, MAX_TICK_LABELS)) {
    const t = all[i];
    const x = ticks.at.get(i)!.x;
    const text = t.count > 1 ? `×${t.count}` : t.verb + (t.tables.length ? ` ${t.tables[0]}` : '');
    const tw = labelWidth(text);
    // Centred over the tick, else right of it, else left; beside a finding's marker, clear of it.
    const candidates = ticks.marked.has(i) ? [x + 24, x - tw - 6] : [x - tw / 2, x + 5, x - tw - 6];
    for (const candidate of candidates) {
      const lx = Math.min(Math.max(candidate, LABEL_W + 2), maxX - tw);
      if (!room.free(t.lane, lx, lx + tw)) continue;
      room.occupy(t.lane, lx, lx + tw);
      c.front.appendChild(svg('text', { class: `tl-tick-label ${t.kind}`, x: lx, y: c.laneY.get(t.lane)! + 11 }, text));
      break;
    }
  }
}

/** The curve of an arrow between two ticks: out of the write's tick and into the read's, bowing with the distance. */
function arrowPath(from: { x: number; y: number }, to: { x: number; y: number }): string {
  const dy = to.y - from.y;
  const bend = Math.max(Math.abs(dy) * 0.5, 18);
  const x1 = from.x;
  const x2 = to.x;
  let y1 = from.y + (dy >= 0 ? 8 : -8);
  let y2 = to.y + (dy >= 0 ? -9 : 9);
  if (dy === 0) {
    // On one lane: a bow above it.
    y1 = from.y - 9;
    y2 = to.y - 9;
  }
  const c1y = dy === 0 ? y1 - bend : y1 + Math.sign(dy) * bend;
  const c2y = dy === 0 ? y2 - bend : y2 - Math.sign(dy) * bend;
  return `M${x1},${y1} C${x1},${c1y} ${x2},${c2y} ${x2},${y2}`;
}

/** Arrows from a write to the reads that could not see it; those no finding reports are drawn weak. */
export function drawArrows(c: Chart, tickAt: DrawnTicks['at']): number {
  let drawn = 0;
  c.view.arrows.forEach((a, i) => {
    const from = tickAt.get(a.from);
    const to = tickAt.get(a.to);
    if (!from || !to) return;
    const d = arrowPath(from, to);
    const cls = `tl-arrow ${a.kind}${a.finding === undefined ? ' weak' : ''}`;
    c.plot.appendChild(svg('path', { class: cls, d, 'marker-end': `url(#tl-head-${a.kind})` }));
    // A wider transparent twin takes the clicks: the drawn curve is too thin to hit.
    const hit = svg('path', { class: 'tl-arrow-hit', d, 'data-kind': 'arrow', 'data-index': i, 'data-arrow': a.kind });
    hit.appendChild(svg('title', null, a.text));
    c.plot.appendChild(hit);
    drawn++;
  });
  return drawn;
}

/** Finding markers, numbered as in the list below the chart. */
export function drawMarkers(c: Chart): number {
  let drawn = 0;
  c.view.findings.forEach((f, i) => {
    const laneTop = f.lane === undefined ? undefined : c.laneY.get(f.lane);
    if (laneTop === undefined || f.x === undefined || !c.scale.inRange(f.x, f.x)) return;
    const x = c.scale.sx(f.x) + (f.tick !== undefined ? MARKER_SHIFT : 0);
    const cy = laneTop + 8;
    const g = svg('g', { class: `tl-marker ${f.severity}`, 'data-kind': 'finding', 'data-index': i, 'data-rule': f.rule, tabindex: 0 });
    g.appendChild(svg('circle', { cx: x, cy, r: 7.5 }));
    g.appendChild(svg('text', { x, y: cy + 3.5 }, String(i + 1)));
    g.appendChild(svg('title', null, `#${i + 1} ${f.rule}: ${f.message}`));
    c.plot.appendChild(g);
    drawn++;
  });
  return drawn;
}
