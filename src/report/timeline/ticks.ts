/**
 * Ticks: a statement or identity-map hit each, on its lane. Ticks closer than
 * `minTickGap` pixels at the nominal width merge into one aggregate tick, the
 * gap doubling until at most `maxTicks` remain; statements the story points at
 * (arrows, findings) always keep a tick of their own.
 */
import type { ModelIdentityHit, ModelStatement, ModelTransaction } from '../../model/model';
import type { ViewBuild } from './context';
import { type Owner, ownerOfSt } from './lanes';
import type { TickItem, TickKind, TimelineTick } from './view';

/** How many members a merged tick lists. */
const AGGREGATE_ITEMS = 8;
/** How many tables a merged tick names. */
const AGGREGATE_TABLES = 6;
/** Longest SQL text of a merged tick's member. */
const ITEM_SQL = 300;
/** Halvings of the merge gap tried before the cap cuts what is left. */
const MERGE_ATTEMPTS = 12;
/** Which member a merged tick shows: a write over a read. */
const KIND_WEIGHT: Record<TickKind, number> = { write: 5, ddl: 4, identity: 3, read: 2, other: 1, tx: 0 };

type Traced = ModelStatement | ModelIdentityHit;

/** A statement's or hit's tick index, when it was drawn. */
export type TickOf = (x: Traced) => number | undefined;

interface RawTick {
  lane: number;
  x: number;
  time: number;
  st?: ModelStatement;
  hit?: ModelIdentityHit;
  pinned: boolean;
}

export function buildTicks(
  b: ViewBuild,
  laneIndex: Map<Owner, number>,
  barIndex: Map<ModelTransaction, number>,
  pinned: Set<Traced>,
): { ticks: TimelineTick[]; tickAt: TickOf } {
  const raw = rawTicks(b, laneIndex, pinned);
  const make = tickMaker(b, barIndex);
  const opt = b.opt;
  let gap = opt.minTickGap / opt.nominalWidth;
  let merged = mergeDense(raw, gap, make);
  for (let attempt = 0; merged.ticks.length > opt.maxTicks && attempt < MERGE_ATTEMPTS; attempt++) {
    gap *= 2;
    merged = mergeDense(raw, gap, make);
  }
  let ticks = merged.ticks;
  if (ticks.length < raw.length) {
    const groups = ticks.filter((t) => t.count > 1).length;
    b.notes.push(`${raw.length - ticks.length + groups} statements drawn as ${groups} merged ticks where they ran too close together to tell apart`);
  }
  if (ticks.length > opt.maxTicks) {
    const dropped = ticks.length - opt.maxTicks;
    ticks = ticks.slice(0, opt.maxTicks);
    b.notes.push(`${dropped} ticks not drawn (at most ${opt.maxTicks})`);
  }
  const count = ticks.length;
  const tickAt: TickOf = (x) => {
    const i = merged.tickOf.get(x);
    return i !== undefined && i < count ? i : undefined;
  };
  return { ticks, tickAt };
}

/** Every statement and hit on a shown lane, by lane then time. */
function rawTicks(b: ViewBuild, laneIndex: Map<Owner, number>, pinned: Set<Traced>): RawTick[] {
  const raw: RawTick[] = [];
  for (const st of b.model.statements) {
    const lane = laneIndex.get(ownerOfSt(st));
    if (lane !== undefined) raw.push({ lane, x: b.x(st.time), time: st.time, st, pinned: pinned.has(st) });
  }
  for (const hit of b.model.identityHits) {
    const lane = laneIndex.get(hit.session);
    if (lane !== undefined) raw.push({ lane, x: b.x(hit.time), time: hit.time, hit, pinned: pinned.has(hit) });
  }
  raw.sort((p, q) => p.lane - q.lane || p.time - q.time);
  return raw;
}

const kindOf = (r: RawTick): TickKind => (r.hit ? 'identity' : (r.st!.op as TickKind));

