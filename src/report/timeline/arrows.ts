/**
 * Arrows from a write to a read that could not see it: every uncommitted write a
 * read missed (at most `maxArrows`, those a finding reports first), and for each
 * stale-read finding, the committed write whose state the read did not get.
 */
import type { Finding } from '../../analysis/findings';
import type { ModelStatement } from '../../model/model';
import type { SourceFrame } from '../../trace/schema';
import { frameKey, type ViewBuild } from './context';
import { sameTest } from './findings';
import { ownerOfSt } from './lanes';
import type { TickOf } from './ticks';
import type { TimelineArrow, TimelineFinding, TimelineTick } from './view';

/** A read and the uncommitted write it could not see. */
export interface MissedWrite {
  write: ModelStatement;
  read: ModelStatement;
}

/** What arrows connect: the drawn ticks and findings, and the statements at each source place. */
export interface ArrowEnds {
  ticks: TimelineTick[];
  tickAt: TickOf;
  findings: TimelineFinding[];
  stmtsAt: Map<string, ModelStatement[]>;
}

export function buildArrows(b: ViewBuild, missed: MissedWrite[], ends: ArrowEnds): TimelineArrow[] {
  // Tick pairs already joined: one arrow per pair, whichever kind came first.
  const seen = new Set<string>();
  const arrows = uncommittedArrows(b, missed, ends.tickAt, seen);
  arrows.push(...staleArrows(b, ends, seen));
  return arrows;
}

/** 'S8 tx16 INSERT jobs'. */
function describe(st: ModelStatement): string {
  return `${ownerOfSt(st).label}${st.transaction ? ` ${st.transaction.label}` : ''} ${st.verb} ${(st.writes.length ? st.writes : st.reads).join(', ')}`.trim();
}

/** The index of the finding of `rule` at the read's place that names the write's place, or -1. */
function findingFor(findings: Finding[], rule: string, read: SourceFrame | undefined, write: SourceFrame | undefined, test: string | undefined): number {
  return findings.findIndex(
    (f) =>
      f.rule === rule &&
      sameTest(f, test) &&
      read !== undefined &&
      f.location.file === read[0] &&
      f.location.line === read[1] &&
      (write === undefined || f.related.some((r) => r.file === write[0] && r.line === write[1])),
  );
}

function uncommittedArrows(b: ViewBuild, missed: MissedWrite[], tickAt: TickOf, seen: Set<string>): TimelineArrow[] {
  const arrows: TimelineArrow[] = [];
  // Finding-backed arrows first, so the cap never drops the ones that explain a failure.
  const candidates = missed.map((a) => ({ ...a, finding: findingFor(b.findings, 'uncommitted-read', a.read.at, a.write.at, a.read.test) }));
  candidates.sort((p, q) => Number(q.finding >= 0) - Number(p.finding >= 0) || p.read.time - q.read.time);
  let dropped = 0;
  for (const a of candidates) {
    const from = tickAt(a.write);
    const to = tickAt(a.read);
    if (from === undefined || to === undefined) continue;
    const k = `${from}:${to}`;
    if (seen.has(k)) continue;
    seen.add(k);
    if (arrows.length >= b.opt.maxArrows) {
      dropped++;
      continue;
    }
    arrows.push({
      from,
      to,
      kind: 'uncommitted',
      finding: a.finding >= 0 ? a.finding : undefined,
      text: `${describe(a.read)} could not see ${describe(a.write)} (not committed yet)`,
    });
  }
  if (dropped > 0) b.notes.push(`${dropped} more reads of uncommitted writes not drawn as arrows (at most ${b.opt.maxArrows})`);
  return arrows;
}

/** Stale reads: from the committed write the finding names to the read or identity-map hit that missed it. */
function staleArrows(b: ViewBuild, ends: ArrowEnds, seen: Set<string>): TimelineArrow[] {
  const arrows: TimelineArrow[] = [];
  b.findings.forEach((f, i) => {
    if (f.rule !== 'stale-read' || f.related.length === 0) return;
    const target = ends.findings[i].tick;
    if (target === undefined) return;
    const writeAt = f.related[0];
    const write = (ends.stmtsAt.get(frameKey(writeAt.file, writeAt.line)) ?? []).find(
      (s) => s.op === 'write' && sameTest(f, s.test) && s.time < ends.ticks[target].time + b.origin,
    );
    const from = write ? ends.tickAt(write) : undefined;
    if (from === undefined || seen.has(`${from}:${target}`)) return;
    seen.add(`${from}:${target}`);
    arrows.push({ from, to: target, kind: 'stale', finding: i, text: `${ends.ticks[target].verb} returned the state from before ${describe(write!)} was committed` });
  });
  return arrows;
}