/** The tick of one statement or hit. */
function tickMaker(b: ViewBuild, barIndex: Map<ModelTransaction, number>): (r: RawTick) => TimelineTick {
  const maxSql = b.opt.maxSql;
  const truncate = (sql: string) => (sql.length > maxSql ? `${sql.slice(0, maxSql)}… (${sql.length - maxSql} more characters)` : sql);
  return (r) => {
    if (r.hit) {
      const h = r.hit;
      return { lane: r.lane, x: r.x, time: r.time - b.origin, kind: 'identity', verb: `get ${h.entity}`, tables: h.table ? [h.table] : [], at: b.place(h.at), test: h.test, count: 1 };
    }
    const st = r.st!;
    return {
      lane: r.lane,
      x: r.x,
      time: r.time - b.origin,
      kind: kindOf(r),
      verb: st.verb || st.op.toUpperCase(),
      tables: st.writes.length ? st.writes : st.reads,
      sql: truncate(st.sql),
      at: b.place(st.at),
      bar: st.transaction ? barIndex.get(st.transaction) : undefined,
      rows: st.rows,
      dur: st.dur,
      error: st.err ? `${st.err.type ?? 'error'}: ${st.err.message}` : undefined,
      test: st.test,
      count: 1,
    };
  };
}

/** One pass of merging: neighbours on a lane closer than `gap` (axis units) share a tick unless pinned. */
function mergeDense(raw: RawTick[], gap: number, make: (r: RawTick) => TimelineTick): { ticks: TimelineTick[]; tickOf: Map<Traced, number> } {
  const ticks: TimelineTick[] = [];
  const tickOf = new Map<Traced, number>();
  let group: RawTick[] = [];
  const flush = () => {
    if (group.length === 0) return;
    for (const r of group) tickOf.set(r.st ?? r.hit!, ticks.length);
    ticks.push(group.length === 1 ? make(group[0]) : mergedTick(group, make));
    group = [];
  };
  for (const r of raw) {
    const prev = group[group.length - 1];
    if (prev && (r.pinned || prev.pinned || prev.lane !== r.lane || r.x - group[0].x >= gap)) flush();
    group.push(r);
  }
  flush();
  return { ticks, tickOf };
}

/** A tick for several statements: it shows its strongest member (a write over a read) and counts the rest. */
function mergedTick(group: RawTick[], make: (r: RawTick) => TimelineTick): TimelineTick {
  let lead = group[0];
  for (const r of group) if (KIND_WEIGHT[kindOf(r)] > KIND_WEIGHT[kindOf(lead)]) lead = r;
  const t = make(lead);
  const members = group.map(make);
  const verbs = new Map<string, number>();
  for (const s of members) {
    const k = `${s.verb}${s.tables.length ? ` ${s.tables.join(', ')}` : ''}`;
    verbs.set(k, (verbs.get(k) ?? 0) + 1);
  }
  t.count = group.length;
  t.items = members.slice(0, AGGREGATE_ITEMS).map(item);
  t.verb = `${group.length} statements`;
  t.tables = [...new Set(members.flatMap((s) => s.tables))].slice(0, AGGREGATE_TABLES);
  t.sql = [...verbs].map(([k, n]) => (n > 1 ? `${k} ×${n}` : k)).join('\n');
  t.error = group.some((r) => r.st?.err) ? 'some of these statements failed' : undefined;
  const bars = new Set(members.map((s) => s.bar));
  t.bar = bars.size === 1 ? [...bars][0] : undefined;
  t.rows = undefined;
  t.dur = undefined;
  return t;
}

/** A merged tick's member, its SQL shortened. */
function item(t: TimelineTick): TickItem {
  return { verb: t.verb, tables: t.tables, sql: t.sql && t.sql.length > ITEM_SQL ? `${t.sql.slice(0, ITEM_SQL)}…` : t.sql, at: t.at };
}
